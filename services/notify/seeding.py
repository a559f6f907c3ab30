"""Demo and benchmark residents: placed on the leaves below a node, reachable by inbox only."""

from __future__ import annotations

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError
from rich.progress import Progress

from shared.reference import Tree


def demo_ref(index: int) -> str:
    return f"res_demo{index:020d}"


async def seed(
    db: AsyncDatabase, tree: Tree, node_id: str, count: int, *, first: int = 0, batch: int = 2000
) -> int:
    root = tree[node_id]
    leaves = [n for n in tree.descendants(node_id) if not tree.children(n.id)] or [root]
    inserted = 0
    with Progress(transient=True) as progress:
        task = progress.add_task("residents", total=count)
        for start in range(first, first + count, batch):
            docs = []
            for index in range(start, min(first + count, start + batch)):
                leaf = leaves[index % len(leaves)]
                docs.append(
                    {
                        "_id": demo_ref(index),
                        "language": "en" if index % 5 == 0 else "zh-CN",
                        "node_id": leaf.id,
                        "nodes": [*leaf.ancestors, leaf.id],
                    }
                )
            try:
                inserted += len(
                    (await db["residents"].insert_many(docs, ordered=False)).inserted_ids
                )
            except BulkWriteError as exc:
                inserted += int(exc.details.get("nInserted", 0))
            progress.update(task, advance=len(docs))
    return inserted
