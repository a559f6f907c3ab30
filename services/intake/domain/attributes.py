"""Answers to a category's extra questions (Open311 service definition attributes).

Both APIs validate with the same rules; only the way a field is named differs
(``attribute[CODE]`` in Open311, ``body.attributes.CODE`` in the native API).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from services.intake.domain.text import ReportRejected, has_markup
from shared.reference import Category, CategoryAttribute

MAX_STRING = 255
MAX_TEXT = 4000
Answer = str | list[str]


def native_field(code: str) -> str:
    return f"body.attributes.{code}"


def open311_field(code: str) -> str:
    return f"attribute[{code}]"


def check_attributes(
    category: Category,
    given: Mapping[str, object],
    field_of: Callable[[str], str] = native_field,
) -> dict[str, Answer]:
    """Normalised answers, or ``ReportRejected`` naming the first attribute at fault:
    unknown codes, missing required answers, wrong types, values outside the list."""
    for code in given:
        if category.attribute(code) is None:
            raise ReportRejected(
                field_of(code), "unknown", f"{category.code} has no attribute {code!r}"
            )
    answers: dict[str, Answer] = {}
    for attribute in category.attributes:
        value = given.get(attribute.code)
        if _empty(value):
            if attribute.required:
                raise ReportRejected(
                    field_of(attribute.code), "required", f"{attribute.code} is required"
                )
            continue
        answers[attribute.code] = _check_one(attribute, value, field_of(attribute.code))
    return answers


def _empty(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | tuple):
        return all(_empty(v) for v in value)
    return False


def _scalar(value: object, field: str) -> str:
    if isinstance(value, list | tuple):
        if len(value) != 1:
            raise ReportRejected(field, "not_single", "exactly one value expected")
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ReportRejected(field, "type", "a text or number value expected")
    return str(value).strip()


def _check_one(attribute: CategoryAttribute, value: object, field: str) -> Answer:
    kind = attribute.datatype
    if kind == "multivaluelist":
        items = value if isinstance(value, list | tuple) else [value]
        keys = [_scalar(v, field) for v in items if not _empty(v)]
        allowed = {v.key for v in attribute.values}
        for key in keys:
            if key not in allowed:
                raise ReportRejected(field, "not_allowed", f"{key!r} is not one of the choices")
        if len(set(keys)) != len(keys):
            raise ReportRejected(field, "repeated", "a choice is repeated")
        return keys
    text = _scalar(value, field)
    if kind == "singlevaluelist":
        if text not in {v.key for v in attribute.values}:
            raise ReportRejected(field, "not_allowed", f"{text!r} is not one of the choices")
        return text
    if kind == "number":
        try:
            number = float(text)
        except ValueError:
            raise ReportRejected(field, "not_a_number", "a number expected") from None
        if not math.isfinite(number):
            raise ReportRejected(field, "not_a_number", "a finite number expected")
        return text
    if kind == "datetime":
        return parse_datetime(text, field).isoformat()
    limit = MAX_TEXT if kind == "text" else MAX_STRING
    if len(text) > limit:
        raise ReportRejected(field, "too_long", f"at most {limit} characters")
    if has_markup(text):
        raise ReportRejected(field, "markup", "HTML or entities are not accepted")
    return text


def parse_datetime(text: str, field: str) -> datetime:
    """An ISO-8601 / W3C date-time; without a zone it is taken as UTC."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ReportRejected(field, "not_a_datetime", "an ISO-8601 date-time expected") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value
