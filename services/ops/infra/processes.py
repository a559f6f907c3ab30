"""Detached server processes: spawning, pid files, liveness, stopping whole process groups."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

# Popen objects of servers started by this Python process. Keeping them referenced avoids
# "subprocess still running" ResourceWarnings, and poll() reaps them once they exit (a zombie
# child would otherwise look alive to os.kill(pid, 0)).
_children: dict[int, subprocess.Popen[bytes]] = {}

MAX_LOG_BYTES = 20 * 1024 * 1024


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Exclusive advisory lock on ``path`` (created if missing), released on exit."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _proc_stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (field 3 = state is index 0)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rfind(")") + 2 :].split()


def process_start_time(pid: int) -> str | None:
    """Kernel start time of a process (clock ticks since boot), to tell a reused pid apart."""
    fields = _proc_stat_fields(pid)
    return fields[19] if fields and len(fields) > 19 else None


def pid_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie (our own exited children get reaped)."""
    child = _children.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        _children.pop(pid, None)
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = _proc_stat_fields(pid)
    if fields and fields[0] == "Z":
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        return False
    return True


def group_alive(pgid: int) -> bool:
    """True while any non-zombie process remains in process group ``pgid``."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _proc_stat_fields(int(entry.name))
        # fields[2] is the process group id
        if fields and len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
            return True
    return False


@dataclass(frozen=True)
class PidFiles:
    """``<state_dir>/<name>.pid`` holds only the pid (so ``kill $(cat x.pid)`` works);
    ``<state_dir>/<name>/process.json`` adds what is needed to trust it later."""

    pid_file: Path
    info_file: Path

    def write(self, pid: int, address: str, command: Sequence[str]) -> None:
        info = {
            "pid": pid,
            "start_time": process_start_time(pid),
            "address": address,
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": list(command),
        }
        self.info_file.write_text(json.dumps(info, indent=2) + "\n")
        tmp = self.pid_file.with_suffix(".pid.tmp")
        tmp.write_text(f"{pid}\n")
        tmp.replace(self.pid_file)

    def read_pid(self) -> int | None:
        try:
            text = self.pid_file.read_text().strip()
        except FileNotFoundError:
            return None
        return int(text) if text.isdigit() else None

    def info(self) -> dict:
        try:
            return json.loads(self.info_file.read_text())
        except (OSError, ValueError):
            return {}

    def live_pid(self) -> tuple[int | None, bool]:
        """``(pid, alive)``: the recorded pid and whether that very process still runs.

        A pid that is alive but belongs to a different process (recorded start time differs,
        i.e. the pid was reused after a reboot or crash) counts as dead.
        """
        pid = self.read_pid()
        if pid is None or not pid_alive(pid):
            return pid, False
        recorded = self.info().get("pid") == pid and self.info().get("start_time")
        if recorded and process_start_time(pid) not in (None, recorded):
            return pid, False
        return pid, True

    def remove(self) -> None:
        self.pid_file.unlink(missing_ok=True)
        self.info_file.unlink(missing_ok=True)


def spawn(
    command: Sequence[str], log_path: Path, cwd: Path, env: dict[str, str] | None = None
) -> int:
    """Start ``command`` in its own session (it survives us), output appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    if log_path.exists() and log_path.stat().st_size > MAX_LOG_BYTES:
        log_path.replace(log_path.with_name(log_path.name + ".1"))
    with log_path.open("ab") as log:
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        log.write(f"\n===== {stamp} starting: {' '.join(command)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    _children[proc.pid] = proc
    return proc.pid


def send_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def wait_gone(pid: int, timeout: float) -> bool:
    """Wait until the process and its whole group are gone; True if they are."""
    deadline = time.monotonic() + timeout
    while True:
        if not pid_alive(pid) and not group_alive(pid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True if something already listens on ``host:port`` (a bind attempt fails)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Servers set SO_REUSEADDR too, so lingering TIME_WAIT sockets don't count as "in use".
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return True
            raise
    return False


def tcp_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            data = fh.read().decode("utf-8", "replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(data.splitlines()[-lines:])
