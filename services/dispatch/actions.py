"""Departments' and offices' actions, the same over HTTP and over Kafka (``dept.actions``):
turned into machine commands and applied once per action id."""

from __future__ import annotations

from services.dispatch.cases import CaseNotFound, Dispatcher
from services.dispatch.domain.machine import (
    Acknowledge,
    CallUp,
    Command,
    DecideExtension,
    Holder,
    Merge,
    Progress,
    Refused,
    Reject,
    RequestExtension,
    Resolve,
    Transfer,
    Whistle,
)
from shared.events import Envelope
from shared.events.dispatch import DepartmentActionV1
from shared.logging import get_logger

log = get_logger("linli.dispatch.actions")


def _need(value, what: str):
    if value is None or value == "" or value == ():
        raise Refused("missing_field", f"this action needs {what}")
    return value


def to_command(actor: Holder, action: DepartmentActionV1) -> Command:
    """The machine command for an action (``Refused`` when a field it needs is missing)."""
    kind = action.action
    if kind == "acknowledge":
        return Acknowledge(actor)
    if kind == "progress":
        return Progress(actor, _need(action.note, "a note"))
    if kind == "resolve":
        return Resolve(actor, _need(action.note, "a note"), action.photo_url)
    if kind == "reject":
        return Reject(actor, _need(action.reason, "a reason"))
    if kind == "transfer":
        to = _need(action.to, "a target (to)")
        return Transfer(actor, Holder(to.kind, to.code), _need(action.reason, "a reason"))
    if kind == "request-extension":
        return RequestExtension(
            actor, _need(action.until, "until"), _need(action.reason, "a reason")
        )
    if kind == "decide-extension":
        approve = _need(action.approve, "approve (true or false)")
        return DecideExtension(
            actor, _need(action.holder, "the holder"), approve, action.reason or ""
        )
    if kind == "call-up":
        return CallUp(actor, action.reason or "")
    if kind == "whistle":
        return Whistle(actor, _need(action.departments, "departments"), action.reason or "")
    return Merge(actor, _need(action.into, "the case it duplicates (into)"), action.reason or "")


class KafkaActions:
    """Consumer of ``dept.actions``: a refused or unknown action is logged and skipped (the
    sender sees the case unchanged); transient errors are retried by the consumer."""

    def __init__(self, dispatcher: Dispatcher):
        self._dispatcher = dispatcher

    async def on_action(self, envelope: Envelope, action: DepartmentActionV1) -> str:
        actor = Holder(action.actor_kind, action.actor)
        try:
            applied = await self._dispatcher.apply(
                action.issue_id, to_command(actor, action), action_id=action.action_id
            )
        except (Refused, CaseNotFound) as exc:
            log.warning(
                "action_refused", issue=action.issue_id, action=action.action, error=str(exc)
            )
            return "refused"
        return "duplicate" if applied.duplicate else "ok"
