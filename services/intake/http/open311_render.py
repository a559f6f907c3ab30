"""Open311 bodies in the spec's two formats: JSON, and XML built with ElementTree (user data
is always element text, escaped by the library; characters XML cannot hold are dropped)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from typing import Any

from fastapi.responses import Response

FORMATS = ("json", "xml")
JSON_TYPE = "application/json; charset=utf-8"
XML_TYPE = "text/xml; charset=utf-8"
# the element of each item in a list, by the list's name
ITEM_NAMES = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
}
_NOT_XML = re.compile(r"[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("", str(value))


def _fill(element: ET.Element, name: str, value: Any) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            _fill(ET.SubElement(element, key), key, child)
    elif isinstance(value, list | tuple):
        item_name = ITEM_NAMES.get(name, "item")
        for child in value:
            _fill(ET.SubElement(element, item_name), item_name, child)
    else:
        element.text = _text(value)


def to_xml(root: str, value: Any) -> bytes:
    element = ET.Element(root)
    _fill(element, root, value)
    return ET.tostring(element, encoding="utf-8", xml_declaration=True)


def render(fmt: str, root: str, value: Any, status: int = 200, headers=None) -> Response:
    """``value`` as JSON (as is) or as XML under ``root``."""
    if fmt == "xml":
        return Response(to_xml(root, value), status, headers=headers, media_type=XML_TYPE)
    body = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(body, status, headers=headers, media_type=JSON_TYPE)


def render_errors(fmt: str, status: int, errors: list[dict[str, Any]], headers=None) -> Response:
    """The spec's error body: a list of ``{code, description}``."""
    if fmt not in FORMATS:
        fmt = "json"
    return render(fmt, "errors", errors, status, headers)
