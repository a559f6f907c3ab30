"""Which dispatch actions a person is offered on a case, here and now. Dispatch's state
machine still decides (and refuses with a reason); this only keeps the page to what makes
sense for the person's role, place and the case's state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

FINAL = ("closed", "merged")
OPEN_DUTY = ("summoned", "acknowledged", "in_progress")
CALLING_LEVELS = ("compound", "community")
WHISTLING_LEVELS = ("street", "district")
# the form fields each action posts (dispatch's ActionRequest)
FIELDS: dict[str, tuple[str, ...]] = {
    "acknowledge": (),
    "progress": ("note",),
    "resolve": ("note", "photo_url"),
    "reject": ("reason",),
    "transfer": ("to", "reason"),
    "request-extension": ("until", "reason"),
    "decide-extension": ("holder", "approve", "reason"),
    "call-up": ("reason",),
    "whistle": ("departments", "reason"),
    "urge": ("holder", "reason"),
    "reprimand": ("holder", "reason"),
}
PRESSING = ("urge", "reprimand")


def pressable(action: str, code: str, case: dict[str, Any], now: datetime) -> list[str]:
    """Holders an office at ``code`` may urge (any open duty but its own) or reprimand (an
    open duty past a deadline, not reprimanded yet)."""
    chosen = []
    for duty in case.get("duties", ()):
        if duty["status"] not in OPEN_DUTY or duty["holder"]["code"] == code:
            continue
        deadline = duty["ack_due"] if duty["status"] == "summoned" else duty["resolve_due"]
        late = duty.get("missed_at") is not None or deadline < now
        if action == "urge" or (late and not duty.get("reprimanded")):
            chosen.append(duty["holder"]["code"])
    return chosen


def offered(
    role: str, code: str, level: str | None, case: dict[str, Any], now: datetime | None = None
) -> list[str]:
    """Action names for a person of ``role`` at ``code`` (an office at a tree ``level``);
    with ``now``, also urge and reprimand where they apply."""
    if case["status"] in FINAL or role not in ("office", "department"):
        return []
    mine = next(
        (
            d
            for d in case.get("duties", ())
            if d["holder"]["code"] == code and d["status"] in OPEN_DUTY
        ),
        None,
    )
    actions: list[str] = []
    if mine is not None:
        if mine["status"] == "summoned":
            actions.append("acknowledge")
        else:
            actions += ["progress", "resolve", "request-extension"]
        actions.append("transfer")
        if role == "department":
            actions.append("reject")
    if role == "office" and case["status"] != "resolved":
        if level in CALLING_LEVELS and mine is not None:
            actions.append("call-up")
        if level in WHISTLING_LEVELS:
            actions.append("whistle")
    waiting = any(d.get("extension_until") for d in case.get("duties", ()))
    if role == "office" and waiting and case.get("supervisor") == code:
        actions.append("decide-extension")
    if role == "office" and now is not None:
        actions += [a for a in PRESSING if (a == "urge" or level in WHISTLING_LEVELS)
                    and pressable(a, code, case, now)]  # fmt: skip
    return actions
