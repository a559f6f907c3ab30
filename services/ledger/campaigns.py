"""Campaigns are restricted funds with a goal, a period, projects and an approval rule; and
their public account (no donor data: named donors only by the name they chose)."""

from __future__ import annotations

from datetime import date
from typing import Any

from services.ledger.domain.approvals import ApprovalRule
from services.ledger.domain.funds import FundState
from services.ledger.domain.idempotency import check_same
from services.ledger.store import LedgerStore

CAMPAIGN_FIELDS = ("name", "goal_fen", "starts", "ends", "projects", "approval", "currency")


class Campaigns:
    def __init__(self, store: LedgerStore):
        self._store = store
        self._known: set[str] = set()
        self._names: dict[str, str] = {}

    async def create(
        self,
        campaign_id: str,
        *,
        name: str,
        goal_fen: int,
        starts: date,
        ends: date,
        projects: list[str],
        rule: ApprovalRule,
        currency: str = "CNY",
    ) -> tuple[bool, dict[str, Any]]:
        """(created, campaign); the same id with other content raises ``ConflictingReplay``."""
        if ends < starts:
            raise ValueError("ends before it starts")
        content = {
            "name": name,
            "goal_fen": goal_fen,
            "starts": starts.isoformat(),
            "ends": ends.isoformat(),
            "projects": list(projects),
            "approval": {"parties": list(rule.parties), "required": rule.required},
            "currency": currency,
        }
        created, stored = await self._store.create_fund({"_id": campaign_id, **content})
        if not created:
            check_same("campaign", campaign_id, {k: stored.get(k) for k in content}, content)
        self._known.add(campaign_id)
        self._names[campaign_id] = name
        return created, {"id": campaign_id, **content}

    async def name(self, fund: str) -> str | None:
        """The campaign's name, None when it has none (kept once known: a campaign's name
        never changes)."""
        if fund not in self._names:
            doc = await self._store.fund_doc(fund) or {}
            if not doc.get("name"):
                return None
            self._names[fund] = doc["name"]
        return self._names[fund]

    async def exists(self, fund: str) -> bool:
        """Whether a campaign (fund) of that id was opened (remembered once seen)."""
        if fund in self._known:
            return True
        if await self._store.fund_doc(fund) is None:
            return False
        self._known.add(fund)
        return True

    async def rule(self, fund: str) -> ApprovalRule:
        doc = await self._store.fund_doc(fund)
        approval = (doc or {}).get("approval") or {}
        if not approval:
            return ApprovalRule()
        return ApprovalRule(tuple(approval["parties"]), approval["required"])


def public_figures(doc: dict[str, Any]) -> dict[str, Any]:
    """One campaign's public account: raised by channel, spent by project, held, available,
    and the same per quarter; every figure in fen. It adds up:
    raised.total - spent.total == balance == held + available == cash + goods."""
    state = FundState.from_doc(doc)
    raised = {ch: state.raised.get(ch, 0) for ch in ("online", "offline", "in-kind")}
    spent_total = sum(state.spent.values())
    quarters = {}
    for q, figures in sorted(state.quarters.items()):
        q_raised = {ch: figures.get(f"raised_{ch}", 0) for ch in ("online", "offline", "in-kind")}
        quarters[q] = {
            "raised": {**q_raised, "total": sum(q_raised.values())},
            "spent": figures.get("spent", 0),
        }
    return {
        "id": doc["_id"],
        "name": doc.get("name", doc["_id"]),
        "goal_fen": doc.get("goal_fen", 0),
        "starts": doc.get("starts"),
        "ends": doc.get("ends"),
        "currency": state.currency,
        "projects": [
            {"project": p, "spent_fen": state.spent.get(p, 0)}
            for p in sorted(set(doc.get("projects") or []) | set(state.spent))
        ],
        "raised": {**raised, "total": sum(raised.values())},
        "spent_fen": spent_total,
        "balance_fen": state.balance_fen,
        "held_fen": state.held_fen,
        "available_fen": state.available_fen,
        "assets": {"cash_fen": state.cash_fen, "goods_fen": dict(sorted(state.goods.items()))},
        "quarters": quarters,
        "chain": {"entries": state.seq, "head": state.head},
    }
