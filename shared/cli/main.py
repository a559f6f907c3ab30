"""``linli``: the operators' tool."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from shared.cli import dispatch, docs, infra, platform, topics
from shared.settings import Settings

app = typer.Typer(help="Linli operators' tool.", no_args_is_help=True)
app.add_typer(infra.app, name="infra")
app.add_typer(topics.app, name="topics")
app.add_typer(docs.app, name="docs")
app.add_typer(dispatch.app, name="dispatch")
app.add_typer(dispatch.report, name="report")
app.command("up")(platform.up)
app.command("down")(platform.down)
app.command("status")(platform.status)


@app.command("config")
def config() -> None:
    """Print every setting: environment variable, current value (secrets hidden), meaning."""
    settings = Settings()
    table = Table("variable", "value", "meaning")
    for name, field in Settings.model_fields.items():
        value = getattr(settings, name)
        shown = "***" if "secret" in name else str(value)
        table.add_row(f"LINLI_{name.upper()}", shown, field.description or "")
    Console().print(table)


if __name__ == "__main__":
    app()
