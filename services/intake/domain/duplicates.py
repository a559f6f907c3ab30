"""Possible duplicates: an open report of the same category at the same compound, or
within a radius of the given point."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from shared.reference import Tree, haversine_km


def _point(doc: Mapping[str, Any], tree: Tree) -> tuple[float, float] | None:
    if doc.get("lat") is not None and doc.get("lon") is not None:
        return float(doc["lat"]), float(doc["lon"])
    node = tree.get(doc.get("node_id", ""))
    if node is not None and node.location is not None:
        return node.location.lat, node.location.lon
    return None


def pick_duplicates(
    candidates: Iterable[Mapping[str, Any]],
    *,
    compound_id: str | None,
    point: tuple[float, float] | None,
    radius_km: float,
    tree: Tree,
    limit: int = 5,
) -> list[Mapping[str, Any]]:
    """Candidates (already open and of the same category) at the compound or near the point,
    nearest first when a point is known."""
    found: list[tuple[float, Mapping[str, Any]]] = []
    for doc in candidates:
        where = _point(doc, tree)
        distance = haversine_km(*point, *where) if point and where else None
        same_compound = compound_id is not None and doc.get("compound_id") == compound_id
        if same_compound or (distance is not None and distance <= radius_km):
            found.append((distance if distance is not None else 0.0, doc))
    found.sort(key=lambda pair: pair[0])
    return [doc for _, doc in found[:limit]]
