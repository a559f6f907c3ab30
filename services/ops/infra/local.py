"""Local Kafka and FerretDB servers as plain background processes (no Docker).

Used by ``make up``, the test suite and ``linli infra up|down|status``. One set of servers per
state directory (``<repo>/.state/dev``, ``<repo>/.state/test``, ...)::

    <state_dir>/
      kafka.pid  ferretdb.pid          # just the pid: `kill -TERM -$(cat kafka.pid)` works
      kafka/    server.properties  cluster.id  data/  server.log  process.json
      ferretdb/ data/  server.log  process.json

Processes run in their own session (process group), so they outlive the caller, and
:func:`down` signals the whole group. :func:`up` is idempotent and serialised by a lock file.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.ops.infra.errors import LocalInfraError
from services.ops.infra.install import REPO_ROOT, InstalledPaths, ensure_installed
from services.ops.infra.processes import (
    PidFiles,
    file_lock,
    group_alive,
    log_tail,
    pid_alive,
    port_in_use,
    send_group,
    spawn,
    tcp_open,
    wait_gone,
)
from shared.topics import min_insync_replicas

HOST = "127.0.0.1"
DEV_STATE_DIR = REPO_ROOT / ".state" / "dev"
CLUSTER_STATE_DIR = REPO_ROOT / ".state" / "cluster"
TEST_STATE_DIR = REPO_ROOT / ".state" / "test"

Progress = Callable[[str], None]


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


CLUSTER_NODES = 3  # `linli infra up --cluster`: three KRaft nodes, each broker and controller


@dataclass(frozen=True)
class LocalServers:
    """One set of local servers: where their state lives and which ports they listen on.

    ``kafka_nodes`` > 1 runs a Kafka cluster of that many nodes (each a broker and a KRaft
    controller); node ``i`` (from 0) listens on ``kafka_port + 2i`` and its controller on
    ``kafka_controller_port + 2i``, so the defaults give 9092/9093, 9094/9095, 9096/9097.
    """

    state_dir: Path
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    mongo_port: int = 27017
    kafka_nodes: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "state_dir", Path(self.state_dir).expanduser().absolute())
        if self.kafka_nodes < 1:
            raise ValueError(f"kafka_nodes must be at least 1, got {self.kafka_nodes}")
        ports = (*self.kafka_ports, *self.kafka_controller_ports, self.mongo_port)
        if len(set(ports)) != len(ports):
            raise ValueError(f"local server ports must differ, got {ports}")

    @property
    def kafka_ports(self) -> tuple[int, ...]:
        return tuple(self.kafka_port + 2 * i for i in range(self.kafka_nodes))

    @property
    def kafka_controller_ports(self) -> tuple[int, ...]:
        return tuple(self.kafka_controller_port + 2 * i for i in range(self.kafka_nodes))

    @property
    def kafka_bootstrap(self) -> str:
        return ",".join(f"{HOST}:{port}" for port in self.kafka_ports)

    @property
    def mongodb_url(self) -> str:
        return f"mongodb://{HOST}:{self.mongo_port}/"


# --------------------------------------------------------------------------------------------
# probes


def _run_coro(coro: Coroutine[Any, Any, bool]) -> bool:
    """Run ``coro`` to completion, also when called from inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _kafka_metadata_ok(bootstrap: str, timeout_s: float) -> bool:
    from aiokafka.client import AIOKafkaClient
    from aiokafka.errors import KafkaError

    client = AIOKafkaClient(
        bootstrap_servers=bootstrap,
        request_timeout_ms=int(timeout_s * 1000),
        client_id="linli-infra-probe",
    )
    try:
        async with asyncio.timeout(timeout_s):
            await client.bootstrap()
        return bool(client.cluster.brokers())
    except (KafkaError, OSError, TimeoutError):
        return False
    finally:
        await client.close()


