"""QR codes as inline SVG (segno: pure Python), scalable by the page's style sheet, with a
title for screen readers; and the report form's address for a place, which they encode."""

from __future__ import annotations

import io
from html import escape
from urllib.parse import urlencode

import segno


def report_url(public_base: str, node_id: str) -> str:
    """The report form with the place filled in (the residents' form reads ``place``)."""
    return f"{public_base.rstrip('/')}/report?{urlencode({'place': node_id})}"


def qr_svg(text: str, label: str) -> str:
    code = segno.make(text, error="m", micro=False)
    out = io.BytesIO()
    code.save(out, kind="svg", xmldecl=False, svgns=True, omitsize=True, border=2, title=label)
    svg = out.getvalue().decode()
    return svg.replace("<svg ", f'<svg role="img" aria-label="{escape(label)}" ', 1)
