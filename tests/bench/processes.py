"""Services as their own OS processes for the benchmarks, started the way they are deployed
(``python -m ...`` with ``LINLI_*`` settings in the environment), so a figure is what the
service does with a core of its own, not what it does sharing the bench's process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import SecretStr

from shared.settings import Settings
from tests.helpers import wait_ready

ROOT = Path(__file__).resolve().parents[2]


def settings_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment that gives a ``python -m services.<name>`` process these settings (the
    fields set explicitly, as ``LINLI_<FIELD>``), plus ``extra`` variables."""
    env = dict(os.environ)
    for name in settings.model_fields_set:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        env[f"LINLI_{name.upper()}"] = (
            json.dumps(value) if isinstance(value, list | dict) else str(value)
        )
    return env | extra


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def service_process(
    module_args: list[str], env: dict[str, str], port: int, *, ready_timeout_s: float = 60
) -> Iterator[int]:
    """Run ``python -m <module_args>`` until the block ends, once its ``/readyz`` on ``port``
    says ready; yields its pid. Stopped with SIGTERM (graceful), killed if it lingers."""
    process = subprocess.Popen([sys.executable, "-m", *module_args], cwd=ROOT, env=env)
    try:
        wait_ready(
            f"http://127.0.0.1:{port}/readyz",
            module_args[0],
            ready_timeout_s,
            alive=lambda: process.poll() is None,
        )
        yield process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def cpu_seconds(pid: int | None = None) -> float:
    """CPU seconds a process has used so far (this one when ``pid`` is None; 0 where /proc is
    not there): a figure the machine's other load disturbs far less than rates."""
    if pid is None:
        return time.process_time()
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_pids() -> dict[str, int]:
    """The local test servers' processes by name (none when the tests use other servers)."""
    from services.ops.infra.local import status
    from tests.servers import TEST_SERVERS

    try:
        return {name: s["pid"] for name, s in status(TEST_SERVERS).items() if s["pid"]}
    except Exception:
        return {}
