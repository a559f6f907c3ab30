"""Contact details that residents write into free text ("请联系我 13800000000"), masked in the
copy that leaves for readers other than the offices: departments' task topics and Open311
reads. Pure functions, no I/O.

Masked: mainland mobile numbers (11 digits from 13 to 19, with or without +86, in any grouping
by spaces or hyphens), landlines with an area code (``0833-2123456``, ``(010) 1234 5678``),
resident ID-card numbers (18 characters, the last a digit or X, grouped 6-8-4 or not) and email
addresses. Full-width digits and signs (``１３８００００００００``, ``＠``) count as their ASCII
forms. A run of digits is masked only whole: a longer number (an order number, a bank card) is
not cut into a "phone number".
"""

from __future__ import annotations

import re

PHONE = "[电话]"
ID_CARD = "[证件号]"
EMAIL = "[邮箱]"

# full-width forms to ASCII, one character for one, so positions stay the same
_HALF_WIDTH = str.maketrans(
    {
        **{chr(code): chr(code - 0xFEE0) for code in range(0xFF01, 0xFF5F)},  # ！ to ～
        "\u3000": " ",  # the ideographic space
        "\u2014": "-",  # an em dash between digit groups
        "\u2013": "-",
    }
)
_SEP = r"[ \-]?"  # one optional separator between digit groups
_NOT_AFTER_DIGIT = r"(?<![0-9])"
_NOT_BEFORE_DIGIT = r"(?![0-9])"
# order matters: an email may hold a phone number, an ID holds 11-digit runs
_PATTERNS = (
    (
        EMAIL,
        re.compile(r"[A-Za-z0-9._%+\-]+ ?@ ?[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"),
    ),
    (
        ID_CARD,
        re.compile(
            _NOT_AFTER_DIGIT
            + rf"[0-9]{{6}}{_SEP}[0-9]{{8}}{_SEP}[0-9]{{3}}[0-9Xx]"
            + r"(?![0-9A-Za-z])"
        ),
    ),
    (
        PHONE,
        re.compile(
            r"(?:(?<![0-9+])(?:\+|00)?86[ \-]?|" + _NOT_AFTER_DIGIT + ")"
            rf"1[3-9][0-9](?:{_SEP}[0-9]){{8}}" + _NOT_BEFORE_DIGIT
        ),
    ),
    (
        PHONE,
        re.compile(
            r"(?:\(0[0-9]{2,3}\)[ \-]?|" + _NOT_AFTER_DIGIT + rf"0[0-9]{{2,3}}{_SEP})"
            rf"[1-9][0-9]{{2,3}}{_SEP}[0-9]{{4}}" + _NOT_BEFORE_DIGIT
        ),
    ),
)


def mask_contacts(text: str) -> str:
    """``text`` with phone numbers, ID-card numbers and email addresses replaced by a label
    (``[电话]``, ``[证件号]``, ``[邮箱]``); everything else as written."""
    if not text:
        return text
    plain = text.translate(_HALF_WIDTH)
    spans: list[tuple[int, int, str]] = []
    for label, pattern in _PATTERNS:
        for match in pattern.finditer(plain):
            start, end = match.span()
            if not any(s < end and start < e for s, e, _ in spans):
                spans.append((start, end, label))
    for start, end, label in sorted(spans, reverse=True):
        text = text[:start] + label + text[end:]
    return text
