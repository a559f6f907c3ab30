"""``linli consult``: keys of offices and compound parties, roll imports, the list of polls,
and an independent recount of a poll's published ballots."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from services.consult.access import create_key
from services.consult.domain.polls import Option, Poll, Rules
from services.consult.rolls import Rolls
from services.consult.store import ConsultStore
from services.consult.voting import tally_published
from shared.mongo import make_client
from shared.reference import load_reference
from shared.settings import Settings

app = typer.Typer(help="Consult: keys, rolls, polls, recounts.", no_args_is_help=True)
keys = typer.Typer(help="Keys of offices and of a compound's three parties.", no_args_is_help=True)
rolls = typer.Typer(help="The households' rolls kept by the community offices.")
polls = typer.Typer(help="Polls.", no_args_is_help=True)
app.add_typer(keys, name="keys")
app.add_typer(rolls, name="rolls")
app.add_typer(polls, name="polls")
console = Console(stderr=True)


async def _with_store(work) -> Any:
    settings = Settings()
    client = make_client(settings.mongodb_url, app_name="linli-cli")
    try:
        return await work(ConsultStore(client[settings.database_name("consult")]), settings)
    finally:
        await client.close()


@keys.command("create")
def keys_create(
    node: str = typer.Option(..., help="The office's node, or the party's compound."),
    name: str = typer.Option(..., help="Who holds the key."),
    party: str = typer.Option(
        None, help="party-branch, owners-committee, property-company or self-management."
    ),
) -> None:
    """Create a key; it is printed once and only its SHA-256 is stored."""

    async def run(store: ConsultStore, settings: Settings) -> tuple[str, str]:
        tree = load_reference(settings.config_dir).tree
        return await create_key(store, tree, name=name, node=node, party=party)

    try:
        key_id, key = asyncio.run(_with_store(run))
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    console.print(f"key id {key_id} for {name} at {node}{' as ' + party if party else ''}")
    typer.echo(key)


@rolls.command("import")
def rolls_import(
    file: Path = typer.Argument(..., exists=True, readable=True, help="CSV file."),
    office: str = typer.Option(..., help="The office's node: every building must be under it."),
) -> None:
    """Import households (building,household,phone,language); rejected lines are listed."""

    text = file.read_text("utf-8-sig")

    async def run(store: ConsultStore, settings: Settings) -> dict:
        tree = load_reference(settings.config_dir).tree
        secret = settings.resident_secret.get_secret_value()
        return await Rolls(store, tree, secret).import_csv(text, office)

    report = asyncio.run(_with_store(run))
    for rejected in report["rejected"]:
        console.print(f"line {rejected['line']}: {rejected['reason']}")
    console.print(
        f"{report['accepted']} households imported, {len(report['rejected'])} lines rejected"
    )
    if report["rejected"]:
        raise typer.Exit(1)


@polls.command("list")
def polls_list() -> None:
    """Every poll: id, node, status, question, roll, turnout once counted."""

    async def run(store: ConsultStore, _: Settings) -> list[dict]:
        return [doc async for doc in store.all(store.polls)]

    table = Table("poll", "node", "status", "question", "roll", "turnout", "closes")
    for doc in asyncio.run(_with_store(run)):
        turnout = (doc.get("results") or {}).get("turnout", "")
        closes = doc.get("closes_at")
        table.add_row(
            doc["_id"], doc["node_id"], doc["status"], doc["question"],
            str(doc.get("roll_size", "")), str(turnout), closes.isoformat() if closes else "",
        )  # fmt: skip
    Console().print(table)


def poll_of(view: dict[str, Any]) -> Poll:
    """The counting rules of a poll as its public page shows them."""
    options = tuple(Option(o["id"], o["label"]) for o in view["options"])
    rules = Rules(view["kind"], options, view["max_choices"], view["quorum_percent"])
    return Poll(view["poll_id"], view["node_id"], "", view["question"], rules,
                status=view["status"], roll_size=view["roll_size"])  # fmt: skip


@app.command("recount")
def recount(
    poll_id: str = typer.Argument(..., help="The poll to recount."),
    url: str = typer.Option(None, help="Consult's base URL (default: this machine's)."),
) -> None:
    """Fetch the published ballots of a closed poll, count them here, and compare with the
    published result (exit 1 when they differ)."""
    base = url or f"http://127.0.0.1:{Settings().consult_port}"
    answer = httpx.get(f"{base}/api/v1/consult/polls/{poll_id}/ballots", timeout=60)
    if answer.status_code != 200:
        console.print(f"[red]{answer.status_code}[/red] {answer.text}")
        raise typer.Exit(2)
    body = answer.json()
    mine = tally_published(poll_of(body["poll"]), body["ballots"])
    published = body["poll"].get("results")
    typer.echo(json.dumps(mine, ensure_ascii=False, indent=2))
    if mine != published:
        console.print("[red]the recount differs from the published result[/red]")
        raise typer.Exit(1)
    console.print(f"[green]same result[/green] from {len(body['ballots'])} published ballots")
