"""``linli up | down | status``: the whole platform on this machine (servers, the services,
demo data), as ``make up`` and ``make down`` run it."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import httpx
import typer
from rich.console import Console
from rich.table import Table

from services.ops.infra import services as procs
from services.ops.infra.errors import LocalInfraError
from services.ops.infra.local import DEV_STATE_DIR, LocalServers
from services.ops.infra.local import down as servers_down
from services.ops.infra.local import up as servers_up
from shared.kafka.admin import apply_with_settings
from shared.service import platform_topics
from shared.settings import SERVICE_PORTS, Settings

console = Console()


def _say(line: str) -> None:
    console.print(line, markup=False, highlight=False)


def dev_state_dir() -> Path:
    """The folder of the platform's servers, services, logs and demo marker."""
    return Path(os.environ.get("LINLI_LOCAL_STATE_DIR") or DEV_STATE_DIR)


def dev_servers() -> LocalServers:
    return LocalServers(
        dev_state_dir(),
        int(os.environ.get("LINLI_LOCAL_KAFKA_PORT", "9092")),
        int(os.environ.get("LINLI_LOCAL_KAFKA_CONTROLLER_PORT", "9093")),
        int(os.environ.get("LINLI_LOCAL_MONGO_PORT", "27017")),
    )


def dev_processes(servers: LocalServers) -> procs.ServiceProcesses:
    settings = Settings()
    return procs.ServiceProcesses(
        state_dir=servers.state_dir / "services",
        env={
            "LINLI_KAFKA_BOOTSTRAP": servers.kafka_bootstrap,
            "LINLI_MONGODB_URL": servers.mongodb_url,
            # the residents' rating links open this web service's /rate page
            "LINLI_WEB_PUBLIC_URL": f"http://127.0.0.1:{settings.port_of('web')}",
        },
        ports={s: settings.port_of(s) for s in SERVICE_PORTS},
    )


def up() -> None:
    """Start servers, topics and the services, load demo data and demo console accounts,
    say where to look."""
    began = time.monotonic()
    servers = dev_servers()
    processes = dev_processes(servers)
    settings = Settings(kafka_bootstrap=servers.kafka_bootstrap, mongodb_url=servers.mongodb_url)
    try:
        servers_up(servers, progress=_say)
        report = asyncio.run(apply_with_settings(settings, platform_topics(settings)))
        _say(f"topics: {len(report.created)} created, {len(report.unchanged)} already there")
        procs.start(processes, progress=_say)
        procs.wait_ready(processes, progress=_say)
    except LocalInfraError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(1) from exc
    ready_s = time.monotonic() - began
    from services.ops.cli.web import DEMO_PASSWORD, create_demo_accounts

    accounts = create_demo_accounts(settings)
    demo_ok = _load_demo_once(settings, servers, processes)
    demo_ok = demo_ok and _load_consult_demo_once(settings, servers, processes)
    _where_to_look(servers, processes, ready_s)
    _say(f"Web console: {processes.url('web')}/  demo accounts (password {DEMO_PASSWORD}):")
    for account in accounts:
        _say(f"  {account}")
    if not demo_ok:
        console.print("[bold red]The demo data did not load[/] (why: above the table).")
        raise typer.Exit(1)


def _load_demo_once(
    settings: Settings, servers: LocalServers, processes: procs.ServiceProcesses
) -> bool:
    """Load the demo data unless a run did it before; False (and why, said plainly) when a
    record did not go in. Every record has a client-chosen id, so a retry files nothing twice."""
    from services.ops.cli.demo import DemoFailed, load_demo

    marker = servers.state_dir / "demo-loaded"
    if marker.exists():
        _say(f"demo data: already loaded ({marker.read_text().strip()})")
        return True
    try:
        loaded = load_demo(settings, {s: processes.url(s) for s in SERVICE_PORTS})
    except DemoFailed as exc:
        console.print(f"[bold red]demo data not loaded:[/] {exc}", highlight=False)
        _say(
            "The platform itself is up (below). The services' logs say more; the next "
            "`make up` tries the demo data again."
        )
        return False
    summary = f"{len(loaded.reports)} reports, {loaded.donations} donations"
    marker.write_text(summary + "\n")
    _say(f"demo data: {summary}")
    return True