def kafka_answering(bootstrap: str, timeout: float = 3.0) -> bool:
    """True if the broker at ``host:port`` answers a real metadata request."""
    host, _, port = bootstrap.rpartition(":")
    if not tcp_open(host, int(port)):
        return False  # checked first: aiokafka logs an error for every refused connection
    return _run_coro(_kafka_metadata_ok(bootstrap, timeout))


def mongo_answering(url: str, timeout: float = 3.0) -> bool:
    """True if the MongoDB-protocol server at ``url`` answers ``ping``."""
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError

    ms = int(timeout * 1000)
    client: MongoClient = MongoClient(
        url, serverSelectionTimeoutMS=ms, connectTimeoutMS=ms, socketTimeoutMS=ms,
        directConnection=True, appname="linli-infra-probe",
    )  # fmt: skip
    try:
        return bool(client.admin.command("ping").get("ok"))
    except PyMongoError:
        return False
    finally:
        client.close()


# --------------------------------------------------------------------------------------------
# the two servers


class _Server:
    name: str
    start_timeout: float
    stop_grace: float

    def __init__(self, servers: LocalServers, name: str | None = None) -> None:
        self.servers = servers
        self.name = name or self.name
        self.dir = servers.state_dir / self.name
        self.log = self.dir / "server.log"
        self.pids = PidFiles(servers.state_dir / f"{self.name}.pid", self.dir / "process.json")

    @property
    def ports(self) -> tuple[int, ...]:
        raise NotImplementedError

    @property
    def address(self) -> str:
        raise NotImplementedError

    @property
    def url(self) -> str:
        raise NotImplementedError

    def answering(self, timeout: float = 3.0) -> bool:
        raise NotImplementedError

    def prepare(self, paths: InstalledPaths, progress: Progress) -> None:
        """Create config and data folders before the first start."""

    def command(self, paths: InstalledPaths) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return dict(os.environ)


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if not found:
        raise LocalInfraError("`java` (17 or newer) is not on PATH and JAVA_HOME is not set")
    return found


def _new_cluster_id() -> str:
    # Kafka cluster ids are 16 random bytes, base64url without padding; Kafka itself avoids ids
    # starting with "-" (they read like command-line options).
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


