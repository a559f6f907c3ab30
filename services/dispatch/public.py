"""What anyone may read of dispatch, without a key: the monthly rates (the same figures as
``/api/v1/dispatch/rates``: per holder, street, community and category, no case in them) and
how many reports are open per compound (a case placed finer, at a building, counts at its
compound; never a case's text, photo, reporter or building)."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any

from fastapi import APIRouter, Query

from services.dispatch.http import MONTH
from services.dispatch.monthly_rates import month_rates
from services.dispatch.store import CaseStore
from services.dispatch.views import RatesAnswer
from shared.events import utcnow
from shared.http.schema import error_responses
from shared.reference import Level
from shared.reference.tree import Tree


def open_by_compound(places: list[list[str]], tree: Tree) -> dict[str, int]:
    """Open cases per compound, given each case's places (its node and the nodes above it);
    a case above compound level counts at its deepest place."""
    counts: Counter[str] = Counter()
    for path in places:
        known = [tree[p] for p in path if p in tree]
        if not known:
            continue
        compound = [n for n in known if n.level is Level.COMPOUND]
        deepest = max(known, key=lambda n: n.level.rank)
        counts[(compound[0] if compound else deepest).id] += 1
    return dict(sorted(counts.items()))


def build_public_router(store: CaseStore, tree: Tree) -> APIRouter:
    api = APIRouter(prefix="/api/v1/public", tags=["public"])

    @api.get(
        "/rates",
        summary="Monthly rates, as the public sees them (no key)",
        description="The same rankings as /api/v1/dispatch/rates; docs/dispatch.md says how "
        "each rate is computed.",
        response_model=RatesAnswer,
        responses=error_responses(422, 503),
    )
    async def rates(
        month: Annotated[str, Query(pattern=MONTH, description="YYYY-MM (Asia/Shanghai)")],
    ) -> dict[str, Any]:
        result = await month_rates(store, tree, month)
        return {
            "month": month,
            "rankings": {d: [row.__dict__ for row in rows] for d, rows in result.items()},
        }

    @api.get(
        "/open-counts",
        summary="Open reports per compound (no key)",
        responses=error_responses(503),
    )
    async def open_counts() -> dict[str, Any]:
        """How many reports are open (not closed or merged) per compound, now."""
        nodes = await store.open_nodes(tree.root.id)
        places = [[*(a.id for a in tree.ancestors(n)), n] if n in tree else [n] for n in nodes]
        return {"at": utcnow().isoformat(), "compounds": open_by_compound(places, tree)}

    return api
