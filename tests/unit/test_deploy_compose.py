"""Static checks of the container deployment: deploy/docker-compose.yml and deploy/Dockerfile.

No Docker engine is needed. The compose file is validated against the official Compose
Specification JSON schema (``compose-spec.json``, as vendored by the ``check-jsonschema``
package, a dev dependency) and then against the project's own deployment rules; the
Dockerfile and .dockerignore are parsed with plain Python.
"""

from __future__ import annotations

import base64
import copy
import fnmatch
import json
import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from shared.settings import SERVICE_PORTS, Settings

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
COMPOSE_FILE = DEPLOY / "docker-compose.yml"
DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"

APP_SERVICES = tuple(SERVICE_PORTS)  # intake, dispatch, notify, ledger, consult
INFRA_IMAGES = {"kafka": "apache/kafka:4.1.1", "mongo": "mongo:8.0"}
INFRA_VOLUMES = {
    "kafka": ("kafka-data", "/var/lib/kafka/data"),
    "mongo": ("mongo-data", "/data/db"),
}
LOOPBACK = "127.0.0.1"


# --------------------------------------------------------------------------- helpers


def _compose_schema() -> dict[str, Any]:
    ref = resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json")
    return json.loads(ref.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def compose_schema() -> dict[str, Any]:
    schema = _compose_schema()
    jsonschema.validators.validator_for(schema).check_schema(schema)
    return schema


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    # safe_load resolves the `<<: *anchor` merge keys the same way Compose does.
    doc = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def _schema_errors(schema: dict[str, Any], doc: Any) -> list[str]:
    validator_cls = jsonschema.validators.validator_for(schema)
    validator = validator_cls(schema)
    return [
        f"{'/'.join(map(str, err.absolute_path)) or '<root>'}: {err.message}"
        for err in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.path)))
    ]


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    out: dict[str, str] = {}
    for key, value in env.items():
        # Compose passes booleans as "true"/"false" and numbers as their text.
        out[key] = str(value).lower() if isinstance(value, bool) else str(value)
    return out