class _Kafka(_Server):
    """One Kafka node: the only one (named ``kafka``), or node ``index`` of a cluster
    (``kafka-1``, ``kafka-2``, ... each in its own folder, sharing one cluster id)."""

    name = "kafka"
    start_timeout = _env_float("LINLI_LOCAL_KAFKA_START_TIMEOUT", 120.0)
    stop_grace = 30.0

    def __init__(self, servers: LocalServers, index: int = 0) -> None:
        self.index = index
        super().__init__(servers, "kafka" if servers.kafka_nodes == 1 else f"kafka-{index + 1}")
        single = servers.kafka_nodes == 1
        self.heap = os.environ.get("LINLI_LOCAL_KAFKA_HEAP", "768m" if single else "512m")

    @property
    def port(self) -> int:
        return self.servers.kafka_ports[self.index]

    @property
    def controller_port(self) -> int:
        return self.servers.kafka_controller_ports[self.index]

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.port, self.controller_port)

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def url(self) -> str:
        return self.address

    @property
    def cluster_id_file(self) -> Path:
        # one id for every node of the cluster, kept beside them
        return (
            self.dir / "cluster.id"
            if self.servers.kafka_nodes == 1
            else (self.servers.state_dir / "kafka-cluster.id")
        )

    @property
    def properties_file(self) -> Path:
        return self.dir / "server.properties"

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"

    def answering(self, timeout: float = 3.0) -> bool:
        return kafka_answering(self.address, timeout)

    def server_properties(self) -> str:
        s = self.servers
        voters = ",".join(
            f"{i + 1}@{HOST}:{port}" for i, port in enumerate(s.kafka_controller_ports)
        )
        # every topic, internal ones included, on every node (up to 3), acks=all writes on 2
        replication = str(min(s.kafka_nodes, 3))
        min_isr = str(min_insync_replicas(s.kafka_nodes))
        settings = {
            # KRaft combined mode: each node is a broker and a controller
            "process.roles": "broker,controller",
            "node.id": str(self.index + 1),
            "controller.quorum.voters": voters,
            "listeners": f"PLAINTEXT://{self.address},CONTROLLER://{HOST}:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{self.address}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.data_dir),
            # topics are created explicitly (`linli topics apply`, test fixtures)
            "auto.create.topics.enable": "false",
            "num.partitions": "3",
            "default.replication.factor": replication,
            "min.insync.replicas": min_isr,
            "unclean.leader.election.enable": "false",
            # internal topics with fewer partitions than the default 50 so the first consumer
            # group / transaction on a fresh broker is quick
            "offsets.topic.replication.factor": replication,
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": replication,
            "transaction.state.log.min.isr": min_isr,
            "transaction.state.log.num.partitions": "10",
            "share.coordinator.state.topic.replication.factor": replication,
            "share.coordinator.state.topic.min.isr": min_isr,
            # no 3 s wait before the first rebalance of each consumer group
            "group.initial.rebalance.delay.ms": "0",
            "num.network.threads": "2",
            "num.io.threads": "4",
            # restart after a crash (README: "Kafka's restart"): every partition's log is
            # recovered before the broker serves (no clean-shutdown marker), 8 at a time instead
            # of 2; and the new incarnation may register once the dead one's session is over,
            # 4.5 s after its last heartbeat instead of 9 s (heartbeats every 0.75 s, not 2 s)
            "num.recovery.threads.per.data.dir": "8",
            "broker.heartbeat.interval.ms": "750",
            "broker.session.timeout.ms": "4500",
        }
        lines = [
            "# Generated by services/ops/infra/local.py on every start; edits are overwritten.",
            *(f"{k}={v}" for k, v in settings.items()),
        ]
        return "\n".join(lines) + "\n"

    def _java_base(self, paths: InstalledPaths, heap: str) -> list[str]:
        return [
            _java(),
            f"-Xmx{heap}",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={paths.kafka_log4j_config}",
            f"-Dkafka.logs.dir={self.dir}",
            # marks the process in `ps` output as ours
            f"-Dlinli.state.dir={self.servers.state_dir}",
            "-cp",
            paths.kafka_classpath,
        ]

    def prepare(self, paths: InstalledPaths, progress: Progress) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.properties_file.write_text(self.server_properties())
        if (self.data_dir / "meta.properties").is_file():
            return  # already formatted
        id_file = self.cluster_id_file
        if not id_file.is_file():
            id_file.write_text(_new_cluster_id() + "\n")
        cluster_id = id_file.read_text().strip()
        progress(f"kafka: formatting storage in {self.data_dir} (cluster id {cluster_id})")
        cmd = [
            *self._java_base(paths, "256m"),
            "kafka.tools.StorageTool", "format",
            "-t", cluster_id, "-c", str(self.properties_file), "--ignore-formatted",
        ]  # fmt: skip
        proc = subprocess.run(
            cmd, cwd=self.dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            timeout=120,
        )  # fmt: skip
        with self.log.open("a") as log:
            log.write(f"\n===== storage format: {' '.join(cmd)}\n{proc.stdout}")
        if proc.returncode != 0:
            raise LocalInfraError(
                f"kafka: formatting storage failed (exit {proc.returncode}):\n{proc.stdout[-4000:]}"
            )

    def command(self, paths: InstalledPaths) -> list[str]:
        return [
            *self._java_base(paths, self.heap),
            # the GC settings of Kafka's own start scripts
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:InitiatingHeapOccupancyPercent=35",
            "-XX:+ExplicitGCInvokesConcurrent",
            "kafka.Kafka",
            str(self.properties_file),
        ]


