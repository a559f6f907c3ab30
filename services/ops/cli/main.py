"""``linli``: the operators' tool."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from services.consult import cli as consult_cli
from services.ops.cli import dispatch, docs, infra, keys, ledger, notify, platform, topics, web
from shared.settings import Settings

app = typer.Typer(help="Linli operators' tool.", no_args_is_help=True)
app.add_typer(infra.app, name="infra")
app.add_typer(topics.app, name="topics")
app.add_typer(docs.app, name="docs")
app.add_typer(ledger.app, name="ledger")
app.add_typer(keys.app, name="keys")
app.add_typer(notify.app, name="notify")
app.add_typer(dispatch.app, name="dispatch")
app.add_typer(dispatch.report, name="report")
app.add_typer(consult_cli.app, name="consult")
app.add_typer(web.app, name="web")
app.command("up")(platform.up)
app.command("down")(platform.down)
app.command("status")(platform.status)


def settings_markdown() -> str:
    """The configuration table of the README: variable, default, meaning."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.default
        if "secret" in name:
            shown = "(development value)"
        elif name == "config_dir":
            shown = "deploy/config"
        else:
            shown = f"`{default}`"
        rows.append(f"| `LINLI_{name.upper()}` | {shown} | {field.description or ''} |")
    return "\n".join(rows)


@app.command("config")
def config(markdown: bool = typer.Option(False, help="Print the README's table.")) -> None:
    """Print every setting: environment variable, current value (secrets hidden), meaning."""
    if markdown:
        typer.echo(settings_markdown())
        return
    settings = Settings()
    table = Table("variable", "value", "meaning")
    for name, field in Settings.model_fields.items():
        value = getattr(settings, name)
        shown = "***" if "secret" in name else str(value)
        table.add_row(f"LINLI_{name.upper()}", shown, field.description or "")
    Console().print(table)


if __name__ == "__main__":
    app()