def _depends_on(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def _published(port: Any) -> tuple[str | None, str | None, str]:
    """(host_ip, host_port, container_port) of a short- or long-syntax port entry."""
    if isinstance(port, dict):
        host_ip = port.get("host_ip")
        published = port.get("published")
        return host_ip, None if published is None else str(published), str(port["target"])
    parts = str(port).split("/", 1)[0].rsplit(":", 2)
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    if len(parts) == 2:
        return None, parts[0], parts[1]
    return None, None, parts[0]


def _named_volume_mounts(service: dict[str, Any]) -> dict[str, str]:
    mounts = {}
    for vol in service.get("volumes") or []:
        if isinstance(vol, dict):
            if vol.get("type", "volume") == "volume" and vol.get("source"):
                mounts[vol["source"]] = vol["target"]
        else:
            source, _, rest = str(vol).partition(":")
            if rest and not source.startswith((".", "/", "~", "$")):
                mounts[source] = rest.split(":", 1)[0]
    return mounts


def _healthcheck_text(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    return " ".join(test) if isinstance(test, list) else str(test)


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(KEYWORD, arguments) for each instruction, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, args = line.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
    assert not pending, "Dockerfile ends inside a line continuation"
    return instructions


def _copy_sources(args: str) -> tuple[dict[str, str], list[str]]:
    """Flags and source paths of a COPY/ADD instruction (shell or JSON form)."""
    tokens = args.split()
    flags = {}
    while tokens and tokens[0].startswith("--"):
        name, _, value = tokens.pop(0)[2:].partition("=")
        flags[name] = value
    rest = " ".join(tokens)
    paths = json.loads(rest) if rest.startswith("[") else rest.split()
    assert len(paths) >= 2, f"COPY needs a source and a destination: {args!r}"
    return flags, paths[:-1]


def _dockerignore_patterns() -> list[str]:
    patterns = []
    for raw in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            patterns.append(line)
    return patterns


def _is_dockerignored(path: str, patterns: list[str]) -> bool:
    """Conservative .dockerignore match of a context path or any of its parent folders."""
    parts = Path(path.rstrip("/")).parts
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern.lstrip("!").strip("/")
        variants = {pat, pat.removeprefix("**/")}
        if any(fnmatch.fnmatch(c, v) for c in candidates for v in variants):
            ignored = not negate
    return ignored


# --------------------------------------------------------------------------- schema


def test_compose_file_matches_compose_specification(compose_schema, compose):
    errors = _schema_errors(compose_schema, compose)
    assert not errors, "docker-compose.yml violates the Compose Specification:\n" + "\n".join(
        errors
    )


def test_schema_rejects_an_invalid_service(compose_schema, compose):
    # Guards against a schema that silently accepts anything.
    broken = copy.deepcopy(compose)
    broken["services"]["intake"]["restart_policy"] = "always"
    broken["services"]["dispatch"]["healthcheck"]["interval"] = ["15s"]
    errors = _schema_errors(compose_schema, broken)
    assert any("restart_policy" in e for e in errors)
    assert any("services/dispatch/healthcheck/interval" in e for e in errors)


def test_no_obsolete_version_key(compose):
    assert "version" not in compose


# --------------------------------------------------------------------------- app services


def _app_image_builders(services: dict[str, dict[str, Any]]) -> list[str]:
    return [name for name, svc in services.items() if "build" in svc]


def test_app_image_is_built_once_from_deploy_dockerfile(services):
    builders = _app_image_builders(services)
    assert builders == ["intake"], f"exactly one service should build the app image: {builders}"
    build = services["intake"]["build"]
    assert isinstance(build, dict)
    context = (COMPOSE_FILE.parent / build["context"]).resolve()
    assert context == REPO, "build context must be the repository root"
    assert (context / build["dockerfile"]).resolve() == DOCKERFILE
    image = services["intake"]["image"]
    assert image == "linli:latest"


@pytest.mark.parametrize("name", [*APP_SERVICES, "topics"])
def test_app_containers_share_the_built_image(services, name):
    svc = services[name]
    assert svc["image"] == services["intake"]["image"]
    if "build" not in svc:
        # Built locally by the intake service: never try a registry for it.
        assert svc.get("pull_policy") == "never"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_service_definition(services, name):
    svc = services[name]
    port = SERVICE_PORTS[name]
    assert svc["command"] == ["python", "-m", f"services.{name}"]
    assert svc["restart"] == "unless-stopped"
    assert svc["stop_grace_period"] == "30s"
    assert _depends_on(svc) == {
        "topics": "service_completed_successfully",
        "mongo": "service_healthy",
    }
    assert [_published(p) for p in svc["ports"]] == [(LOOPBACK, str(port), str(port))]

    test = svc["healthcheck"]["test"]
    assert test[0] == "CMD" and test[1] == "python", "slim image has no curl: use python"
    assert f"http://127.0.0.1:{port}/readyz" in _healthcheck_text(svc)


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_service_environment(services, name):
    env = _environment(services[name])
    assert env["LINLI_KAFKA_BOOTSTRAP"] == "kafka:9092"
    assert env["LINLI_MONGODB_URL"] == "mongodb://mongo:27017/"
    assert env["LINLI_ENV"] == "production"
    assert env["LINLI_LOG_FORMAT"] == "json"
    # Settings binds 127.0.0.1 by default: unreachable through a published port.
    assert env["LINLI_HTTP_HOST"] == "0.0.0.0"


@pytest.mark.parametrize("name", [*APP_SERVICES, "topics"])
def test_app_environment_names_real_settings(services, name):
    env = _environment(services[name])
    fields = set(Settings.model_fields)
    unknown = [k for k in env if k.startswith("LINLI_") and k[6:].lower() not in fields]
    assert not unknown, f"{name}: not a setting of shared.settings.Settings: {unknown}"


@pytest.mark.parametrize("name", [*APP_SERVICES, "topics"])
def test_resident_secret_comes_from_outside_the_file(services, name):
    value = _environment(services[name])["LINLI_RESIDENT_SECRET"]
    # Required interpolation (${VAR:?message}): compose refuses to start without it.
    assert re.fullmatch(r"\$\{LINLI_RESIDENT_SECRET:\?[^}]+\}", value), value


def test_topics_job(services):
    topics = services["topics"]
    assert topics["command"] == ["linli", "topics", "apply"]
    assert _depends_on(topics) == {"kafka": "service_healthy"}
    assert topics.get("restart", "no") == "no"
    assert "ports" not in topics
    env = _environment(topics)
    assert env["LINLI_KAFKA_BOOTSTRAP"] == "kafka:9092"
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert "linli" in pyproject["project"]["scripts"], "the image must install the linli CLI"


# --------------------------------------------------------------------------- infrastructure


@pytest.mark.parametrize("name", sorted(INFRA_IMAGES))
def test_infra_uses_official_image_and_named_volume(compose, services, name):
    svc = services[name]
    assert svc["image"] == INFRA_IMAGES[name]
    assert "build" not in svc
    volume, target = INFRA_VOLUMES[name]
    assert _named_volume_mounts(svc) == {volume: target}
    assert volume in (compose.get("volumes") or {})
    assert "healthcheck" in svc


def test_kafka_single_node_kraft(services):
    kafka = services["kafka"]
    env = _environment(kafka)
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    node_id = env["KAFKA_NODE_ID"]
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{node_id}@kafka:9093"
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] == "CONTROLLER"
    for key in (
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR",
    ):
        assert env[key] == "1", key
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert env["KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS"] == "0"
    assert env["KAFKA_LOG_DIRS"] == INFRA_VOLUMES["kafka"][1]

    # A fixed cluster id must be a base64url-encoded UUID (16 bytes, 22 characters).
    cluster_id = env["CLUSTER_ID"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", cluster_id)
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16

    assert "kafka-broker-api-versions.sh" in _healthcheck_text(
        kafka
    ) or "kafka-topics.sh" in _healthcheck_text(kafka)


def test_kafka_listeners_are_consistent(services):
    env = _environment(services["kafka"])

    def listeners(key: str) -> dict[str, str]:
        out = {}
        for item in env[key].split(","):
            name, _, address = item.partition("://")
            out[name] = address
        return out

    bound = listeners("KAFKA_LISTENERS")
    advertised = listeners("KAFKA_ADVERTISED_LISTENERS")
    protocols = dict(
        item.split(":", 1) for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
    )

    assert bound == {"PLAINTEXT": ":9092", "CONTROLLER": ":9093", "PLAINTEXT_HOST": ":9094"}
    assert set(bound) <= set(protocols)
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] in bound
    assert advertised["PLAINTEXT"] == "kafka:9092", "containers reach Kafka as kafka:9092"
    assert "CONTROLLER" not in advertised
    # The host listener is advertised with the loopback address it is published on.
    host_address = advertised["PLAINTEXT_HOST"]
    assert host_address in {"127.0.0.1:9094", "localhost:9094"}
    published = {_published(p) for p in services["kafka"]["ports"]}
    assert published == {(LOOPBACK, "9094", "9094")}


def test_mongo_healthcheck_pings(services):
    text = _healthcheck_text(services["mongo"])
    assert "mongosh" in text and "ping" in text


# --------------------------------------------------------------------------- whole-file rules


def test_every_depends_on_target_exists(services):
    for name, svc in services.items():
        for target in _depends_on(svc):
            assert target in services, f"{name} depends on unknown service {target!r}"
            assert target != name


def test_every_published_port_binds_loopback(services):
    for name, svc in services.items():
        for port in svc.get("ports") or []:
            host_ip, host_port, _ = _published(port)
            assert host_port is not None, f"{name}: {port!r} publishes a random host port"
            assert host_ip == LOOPBACK, f"{name}: {port!r} must bind {LOOPBACK} only"


def test_every_named_volume_is_declared(compose, services):
    declared = set(compose.get("volumes") or {})
    used = {v for svc in services.values() for v in _named_volume_mounts(svc)}
    assert used == declared


def test_every_service_has_a_healthcheck_except_the_one_shot_job(services):
    for name, svc in services.items():
        if name == "topics":
            continue
        assert "healthcheck" in svc, name
        assert not svc["healthcheck"].get("disable", False), name


# --------------------------------------------------------------------------- Dockerfile


def test_dockerfile_is_multi_stage_on_python_slim():
    instructions = _dockerfile_instructions()
    args = {}
    for keyword, rest in instructions:
        if keyword == "ARG" and "=" in rest:
            key, _, value = rest.partition("=")
            args[key] = value
    froms = [rest for keyword, rest in instructions if keyword == "FROM"]
    assert len(froms) >= 2, "builder and runtime stages"
    for line in froms:
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], line.split()[0])
        assert image == "python:3.11-slim", line
    assert froms[0].split()[-2:][0].upper() == "AS"
    builder = froms[0].split()[-1]
    copies_from_builder = [
        rest
        for keyword, rest in instructions
        if keyword == "COPY" and _copy_sources(rest)[0].get("from") == builder
    ]
    assert any("/opt/venv" in rest for rest in copies_from_builder)


