"""``linli dispatch``: department and office API keys (create, list, revoke); ``linli report``:
the monthly rates."""

from __future__ import annotations

import asyncio
import re
import secrets
import sys
from pathlib import Path

import typer
from rich.console import Console

from shared.events import utcnow
from shared.events.dispatch import key_id
from shared.mongo import make_client
from shared.reference import load_reference
from shared.settings import Settings

app = typer.Typer(help="Dispatch: API keys for departments and offices.", no_args_is_help=True)
keys = typer.Typer(help="API keys scoped to one department or one office node.")
app.add_typer(keys, name="keys")
report = typer.Typer(help="Reports: monthly rates and rankings.", no_args_is_help=True)
console = Console(stderr=True)


@keys.command("create")
def create_key(
    department: str | None = typer.Option(None, help="Department code (departments.yaml)."),
    office: str | None = typer.Option(None, help="Office node id (tree.yaml); sees its subtree."),
) -> None:
    """Create a key, store its hash, print the key once (it cannot be shown again)."""
    from services.dispatch.store import CaseStore

    if (department is None) == (office is None):
        raise typer.BadParameter("give exactly one of --department or --office")
    settings = Settings()
    reference = load_reference(settings.config_dir)
    if department is not None and department not in reference.departments:
        raise typer.BadParameter(f"unknown department {department!r}")
    if office is not None and office not in reference.tree:
        raise typer.BadParameter(f"unknown node {office!r}")
    key = "lk_" + secrets.token_urlsafe(32)

    async def store_it() -> None:
        client = make_client(settings.mongodb_url, app_name="linli-cli")
        try:
            store = CaseStore(client[settings.database_name("dispatch")])
            kind, code = ("department", department) if department else ("office", office)
            await store.add_key(key, kind, str(code), utcnow())
        finally:
            await client.close()

    asyncio.run(store_it())
    console.print(f"key for {department or office} (shown once; it also signs Kafka actions):")
    print(key)
    console.print(f"key id (key_id of signed Kafka actions; list and revoke by it): {key_id(key)}")


def _with_store(work):  # the CLI's short-lived connection to dispatch's database
    from services.dispatch.store import CaseStore

    settings = Settings()

    async def run():
        client = make_client(settings.mongodb_url, app_name="linli-cli")
        try:
            return await work(CaseStore(client[settings.database_name("dispatch")]))
        finally:
            await client.close()

    return asyncio.run(run())


@keys.command("list")
def list_keys() -> None:
    """Every key: its id (first 16 characters), scope, creation time, and whether it is
    revoked. The keys and their signing secrets are never shown."""

    async def work(store):
        return await store.list_keys()

    for doc in _with_store(work):
        state = f"revoked {doc['revoked_at']:%Y-%m-%d}" if doc.get("revoked_at") else "active"
        print(f"{doc['_id'][:16]}  {doc['kind']:<10}  {doc['code']}  {doc['at']:%Y-%m-%d}  {state}")


@keys.command("revoke")
def revoke_key(
    key_id_prefix: str = typer.Argument(..., help="The key id, or its first 8+ characters."),
) -> None:
    """Revoke a key at once: it no longer authenticates HTTP calls nor signs Kafka actions."""
    if len(key_id_prefix) < 8:
        raise typer.BadParameter("give at least 8 characters of the key id")

    async def work(store):
        found = [d["_id"] for d in await store.list_keys() if d["_id"].startswith(key_id_prefix)]
        if len(found) != 1:
            return found
        return await store.revoke_key(found[0], utcnow()) and found

    result = _with_store(work)
    if not result:
        console.print(f"no active key {key_id_prefix}")
        raise typer.Exit(1)
    if len(result) > 1:
        console.print(f"{len(result)} keys start with {key_id_prefix}: give more characters")
        raise typer.Exit(1)
    console.print(f"revoked {result[0][:16]}")


@report.command("rates")
def rates(
    month: str = typer.Option(..., help="Month, YYYY-MM (Asia/Shanghai)."),
    output: Path | None = typer.Option(None, "--output", "-o", help="CSV file (default stdout)."),
) -> None:
    """Response, resolution, satisfaction and on-time rates per department, street, community
    and category, ranked, as CSV."""
    from services.dispatch.http import MONTH
    from services.dispatch.monthly_rates import month_rates, to_csv
    from services.dispatch.store import CaseStore

    if not re.match(MONTH, month):
        raise typer.BadParameter("month must be YYYY-MM")
    settings = Settings()
    tree = load_reference(settings.config_dir).tree

    async def compute() -> str:
        client = make_client(settings.mongodb_url, app_name="linli-cli")
        try:
            store = CaseStore(client[settings.database_name("dispatch")])
            return to_csv(month, await month_rates(store, tree, month))
        finally:
            await client.close()

    text = asyncio.run(compute())
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        console.print(f"wrote {output}")
