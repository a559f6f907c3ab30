"""The schematic picture of open reports by compound: one SVG per street, its communities as
labelled bands of compound tiles, each tile holding its count and coloured by it (no map, no
place finer than the compound). Pure: the tree, the counts and the language in, text out."""

from __future__ import annotations

from html import escape

from shared.reference import Level
from shared.reference.tree import Tree

WIDTH = 340
TILE_W, TILE_H, GAP, PER_ROW = 38, 28, 4, 8
LABEL = 18


def tile_class(count: int) -> str:
    if count == 0:
        return "t0"
    return "t1" if count <= 2 else "t2" if count <= 5 else "t3"


def street_picture(tree: Tree, street_id: str, counts: dict[str, int], lang: str) -> str:
    street = tree[street_id]
    communities = [n for n in tree.descendants(street_id) if n.level is Level.COMMUNITY]
    parts, y = [], 0
    for community in communities:
        compounds = [n for n in tree.descendants(community.id) if n.level is Level.COMPOUND]
        open_here = sum(counts.get(c.id, 0) for c in compounds) + counts.get(community.id, 0)
        parts.append(
            f'<text x="0" y="{y + 13}" font-size="12">{escape(community.name.get(lang))}'
            f" ({open_here})</text>"
        )
        y += LABEL
        for i, compound in enumerate(compounds):
            x = (i % PER_ROW) * (TILE_W + GAP)
            row_y = y + (i // PER_ROW) * (TILE_H + GAP)
            n = counts.get(compound.id, 0)
            name = escape(compound.name.get(lang))
            parts.append(
                f'<g><title>{name}: {n}</title><rect x="{x}" y="{row_y}" width="{TILE_W}"'
                f' height="{TILE_H}" rx="3" class="{tile_class(n)}"/><text x="{x + TILE_W / 2}"'
                f' y="{row_y + 18}" font-size="12" text-anchor="middle"'
                f' class="{tile_class(n)}-text">{n}</text></g>'
            )
        rows = -(-len(compounds) // PER_ROW)
        y += rows * (TILE_H + GAP) + GAP
    title = escape(street.name.get(lang))
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{WIDTH}" height="{y}"'
        f' viewBox="0 0 {WIDTH} {y}" aria-label="{title}"><title>{title}</title>'
        + "".join(parts)
        + "</svg>"
    )


def district_pictures(tree: Tree, counts: dict[str, int], lang: str) -> list[tuple[str, str]]:
    """(street name, its picture) for every street."""
    return [
        (s.name.get(lang), street_picture(tree, s.id, counts, lang))
        for s in tree.at_level(Level.STREET)
    ]
