"""The organisation tree 区-街-社-院-楼: look-ups, subtree checks and address resolution."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Iterator

from .models import LEVELS, Level, Node

EARTH_RADIUS_KM = 6371.0088


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in kilometres between two WGS-84 points."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


_SPACES = re.compile(r"\s+")


def _normalise(text: str) -> str:
    """NFKC (full-width digits and letters to ascii), case-folded, whitespace collapsed."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text)).strip().casefold()


class Tree:
    """An immutable tree of :class:`Node`, indexed for fast look-ups.

    Nodes may be given in any order as long as every parent is among them; children keep
    the order they were given in. Iteration is depth-first, parents before children.
    """

    __slots__ = ("_by_name", "_children", "_compounds", "_nodes", "_order", "_root", "_span")

    def __init__(self, nodes: Iterable[Node]) -> None:
        given: dict[str, Node] = {}
        for node in nodes:
            if node.id in given:
                raise ValueError(f"duplicate node id {node.id!r}")
            given[node.id] = node
        roots = [n for n in given.values() if n.parent_id is None]
        if len(roots) != 1:
            raise ValueError(f"a tree needs exactly one root, got {len(roots)}")
        children: dict[str, list[str]] = {node_id: [] for node_id in given}
        for node in given.values():
            if node.parent_id is None:
                continue
            parent = given.get(node.parent_id)
            if parent is None:
                raise ValueError(f"node {node.id!r}: unknown parent {node.parent_id!r}")
            if node.ancestors != (*parent.ancestors, parent.id):
                raise ValueError(f"node {node.id!r}: ancestors do not match its parent's")
            children[parent.id].append(node.id)

        # depth-first order; each subtree is then a contiguous span of it
        order: list[str] = []
        span: dict[str, tuple[int, int]] = {}
        stack: list[tuple[str, bool]] = [(roots[0].id, False)]
        while stack:
            node_id, done = stack.pop()
            if done:
                span[node_id] = (span[node_id][0], len(order))
                continue
            span[node_id] = (len(order), -1)
            order.append(node_id)
            stack.append((node_id, True))
            stack.extend((child, False) for child in reversed(children[node_id]))
        if len(order) != len(given):  # cannot happen with a consistent ancestors check
            raise ValueError("the tree contains a cycle")

        self._root = roots[0]
        self._nodes = {node_id: given[node_id] for node_id in order}
        self._children = {k: tuple(given[c] for c in v) for k, v in children.items()}
        self._order = tuple(self._nodes.values())
        self._span = span
        self._compounds = tuple(n for n in self._order if n.level is Level.COMPOUND)
        by_name: dict[str, list[Node]] = {}
        for node in self._compounds:
            names = {_normalise(node.name.zh_CN), _normalise(node.name.en)}
            names.update(_normalise(alias) for alias in node.aliases)
            for name in names:
                by_name.setdefault(name, []).append(node)
        self._by_name = by_name

    # -- container protocol -----------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._order)

    def __iter__(self) -> Iterator[Node]:
        return iter(self._order)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._nodes

    def __getitem__(self, node_id: str) -> Node:
        return self._nodes[node_id]

    def __repr__(self) -> str:
        counts = ", ".join(f"{level}={count}" for level, count in self.counts().items())
        return f"Tree(root={self._root.id!r}, {counts})"

    # -- look-ups ---------------------------------------------------------------------------
    @property
    def root(self) -> Node:
        return self._root

    def get(self, node_id: str) -> Node | None:
        """The node with this id, or None."""
        return self._nodes.get(node_id)

    def children(self, node_id: str) -> tuple[Node, ...]:
        """Direct children in file order. KeyError for an unknown id."""
        return self._children[node_id]

    def parent(self, node_id: str) -> Node | None:
        """The parent (None for the root). KeyError for an unknown id."""
        parent_id = self._nodes[node_id].parent_id
        return None if parent_id is None else self._nodes[parent_id]

    def ancestors(self, node_id: str) -> tuple[Node, ...]:
        """Ancestors from the root down to the parent. KeyError for an unknown id."""
        return tuple(self._nodes[a] for a in self._nodes[node_id].ancestors)

    def ancestor_at(self, node_id: str, level: Level | str) -> Node | None:
        """The node itself or its ancestor at ``level`` (None if the node is above it)."""
        node = self._nodes[node_id]
        level = Level(level)
        if node.level is level:
            return node
        for ancestor_id in node.ancestors:
            if self._nodes[ancestor_id].level is level:
                return self._nodes[ancestor_id]
        return None

    def is_within(self, node_id: str, ancestor_id: str) -> bool:
        """True if ``node_id`` is ``ancestor_id`` or below it; False for unknown ids."""
        node_span = self._span.get(node_id)
        outer = self._span.get(ancestor_id)
        if node_span is None or outer is None:
            return False
        return outer[0] <= node_span[0] < outer[1]

    def descendants(self, node_id: str, level: Level | str | None = None) -> tuple[Node, ...]:
        """All nodes below ``node_id`` (not itself), depth-first, optionally of one level."""
        start, end = self._span[node_id]
        below = self._order[start + 1 : end]
        if level is None:
            return below
        level = Level(level)
        return tuple(n for n in below if n.level is level)

    def at_level(self, level: Level | str) -> tuple[Node, ...]:
        """All nodes of one level, depth-first."""
        level = Level(level)
        return tuple(n for n in self._order if n.level is level)

    def counts(self) -> dict[Level, int]:
        """Number of nodes per level, every level present."""
        counts = dict.fromkeys(LEVELS, 0)
        for node in self._order:
            counts[node.level] += 1
        return counts

    def path_name(self, node_id: str, lang: str = "zh-CN", sep: str = " / ") -> str:
        """Names from the root down to the node, e.g. ``市中区 / 通江街道 / 牛咡桥社区``."""
        node = self._nodes[node_id]
        return sep.join(n.name.get(lang) for n in (*self.ancestors(node_id), node))

    # -- address resolution -----------------------------------------------------------------
    def find_by_name(self, text: str) -> Node | None:
        """The compound whose zh-CN or en name (or alias) is ``text``.

        The match is exact after Unicode NFKC normalisation, case folding and whitespace
        collapsing. Returns None when no compound or more than one compound matches.
        """
        matches = self._by_name.get(_normalise(text), ())
        return matches[0] if len(matches) == 1 else None

    def nearest_compound(self, lat: float, lon: float, max_km: float = 1.0) -> Node | None:
        """The compound closest to (lat, lon) within ``max_km``, or None."""
        best: Node | None = None
        best_km = max_km
        for node in self._compounds:
            if node.location is None:
                continue
            km = haversine_km(lat, lon, node.location.lat, node.location.lon)
            if km < best_km or (best is None and km == best_km):
                best, best_km = node, km
        return best
