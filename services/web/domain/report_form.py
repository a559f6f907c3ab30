"""The residents' report form, pure: the catalogue grouped and searched, the place from the
tree, and the posted values checked field by field (so the page can mark each field in its
own language before anything is sent; intake checks again and has the last word)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from shared.reference import Category, Level, Reference, Tree

PHONE = re.compile(r"^\+?[0-9 ()-]{5,20}$")
MARKUP = re.compile(r"<[a-zA-Z/!?]|&[#a-zA-Z0-9]+;")
MAX_DESCRIPTION = 4000
MAX_STRING = 255
BEIJING = ZoneInfo("Asia/Shanghai")  # the pages' time zone (the console's too)
# intake's refusal fields -> the form's fields
INTAKE_FIELDS = {
    "body.category": "category",
    "body.node_id": "place",
    "body.address": "place",
    "body.description": "description",
    "body.contact.phone": "phone",
    "body.contact": "phone",
    "body.media_url": "photo",
    "body.file": "photo",
}


@dataclass
class Checked:
    """The intake body when ``errors`` is empty; else each field's word key."""

    body: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def grouped(reference: Reference, lang: str, query: str = "") -> list[tuple[str, list[Category]]]:
    """(group name, categories) in the catalogue's order; only matches when ``query``."""
    words = query.strip().lower()
    found: list[tuple[str, list[Category]]] = []
    for group in reference.groups.values():
        members = [c for c in reference.categories.values() if c.group == group.code
                   and (not words or words in search_text(c))]  # fmt: skip
        if members:
            found.append((group.name.get(lang), members))
    return found


def search_text(category: Category) -> str:
    """Everything a search box may match: names and keywords in both languages."""
    parts = [category.name.zh_CN, category.name.en, *category.keywords.zh_CN,
             *category.keywords.en]  # fmt: skip
    return " ".join(parts).lower()


def place_of(tree: Tree, node_id: str | None) -> tuple[str, str]:
    """(compound id, building id) a deep link's ``place`` names; blanks when it names
    neither a compound nor a building."""
    node = tree.get(node_id or "")
    if node is None:
        return "", ""
    if node.level is Level.BUILDING and node.parent_id:
        return node.parent_id, node.id
    if node.level is Level.COMPOUND:
        return node.id, ""
    return "", ""


def check(reference: Reference, values: Mapping[str, Sequence[str]], phone: str | None) -> Checked:
    """The posted form (each field's list of values) as intake's report body. ``phone``: the
    signed-in resident's (else the form's own, which is then required)."""
    out = Checked()
    category = reference.categories.get(_one(values, "category"))
    if category is None:
        out.errors["category"] = "r.choice"
        return out
    out.body = {"category": category.code, "if_duplicate": "offer"}
    _place(reference.tree, values, out)
    description = _one(values, "description")
    if not description:
        out.errors["description"] = "r.required"
    elif len(description) > MAX_DESCRIPTION:
        out.errors["description"] = "r.too-long"
    elif MARKUP.search(description):
        out.errors["description"] = "r.markup"
    out.body["description"] = description
    answers = _answers(category, values, out.errors)
    if answers:
        out.body["attributes"] = answers
    contact = phone or _one(values, "phone")
    if not contact or not PHONE.match(contact):
        out.errors["phone"] = "r.phone.bad" if contact else "r.required"
    out.body["contact"] = {"phone": contact, "language": _one(values, "lang") or "zh-CN"}
    return out


def _one(values: Mapping[str, Sequence[str]], name: str) -> str:
    found = values.get(name) or [""]
    return str(found[0]).strip()


def _place(tree: Tree, values: Mapping[str, Sequence[str]], out: Checked) -> None:
    compound, building = _one(values, "compound"), _one(values, "building")
    node = tree.get(building) if building else None
    if node is not None and node.level is Level.BUILDING and node.parent_id == compound:
        out.body["node_id"] = node.id
        return
    node = tree.get(compound)
    if node is not None and node.level is Level.COMPOUND:
        out.body["node_id"] = node.id
        return
    address = _one(values, "address")
    if compound or building or not address or len(address) > 500 or MARKUP.search(address):
        out.errors["place"] = "r.place-needed"
    else:
        out.body["address"] = address


def _answers(
    category: Category, values: Mapping[str, Sequence[str]], errors: dict[str, str]
) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for attribute in category.attributes:
        name = f"attr.{attribute.code}"
        given = [v.strip() for v in values.get(name, ()) if v.strip()]
        if not given:
            if attribute.required:
                errors[name] = "r.required"
            continue
        keys = {v.key for v in attribute.values}
        if attribute.datatype == "multivaluelist":
            if any(v not in keys for v in given) or len(set(given)) != len(given):
                errors[name] = "r.choice"
            answers[attribute.code] = given
            continue
        value = given[0]
        if attribute.datatype == "singlevaluelist" and value not in keys:
            errors[name] = "r.choice"
        elif attribute.datatype == "number" and not _number(value):
            errors[name] = "r.number-needed"
        elif attribute.datatype == "datetime":
            value = _beijing(value)
            if not value:
                errors[name] = "r.choice"
        elif len(value) > (MAX_DESCRIPTION if attribute.datatype == "text" else MAX_STRING):
            errors[name] = "r.too-long"
        elif MARKUP.search(value):
            errors[name] = "r.markup"
        answers[attribute.code] = value
    return answers


def _beijing(text: str) -> str:
    """A browser's date-time field (local, no zone) as Beijing time; "" when unreadable."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return ""
    return (moment if moment.tzinfo else moment.replace(tzinfo=BEIJING)).isoformat()


def _number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def form_field(intake_field: str | None) -> str:
    """The form's field for a field intake refused (``attr.<code>`` for attributes)."""
    if intake_field and intake_field.startswith("body.attributes."):
        return "attr." + intake_field.removeprefix("body.attributes.")
    return INTAKE_FIELDS.get(intake_field or "", "form")
