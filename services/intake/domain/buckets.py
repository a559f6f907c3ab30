"""The keys of intake's lookup documents, so the two searches that would scan are reads by
``_id`` (on FerretDB v1 only those are indexed; docs/storage.md):

- possible duplicates: open reports of a category per compound (``<category>|compound|<id>``)
  and per grid cell of about 1 km (``<category>|cell|<row>:<column>``) holding the report's
  point (its own lat/lon, else its place's); a search reads its compound's bucket and the
  cells that the radius around its point touches;
- Open311's search by date: the reports of each UTC day (``YYYY-MM-DD``), each as one string
  ``"<reported_at in epoch ms> <issue id> <category>"`` (FerretDB decodes a day of strings
  about 4x faster than a day of sub-documents: 52 against 243 ms for 1,100, measured here),
  and the same entries per service and day (``<category>|YYYY-MM-DD``), so a search for one
  service reads that service's few entries a day, not the whole day's.

No I/O here."""

from __future__ import annotations

import calendar
import math
from datetime import UTC, date, datetime, timedelta

from shared.reference.tree import EARTH_RADIUS_KM

CELL_DEGREES = 0.01  # ~1.1 km of latitude; a cell is never narrower than the radius's box
MAX_CELLS = 400  # a radius of ~10 km; beyond it the search is refused (a configuration error)
Point = tuple[float, float]


def _cell(lat: float, lon: float) -> tuple[int, int]:
    return math.floor(lat / CELL_DEGREES), math.floor(lon / CELL_DEGREES)


def compound_key(category: str, compound_id: str) -> str:
    return f"{category}|compound|{compound_id}"


def cell_key(category: str, row: int, column: int) -> str:
    return f"{category}|cell|{row}:{column}"


def open_keys(category: str, compound_id: str | None, point: Point | None) -> list[str]:
    """The buckets an open report of ``category`` belongs to."""
    keys = [compound_key(category, compound_id)] if compound_id is not None else []
    if point is not None:
        keys.append(cell_key(category, *_cell(*point)))
    return keys


def nearby_keys(
    category: str, compound_id: str | None, point: Point | None, radius_km: float
) -> list[str]:
    """The buckets that hold every open report of ``category`` at the compound or whose point
    is within ``radius_km`` of ``point``: the compound's, and every cell that the box around
    the circle touches (with a margin)."""
    keys = [compound_key(category, compound_id)] if compound_id is not None else []
    if point is None:
        return keys
    lat, lon = point
    span_lat = math.degrees(radius_km / EARTH_RADIUS_KM) * 1.01 + 1e-9
    widest = min(89.0, abs(lat) + span_lat)  # the box's parallel farthest from the equator
    span_lon = min(180.0, span_lat / math.cos(math.radians(widest)))
    low, high = _cell(lat - span_lat, lon - span_lon), _cell(lat + span_lat, lon + span_lon)
    cells = [
        (row, column) for row in range(low[0], high[0] + 1) for column in range(low[1], high[1] + 1)
    ]
    if len(cells) > MAX_CELLS:
        raise ValueError(f"a radius of {radius_km} km touches {len(cells)} cells")
    return keys + [cell_key(category, row, column) for row, column in cells]


def day_key(moment: datetime) -> str:
    """The UTC day a report was made."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).date().isoformat()


def service_day_key(category: str, day: str) -> str:
    """The document of one service's reports on ``day`` (a ``day_key``)."""
    return f"{category}|{day}"


def days_between(start: datetime, end: datetime) -> list[str]:
    """Every UTC day from ``start``'s to ``end``'s (at most 91 for Open311's window)."""
    first, last = date.fromisoformat(day_key(start)), date.fromisoformat(day_key(end))
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since the epoch, truncated as BSON stores a date-time."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return calendar.timegm(moment.utctimetuple()) * 1000 + moment.microsecond // 1000


def day_entry(issue_id: str, category: str, reported_at: datetime) -> str:
    return f"{epoch_ms(reported_at)} {issue_id} {category}"


def read_day_entry(entry: str) -> tuple[int, str, str]:
    """(reported_at in epoch ms, issue id, category) of a day's entry."""
    at, issue_id, category = entry.split(" ", 2)
    return int(at), issue_id, category
