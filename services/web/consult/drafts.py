"""A staff form as consult's request: a poll's draft (question, place, kind, options one a
line, maximum, quorum, closing time in Beijing time), paper codes' households, a motion.
Pure: the form in, the body out, or ``BadForm`` naming the field."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

LOCAL = ZoneInfo("Asia/Shanghai")
KINDS = ("single", "multiple", "ranked")
CONSULTATION = re.compile(r"^con_[0-9a-z_-]{3,60}$")
MAX_HOUSEHOLDS = 200  # codes printed at once (one sheet run)


class BadForm(ValueError):
    """``str(exc)``: the field and what it needs."""


def _text(form: Mapping[str, Any], name: str, most: int) -> str:
    value = str(form.get(name) or "").strip()
    if not value or len(value) > most:
        raise BadForm(f"{name}: 1 to {most} characters")
    return value


def _whole(form: Mapping[str, Any], name: str, low: int, high: int, default: int) -> int:
    text = str(form.get(name) or "").strip()
    if not text:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise BadForm(f"{name}: a whole number from {low} to {high}")
    return int(text)


def poll_body(form: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    kind = form.get("kind")
    if kind not in KINDS:
        raise BadForm(f"kind: one of {', '.join(KINDS)}")
    labels = [line.strip() for line in _text(form, "options", 2000).splitlines() if line.strip()]
    if not 2 <= len(labels) <= 20 or any(len(label) > 100 for label in labels):
        raise BadForm("options: 2 to 20 lines of at most 100 characters")
    body: dict[str, Any] = {
        "poll_id": "poll_" + secrets.token_hex(6),
        "node_id": _text(form, "node_id", 200),
        "question": _text(form, "question", 500),
        "kind": kind,
        "options": [{"id": f"o{i}", "label": label} for i, label in enumerate(labels, 1)],
        "max_choices": _whole(form, "max_choices", 1, len(labels), 1),
        "quorum_percent": _whole(form, "quorum_percent", 0, 100, 0),
    }
    closes = str(form.get("closes_at") or "").strip()
    if closes:
        try:
            when = datetime.fromisoformat(closes).replace(tzinfo=LOCAL)
        except ValueError as exc:
            raise BadForm("closes_at: a date and time, e.g. 2026-12-31T18:00") from exc
        if when <= now:
            raise BadForm("closes_at: a time still to come")
        body["closes_at"] = when.isoformat()
    consultation = str(form.get("consultation_id") or "").strip()
    if consultation:
        if not CONSULTATION.match(consultation):
            raise BadForm("consultation_id: like con_yard-meeting")
        body["consultation_id"] = consultation
    return body


def households_of(form: Mapping[str, Any]) -> list[str]:
    lines = [line.strip() for line in str(form.get("households") or "").splitlines()]
    found = list(dict.fromkeys(line for line in lines if line))
    if not 1 <= len(found) <= MAX_HOUSEHOLDS or any(len(h) > 240 for h in found):
        raise BadForm(f"households: 1 to {MAX_HOUSEHOLDS} lines, one household each")
    return found


def motion_body(form: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "resolution_id": "res_" + secrets.token_hex(6),
        "title": _text(form, "title", 200),
        "text": _text(form, "text", 5000),
    }


def decision_body(form: Mapping[str, Any]) -> dict[str, Any]:
    verdict = form.get("verdict")
    if verdict not in ("approve", "refuse"):
        raise BadForm("verdict: approve or refuse")
    return {"verdict": verdict, "reason": _text(form, "reason", 1000)}