def test_dockerfile_runs_as_non_root_user():
    users = [rest for keyword, rest in _dockerfile_instructions() if keyword == "USER"]
    assert users, "the image must drop root with a USER instruction"
    user = users[-1].split(":", 1)[0]
    assert user not in {"root", "0"}


def test_dockerfile_environment_and_defaults():
    instructions = _dockerfile_instructions()
    env_text = " ".join(rest for keyword, rest in instructions if keyword == "ENV")
    assert "LINLI_CONFIG_DIR=/app/config" in env_text
    assert "PYTHONUNBUFFERED=1" in env_text
    cmds = [rest for keyword, rest in instructions if keyword == "CMD"]
    assert json.loads(cmds[-1]) == ["python", "-m", "services.intake"]
    exposed = {
        port.split("/")[0]
        for keyword, rest in instructions
        if keyword == "EXPOSE"
        for port in rest.split()
    }
    assert {str(p) for p in SERVICE_PORTS.values()} <= exposed
    installs = " ".join(rest for keyword, rest in instructions if keyword == "RUN")
    assert re.search(r"pip install [^&]*\.(\s|$)", installs), "pip install . of the repo"


def test_dockerfile_bakes_in_no_secrets():
    for keyword, rest in _dockerfile_instructions():
        if keyword in {"ENV", "ARG"}:
            assert not re.search(r"SECRET|PASSWORD|TOKEN|API_KEY", rest, re.IGNORECASE), rest


def test_dockerfile_copy_sources_exist_in_the_context():
    patterns = _dockerignore_patterns()
    checked = 0
    for keyword, rest in _dockerfile_instructions():
        if keyword not in {"COPY", "ADD"}:
            continue
        flags, sources = _copy_sources(rest)
        if "from" in flags:
            continue
        for source in sources:
            path = REPO / source
            if source.rstrip("/") == "deploy/config" and not path.exists():
                continue  # reference data added separately
            assert path.exists(), f"COPY source {source!r} is not in the repository"
            if source not in {".", "./"}:
                assert not _is_dockerignored(source, patterns), f"{source!r} is .dockerignored"
            checked += 1
    assert checked


def test_dockerignore_keeps_local_state_out_of_the_context():
    patterns = _dockerignore_patterns()
    for path in (".git", ".venv", ".state", "tests", "shared/__pycache__", "deploy/.env"):
        assert _is_dockerignored(path, patterns), path
    kept = ("pyproject.toml", "README.md", "shared/settings.py", "services", "deploy/config/a.yaml")
    for path in kept:
        assert not _is_dockerignored(path, patterns), path
