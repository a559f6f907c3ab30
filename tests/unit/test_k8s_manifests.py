"""Offline checks of the Kubernetes manifests in deploy/k8s (no cluster is needed).

Each overlay is rendered with the pinned kustomize (built from its Go module into the cache
on first use), every built-in resource is validated against the Kubernetes JSON schemas that
the ``kubernetes-validate`` package ships (strict: unknown fields and wrong types fail), and
the custom resources, for which no offline schema exists, are held to the project's own rules:
three Kafka brokers with replication 3 and min ISR 2, three MongoDB members with one SCRAM user
per service database, KEDA never scaling a service past the partitions it reads.
"""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from services.ops.infra.install import ensure_kustomize
from shared.kafka.consumer import consumer_group
from shared.reference.loader import load_reference
from shared.settings import SERVICE_PORTS, Settings
from shared.topics import SERVICES, catalogue

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
OVERLAYS = ("dev", "production")
# The oldest Kubernetes minor still commonly run, and the newest the validator knows.
KUBERNETES_VERSIONS = ("1.30", kubernetes_validate.utils.latest_version())
CUSTOM_GROUPS = ("kafka.strimzi.io/", "mongodbcommunity.mongodb.com/", "keda.sh/")


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, Any]]]:
    kustomize = ensure_kustomize(progress=print)
    out: dict[str, list[dict[str, Any]]] = {}
    for overlay in OVERLAYS:
        proc = subprocess.run(
            [str(kustomize), "build", str(K8S / "overlays" / overlay)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, f"kustomize build {overlay} failed:\n{proc.stderr}"
        out[overlay] = [doc for doc in yaml.safe_load_all(proc.stdout) if doc]
    return out


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def named(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [d for d in of_kind(docs, kind) if d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def settings_of(docs: list[dict[str, Any]]) -> dict[str, str]:
    return named(docs, "ConfigMap", "linli-settings")["data"]


def pod_specs(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for doc in docs:
        if doc["kind"] in ("Deployment", "Job"):
            yield doc["metadata"]["name"], doc["spec"]["template"]["spec"]


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def received_topics(service: str) -> set[str]:
    """The topics a service consumes, as its generated AsyncAPI document declares them."""
    doc = json.loads((REPO / "docs" / "asyncapi" / f"{service}.json").read_text())
    channels = doc["channels"]
    return {
        channels[op["channel"]["$ref"].rsplit("/", 1)[1]]["address"]
        for op in doc["operations"].values()
        if op["action"] == "receive"
    }


def partitions_by_topic(settings: dict[str, str]) -> dict[str, int]:
    default = int(settings.get("LINLI_TOPIC_PARTITIONS", Settings().topic_partitions))
    departments = load_reference(Settings().config_dir).departments
    return {t.name: t.partitions or default for t in catalogue(departments)}


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_builtin_resource_is_valid_kubernetes(rendered, overlay: str, version: str) -> None:
    builtin = [d for d in rendered[overlay] if not d["apiVersion"].startswith(CUSTOM_GROUPS)]
    assert len(builtin) > 10
    for doc in builtin:
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_validator_catches_what_it_should(rendered) -> None:
    """The schema check is not a formality: a string for replicas or an unknown field fails."""
    deployment = copy.deepcopy(named(rendered["production"], "Deployment", "linli-dispatch"))
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[-1], strict=True)
    deployment = copy.deepcopy(named(rendered["production"], "Deployment", "linli-dispatch"))
    deployment["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[-1], strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_has_a_deployment_service_and_disruption_budget(rendered, overlay) -> None:
    docs = rendered[overlay]
    for service in SERVICES:
        name = f"linli-{service}"
        deployment = named(docs, "Deployment", name)
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["command"] == ["python", "-m", f"services.{service}"]
        assert container["ports"] == [{"name": "http", "containerPort": SERVICE_PORTS[service]}]
        service_doc = named(docs, "Service", name)
        assert service_doc["spec"]["ports"][0]["port"] == SERVICE_PORTS[service]
        assert service_doc["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
        budget = named(docs, "PodDisruptionBudget", name)
        assert budget["spec"]["selector"] == deployment["spec"]["selector"]
        # maxUnavailable, not minAvailable: a budget must never block draining a node that
        # runs the only replica (the dev overlay has one of each).
        assert budget["spec"]["maxUnavailable"] == 1
    replicas = {d["metadata"]["name"]: d["spec"]["replicas"] for d in of_kind(docs, "Deployment")}
    assert set(replicas.values()) == ({1} if overlay == "dev" else {2})


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_is_probed_limited_and_locked_down(rendered, overlay: str) -> None:
    for name, spec in pod_specs(rendered[overlay]):
        assert spec["automountServiceAccountToken"] is False, name
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] == 10001, name
        for container in spec["containers"]:
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]), name
            assert {"cpu", "memory"} <= set(resources["limits"]), name
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            assert {m["mountPath"] for m in container["volumeMounts"]} == {"/tmp"}, name
            if name == "linli-topics-apply":
                continue
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
            assert container["startupProbe"]["httpGet"]["path"] == "/healthz", name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_settings_are_settings_the_services_know(rendered, overlay: str) -> None:
    known = {f"LINLI_{name.upper()}" for name in Settings.model_fields}
    settings = settings_of(rendered[overlay])
    assert set(settings) <= known, set(settings) - known
    for name, spec in pod_specs(rendered[overlay]):
        for container in spec["containers"]:
            assert set(env_of(container)) <= known, name
    values = {k.removeprefix("LINLI_").lower(): v for k, v in settings.items()}
    secrets = {
        "resident_secret": "a secret from the Secret store",
        "consult_secret": "another",
        "web_token_secret": "and another",
    }
    Settings(**values, **secrets)  # each value parses


def test_production_settings_replicate_and_keep_secrets_out_of_git(rendered) -> None:
    docs = rendered["production"]
    settings = settings_of(docs)
    assert settings["LINLI_ENV"] == "production"
    assert settings["LINLI_TOPIC_REPLICATION"] == "3"
    assert of_kind(docs, "Secret") == [], "production secrets are created by hand, never in git"
    image = named(docs, "Deployment", "linli-intake")["spec"]["template"]["spec"]
    assert image["containers"][0]["image"] != "linli", "production names its registry's image"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_come_from_the_secret_store_never_from_settings(rendered, overlay: str) -> None:
    docs = rendered[overlay]
    secret_settings = {"LINLI_RESIDENT_SECRET", "LINLI_SMTP_PASSWORD", "LINLI_SMS_GATEWAY_SECRET",
                       "LINLI_WEB_TOKEN_SECRET"}  # fmt: skip
    assert not secret_settings & set(settings_of(docs))
    mongo = named(docs, "MongoDBCommunity", "linli-mongo")
    operator_written = {u["connectionStringSecretName"] for u in mongo["spec"]["users"]}
    present = {d["metadata"]["name"] for d in of_kind(docs, "Secret")}
    for name, spec in pod_specs(docs):
        for container in spec["containers"]:
            for env in env_of(container).values():
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if env["name"] in secret_settings | {"LINLI_MONGODB_URL"}:
                    assert ref, f"{name}: {env['name']} must come from a Secret"
                if ref and overlay == "dev":
                    assert ref["name"] in present | operator_written, ref


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kafka_is_three_brokers_with_replication_three_and_min_isr_two(rendered, overlay) -> None:
    docs = rendered[overlay]
    (kafka,) = of_kind(docs, "Kafka")
    assert kafka["apiVersion"] == "kafka.strimzi.io/v1"
    assert "zookeeper" not in kafka["spec"]
    assert "replicas" not in kafka["spec"]["kafka"], "replicas belong to the node pools"
    pools = [
        p
        for p in of_kind(docs, "KafkaNodePool")
        if p["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
    ]
    assert all(p["apiVersion"] == "kafka.strimzi.io/v1" for p in pools)
    brokers = sum(p["spec"]["replicas"] for p in pools if "broker" in p["spec"]["roles"])
    controllers = sum(p["spec"]["replicas"] for p in pools if "controller" in p["spec"]["roles"])
    assert brokers == 3
    assert controllers in (3, 5)
    config = kafka["spec"]["kafka"]["config"]
    assert config["default.replication.factor"] == 3
    assert config["min.insync.replicas"] == 2
    assert config["offsets.topic.replication.factor"] == 3
    assert config["transaction.state.log.replication.factor"] == 3
    assert config["transaction.state.log.min.isr"] == 2
    assert config["auto.create.topics.enable"] is False
    assert config["unclean.leader.election.enable"] is False
    bootstrap = f"{kafka['metadata']['name']}-kafka-bootstrap:9092"
    assert settings_of(docs)["LINLI_KAFKA_BOOTSTRAP"] == bootstrap
    assert settings_of(docs)["LINLI_TOPIC_REPLICATION"] == "3"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_mongodb_is_a_three_member_replica_set_with_a_user_per_service(rendered, overlay) -> None:
    docs = rendered[overlay]
    mongo = named(docs, "MongoDBCommunity", "linli-mongo")
    spec = mongo["spec"]
    assert mongo["apiVersion"] == "mongodbcommunity.mongodb.com/v1"
    assert spec["members"] == 3
    assert spec["type"] == "ReplicaSet"
    assert spec["security"]["authentication"]["modes"] == ["SCRAM"]
    assert spec["additionalConnectionStringConfig"]["w"] == "majority"
    assert spec["additionalConnectionStringConfig"]["journal"] is True
    users = {u["name"]: u for u in spec["users"]}
    settings = Settings()
    for service in SERVICES:
        user = users[f"linli-{service}"]
        # A service may read and write its own database, and nothing else.
        assert user["roles"] == [{"name": "readWrite", "db": settings.database_name(service)}]
        container = named(docs, "Deployment", f"linli-{service}")["spec"]["template"]["spec"]
        url = env_of(container["containers"][0])["LINLI_MONGODB_URL"]["valueFrom"]
        assert url["secretKeyRef"]["name"] == user["connectionStringSecretName"]
    assert len(users) == len(SERVICES)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_keda_scales_consumers_on_their_own_lag_and_never_past_partitions(rendered, overlay):
    docs = rendered[overlay]
    settings = settings_of(docs)
    partitions = partitions_by_topic(settings)
    deployments = {d["metadata"]["name"] for d in of_kind(docs, "Deployment")}
    scaled = {s["spec"]["scaleTargetRef"]["name"]: s for s in of_kind(docs, "ScaledObject")}
    consumers = [s for s in SERVICES if received_topics(s)]  # not consult, not web
    assert set(scaled) == {f"linli-{service}" for service in consumers} <= deployments
    for service in consumers:
        spec = scaled[f"linli-{service}"]["spec"]
        for trigger in spec["triggers"]:  # KEDA's metadata is a map of strings
            assert all(isinstance(v, str) for v in trigger["metadata"].values()), trigger
        kafka_triggers = [t["metadata"] for t in spec["triggers"] if t["type"] == "kafka"]
        assert kafka_triggers, service
        topics = {t["topic"] for t in kafka_triggers}
        assert topics <= received_topics(service), f"{service} does not read {topics}"
        for trigger in kafka_triggers:
            assert trigger["consumerGroup"] == consumer_group("", service, trigger["topic"])
            assert trigger["bootstrapServers"] == settings["LINLI_KAFKA_BOOTSTRAP"]
            assert trigger.get("allowIdleConsumers", "false") == "false"
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
        assert spec["maxReplicaCount"] <= min(partitions[t] for t in topics), service


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_topics_job_applies_the_catalogue(rendered, overlay: str) -> None:
    job = named(rendered[overlay], "Job", "linli-topics-apply")
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["linli", "topics", "apply"]
    assert container["envFrom"] == [{"configMapRef": {"name": "linli-settings"}}]


def peers(policy: dict[str, Any], port: int) -> list[dict[str, Any]]:
    return [
        peer
        for rule in policy["spec"].get("ingress", [])
        if any(p["port"] == port for p in rule.get("ports", []))
        for peer in rule.get("from", [])
    ]


def selects(policy: dict[str, Any], app: str) -> bool:
    selector = policy["spec"]["podSelector"]
    if not selector:
        return True
    if selector.get("matchLabels", {}).get("app.kubernetes.io/name") == app:
        return True
    if selector.get("matchLabels", {}).get("app.kubernetes.io/part-of") == "linli":
        return True
    return any(
        e["key"] == "app.kubernetes.io/name" and e["operator"] == "In" and app in e["values"]
        for e in selector.get("matchExpressions", [])
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_ingress_and_the_web_reach_intake_and_the_web(rendered, overlay: str) -> None:
    policies = of_kind(rendered[overlay], "NetworkPolicy")
    deny = [p for p in policies if p["spec"]["podSelector"] == {} and "ingress" not in p["spec"]]
    assert deny and deny[0]["spec"]["policyTypes"] == ["Ingress"], "no default deny"
    allowed = [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}},
        {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "linli-web"}}},
        # Prometheus, for /metrics (on the same port as the API).
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}},
    ]
    for app, port in (("linli-intake", 8081), ("linli-web", 8080)):
        reaching = [peer for p in policies if selects(p, app) for peer in peers(p, port)]
        assert reaching, f"nothing may reach {app}"
        assert all(peer in allowed for peer in reaching), reaching
    for app, port in (("linli-dispatch", 8082), ("linli-ledger", 8084)):
        reaching = [peer for p in policies if selects(p, app) for peer in peers(p, port)]
        assert allowed[0] not in reaching, f"the ingress must not reach {app}"


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses a mapping with the same key twice (kustomize keeps the last
    silently, so a merge that doubles a key changes the manifests without a word)."""

    def construct_mapping(self, node, deep=False):
        keys = [self.construct_object(key, deep=deep) for key, _ in node.value]
        doubled = sorted({str(k) for k in keys if keys.count(k) > 1})
        if doubled:
            raise yaml.constructor.ConstructorError(
                None, None, f"key(s) {doubled} twice", node.start_mark
            )
        return super().construct_mapping(node, deep=deep)


def test_no_manifest_file_holds_a_key_twice():
    files = sorted(K8S.rglob("*.yaml"))
    assert files
    for path in files:
        list(yaml.load_all(path.read_text(), Loader=_UniqueKeyLoader))
