"""``linli ledger``: approver and clerk keys, chain verification, hledger export."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from services.ledger.access import create_key
from services.ledger.chain import export_hledger, verify
from services.ledger.store import LedgerStore
from shared.events import utcnow
from shared.mongo import make_client
from shared.settings import Settings

app = typer.Typer(help="The charity fund's books: keys, verification, export.")
approvers = typer.Typer(help="Keys of approvers (one party each) and clerks.")
app.add_typer(approvers, name="approvers")
console = Console(stderr=True)


def _store(settings: Settings):
    client = make_client(settings.mongodb_url, app_name="linli-cli")
    return client, LedgerStore(client[settings.database_name("ledger")])


async def new_key(
    settings: Settings, *, name: str, role: str, party: str | None, funds: list[str]
) -> tuple[str, str]:
    """(key id, key) of a new approver or clerk key in the ledger's database."""
    client, store = _store(settings)
    try:
        await store.prepare()
        return await create_key(store, name=name, role=role, party=party, funds=funds)
    finally:
        await client.close()


@approvers.command("create")
def approvers_create(
    name: str = typer.Option(..., help="Who holds the key (shown in the books)."),
    role: str = typer.Option("approver", help="approver (decides for a party) or clerk."),
    party: str = typer.Option(
        None, help="party-branch (党组织), owners-committee (业委会), property-company (物业)…"
    ),
    fund: list[str] = typer.Option(["*"], help="Funds this key acts on (repeat); * for all."),
) -> None:
    """Create a key; it is printed once and only its SHA-256 is stored."""

    try:
        key_id, key = asyncio.run(
            new_key(Settings(), name=name, role=role, party=party, funds=fund)
        )
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    console.print(f"key id {key_id} for {name} ({role}{', ' + party if party else ''})")
    typer.echo(key)


@app.command("verify")
def verify_command(
    batch_size: int = typer.Option(
        50, help="Blocks (of up to a few hundred entries) per round trip."
    ),
) -> None:
    """Check every fund's hash chain; report the first broken link (exit 1). The outcome is
    kept for the public account (``/api/v1/public/verification``)."""

    async def run():
        client, store = _store(Settings())
        try:
            total = await store.count_entries()
            with Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            ) as progress:
                task = progress.add_task("verifying entries", total=total)
                result = await verify(
                    store, batch_size=batch_size, progress=lambda n: progress.advance(task, n)
                )
            await store.save_verification(result.record(utcnow()))  # the public account shows it
            return result
        finally:
            await client.close()

    result = asyncio.run(run())
    if result.ok:
        console.print(f"[green]ok[/green]: {result.entries} entries in {result.funds} funds")
        return
    first = result.first
    console.print(
        f"[red]broken[/red]: fund {first.fund}, entry {first.seq} ({first.entry_id}): "
        f"{first.reason}; {len(result.breaks)} chain(s) broken"
    )
    raise typer.Exit(1)


@app.command("export")
def export_command(
    format: str = typer.Option("hledger", "--format", help="Only hledger for now."),
    output: Path = typer.Option(None, "--output", "-o", help="File (default: standard output)."),
) -> None:
    """Write the whole journal (e.g. for `hledger -f FILE check` and `hledger bal`)."""
    if format != "hledger":
        console.print("[red]only --format hledger is supported[/red]")
        raise typer.Exit(2)

    async def run(write) -> int:
        client, store = _store(Settings())
        try:
            return len(await export_hledger(store, write))
        finally:
            await client.close()

    try:
        if output is None:
            accounts = asyncio.run(run(sys.stdout.write))
        else:
            with output.open("w", encoding="utf-8") as f:
                accounts = asyncio.run(run(f.write))
    except ValueError as exc:  # a block or entry that cannot be read: say which, no traceback
        console.print(f"[red]cannot export[/red]: {exc}")
        raise typer.Exit(1) from exc
    console.print(f"exported {accounts} accounts")
