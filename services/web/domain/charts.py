"""SVG charts drawn on the server: horizontal bars of rates (0-1) or amounts, with labels.
Every text is escaped; the result is a standalone <svg> element with a title for readers."""

from __future__ import annotations

from html import escape

BAR_HEIGHT = 18
GAP = 6
LABEL_WIDTH = 180
BAR_WIDTH = 320


def bar_chart(title: str, rows: list[tuple[str, float]], *, percent: bool = True) -> str:
    """``rows``: (label, value); values are fractions of 1 when ``percent``, else scaled to
    the largest value."""
    top = max((v for _, v in rows), default=0.0)
    scale = 1.0 if percent else (top or 1.0)
    height = GAP + len(rows) * (BAR_HEIGHT + GAP)
    width = LABEL_WIDTH + BAR_WIDTH + 70
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}" aria-label="{escape(title)}"><title>{escape(title)}'
        "</title>"
    ]
    for i, (label, value) in enumerate(rows):
        y = GAP + i * (BAR_HEIGHT + GAP)
        w = max(0.0, min(1.0, value / scale)) * BAR_WIDTH
        shown = f"{value * 100:.1f}%" if percent else f"{value:,.0f}"
        parts.append(
            f'<text x="{LABEL_WIDTH - 6}" y="{y + 13}" text-anchor="end" font-size="12">'
            f"{escape(label)}</text>"
            f'<rect x="{LABEL_WIDTH}" y="{y}" width="{w:.1f}" height="{BAR_HEIGHT}"'
            ' fill="#1f5fa8"/>'
            f'<text x="{LABEL_WIDTH + w + 4:.1f}" y="{y + 13}" font-size="12">{shown}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def progress_bar(title: str, part: float, whole: float, caption: str) -> str:
    """One bar filled to ``part`` of ``whole`` (a campaign's raised money against its goal)."""
    share = max(0.0, min(1.0, part / whole)) if whole else 0.0
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{BAR_WIDTH}" height="30"'
        f' viewBox="0 0 {BAR_WIDTH} 30" aria-label="{escape(title)}"><title>{escape(title)}'
        f'</title><rect x="0" y="4" width="{BAR_WIDTH}" height="14" fill="#d0d4da"/>'
        f'<rect x="0" y="4" width="{share * BAR_WIDTH:.1f}" height="14" fill="#1f7a3a"/>'
        f'<text x="0" y="29" font-size="11">{escape(caption)}</text></svg>'
    )


def place_picture(title: str, path: list[str]) -> str:
    """The place as nested blocks, outermost first (district ... compound or building), the
    innermost filled: a schematic, no map."""
    inset, line = 14, 18
    width = 360
    height = inset * 2 * len(path) + line
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}" aria-label="{escape(title)}"><title>{escape(title)}'
        "</title>"
    ]
    for depth, name in enumerate(path):
        last = depth == len(path) - 1
        x = y = depth * inset
        parts.append(
            f'<rect x="{x}" y="{y}" width="{width - 2 * x}" height="{height - 2 * y}"'
            f' fill="{"#fde8e8" if last else "none"}" stroke="#123f73"/>'
            f'<text x="{x + 4}" y="{y + 12}" font-size="11">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
