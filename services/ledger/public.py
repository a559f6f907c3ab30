"""The public account: per campaign raised (online, offline, in-kind), spent, held, available,
projects and quarters; each campaign's disbursements with the parties' approvals; the quarterly
disclosure as CSV and as a printable page; the outcome of the last chain verification. No donor
personal data: only the names donors chose to show; no payee, no approver's key."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import HTMLResponse, PlainTextResponse

from services.ledger.campaigns import public_figures
from services.ledger.domain.disclosure import disclosure_csv, disclosure_html, disclosure_rows
from services.ledger.store import LedgerStore
from shared.http.errors import ApiError

Quarter = Annotated[str, Path(pattern=r"^\d{4}Q[1-4]$", description="e.g. 2026Q4")]


def public_spending(doc: dict[str, Any]) -> dict[str, Any]:
    """A disbursement as the public sees it: what for, how much, where it stands, and which
    parties approved when (the payee and the approvers' keys stay inside)."""
    return {
        "id": doc["_id"],
        "fund": doc["fund"],
        "project": doc["project"],
        "amount_fen": doc["amount_fen"],
        "currency": doc.get("currency", "CNY"),
        "purpose": doc.get("purpose", ""),
        "status": doc["status"],
        "parties": list(doc.get("parties") or ()),
        "required": doc.get("required"),
        "approvals": [
            {"party": a["party"], "at": _iso(a.get("at"))} for a in doc.get("approvals") or ()
        ],
        "requested_at": _iso(doc.get("requested_at")),
        "entry_id": doc.get("entry_id"),
    }


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


class PublicAccount:
    def __init__(self, store: LedgerStore):
        self._store = store

    async def campaigns(self) -> list[dict[str, Any]]:
        return [public_figures(doc) for doc in await self._store.all_funds()]

    async def disbursements(self, campaign: str) -> list[dict[str, Any]] | None:
        """None when there is no such campaign."""
        if await self._store.fund_doc(campaign) is None:
            return None
        return [public_spending(doc) for doc in await self._store.disbursements_of(campaign)]

    async def verification(self) -> dict[str, Any]:
        return await self._store.last_verification() or {"at": None, "ok": None}

    async def disclosure(self, quarter: str) -> tuple[list[dict[str, Any]], list[tuple]]:
        rows = disclosure_rows(await self._store.entries_of_quarter(quarter))
        summaries = [s for s in await self.campaigns() if quarter in s["quarters"]]
        return summaries, rows


def build_public_router(account: PublicAccount) -> APIRouter:
    router = APIRouter(prefix="/api/v1/public", tags=["public account"])
    down = {503: {"description": "Database down"}}

    @router.get("/campaigns", responses=down)
    async def campaigns() -> list[dict[str, Any]]:
        """Every campaign's account, in fen: raised by channel, spent, held, available."""
        return await account.campaigns()

    @router.get("/campaigns/{campaign}", responses={404: {"description": "No such campaign"}})
    async def campaign(campaign: Annotated[str, Path(max_length=64)]) -> dict[str, Any]:
        """One campaign's account, with its projects and quarters."""
        for figures in await account.campaigns():
            if figures["id"] == campaign:
                return figures
        raise ApiError(404, "not_found", f"no campaign {campaign}")

    @router.get(
        "/campaigns/{campaign}/disbursements",
        responses={**down, 404: {"description": "No such campaign"}},
    )
    async def disbursements(campaign: Annotated[str, Path(max_length=64)]) -> list[dict[str, Any]]:
        """The campaign's disbursements: project, amount (fen), purpose, status and each
        party's approval with its time."""
        found = await account.disbursements(campaign)
        if found is None:
            raise ApiError(404, "not_found", f"no campaign {campaign}")
        return found

    @router.get("/verification", responses=down)
    async def verification() -> dict[str, Any]:
        """When the hash chains were last verified (``linli ledger verify``) and whether every
        chain held; ``at`` is null when they never were."""
        return await account.verification()

    @router.get(
        "/disclosures/{quarter}.csv",
        response_class=PlainTextResponse,
        responses={**down, 200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
    )
    async def disclosure_as_csv(quarter: Quarter) -> PlainTextResponse:
        """The quarterly disclosure (信息公开) as CSV: per campaign summary, then every entry."""
        summaries, rows = await account.disclosure(quarter)
        return PlainTextResponse(
            disclosure_csv(quarter, summaries, rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="disclosure-{quarter}.csv"'},
        )

    @router.get("/disclosures/{quarter}", response_class=HTMLResponse, responses=down)
    async def disclosure_page(quarter: Quarter) -> HTMLResponse:
        """The quarterly disclosure as a printable page."""
        summaries, rows = await account.disclosure(quarter)
        return HTMLResponse(disclosure_html(quarter, summaries, rows))

    return router
