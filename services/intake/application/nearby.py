"""Possible duplicates: open reports of a category at the same compound or within a radius
of the point (the offer before filing, and ``GET /duplicates``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from services.intake.domain.buckets import nearby_keys
from services.intake.domain.duplicates import pick_duplicates
from services.intake.domain.places import Places
from services.intake.domain.text import ReportRejected
from services.intake.domain.views import duplicate_view
from services.intake.store import IssueStore

# the names of (category, node id, address, lat, lon) in refusals
DUPLICATE_FIELDS = ("category", "node_id", "address", "lat", "lon")


class Nearby:
    def __init__(
        self,
        store: IssueStore,
        categories: dict,
        places: Places,
        *,
        radius_km: float,
        days: int,
        clock: Callable[[], datetime],
    ):
        self._store = store
        self._categories = categories
        self._places = places
        self._radius_km = radius_km
        self._days = days
        self._clock = clock

    async def open_reports(
        self,
        category: str,
        node_id: str,
        lat: float | None = None,
        lon: float | None = None,
        fields: tuple[str, str, str, str, str] = DUPLICATE_FIELDS,
    ) -> list[dict[str, Any]]:
        """Open reports of the category at the same compound or within the radius, nearest
        first (at most five), as another resident may see them."""
        if category not in self._categories:
            raise ReportRejected(fields[0], "unknown", f"no category {category!r}")
        place = self._places.resolve(node_id=node_id, lat=lat, lon=lon, fields=fields[1:])
        compound = self._places.tree.ancestor_at(place.node.id, "compound")
        point = (lat, lon) if lat is not None and lon is not None else None
        if point is None and compound is not None and compound.location is not None:
            point = (compound.location.lat, compound.location.lon)
        since = self._clock() - timedelta(days=self._days)
        keys = nearby_keys(category, compound.id if compound else None, point, self._radius_km)
        candidates = await self._store.open_of_category(category, keys, since)
        found = pick_duplicates(
            candidates,
            compound_id=compound.id if compound else None,
            point=point,
            radius_km=self._radius_km,
            tree=self._places.tree,
        )
        return [duplicate_view(doc) for doc in found]
