"""The services as detached OS processes, as ``make up`` and the end-to-end tests run them."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from services.ops.infra.errors import LocalInfraError
from services.ops.infra.processes import PidFiles, file_lock, log_tail, send_group, spawn, wait_gone
from shared.settings import REPO_ROOT
from shared.topics import SERVICES

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ServiceProcesses:
    """Where the services' pid files and logs live, and the environment they run with."""

    state_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    def pids(self, service: str) -> PidFiles:
        return PidFiles(
            self.state_dir / f"{service}.pid", self.state_dir / service / "process.json"
        )

    def log(self, service: str) -> Path:
        return self.state_dir / service / "service.log"

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"


def readiness(url: str, timeout: float = 1.0) -> dict | None:
    """The service's /readyz body, or None when it does not answer at all."""
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:  # 503: answering, not ready
        return json.loads(exc.read() or b"{}")
    except (OSError, ValueError):
        return None


def start(
    procs: ServiceProcesses, services: Iterable[str] = SERVICES, progress: Progress = print
) -> None:
    """Start the services not already running (idempotent)."""
    procs.state_dir.mkdir(parents=True, exist_ok=True)
    with file_lock(procs.state_dir / ".lock"):
        for service in services:
            pids = procs.pids(service)
            pid, alive = pids.live_pid()
            if alive:
                progress(f"{service}: already running (pid {pid})")
                continue
            pids.remove()
            env = {
                **os.environ,
                **procs.env,
                # every service's port: the web console reaches the others by them
                **{f"LINLI_{name.upper()}_PORT": str(port) for name, port in procs.ports.items()},
            }
            command = [sys.executable, "-m", f"services.{service}"]
            pid = spawn(command, procs.log(service), cwd=REPO_ROOT, env=env)
            pids.write(pid, procs.url(service), command)
            progress(
                f"{service}: started (pid {pid}) on {procs.url(service)}, log {procs.log(service)}"
            )


def wait_ready(
    procs: ServiceProcesses,
    services: Iterable[str] = SERVICES,
    timeout_s: float = 60.0,
    progress: Progress = print,
) -> float:
    """Block until every service says ready; the seconds it took."""
    began = time.monotonic()
    waiting = list(services)
    while waiting:
        for service in list(waiting):
            body = readiness(procs.url(service))
            if body and body.get("ready"):
                waiting.remove(service)
                progress(f"{service}: ready after {time.monotonic() - began:.1f}s")
            elif not procs.pids(service).live_pid()[1]:
                raise LocalInfraError(
                    f"{service} exited during start-up; its log says:\n"
                    + log_tail(procs.log(service))
                )
        if time.monotonic() - began > timeout_s:
            raise LocalInfraError(f"not ready after {timeout_s:.0f}s: {', '.join(waiting)}")
        if waiting:
            time.sleep(0.2)
    return time.monotonic() - began


def stop(
    procs: ServiceProcesses, services: Iterable[str] = SERVICES, progress: Progress = print
) -> None:
    """SIGTERM (graceful shutdown), then SIGKILL after 30 s; idempotent."""
    stopping = []
    for service in services:
        pids = procs.pids(service)
        pid, alive = pids.live_pid()
        if alive and pid is not None:
            send_group(pid, signal.SIGTERM)
            stopping.append((service, pid, pids))
        else:
            pids.remove()
    for service, pid, pids in stopping:
        if not wait_gone(pid, 30):
            send_group(pid, signal.SIGKILL)
            wait_gone(pid, 5)
        pids.remove()
        progress(f"{service}: stopped (pid {pid})")


def status(procs: ServiceProcesses, services: Iterable[str] = SERVICES) -> dict[str, dict]:
    result = {}
    for service in services:
        pid, alive = procs.pids(service).live_pid()
        body = readiness(procs.url(service)) if alive else None
        result[service] = {
            "running": alive,
            "pid": pid if alive else None,
            "ready": bool(body and body.get("ready")),
            "url": procs.url(service),
            "log": str(procs.log(service)),
        }
    return result
