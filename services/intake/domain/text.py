"""Free text from residents: the rejection type every rule raises, markup and length checks."""

from __future__ import annotations

import re

MAX_DESCRIPTION = 4000
_HTML = re.compile(r"<\s*[a-zA-Z/!?]|&[a-zA-Z]+;|&#x?[0-9a-fA-F]+;")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


def has_markup(text: str) -> bool:
    """HTML tags or character entities, or control characters (never valid in XML)."""
    return bool(_HTML.search(text) or _CONTROL.search(text))


class ReportRejected(ValueError):
    """A report that cannot be accepted, with the field at fault."""

    def __init__(self, field: str, code: str, message: str):
        super().__init__(message)
        self.field, self.code, self.message = field, code, message


def check_description(
    text: str, *, required: bool = True, field_name: str = "body.description"
) -> str:
    """Trimmed description, or ``ReportRejected``: not empty, not too long, no markup."""
    text = text.strip()
    if not text and required:
        raise ReportRejected(field_name, "empty", "describe the problem")
    if len(text) > MAX_DESCRIPTION:
        raise ReportRejected(field_name, "too_long", f"at most {MAX_DESCRIPTION} characters")
    if has_markup(text):
        raise ReportRejected(
            field_name, "markup", "HTML, entities or control characters are not accepted"
        )
    return text
