"""JSON Schema export of the event payloads (``linli docs`` writes them to docs/schemas)."""

from __future__ import annotations

import json
from pathlib import Path

from shared.events.base import EventPayload
from shared.events.registry import ALL_PAYLOADS


def schema_of(model: type[EventPayload]) -> dict:
    schema = model.model_json_schema(mode="serialization")
    schema["$id"] = f"urn:linli:schema:{model.event_type}"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def rendered_schemas() -> dict[str, str]:
    """File name -> JSON text, for every payload."""
    return {
        f"{m.event_type}.json": json.dumps(schema_of(m), indent=2, ensure_ascii=False) + "\n"
        for m in ALL_PAYLOADS
    }


def write_schemas(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in rendered_schemas().items():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
