"""The public fund page's cache, in the web's own database (collection ``public_fund``), so
the page never reads the books: the ledger's events (``fund_events``) and a slow timer make it
read the ledger's public API again. Each refresh makes the cache equal to what the ledger
publishes at that moment, so a replayed event changes nothing; a refresh that read earlier
never overwrites one that read later (each document keeps its ``read_at``).

Documents, each read by ``_id``: ``index`` (every campaign's public figures and the last
chain verification), ``campaign:<id>`` (its disbursements and newest disclosure entries) and
``quarter:<q>`` (the ledger's disclosure CSV of that quarter, served for download)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.web.backends import Backends, ServiceError
from services.web.public.figures import changed_quarters, disclosure_entries, newest_entries
from shared.events import utcnow
from shared.logging import get_logger

log = get_logger("linli.web.public")
PUBLIC = "/api/v1/public"


@dataclass(frozen=True)
class FundView:
    campaigns: list[dict[str, Any]]  # public figures, each with "disbursements", "entries"
    verification: dict[str, Any]
    read_at: datetime


class FundCache:
    def __init__(
        self,
        db: AsyncDatabase,
        backends: Backends,
        *,
        clock: Callable[[], datetime] = utcnow,
        keep_s: float = 1.0,
    ):
        self.docs = db["public_fund"]
        self.backends, self.clock, self.keep_s = backends, clock, keep_s
        self._lock = asyncio.Lock()
        self._view: tuple[float, FundView | None] = (-1e9, None)
        self._reading: asyncio.Task[None] | None = None

    # reading (the page) -----------------------------------------------------------------------
    async def view(self) -> FundView | None:
        """What the page shows. Kept in the process and read again from the database in the
        background once older than ``keep_s`` seconds (one read at a time; meanwhile the kept
        view answers), so a page waits for the database only before its first view. None
        until the first refresh has stored anything."""
        at, view = self._view
        if view is None:
            return await self._read_view()
        if time.monotonic() - at >= self.keep_s and (self._reading is None or self._reading.done()):
            self._reading = asyncio.create_task(self._read_quietly())
        return view

    async def _read_quietly(self) -> None:
        try:
            await self._read_view()
        except Exception as exc:  # the database away: the kept view answers until it is back
            log.warning("public_fund_view_unread", error=repr(exc))

    async def _read_view(self) -> FundView | None:
        index = await self.docs.find_one({"_id": "index"})
        if index is None:
            return None
        found = await asyncio.gather(
            *(self.docs.find_one({"_id": f"campaign:{c['id']}"}, {"by_quarter": 0})
              for c in index["campaigns"])
        )  # fmt: skip
        campaigns = [
            {**c, "disbursements": (d or {}).get("disbursements", []),
             "entries": (d or {}).get("entries", [])}
            for c, d in zip(index["campaigns"], found, strict=True)
        ]  # fmt: skip
        view = FundView(campaigns, index.get("verification") or {}, index["read_at"])
        self._view = (time.monotonic(), view)
        return view

    async def disclosure_csv(self, quarter: str) -> str | None:
        doc = await self.docs.find_one({"_id": f"quarter:{quarter}"})
        return None if doc is None else doc["csv"]

    # refreshing (events, timer, start) -----------------------------------------------------
    async def refresh(self, campaigns: Iterable[str] | None = None) -> None:
        """Read the ledger's public account again: every campaign's figures and the last
        verification, and for ``campaigns`` (None: all) their disbursements and the
        disclosure of each quarter whose figures changed. ``ServiceError`` 503 when the
        ledger cannot be reached (the caller retries)."""
        async with self._lock:
            read_at = self.clock()
            figures = await self._get("/campaigns")
            verification = await self._get("/verification")
            wanted = {c["id"] for c in figures} if campaigns is None else set(campaigns)
            old = await self._campaign_docs(wanted)
            quarters: set[str] = set()
            for c in figures:
                if c["id"] in wanted:
                    quarters |= changed_quarters((old.get(c["id"]) or {}).get("figures"), c)
            texts = {q: await self._get(f"/disclosures/{q}.csv") for q in sorted(quarters)}
            for quarter, text in texts.items():
                await self._put({"_id": f"quarter:{quarter}", "csv": text}, read_at)
            for c in figures:
                if c["id"] in wanted:
                    await self._put_campaign(c, old.get(c["id"]), texts, read_at)
            await self._put(
                {"_id": "index", "campaigns": figures, "verification": verification}, read_at
            )
            self._view = (-1e9, self._view[1])  # this process reads it again at once
        log.info("public_fund_refreshed", campaigns=sorted(wanted), quarters=sorted(quarters))

    async def _put_campaign(
        self,
        figures: dict[str, Any],
        old: dict[str, Any] | None,
        texts: dict[str, str],
        read_at: datetime,
    ) -> None:
        campaign = figures["id"]
        by_quarter = dict((old or {}).get("by_quarter") or {})
        for quarter, text in texts.items():
            if quarter in figures.get("quarters", {}):
                by_quarter[quarter] = newest_entries({quarter: disclosure_entries(text, campaign)})
        try:
            disbursements = await self._get(f"/campaigns/{campaign}/disbursements")
        except ServiceError as exc:
            if exc.status != 404:
                raise
            disbursements = []
        await self._put(
            {
                "_id": f"campaign:{campaign}",
                "figures": figures,
                "by_quarter": by_quarter,  # each quarter's newest rows (the page needs no more)
                "entries": newest_entries(by_quarter),
                "disbursements": disbursements,
            },
            read_at,
        )

    async def _campaign_docs(self, campaigns: set[str]) -> dict[str, dict[str, Any] | None]:
        found = await asyncio.gather(
            *(self.docs.find_one({"_id": f"campaign:{c}"}) for c in sorted(campaigns))
        )
        return dict(zip(sorted(campaigns), found, strict=True))

    async def _get(self, path: str) -> Any:
        return await self.backends.call("ledger", "GET", PUBLIC + path)

    async def _put(self, doc: dict[str, Any], read_at: datetime) -> None:
        """Store ``doc`` unless a refresh that read later stored it already."""
        doc = {**doc, "read_at": read_at}
        replaced = await self.docs.replace_one(
            {"_id": doc["_id"], "read_at": {"$lt": read_at}}, doc
        )
        if replaced.matched_count:
            return
        with suppress(DuplicateKeyError):  # a later reading is there already
            await self.docs.insert_one(doc)


async def keep_fresh(cache: FundCache, every_s: float) -> None:
    """Read everything at start (retrying while the ledger is away), then every ``every_s``
    seconds (0: only at start); the events do the rest."""
    delay = 1.0
    while True:
        try:
            await cache.refresh()
        except Exception as exc:  # the ledger away or slow: try again later, never stop
            log.warning("public_fund_refresh_failed", error=repr(exc))
            await asyncio.sleep(delay)
            delay = min(delay * 2, 60.0)
            continue
        delay = 1.0
        if every_s <= 0:
            return
        await asyncio.sleep(every_s)
