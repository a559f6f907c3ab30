"""``linli notify``: operator keys for area broadcasts, and demo residents."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console

from shared.mongo import make_client
from shared.reference import load_reference
from shared.settings import Settings

app = typer.Typer(help="Notify: operator keys, demo residents.", no_args_is_help=True)
operators = typer.Typer(help="Operators who may broadcast to an area.", no_args_is_help=True)
app.add_typer(operators, name="operators")
console = Console()


@operators.command("create")
def create(
    node: str = typer.Option(..., "--node", help="Tree node the operator may broadcast below."),
    name: str = typer.Option("", "--name", help="Who holds the key (for the audit trail)."),
) -> None:
    """Create an operator key scoped to NODE; it is printed once and stored hashed."""
    from services.notify.operators import create_operator
    from services.notify.store import NotifyStore

    settings = Settings()
    if load_reference(settings.config_dir).tree.get(node) is None:
        raise typer.BadParameter(f"no such node {node!r}", param_hint="--node")

    async def run() -> str:
        client = make_client(settings.mongodb_url, app_name="linli-cli")
        try:
            return await create_operator(
                NotifyStore(client[settings.database_name("notify")]), node_id=node, name=name
            )
        finally:
            await client.close()

    key = asyncio.run(run())
    console.print(f"operator key for {node} (shown once, keep it secret):")
    print(key)


@app.command("seed-residents")
def seed_residents(
    node: str = typer.Option(..., "--node", help="Spread the residents over this node's leaves."),
    count: int = typer.Option(1000, "--count", min=1, help="How many demo residents."),
) -> None:
    """Demo residents (inbox only, no contact details) below NODE, for broadcasts."""
    from services.notify.seeding import seed

    settings = Settings()
    tree = load_reference(settings.config_dir).tree

    async def run() -> int:
        client = make_client(settings.mongodb_url, app_name="linli-cli")
        try:
            return await seed(client[settings.database_name("notify")], tree, node, count)
        finally:
            await client.close()

    console.print(f"{asyncio.run(run())} demo residents below {node}")