def _load_consult_demo_once(
    settings: Settings, servers: LocalServers, processes: procs.ServiceProcesses
) -> bool:
    """嘉定小院's naming poll (services/consult/demo.py), once; False when it did not load."""
    from services.consult.demo import load_demo as load_consult_demo

    marker = servers.state_dir / "consult-demo-loaded"
    if marker.exists():
        _say(f"demo data: already loaded ({marker.read_text().strip()})")
        return True
    try:
        done, office_key = load_consult_demo(settings, processes.url("consult"))
    except httpx.HTTPError as exc:
        console.print(f"[bold red]consult demo data not loaded:[/] {exc}", highlight=False)
        return False
    marker.write_text(done + "\n")
    _say(f"demo data: {done}; 县街社区's office key (shown once): {office_key}")
    return True


def _where_to_look(
    servers: LocalServers, processes: procs.ServiceProcesses, ready_s: float
) -> None:
    intake = processes.url("intake")
    console.print(f"\n[bold green]Linli is up[/] (ready in {ready_s:.1f}s). Where to look:")
    table = Table("what", "where")
    for service in SERVICE_PORTS:
        url = processes.url(service)
        table.add_row(service, f"{url}/docs  ({url}/readyz, {url}/metrics)")
    web = processes.url("web")
    table.add_row("residents (phone sized)", f"{web}/residents  (report: {web}/report)")
    table.add_row("residents' sign-in codes", f"{web}/dev/outbox  (development SMS outbox)")
    table.add_row(
        "嘉定小院's naming poll",
        f"{web}/me/polls  (phone 13701101000; results: {web}/public/polls; paper: {web}/paper)",
    )
    table.add_row("Kafka", servers.kafka_bootstrap)
    table.add_row("MongoDB protocol (FerretDB)", servers.mongodb_url)
    table.add_row("service logs", str(processes.state_dir) + "/<service>/service.log")
    table.add_row("server logs", str(servers.state_dir) + "/{kafka,ferretdb}/server.log")
    console.print(table)
    console.print(
        "Post a report:\n"
        f"  curl -s -X POST {intake}/api/v1/issues -H 'content-type: application/json' \\\n"
        '    -d \'{"category":"streetlight-out","node_id":"sz.tongjiang.niuerqiao.hongqi",'
        '"description":"lane light out","contact":{"phone":"13800000000"}}\'\n'
        "Read that report with the answer's report_token:\n"
        f"  curl -s {intake}/api/v1/issues/<issue_id> -H 'Authorization: Bearer <report_token>'\n"
        f"Your inbox and all your reports: sign in by phone at {web}/phone, then {web}/me\n"
        "Stop everything: make down",
        markup=False,
        highlight=False,
    )


def down() -> None:
    """Stop the services, then the servers; nothing is left running."""
    servers = dev_servers()
    procs.stop(dev_processes(servers), progress=_say)
    try:
        servers_down(servers, progress=_say)
    except LocalInfraError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(1) from exc


def status() -> None:
    """Servers and services: running, answering, ready."""
    from services.ops.infra.local import status as servers_status

    servers = dev_servers()
    table = Table("component", "running", "ready", "address", "log")
    healthy = True
    for name, info in servers_status(servers).items():
        healthy &= info["answering"]
        table.add_row(
            name, str(info["running"]), str(info["answering"]), info["address"], info["log"]
        )
    for name, info in procs.status(dev_processes(servers)).items():
        healthy &= info["ready"]
        table.add_row(name, str(info["running"]), str(info["ready"]), info["url"], info["log"])
    console.print(table)
    if not healthy:
        raise typer.Exit(1)