class _FerretDB(_Server):
    name = "ferretdb"
    start_timeout = _env_float("LINLI_LOCAL_MONGO_START_TIMEOUT", 60.0)
    stop_grace = 15.0  # the wrapper itself gives up on draining connections after 10 s

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.servers.mongo_port,)

    @property
    def address(self) -> str:
        return f"{HOST}:{self.servers.mongo_port}"

    @property
    def url(self) -> str:
        return self.servers.mongodb_url

    def answering(self, timeout: float = 3.0) -> bool:
        if not tcp_open(HOST, self.servers.mongo_port):
            return False
        return mongo_answering(self.url, timeout)

    def prepare(self, paths: InstalledPaths, progress: Progress) -> None:
        (self.dir / "data").mkdir(parents=True, exist_ok=True)

    def command(self, paths: InstalledPaths) -> list[str]:
        return [
            str(paths.ferretdb_binary),
            f"--listen-addr={self.address}",
            f"--state-dir={self.dir / 'data'}",
            f"--log-level={os.environ.get('LINLI_LOCAL_FERRETDB_LOG_LEVEL', 'info')}",
        ]

    def env(self) -> dict[str, str]:
        return {**os.environ, "DO_NOT_TRACK": "1"}


def _servers(servers: LocalServers) -> list[_Server]:
    return [_FerretDB(servers), *(_Kafka(servers, i) for i in range(servers.kafka_nodes))]


def _lock(servers: LocalServers):
    return file_lock(servers.state_dir / ".lock")


# --------------------------------------------------------------------------------------------
# up / down / status


def _startup_failure(srv: _Server, why: str) -> LocalInfraError:
    return LocalInfraError(
        f"{srv.name}: {why}\n--- last lines of {srv.log} ---\n{log_tail(srv.log)}"
    )


def _stop(srv: _Server, pid: int, progress: Progress) -> None:
    """SIGTERM the server's process group, SIGKILL after its grace period."""
    started = time.monotonic()
    if not wait_gone(pid, srv.stop_grace):
        progress(f"{srv.name}: still running after {srv.stop_grace:.0f}s, sending SIGKILL")
        send_group(pid, signal.SIGKILL)
        if not wait_gone(pid, 10):
            raise LocalInfraError(f"{srv.name}: process group {pid} survived SIGKILL")
    srv.pids.remove()
    progress(f"{srv.name}: stopped (pid {pid}) in {time.monotonic() - started:.1f}s")


def up(servers: LocalServers, progress: Progress = print) -> None:
    """Start whatever is not running yet and wait until both servers answer.

    Idempotent: servers already running from ``servers.state_dir`` are reused; missing runtimes
    are installed first (see :func:`ensure_installed`). Raises :class:`LocalInfraError` with the
    tail of the server log when a server does not come up in time.
    """
    began = time.monotonic()
    servers.state_dir.mkdir(parents=True, exist_ok=True)
    with _lock(servers):
        paths = ensure_installed(progress)
        started: dict[str, tuple[_Server, int, float]] = {}
        try:
            pending = [_start_if_needed(srv, paths, started, progress) for srv in _servers(servers)]
            _wait_answering(pending, started, progress)
        except BaseException:
            for srv, pid, _ in started.values():  # don't leave half-started servers behind
                if pid_alive(pid) or group_alive(pid):
                    send_group(pid, signal.SIGKILL)
                    wait_gone(pid, 10)
                srv.pids.remove()
            raise
    progress(
        f"local servers ready in {time.monotonic() - began:.1f}s: "
        f"kafka {servers.kafka_bootstrap}, mongodb {servers.mongodb_url} "
        f"(state {servers.state_dir})"
    )


