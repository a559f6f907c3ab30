"""``linli keys``: Open311 API keys for intake (printed once, stored as SHA-256)."""

from __future__ import annotations

import typer
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from services.intake.keys import key_document, new_api_key
from shared.events import utcnow
from shared.settings import Settings

app = typer.Typer(help="Open311 API keys of intake.")


def _collection(settings: Settings):
    client = MongoClient(settings.mongodb_url, serverSelectionTimeoutMS=3000, retryWrites=False)
    return client, client[settings.database_name("intake")]["api_keys"]


@app.command("create")
def create(
    name: str = typer.Option(..., "--name", help="Who the key is for (an app, a partner)"),
) -> None:
    """Issue a new key and print it once; only its SHA-256 is stored."""
    if not name.strip() or len(name) > 100:
        raise typer.BadParameter("1..100 characters", param_hint="--name")
    settings = Settings()
    key = new_api_key()
    client, keys = _collection(settings)
    try:
        keys.insert_one(key_document(key, name.strip(), utcnow()))
    except PyMongoError as exc:
        typer.echo(f"cannot store the key in {settings.mongodb_url}: {exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        client.close()
    typer.echo(key)
    typer.echo(f"API key for {name!r}: shown once, keep it safe.", err=True)


@app.command("list")
def list_keys() -> None:
    """Names and creation times of the keys (the keys themselves are not stored)."""
    client, keys = _collection(Settings())
    try:
        for doc in keys.find({}, {"name": 1, "created_at": 1, "revoked": 1}):
            state = "revoked" if doc.get("revoked") else "active"
            typer.echo(f"{doc['_id'][:12]}  {doc['created_at']:%Y-%m-%d}  {state}  {doc['name']}")
    finally:
        client.close()
