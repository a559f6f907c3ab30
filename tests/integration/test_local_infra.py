"""The local-server manager (services.ops.infra.local) against real Kafka and FerretDB processes.

Runs its own set of servers (own state dir and ports), independent of the session's test servers.
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from services.ops.infra import LocalInfraError, LocalServers, down, status, up
from services.ops.infra.processes import pid_alive, port_in_use

pytestmark = pytest.mark.integration

PORTS = {"kafka_port": 29092, "kafka_controller_port": 29093, "mongo_port": 27027}


def processes_of(state_dir: Path) -> set[int]:
    """Live (non-zombie) processes whose command line mentions ``state_dir``."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if str(state_dir) in cmdline and stat[stat.rfind(")") + 2] != "Z":
            found.add(int(entry.name))
    return found


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.fixture
def servers(tmp_path: Path):
    busy = [p for p in PORTS.values() if port_in_use(p)]
    if busy:
        pytest.skip(f"ports {busy} are taken by something else")
    servers = LocalServers(tmp_path / "state", **PORTS)
    yield servers
    down(servers, progress=lambda _line: None)  # never leave servers behind, even on failure


def test_up_is_idempotent_and_down_leaves_no_process(servers: LocalServers) -> None:
    state = servers.state_dir
    state.mkdir(parents=True)
    (state / "kafka.pid").write_text(f"{dead_pid()}\n")  # a stale pid file from a crash

    lines: list[str] = []
    up(servers, progress=lines.append)
    assert any("stale pid file" in line for line in lines)

    first = status(servers)
    assert set(first) == {"kafka", "ferretdb"}
    assert first["kafka"]["address"] == servers.kafka_bootstrap == "127.0.0.1:29092"
    assert first["ferretdb"]["url"] == servers.mongodb_url == "mongodb://127.0.0.1:27027/"
    for name, info in first.items():
        assert info["running"] and info["answering"], (name, info)
        assert Path(info["log"]).is_file()
        assert (state / f"{name}.pid").read_text().strip() == str(info["pid"])
    pids = {info["pid"] for info in first.values()}
    assert processes_of(state) == pids

    again: list[str] = []
    up(servers, progress=again.append)  # must reuse, not start a second set
    assert sum("already running" in line for line in again) == 2, again
    assert {info["pid"] for info in status(servers).values()} == pids
    assert processes_of(state) == pids

    # the same state dir on other ports is refused while its servers run
    with pytest.raises(LocalInfraError, match="already runs on"):
        up(LocalServers(state, 29192, 29193, 27127), progress=lambda _line: None)

    down(servers, progress=lines.append)
    assert processes_of(state) == set()
    assert not any(pid_alive(pid) for pid in pids)
    assert not list(state.glob("*.pid"))
    after = status(servers)
    assert not any(info["running"] or info["answering"] for info in after.values()), after

    down(servers, progress=lines.append)  # idempotent


def test_up_refuses_a_port_held_by_another_process(servers: LocalServers) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", servers.mongo_port))
        squatter.listen()
        with pytest.raises(LocalInfraError, match=f"port {servers.mongo_port} .* in use"):
            up(servers, progress=lambda _line: None)
    assert processes_of(servers.state_dir) == set()
