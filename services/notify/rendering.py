"""Messages from Jinja2 templates, one file per (kind, language) under ``templates/``: the
first line is the title, the rest the body. Plain text: nothing is HTML-escaped."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from services.notify.domain import LANGUAGES, LOCAL_TZ

TEMPLATES_DIR = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class Message:
    kind: str
    language: str
    title: str
    body: str


def local_time(at: datetime) -> str:
    return at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")


class Templates:
    def __init__(self, folder: Path = TEMPLATES_DIR):
        self._env = Environment(
            loader=FileSystemLoader(folder),
            undefined=StrictUndefined,
            autoescape=False,
            keep_trailing_newline=False,
        )
        self._env.filters["local_time"] = local_time

    def kinds(self) -> set[str]:
        names = self._env.list_templates(extensions=["j2"])
        return {name.rsplit(".", 2)[0] for name in names}

    def render(self, kind: str, language: str, context: dict[str, Any]) -> Message:
        language = language if language in LANGUAGES else "zh-CN"
        text = self._env.get_template(f"{kind}.{language}.j2").render(**context)
        title, _, body = text.strip().partition("\n")
        return Message(kind, language, title.strip(), body.strip())