def _start_if_needed(
    srv: _Server,
    paths: InstalledPaths,
    started: dict[str, tuple[_Server, int, float]],
    progress: Progress,
) -> _Server:
    """Reuse the running server of the state dir, or start it (recorded in ``started``)."""
    state_dir = srv.servers.state_dir
    pid, alive = srv.pids.live_pid()
    if alive:
        recorded = srv.pids.info().get("address")
        if recorded and recorded != srv.address:
            raise LocalInfraError(
                f"{srv.name} of {state_dir} already runs on {recorded}, not {srv.address}; "
                "run `linli infra down` first to change ports"
            )
        progress(f"{srv.name}: already running (pid {pid}) on {srv.address}")
        return srv
    if pid is not None:
        progress(f"{srv.name}: removing stale pid file (pid {pid} is not running)")
        # A dead leader's process group can't be reused while members remain: those are
        # leftovers of our crashed server. (A live pid here belongs to someone else.)
        if not pid_alive(pid) and group_alive(pid):
            send_group(pid, signal.SIGKILL)
        srv.pids.remove()
    busy = [p for p in srv.ports if port_in_use(p)]
    if busy:
        raise LocalInfraError(
            f"{srv.name}: port {', '.join(map(str, busy))} on {HOST} is already in use by "
            f"another process (not the {srv.name} of {state_dir}); stop it or pick other "
            "ports (--kafka-port / --kafka-controller-port / --mongo-port)"
        )
    srv.prepare(paths, progress)
    cmd = srv.command(paths)
    pid = spawn(cmd, srv.log, cwd=srv.dir, env=srv.env())
    srv.pids.write(pid, srv.address, cmd)
    started[srv.name] = (srv, pid, time.monotonic())
    progress(f"{srv.name}: started (pid {pid}), log {srv.log}")
    return srv


def _wait_answering(
    pending: list[_Server], started: dict[str, tuple[_Server, int, float]], progress: Progress
) -> None:
    t0 = time.monotonic()
    deadlines = {srv.name: t0 + srv.start_timeout for srv in pending}
    waiting = list(pending)
    while waiting:
        for srv in list(waiting):
            pid, alive = srv.pids.live_pid()
            if not alive:
                raise _startup_failure(srv, f"process {pid} exited during start-up")
            if srv.answering(timeout=2.0):
                waiting.remove(srv)
                if srv.name in started:
                    took = time.monotonic() - started[srv.name][2]
                    progress(f"{srv.name}: answering on {srv.address} after {took:.1f}s")
            elif time.monotonic() > deadlines[srv.name]:
                raise _startup_failure(
                    srv, f"not answering on {srv.address} after {srv.start_timeout:.0f}s"
                )
        if waiting:
            time.sleep(0.2)


def down(servers: LocalServers, progress: Progress = print) -> None:
    """Stop the servers of ``servers.state_dir`` (SIGTERM, then SIGKILL); idempotent."""
    if not servers.state_dir.is_dir():
        progress(f"nothing to stop: {servers.state_dir} does not exist")
        return
    with _lock(servers):
        stopping: list[tuple[_Server, int]] = []
        for srv in reversed(_servers(servers)):  # Kafka first: its shutdown takes longest
            pid, alive = srv.pids.live_pid()
            if alive:
                progress(f"{srv.name}: stopping pid {pid}")
                send_group(pid, signal.SIGTERM)
                stopping.append((srv, pid))
            elif pid is not None and group_alive(pid) and not pid_alive(pid):
                progress(f"{srv.name}: killing leftover processes of group {pid}")
                send_group(pid, signal.SIGKILL)
                stopping.append((srv, pid))
            else:
                if pid is not None:
                    progress(f"{srv.name}: removing stale pid file (pid {pid} is not running)")
                else:
                    progress(f"{srv.name}: not running")
                srv.pids.remove()
        # both got SIGTERM above, so they shut down in parallel
        for srv, pid in stopping:
            _stop(srv, pid, progress)


def status(servers: LocalServers) -> dict[str, dict]:
    """Per server (``kafka``, ``ferretdb``): running, answering, address, url, pid, log.

    ``running`` means the process recorded in the state dir is alive; ``answering`` means the
    address answers a real request (it can be true for a foreign server on the same port).
    """
    result: dict[str, dict] = {}
    for srv in reversed(_servers(servers)):
        pid, alive = srv.pids.live_pid()
        result[srv.name] = {
            "running": alive,
            "answering": srv.answering(timeout=2.0),
            "address": srv.address,
            "url": srv.url,
            "pid": pid if alive else None,
            "log": str(srv.log),
        }
    return result
