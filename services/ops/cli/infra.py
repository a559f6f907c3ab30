"""``linli infra``: the local Kafka and FerretDB servers used for development (no Docker)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from services.ops.infra.errors import LocalInfraError
from services.ops.infra.local import (
    CLUSTER_NODES,
    CLUSTER_STATE_DIR,
    DEV_STATE_DIR,
    LocalServers,
    down,
    status,
    up,
)

app = typer.Typer(
    help="Local Kafka and MongoDB-protocol (FerretDB) servers as background processes: "
    "install on first use, start, stop, check.",
    no_args_is_help=True,
)
console = Console()

StateDir = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        envvar="LINLI_LOCAL_STATE_DIR",
        help="Folder of the servers' data, logs and pid files "
        f"(default {DEV_STATE_DIR}, or {CLUSTER_STATE_DIR} with --cluster).",
        show_default=False,
    ),
]
Cluster = Annotated[
    bool,
    typer.Option(
        "--cluster",
        envvar="LINLI_LOCAL_KAFKA_CLUSTER",
        help=f"Kafka as a cluster of {CLUSTER_NODES} KRaft nodes (each a broker and a "
        "controller; topics at replication 3, min.insync.replicas 2) on the Kafka port and "
        "the two next pairs of ports.",
    ),
]
KafkaPort = Annotated[
    int, typer.Option("--kafka-port", envvar="LINLI_LOCAL_KAFKA_PORT", help="Kafka client port.")
]
ControllerPort = Annotated[
    int,
    typer.Option(
        "--kafka-controller-port",
        envvar="LINLI_LOCAL_KAFKA_CONTROLLER_PORT",
        help="Kafka KRaft controller port.",
    ),
]
MongoPort = Annotated[
    int,
    typer.Option("--mongo-port", envvar="LINLI_LOCAL_MONGO_PORT", help="FerretDB (MongoDB) port."),
]


def _servers(
    state_dir: Path | None, kafka_port: int, controller_port: int, mongo_port: int, cluster: bool
) -> LocalServers:
    nodes = CLUSTER_NODES if cluster else 1
    folder = state_dir or (CLUSTER_STATE_DIR if cluster else DEV_STATE_DIR)
    try:
        return LocalServers(folder, kafka_port, controller_port, mongo_port, kafka_nodes=nodes)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


def _progress(line: str) -> None:
    console.print(line, markup=False, highlight=False, soft_wrap=True)


def _fail(exc: LocalInfraError) -> typer.Exit:
    err = Console(stderr=True)
    err.print("[bold red]error:[/]", end=" ")
    err.print(str(exc), markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(1)


@app.command("up")
def up_cmd(
    state_dir: StateDir = None,
    kafka_port: KafkaPort = 9092,
    kafka_controller_port: ControllerPort = 9093,
    mongo_port: MongoPort = 27017,
    cluster: Cluster = False,
) -> None:
    """Install what is missing, start what is not running, wait until both servers answer."""
    servers = _servers(state_dir, kafka_port, kafka_controller_port, mongo_port, cluster)
    try:
        up(servers, progress=_progress)
    except LocalInfraError as exc:
        raise _fail(exc) from None
    console.print(f"LINLI_KAFKA_BOOTSTRAP={servers.kafka_bootstrap}", highlight=False)
    console.print(f"LINLI_MONGODB_URL={servers.mongodb_url}", highlight=False)


@app.command("down")
def down_cmd(
    state_dir: StateDir = None,
    kafka_port: KafkaPort = 9092,
    kafka_controller_port: ControllerPort = 9093,
    mongo_port: MongoPort = 27017,
    cluster: Cluster = False,
) -> None:
    """Stop the servers (SIGTERM, SIGKILL after a grace period). Data is kept."""
    servers = _servers(state_dir, kafka_port, kafka_controller_port, mongo_port, cluster)
    try:
        down(servers, progress=_progress)
    except LocalInfraError as exc:
        raise _fail(exc) from None


@app.command("status")
def status_cmd(
    state_dir: StateDir = None,
    kafka_port: KafkaPort = 9092,
    kafka_controller_port: ControllerPort = 9093,
    mongo_port: MongoPort = 27017,
    cluster: Cluster = False,
) -> None:
    """Show whether each server runs and answers; exit code 1 unless both answer."""
    servers = _servers(state_dir, kafka_port, kafka_controller_port, mongo_port, cluster)
    report = status(servers)
    table = Table("server", "running", "answering", "address", "pid", "log")
    for name, info in report.items():
        if info["answering"]:
            # answering without our process: something else holds the port
            answering = "[green]yes[/]" if info["running"] else "[yellow]yes (not ours)[/]"
        else:
            answering = "[red]no[/]"
        table.add_row(
            name,
            "[green]yes[/]" if info["running"] else "[red]no[/]",
            answering,
            info["url"],
            str(info["pid"] or "-"),
            info["log"],
        )
    console.print(table)
    if not all(info["answering"] for info in report.values()):
        raise typer.Exit(1)
