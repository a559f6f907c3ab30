"""Fetch the Kafka jars and build the FerretDB binary into a per-user cache outside the repo.

Kafka: ``deploy/local/kafka/pom.xml`` lists the broker's runtime classpath; Maven copies it into
``<cache>/kafka-<version>/libs`` (its own ``~/.m2`` keeps the downloads). FerretDB:
``deploy/local/ferretdb`` is a small Go module that is built into
``<cache>/ferretdb-<hash>/ferretdb``, the hash covering its go.mod, go.sum, main.go and the one
build-time patch applied to FerretDB's source (see :func:`_patch_ferretdb`; Go's module and build
caches keep the downloads and compiled packages).

Each result is published atomically (build in a temporary path, then rename) under a file lock, so
concurrent callers never see half a cache, and a second call only checks that files exist.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from services.ops.infra.errors import LocalInfraError
from services.ops.infra.processes import file_lock

REPO_ROOT = Path(__file__).resolve().parents[3]
DEPLOY_LOCAL = REPO_ROOT / "deploy" / "local"
KAFKA_DIR = DEPLOY_LOCAL / "kafka"
FERRETDB_DIR = DEPLOY_LOCAL / "ferretdb"

KAFKA_POM = KAFKA_DIR / "pom.xml"
KAFKA_LOG4J_CONFIG = KAFKA_DIR / "log4j2.xml"

MAVEN_COPY_GOAL = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies"
# Only the SQLite backend is used; leaving PostgreSQL out makes the binary smaller.
FERRETDB_BUILD_TAGS = "ferretdb_no_postgresql"
FERRETDB_SOURCES = ("go.mod", "go.sum", "main.go")
FERRETDB_MODULE = "github.com/FerretDB/FerretDB"
# The build-time patch (see _patch_ferretdb): this exact line of FERRETDB_PATCH_FILE, replaced once.
FERRETDB_PATCH_FILE = "internal/backends/sqlite/metadata/metadata.go"
FERRETDB_PATCH_OLD = "IDColumn = DefaultColumn + \"->'$._id'\""
FERRETDB_PATCH_NEW = "IDColumn = DefaultColumn + \"->'_id'\""
# The filter pushdown (see _patch_ferretdb): a file added to the SQLite backend, and the two
# places (Query, Explain) that pushed down only a bare _id equality call it instead.
FERRETDB_PUSHDOWN_SOURCE = FERRETDB_DIR / "patch" / "linli_pushdown.go"
FERRETDB_PUSHDOWN_TARGET = "internal/backends/sqlite/linli_pushdown.go"
FERRETDB_PUSHDOWN_FILE = "internal/backends/sqlite/collection.go"
FERRETDB_PUSHDOWN_EDITS = (
    (
        '\tif params.Filter.Len() == 1 {\n\t\tv, _ := params.Filter.Get("_id")\n'
        "\t\tswitch v.(type) {\n\t\tcase string, types.ObjectID:\n",
        '\tif column, v := linliPushdown(meta, params.Filter); column != "" {\n'
        "\t\tswitch {\n\t\tdefault:\n",
    ),
    (
        "whereClause = fmt.Sprintf(` WHERE %s = ?`, metadata.IDColumn)",
        'whereClause = " WHERE " + column',
    ),
)

_MARKER = ".complete"


@dataclass(frozen=True)
class InstalledPaths:
    """Where :func:`ensure_installed` put the server runtimes."""

    kafka_version: str
    kafka_libs: Path  # directory of jars, used as ``-cp '<kafka_libs>/*'``
    kafka_log4j_config: Path
    ferretdb_binary: Path

    @property
    def kafka_classpath(self) -> str:
        return f"{self.kafka_libs}/*"


def cache_dir() -> Path:
    """``$LINLI_CACHE_DIR`` or ``~/.cache/linli``."""
    override = os.environ.get("LINLI_CACHE_DIR")
    return Path(override).expanduser() if override else Path.home() / ".cache" / "linli"


def kafka_version() -> str:
    """The Kafka version pinned by ``deploy/local/kafka/pom.xml`` (property ``kafka.version``)."""
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    node = ET.parse(KAFKA_POM).getroot().find("m:properties/m:kafka.version", ns)
    if node is None or not (node.text or "").strip():
        raise LocalInfraError(f"{KAFKA_POM} has no <kafka.version> property")
    return node.text.strip()


def _digest(paths: list[Path], extra: str = "") -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    h.update(extra.encode())
    return h.hexdigest()


def ferretdb_build_hash() -> str:
    """Short hash of the FerretDB wrapper's sources, build flags and source patch (names its
    cache folder, so changing any of them builds a new binary)."""
    patch = (FERRETDB_PATCH_FILE, FERRETDB_PATCH_OLD, FERRETDB_PATCH_NEW)
    pushdown = (FERRETDB_PUSHDOWN_TARGET, FERRETDB_PUSHDOWN_FILE)
    edits = [part for edit in FERRETDB_PUSHDOWN_EDITS for part in edit]
    extra = "\0".join((FERRETDB_BUILD_TAGS, *patch, *pushdown, *edits))
    sources = [FERRETDB_DIR / n for n in FERRETDB_SOURCES] + [FERRETDB_PUSHDOWN_SOURCE]
    return _digest(sources, extra)[:16]


def planned_paths() -> InstalledPaths:
    """The paths :func:`ensure_installed` uses, without checking or installing anything."""
    root = cache_dir()
    version = kafka_version()
    return InstalledPaths(
        kafka_version=version,
        kafka_libs=root / f"kafka-{version}" / "libs",
        kafka_log4j_config=KAFKA_LOG4J_CONFIG,
        ferretdb_binary=root / f"ferretdb-{ferretdb_build_hash()}" / "ferretdb",
    )


def _require_tool(name: str, purpose: str) -> str:
    found = shutil.which(name)
    if not found:
        raise LocalInfraError(f"`{name}` is not on PATH; it is needed to {purpose}")
    return found


def _run(cmd: list[str], cwd: Path, what: str, env: dict[str, str] | None = None) -> None:
    proc = subprocess.run(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.strip().splitlines()[-40:])
        raise LocalInfraError(
            f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n--- output ---\n{tail}"
        )


def _install_kafka(libs: Path, progress: Callable[[str], None]) -> None:
    pom_hash = _digest([KAFKA_POM])
    marker = libs / _MARKER
    if marker.is_file() and marker.read_text().strip() == pom_hash:
        return
    with file_lock(libs.parent / ".lock"):
        if marker.is_file() and marker.read_text().strip() == pom_hash:
            return  # another process finished it while we waited
        mvn = _require_tool("mvn", "fetch the Kafka jars")
        _require_tool("java", "run Kafka")
        progress(f"kafka: fetching the {libs.parent.name} jars with Maven into {libs} ...")
        started = time.monotonic()
        tmp = libs.parent / f"libs.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        cmd = [
            mvn, "-B", "-q", "-f", str(KAFKA_POM), MAVEN_COPY_GOAL,
            "-DincludeScope=runtime", f"-DoutputDirectory={tmp}",
        ]  # fmt: skip
        try:
            _run(cmd, KAFKA_DIR, "fetching the Kafka jars with Maven")
            if not any(tmp.glob("kafka_2.13-*.jar")):
                raise LocalInfraError(f"Maven ran but no kafka_2.13 jar landed in {tmp}")
            (tmp / _MARKER).write_text(pom_hash + "\n")
            shutil.rmtree(libs, ignore_errors=True)
            tmp.rename(libs)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        progress(f"kafka: jars ready in {time.monotonic() - started:.1f}s")


def _patch_ferretdb(go: str, build_dir: Path) -> Path:
    """Copy FerretDB's module source into ``build_dir/FerretDB`` and patch it; return the wrapper
    copy ``build_dir/wrapper`` whose go.mod points FerretDB at the patched source.

    Why: FerretDB v1.24.2's SQLite backend creates each collection's unique ``_id`` index on
    ``_ferretdb_sjson->"_id"`` (metadata/registry.go) but finds, updates and deletes by ``_id``
    with ``metadata.IDColumn = _ferretdb_sjson->'$._id'``. Both select the same JSON value, yet
    SQLite matches indexed expressions syntactically, so the index was never used. On a FerretDB
    data file, ``EXPLAIN QUERY PLAN`` shows ``SCAN docs_...`` for ``WHERE _ferretdb_sjson->'$._id'
    = ?`` but ``SEARCH docs_... USING INDEX docs_..._id_ (<expr>=?)`` for ``->'_id'``; with 20k
    documents update_one by ``_id`` took ~110 ms instead of ~1.3 ms. Spelling IDColumn as
    ``->'_id'`` (a label: same meaning as ``'$._id'``) makes those statements use the index.
    Data files and indexes are unchanged; tests/integration/test_ferretdb_id_index.py checks it.
    """
    wrapper = build_dir / "wrapper"
    wrapper.mkdir(parents=True)
    for name in FERRETDB_SOURCES:
        shutil.copyfile(FERRETDB_DIR / name, wrapper / name)
    # The bare module path means the version go.mod requires; -json reports where it is cached.
    cmd = [go, "mod", "download", "-json", FERRETDB_MODULE]
    proc = subprocess.run(cmd, cwd=wrapper, capture_output=True, text=True)
    try:
        module = json.loads(proc.stdout)
    except ValueError:
        module = {}
    if proc.returncode != 0 or not module.get("Dir"):
        why = module.get("Error") or proc.stderr.strip() or proc.stdout.strip()
        raise LocalInfraError(f"downloading {FERRETDB_MODULE} failed: {' '.join(cmd)}\n{why}")
    source = build_dir / "FerretDB"
    # The module cache is read-only; plain file copies (no permission bits) are writable.
    shutil.copytree(module["Dir"], source, copy_function=shutil.copyfile)
    for d, _, _ in os.walk(source):
        os.chmod(d, 0o755)
    target = source / FERRETDB_PATCH_FILE
    text = target.read_text()
    if text.count(FERRETDB_PATCH_OLD) != 1:
        raise LocalInfraError(
            f"cannot patch FerretDB: expected the line `{FERRETDB_PATCH_OLD}` exactly once in "
            f"{FERRETDB_PATCH_FILE} (found {text.count(FERRETDB_PATCH_OLD)}); was the FerretDB "
            "version in deploy/local/ferretdb/go.mod changed? Re-check the _id index bug there."
        )
    target.write_text(text.replace(FERRETDB_PATCH_OLD, FERRETDB_PATCH_NEW))
    _patch_pushdown(source)
    # A module replaced by a directory needs no go.sum line, so the build keeps -mod=readonly.
    replace = f"-replace={FERRETDB_MODULE}={source}"
    _run([go, "mod", "edit", replace], wrapper, "pointing the wrapper at the patched FerretDB")
    return wrapper


def _patch_pushdown(source: Path) -> None:
    """Add the filter pushdown to FerretDB's SQLite backend (deploy/local/ferretdb/patch).

    Why: FerretDB v1.24.2 narrows a query in SQL only when the filter is exactly one ``_id``
    equality; ``{_id: x, status: ...}`` (every conditional update) and ``{resident_ref: r}``
    (even with an index on it) read and decode the whole collection. The added function also
    pushes down an ``_id`` equality beside other conditions, and a plain string equality on a
    secondary index's first field (arrays too, as MongoDB matches them). The handler still
    applies the whole filter to the rows returned, so results do not change, only their cost;
    tests/integration/test_ferretdb_pushdown.py checks both the plans and the results.
    """
    shutil.copyfile(FERRETDB_PUSHDOWN_SOURCE, source / FERRETDB_PUSHDOWN_TARGET)
    target = source / FERRETDB_PUSHDOWN_FILE
    text = target.read_text()
    for old, new in FERRETDB_PUSHDOWN_EDITS:
        if text.count(old) != 2:  # Query and Explain
            raise LocalInfraError(
                f"cannot patch FerretDB: expected `{old.strip()}` twice in "
                f"{FERRETDB_PUSHDOWN_FILE} (found {text.count(old)}); was the FerretDB version "
                "in deploy/local/ferretdb/go.mod changed? Re-check linli_pushdown.go there."
            )
        text = text.replace(old, new)
    target.write_text(text)


def _install_ferretdb(binary: Path, progress: Callable[[str], None]) -> None:
    if binary.is_file() and os.access(binary, os.X_OK):
        return
    with file_lock(binary.parent / ".lock"):
        if binary.is_file() and os.access(binary, os.X_OK):
            return
        go = _require_tool("go", "build FerretDB")
        progress(f"ferretdb: building {binary} with Go (about a minute the first time) ...")
        started = time.monotonic()
        tmp = binary.with_name(f"{binary.name}.tmp-{os.getpid()}")
        build_dir = binary.with_name("src")  # fixed name (we hold the lock): reproducible builds
        shutil.rmtree(build_dir, ignore_errors=True)
        cmd = [
            go, "build", "-trimpath", "-buildvcs=false", "-mod=readonly",
            "-tags", FERRETDB_BUILD_TAGS, "-o", str(tmp), ".",
        ]  # fmt: skip
        try:
            wrapper = _patch_ferretdb(go, build_dir)
            _run(cmd, wrapper, "building FerretDB with Go")
            tmp.rename(binary)
        finally:
            tmp.unlink(missing_ok=True)
            shutil.rmtree(build_dir, ignore_errors=True)
        progress(f"ferretdb: built in {time.monotonic() - started:.1f}s")


def ensure_installed(progress: Callable[[str], None] = print) -> InstalledPaths:
    """Make sure the Kafka jars and the FerretDB binary are in the cache; return their paths.

    Downloads and builds only what is missing, so a second call does no work.
    """
    paths = planned_paths()
    # Maven mostly waits on the network and Go mostly compiles: run them side by side.
    with concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="linli-install") as pool:
        jobs = [
            pool.submit(_install_kafka, paths.kafka_libs, progress),
            pool.submit(_install_ferretdb, paths.ferretdb_binary, progress),
        ]
        for job in jobs:
            job.result()  # re-raises the first failure
    return paths


# kustomize renders deploy/k8s (its tests check the manifests offline); built from its Go
# module, pinned, into the cache. GOTOOLCHAIN=local: build with this machine's Go, never fetch one.
KUSTOMIZE_MODULE = "sigs.k8s.io/kustomize/kustomize/v5"
KUSTOMIZE_VERSION = "v5.8.1"


def ensure_kustomize(progress: Callable[[str], None] = print) -> Path:
    """The pinned kustomize binary, built into the cache on first use."""
    binary = cache_dir() / f"kustomize-{KUSTOMIZE_VERSION}" / "kustomize"
    if binary.is_file() and os.access(binary, os.X_OK):
        return binary
    binary.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(binary.parent / ".lock"):
        if binary.is_file() and os.access(binary, os.X_OK):
            return binary
        go = _require_tool("go", "build kustomize")
        progress(
            f"kustomize: building {KUSTOMIZE_VERSION} with Go (a minute or two the first time)"
        )
        tmp_bin = binary.parent / f"bin.tmp-{os.getpid()}"
        env = {**os.environ, "GOBIN": str(tmp_bin), "GOTOOLCHAIN": "local", "CGO_ENABLED": "0"}
        try:
            _run(
                [go, "install", "-trimpath", f"{KUSTOMIZE_MODULE}@{KUSTOMIZE_VERSION}"],
                binary.parent,
                "building kustomize with Go",
                env=env,
            )
            (tmp_bin / "kustomize").rename(binary)
        finally:
            shutil.rmtree(tmp_bin, ignore_errors=True)
    return binary
