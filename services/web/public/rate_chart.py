"""A rate chart that reads on a phone: one row per street or department, its name on a line
of its own above a bar of the rate (0-100 %) with the figure beside it; 340 px wide, so it
is drawn at its own size on a 360 px screen. Every text is escaped."""

from __future__ import annotations

from html import escape

WIDTH, BAR_W, ROW = 340, 270, 36


def rate_chart(title: str, rows: list[tuple[str, float]]) -> str:
    height = max(ROW, len(rows) * ROW)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{WIDTH}" height="{height}"'
        f' viewBox="0 0 {WIDTH} {height}" aria-label="{escape(title)}"><title>{escape(title)}'
        "</title>"
    ]
    for i, (label, value) in enumerate(rows):
        y = i * ROW
        w = max(0.0, min(1.0, value)) * BAR_W
        parts.append(
            f'<text x="0" y="{y + 13}" font-size="13">{escape(label)}</text>'
            f'<rect x="0" y="{y + 18}" width="{BAR_W}" height="12" class="track"/>'
            f'<rect x="0" y="{y + 18}" width="{w:.1f}" height="12" class="fill-balance"/>'
            f'<text x="{BAR_W + 6}" y="{y + 29}" font-size="13">{value * 100:.1f}%</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
