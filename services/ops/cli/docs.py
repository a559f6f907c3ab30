"""``linli docs``: write the generated contracts (JSON Schemas, AsyncAPI, OpenAPI) to docs/."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import typer

from shared.events.schemas import rendered_schemas
from shared.kafka.asyncapi import asyncapi_document
from shared.service import ServiceParts
from shared.settings import REPO_ROOT, Settings
from shared.topics import SERVICES

app = typer.Typer(help="Generated documents: event schemas, AsyncAPI, OpenAPI.")


def rendered_documents() -> dict[str, str]:
    """Relative path under docs/ -> content, all generated from the code."""
    docs = {f"schemas/{name}": text for name, text in rendered_schemas().items()}
    settings = Settings.model_construct()  # defaults only: the documents never depend on the env
    for service in SERVICES:
        module = importlib.import_module(f"services.{service}.app")
        fastapi_app = module.create_app(settings)
        docs[f"openapi/{service}.json"] = _json(fastapi_app.openapi())
        docs[f"asyncapi/{service}.json"] = _json(service_asyncapi(fastapi_app.state.parts))
    return docs


def service_asyncapi(parts: ServiceParts) -> dict:
    """The AsyncAPI document of a service's declared publications and consumers."""
    publisher = parts.publisher
    return asyncapi_document(
        parts.service,
        kafka_bootstrap=parts.settings.kafka_bootstrap,
        sends={t: (models, publisher.descriptions[t]) for t, models in publisher.declared.items()},
        receives=parts.consumed,
    )


def _json(data: object) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


@app.command("write")
def write(out: Path = typer.Option(REPO_ROOT / "docs", help="Target folder")) -> None:
    """Regenerate every document under docs/."""
    for rel, text in rendered_documents().items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {path}")
