"""Departments' and offices' actions, the same over HTTP and over Kafka (``dept.actions``):
turned into machine commands and applied once per action id.

Over Kafka the sender is proven by the action's signature (its dispatch key's HMAC, see
``shared.events.dispatch``): an unsigned, wrongly signed or revoked-key action, or one whose
key belongs to someone else than its ``actor``, is dead-lettered with the reason. Every
action of a department is answered on ``dept.<code>.outcomes``: applied, or refused with a
code, the field and a reason. An office acting over Kafka has no outcome topic: its refused
actions are dead-lettered with the reason (offices act over HTTP, where the answer says it).
"""

from __future__ import annotations

import hmac

from services.dispatch.cases import Applied, CaseNotFound, Dispatcher
from services.dispatch.domain.machine import (
    NOT_FOUND,
    Acknowledge,
    CallUp,
    Command,
    DecideExtension,
    Holder,
    Merge,
    Progress,
    Refused,
    Reject,
    Reprimand,
    RequestExtension,
    Resolve,
    Transfer,
    Urge,
    Whistle,
)
from services.dispatch.store import CaseStore
from shared.events import Envelope, utcnow
from shared.events.dispatch import DepartmentActionOutcomeV1, DepartmentActionV1, action_signature
from shared.kafka.consumer import PoisonMessage
from shared.logging import get_logger
from shared.topics import dept_outcomes

log = get_logger("linli.dispatch.actions")
# refusals about the action's own input (answered 422 over HTTP); other refusals are about
# the case's state or the actor's rights (409), or something unknown (404, ``NOT_FOUND``)
INVALID = frozenset(
    {
        "missing_field",
        "reason_required",
        "not_later",
        "extension_too_long",
        "merge_into_itself",
        "same_holder",
        "no_departments",
        "unknown_department",
        "office_not_on_path",
        "not_on_case",
    }
)


def refusal_status(refused: Refused) -> int:
    """The HTTP status of a refusal: 404 unknown, 422 invalid input, 409 otherwise."""
    if refused.code in NOT_FOUND:
        return 404
    return 422 if refused.code in INVALID else 409


def _need(value, what: str, field: str):
    if value is None or value == "" or value == ():
        raise Refused("missing_field", f"this action needs {what}", field)
    return value


def to_command(actor: Holder, action: DepartmentActionV1) -> Command:
    """The machine command for an action (``Refused`` when a field it needs is missing)."""
    kind = action.action
    if kind == "acknowledge":
        return Acknowledge(actor)
    if kind == "progress":
        return Progress(actor, _need(action.note, "a note", "note"))
    if kind == "resolve":
        return Resolve(actor, _need(action.note, "a note", "note"), action.photo_url)
    if kind == "reject":
        return Reject(actor, _need(action.reason, "a reason", "reason"))
    if kind == "transfer":
        to = _need(action.to, "a target (to)", "to")
        return Transfer(actor, Holder(to.kind, to.code), _need(action.reason, "a reason", "reason"))
    if kind == "request-extension":
        return RequestExtension(
            actor, _need(action.until, "until", "until"), _need(action.reason, "a reason", "reason")
        )
    if kind == "decide-extension":
        approve = _need(action.approve, "approve (true or false)", "approve")
        return DecideExtension(
            actor, _need(action.holder, "the holder", "holder"), approve, action.reason or ""
        )
    if kind == "call-up":
        return CallUp(actor, action.reason or "")
    if kind == "whistle":
        return Whistle(
            actor, _need(action.departments, "departments", "departments"), action.reason or ""
        )
    if kind == "urge":
        return Urge(actor, _need(action.holder, "the holder", "holder"), action.reason or "")
    if kind == "reprimand":
        return Reprimand(
            actor,
            _need(action.holder, "the holder", "holder"),
            _need(action.reason, "a reason", "reason"),
        )
    into = _need(action.into, "the case it duplicates (into)", "into")
    return Merge(actor, into, action.reason or "")


class KafkaActions:
    """Consumer of ``dept.actions``: checks the signature, applies the action and tells the
    department the outcome; transient errors propagate (the consumer retries)."""

    def __init__(self, dispatcher: Dispatcher, store: CaseStore):
        self._dispatcher = dispatcher
        self._store = store

    async def on_action(self, envelope: Envelope, action: DepartmentActionV1) -> str:
        actor = await self._verified(action)
        refused: Refused | None = None
        applied: Applied | None = None
        try:
            applied = await self._dispatcher.apply(
                action.issue_id, to_command(actor, action), action_id=action.action_id
            )
        except CaseNotFound:
            refused = Refused("unknown_case", f"no case {action.issue_id}", "issue_id")
        except Refused as exc:
            refused = exc
        if refused is not None:
            log.info(
                "action_refused", issue=action.issue_id, action=action.action, code=refused.code
            )
        if actor.kind == "department":
            await self._tell(action, applied, refused)
        elif refused is not None:
            raise PoisonMessage(f"refused {refused.code}: {refused.reason}")
        if refused is not None:
            return "refused"
        assert applied is not None
        return "duplicate" if applied.duplicate else "ok"

    async def _verified(self, action: DepartmentActionV1) -> Holder:
        """The actor, proven by the action's signature; ``PoisonMessage`` otherwise."""
        if not action.key_id or not action.signature:
            raise PoisonMessage("unsigned action: key_id and signature are required")
        key = await self._store.signing_key(action.key_id)
        if key is None:
            raise PoisonMessage(f"unknown or revoked key {action.key_id[:12]}…")
        if (key["kind"], key["code"]) != (action.actor_kind, action.actor):
            raise PoisonMessage(
                f"forged actor: a key of {key['code']} cannot act as {action.actor}"
            )
        if not hmac.compare_digest(action_signature(action, key["signing"]), action.signature):
            raise PoisonMessage("bad signature: the action was changed or signed with another key")
        return Holder(action.actor_kind, action.actor)

    async def _tell(
        self, action: DepartmentActionV1, applied: Applied | None, refused: Refused | None
    ) -> None:
        outcome = DepartmentActionOutcomeV1(
            action_id=action.action_id,
            issue_id=action.issue_id,
            department=action.actor,
            action=action.action,
            outcome="refused" if refused else "applied",
            duplicate=bool(applied and applied.duplicate),
            code=refused.code if refused else None,
            field=refused.field if refused else None,
            reason=refused.reason if refused else None,
            status=applied.case.status if applied else None,
            version=applied.case.version if applied else None,
            at=utcnow(),
        )
        await self._dispatcher.publish_one(
            dept_outcomes(action.actor),
            action.issue_id,
            outcome,
            "outcome",
            f"{action.actor}:{action.action_id}:{outcome.outcome}",
        )
