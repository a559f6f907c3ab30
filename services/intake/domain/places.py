"""Where a report is: a node id, an address or coordinates, resolved to a node of the tree."""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass

from services.intake.domain.text import ReportRejected, has_markup
from shared.reference import Level, Node, Tree

NEAREST_KM = 1.0
MAX_ADDRESS = 500


@dataclass(frozen=True)
class Place:
    node: Node
    address: str | None = None
    lat: float | None = None
    lon: float | None = None


def _norm(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).split()).casefold()


class Places:
    """Resolves the three ways a client can name a place (Open311: ``address_id``,
    ``address_string``, ``lat``/``long``)."""

    def __init__(self, tree: Tree, nearest_km: float = NEAREST_KM):
        self.tree = tree
        self._nearest_km = nearest_km
        self._by_address = {_norm(n.address): n for n in tree.at_level(Level.COMPOUND) if n.address}

    def resolve(
        self,
        *,
        node_id: str | None = None,
        address: str | None = None,
        lat: float | None = None,
        lon: float | None = None,
        fields: tuple[str, str, str, str] = ("address_id", "address_string", "lat", "long"),
    ) -> Place:
        id_field, address_field, lat_field, lon_field = fields
        if address is not None:
            address = address.strip()
            if len(address) > MAX_ADDRESS:
                raise ReportRejected(address_field, "too_long", f"at most {MAX_ADDRESS} characters")
            if has_markup(address):
                raise ReportRejected(address_field, "markup", "HTML is not accepted")
        if (lat is None) != (lon is None):
            missing = lon_field if lon is None else lat_field
            raise ReportRejected(missing, "required", "give both latitude and longitude")
        if lat is not None and lon is not None:
            check_coordinates(lat, lon, lat_field, lon_field)
        if node_id:
            node = self.tree.get(node_id.strip())
            if node is None:
                raise ReportRejected(id_field, "unknown", f"no place {node_id!r} in the tree")
            return Place(node, address or node.address, lat, lon)
        if address:
            node = self.tree.find_by_name(address) or self._by_address.get(_norm(address))
            if node is None:
                node = self._containing_name(address)
            if node is None:
                raise ReportRejected(
                    address_field, "unknown", f"no compound known by the address {address!r}"
                )
            return Place(node, address, lat, lon)
        if lat is not None and lon is not None:
            node = self.tree.nearest_compound(lat, lon, self._nearest_km)
            if node is None:
                raise ReportRejected(
                    lat_field,
                    "outside",
                    f"no compound of the district within {self._nearest_km} km of ({lat}, {lon})",
                )
            return Place(node, node.address, lat, lon)
        raise ReportRejected(
            f"{lat_field}/{lon_field}",
            "required",
            f"give {lat_field} and {lon_field}, {address_field} or {id_field}",
        )

    def _containing_name(self, address: str) -> Node | None:
        """A compound whose known address or name appears inside a longer address string."""
        text = _norm(address)
        found = {
            n.id: n
            for n in self.tree.at_level(Level.COMPOUND)
            if (n.address and _norm(n.address) in text) or _norm(n.name.zh_CN) in text
        }
        return next(iter(found.values())) if len(found) == 1 else None


def check_coordinates(lat: float, lon: float, lat_field: str, lon_field: str) -> None:
    if not math.isfinite(lat) or not -90 <= lat <= 90:
        raise ReportRejected(lat_field, "out_of_range", "latitude must be within -90..90")
    if not math.isfinite(lon) or not -180 <= lon <= 180:
        raise ReportRejected(lon_field, "out_of_range", "longitude must be within -180..180")


def parse_coordinate(text: str | None, field: str) -> float | None:
    if text is None or not text.strip():
        return None
    try:
        return float(text)
    except ValueError:
        raise ReportRejected(field, "not_a_number", "decimal degrees expected") from None
