"""deploy/k8s, checked offline: rendered by kustomize, every object validated against its schema.

Kubernetes' own kinds are validated against the API's JSON schemas that the kubernetes-validate wheel ships (the
strict variants: an unknown field fails, as `kubectl apply --validate=strict` would). The operators' kinds (KEDA's
ScaledObject, the Prometheus Operator's ServiceMonitor and PrometheusRule, Strimzi's Kafka, KafkaNodePool and
KafkaTopic) are validated against the openAPIV3Schema of their CRDs, which scripts/install-k8s-tools.sh generates
from each project's API types at a pinned release, made strict the same way. Then what no schema can know: the
environment each container gets is what its service's settings class reads, probes and ports agree, the KEDA
triggers name the consumer groups and topics of loa_core.contracts, Secrets are referenced and never committed.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import referencing
import referencing.jsonschema
import yaml

from loa_archiver.settings import ArchiverSettings
from loa_core.contracts import ALL_TOPICS, consumer_groups, group_id
from loa_core.settings import CommonSettings
from loa_dev import k8s
from loa_dev.configref import variables_read
from loa_ingest.settings import IngestSettings
from loa_metrics.settings import MetricsSettings
from loa_publisher.auth import Secrets
from loa_publisher.settings import PublisherSettings
from loa_transcode.settings import TranscodeSettings

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
CACHE = Path(os.environ.get("LOA_CACHE_DIR", REPO / ".cache"))
KUSTOMIZE = CACHE / "bin" / "kustomize"
CRD_DIR = CACHE / "k8s-schemas"
SETUP_HINT = "run scripts/setup.sh --test (scripts/install-k8s-tools.sh builds kustomize and the CRD schemas)"
# The Kubernetes release the manifests are checked against (KEDA 2.20 supports 1.32 to 1.34).
KUBERNETES_VERSION = "1.33.0"

KUSTOMIZATIONS = ("base", "overlays/single-node", "overlays/city", "overlays/external-kafka")
OVERLAYS = KUSTOMIZATIONS[1:]
SETTINGS: dict[str, type[CommonSettings]] = {
    "ingest": IngestSettings,
    "transcode": TranscodeSettings,
    "publisher": PublisherSettings,
    "metrics": MetricsSettings,
    "archiver": ArchiverSettings,
}
PORTS = {"ingest": 8001, "transcode": 8002, "publisher": 8003, "metrics": 8004, "archiver": 8006}
SECRETS_EXAMPLE = K8S / "secrets.example.yaml"
PLACEHOLDER = re.compile(r"^REPLACE_WITH_[A-Z0-9_]+$")


@cache
def render(kustomization: str) -> tuple[dict[str, Any], ...]:
    assert KUSTOMIZE.is_file(), f"{KUSTOMIZE} is missing: {SETUP_HINT}"
    out = subprocess.run(
        [str(KUSTOMIZE), "build", str(K8S / kustomization)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, f"kustomize build {kustomization} failed:\n{out.stderr}"
    return tuple(d for d in yaml.safe_load_all(out.stdout) if d)


def of_kind(objects: tuple[dict[str, Any], ...], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def by_name(objects: tuple[dict[str, Any], ...], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in of_kind(objects, kind)}


# --- Schemas ------------------------------------------------------------------------------------------------------


@cache
def kubernetes_schemas() -> tuple[Path, referencing.Registry[Any]]:
    root = resources.files("kubernetes_validate") / "kubernetes-json-schema" / f"v{KUBERNETES_VERSION}-local-strict"
    folder = Path(str(root))
    definitions = json.loads((folder / "_definitions.json").read_text("utf-8"))
    # Registered under its $id (https://kubernetes.io/api/_definitions.json), which every kind's schema refers to.
    registry: referencing.Registry[Any] = referencing.Resource.from_contents(definitions) @ referencing.Registry()
    return folder, registry


def strict(schema: Any) -> Any:
    """A CRD's structural schema as the API server applies it: fields it does not declare are refused, except
    where it keeps unknown fields (x-kubernetes-preserve-unknown-fields) or declares a map (additionalProperties)."""
    if isinstance(schema, dict):
        schema = {k: strict(v) for k, v in schema.items()}
        if isinstance(schema.get("pattern"), str) and "(?i)" in schema["pattern"]:
            # Go's regexp takes a flag group anywhere, Python's only at the start (same meaning: the whole pattern).
            schema["pattern"] = "(?i)" + schema["pattern"].replace("(?i)", "")
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


@cache
def crd_schemas() -> dict[tuple[str, str], Any]:
    """(apiVersion, kind) → the strict schema of that version of the custom resource."""
    assert CRD_DIR.is_dir(), f"{CRD_DIR} is missing: {SETUP_HINT}"
    schemas: dict[tuple[str, str], Any] = {}
    for path in sorted(CRD_DIR.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text("utf-8"))
        for version in crd["spec"]["versions"]:
            api_version = f"{crd['spec']['group']}/{version['name']}"
            schemas[(api_version, crd["spec"]["names"]["kind"])] = strict(version["schema"]["openAPIV3Schema"])
    return schemas


def validate(obj: dict[str, Any]) -> None:
    key = (obj["apiVersion"], obj["kind"])
    crds = crd_schemas()
    if key in crds:
        jsonschema.validate(obj, crds[key], cls=jsonschema.Draft7Validator)
        # A custom resource's metadata is an ObjectMeta like any object's; its CRD schema leaves it open.
        validate_metadata(obj["metadata"])
        return
    folder, registry = kubernetes_schemas()
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", obj["apiVersion"])
    path = folder / f"{obj['kind'].lower()}-{group_version}.json"
    assert path.is_file(), f"no schema for {key} in Kubernetes {KUBERNETES_VERSION} nor in {CRD_DIR}"
    schema = json.loads(path.read_text("utf-8"))
    jsonschema.Draft202012Validator(schema, registry=registry).validate(obj)


def validate_metadata(metadata: dict[str, Any]) -> None:
    _folder, registry = kubernetes_schemas()
    schema = {
        "$ref": "https://kubernetes.io/api/_definitions.json#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    }
    jsonschema.Draft202012Validator(schema, registry=registry).validate(metadata)


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_every_rendered_object_is_valid_against_its_schema(kustomization: str) -> None:
    objects = render(kustomization)
    assert objects
    for obj in objects:
        try:
            validate(obj)
        except jsonschema.ValidationError as error:
            where = "/".join(str(p) for p in error.absolute_path)
            pytest.fail(f"{kustomization}: {obj['kind']} {obj['metadata']['name']}: {where}: {error.message}")


def test_the_strict_schemas_refuse_what_the_api_server_would() -> None:
    """The validation is not a formality: a misspelt field fails for a built-in kind and for each operator's."""
    deployment = copy.deepcopy(by_name(render("base"), "Deployment")["transcode"])
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {}
    with pytest.raises(jsonschema.ValidationError, match="livenessprobe"):
        validate(deployment)
    scaled = copy.deepcopy(by_name(render("base"), "ScaledObject")["transcode"])
    scaled["spec"]["maxReplicas"] = 6
    with pytest.raises(jsonschema.ValidationError, match="maxReplicas"):
        validate(scaled)
    topic = copy.deepcopy(of_kind(render("overlays/city"), "KafkaTopic")[0])
    topic["spec"]["partition"] = topic["spec"].pop("partitions")
    with pytest.raises(jsonschema.ValidationError, match="partition"):
        validate(topic)
    # A topic's config is a free map in Strimzi's CRD (x-kubernetes-preserve-unknown-fields): any key passes.
    topic = copy.deepcopy(of_kind(render("overlays/city"), "KafkaTopic")[0])
    topic["spec"]["config"]["any.broker.setting"] = 1
    validate(topic)
    topic["metadata"]["labels"]["strimzi.io/cluster"] = 3
    with pytest.raises(jsonschema.ValidationError, match="3"):
        validate(topic)
    monitor = copy.deepcopy(of_kind(render("base"), "ServiceMonitor")[0])
    monitor["spec"]["endpoint"] = []
    with pytest.raises(jsonschema.ValidationError, match="endpoint"):
        validate(monitor)


def test_generated_manifests_equal_what_the_contracts_and_rules_give() -> None:
    for path, text in k8s.generated().items():
        assert path.read_text("utf-8") == text, f"{path.relative_to(REPO)} is stale: run python -m loa_dev.k8s"


# --- Environment and probes ---------------------------------------------------------------------------------------


def container_env(objects: tuple[dict[str, Any], ...], container: dict[str, Any]) -> dict[str, str]:
    """Every variable a container gets, by name, with where it comes from (a value, a ConfigMap key, a Secret)."""
    config_maps = by_name(objects, "ConfigMap")
    names: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            config = config_maps[source["configMapRef"]["name"]]
            names.update({key: f"configmap {config['metadata']['name']}" for key in config["data"]})
    for var in container.get("env", []):
        names[var["name"]] = "value" if "value" in var else "valueFrom"
    return names


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_every_variable_a_container_gets_is_read_by_its_settings_class(kustomization: str) -> None:
    objects = render(kustomization)
    deployments = by_name(objects, "Deployment")
    assert set(deployments) == set(SETTINGS)
    for service, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        known = variables_read(SETTINGS[service])
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            env = container_env(objects, container)
            unknown = {name: origin for name, origin in env.items() if name not in known}
            assert not unknown, f"{kustomization}: {service} gets variables {SETTINGS[service].__name__} never reads"
    # As in compose: metrics reads no storage, so it gets neither the storage settings nor the S3 credentials.
    (metrics,) = deployments["metrics"]["spec"]["template"]["spec"]["containers"]
    assert not [name for name in container_env(objects, metrics) if name.startswith(("LOA_S3_", "LOA_STORAGE_"))]


def example_secrets() -> dict[str, dict[str, Any]]:
    return {s["metadata"]["name"]: s for s in yaml.safe_load_all(SECRETS_EXAMPLE.read_text("utf-8"))}


# The Secrets a container takes whole as variables (envFrom), each optional: ingest Loa's platform apps, the publisher
# the channels' credentials given by hand, metrics the platforms' feedback webhooks' keys.
ENV_FROM_SECRETS = {
    "ingest": ["loa-platform-apps"],
    "publisher": ["loa-channel-secrets"],
    "metrics": ["loa-feedback-webhooks"],
}


def test_the_secrets_taken_whole_are_optional_and_read_by_their_service_only() -> None:
    """loa-platform-apps: variables IngestSettings reads; loa-feedback-webhooks: variables MetricsSettings reads;
    loa-channel-secrets: LOA_SECRET_<CHANNEL>_<NAME> variables, which loa_publisher.auth reads by name."""
    for kustomization in KUSTOMIZATIONS:
        for deployment in of_kind(render(kustomization), "Deployment"):
            for container in deployment["spec"]["template"]["spec"]["containers"]:
                refs = [s["secretRef"] for s in container.get("envFrom", []) if "secretRef" in s]
                assert [r["name"] for r in refs] == ENV_FROM_SECRETS.get(deployment["metadata"]["name"], [])
                assert all(r["optional"] is True for r in refs)
    example = example_secrets()
    assert set(example["loa-platform-apps"]["stringData"]) <= variables_read(IngestSettings)
    assert set(example["loa-feedback-webhooks"]["stringData"]) <= variables_read(MetricsSettings)
    for key in example["loa-channel-secrets"]["stringData"]:
        channel, name = "phuong-youtube", key.removeprefix("LOA_SECRET_PHUONG_YOUTUBE_").lower()
        assert Secrets.env_name(channel, name) == key


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_the_services_that_keep_secrets_read_the_key_file_and_share_the_service_token(kustomization: str) -> None:
    """ingest and the publisher refuse to start without the operator's key (loa_core.secrets): each mounts the Secret
    loa-secret-key and LOA_SECRET_KEY_FILE names the mounted file; the publisher's LOA_SERVICE_TOKEN and ingest's
    LOA_SERVICE_TOKEN_HASHES (and the publisher's, for metrics' token) come from loa-secrets; ingest knows the
    address people reach it at."""
    objects = render(kustomization)
    for name, deployment in by_name(objects, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        env = {v["name"]: v for v in container.get("env", [])}
        key_volumes = {v["name"] for v in pod["volumes"] if v.get("secret", {}).get("secretName") == "loa-secret-key"}
        if name not in {"ingest", "publisher"}:
            assert not key_volumes and "LOA_SECRET_KEY_FILE" not in env, name
            continue
        (volume,) = key_volumes
        (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume]
        assert mount["readOnly"] is True
        assert env["LOA_SECRET_KEY_FILE"]["value"] == f"{mount['mountPath']}/secret-key"
        assert "LOA_SECRET_KEY" not in env
    ingest, publisher, metrics = (
        {v["name"]: v for v in by_name(objects, "Deployment")[name]["spec"]["template"]["spec"]["containers"][0]["env"]}
        for name in ("ingest", "publisher", "metrics")
    )
    assert publisher["LOA_SERVICE_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "loa-secrets"
    assert metrics["LOA_SERVICE_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "loa-secrets"  # it polls with them
    assert ingest["LOA_SERVICE_TOKEN_HASHES"]["valueFrom"]["secretKeyRef"]["name"] == "loa-secrets"
    # Metrics takes connected TikTok and Zalo channels' access tokens from the publisher, with the same token.
    assert publisher["LOA_SERVICE_TOKEN_HASHES"]["valueFrom"]["secretKeyRef"]["name"] == "loa-secrets"
    assert metrics["LOA_PUBLISHER_URL"]["value"] == "http://publisher:8003"
    assert "LOA_SERVICE_TOKEN" not in ingest and "LOA_SERVICE_TOKEN_HASHES" not in metrics
    assert ingest["LOA_PUBLIC_URL"]["value"].startswith(("https://", "http://"))
    assert "secret-key" in example_secrets()["loa-secret-key"]["stringData"]


def test_secrets_are_referenced_never_committed() -> None:
    example = example_secrets()
    for secret in example.values():
        validate(secret)
        for key, value in secret["stringData"].items():
            assert PLACEHOLDER.match(value), f"{key} in {SECRETS_EXAMPLE.name} must be a REPLACE_WITH_… placeholder"
    for kustomization in KUSTOMIZATIONS:
        objects = render(kustomization)
        assert not of_kind(objects, "Secret"), f"{kustomization} renders a Secret: secrets never live in the repo"
        referenced: set[str] = set()
        for deployment in of_kind(objects, "Deployment"):
            for volume in deployment["spec"]["template"]["spec"]["volumes"]:
                if "secret" in volume:  # a Secret mounted as files: every key of the example's
                    assert volume["secret"]["secretName"] in example, volume
            for container in deployment["spec"]["template"]["spec"]["containers"]:
                for var in container.get("env", []):
                    ref = var.get("valueFrom", {}).get("secretKeyRef")
                    if ref:
                        assert ref["key"] in example[ref["name"]]["stringData"], f"{ref} is not in the example"
                        assert ref["key"] == var["name"], "a Secret's key is the variable it fills"
                        referenced.add(ref["key"])
        for config in of_kind(objects, "ConfigMap"):
            for key, value in config.get("data", {}).items():
                assert not re.search(r"SECRET|PASSWORD|TOKEN_HASHES|ACCESS_KEY", key), f"{key} belongs in a Secret"
                assert not re.search(r"://[^/\s:@]+:[^/\s@]+@", value), f"{key} carries credentials in its URL"
        assert referenced == set(example["loa-secrets"]["stringData"]), "every key of loa-secrets is used"


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_probes_ports_and_resources(kustomization: str) -> None:
    objects = render(kustomization)
    services = by_name(objects, "Service")
    for name, deployment in by_name(objects, "Deployment").items():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        env = {v["name"]: v.get("value") for v in container.get("env", [])}
        assert env["LOA_HTTP_PORT"] == str(PORTS[name])
        http = next(p for p in container["ports"] if p["name"] == "http")
        assert http["containerPort"] == PORTS[name]
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
        resources = container["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"]) and "memory" in resources["limits"]
        # The Service the ServiceMonitor selects, on the port named http (the job label is the Service's name).
        assert services[name]["spec"]["ports"][0]["targetPort"] == "http"
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert services[name]["spec"]["selector"].items() <= labels.items()
        budgets = [
            p
            for p in of_kind(objects, "PodDisruptionBudget")
            if p["spec"]["selector"]["matchLabels"].items() <= labels.items()
        ]
        assert len(budgets) == 1, f"{name}: one PodDisruptionBudget"
    monitors = {
        m["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] for m in of_kind(objects, "ServiceMonitor")
    }
    assert monitors == set(SETTINGS)


def test_pods_match_their_images() -> None:
    """What services/<name>/Dockerfile builds: the port, the unprivileged user owning /data, /data as the state."""
    for name, deployment in by_name(render("base"), "Deployment").items():
        dockerfile = (REPO / "services" / name / "Dockerfile").read_text("utf-8")
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert f"LOA_HTTP_PORT={PORTS[name]}" in dockerfile and f"EXPOSE {PORTS[name]}" in dockerfile
        uid = re.search(r"useradd .*--uid (\d+)", dockerfile)
        assert uid and pod["securityContext"]["runAsUser"] == int(uid.group(1))
        assert pod["securityContext"]["fsGroup"] == int(uid.group(1)), "the volume mounted on /data is the user's"
        config = by_name(render("base"), "ConfigMap")
        data_dir = next(c["data"]["LOA_DATA_DIR"] for n, c in config.items() if n.startswith("loa-config"))
        assert "LOA_DATA_DIR=/data" in dockerfile and data_dir == "/data"
        assert "/data" in {m["mountPath"] for m in container["volumeMounts"]}
    (archiver,) = by_name(render("base"), "Deployment")["archiver"]["spec"]["template"]["spec"]["containers"]
    rtmp = next(p for p in archiver["ports"] if p["name"] == "rtmp")
    assert f"EXPOSE {rtmp['containerPort']}" in (REPO / "services" / "archiver" / "Dockerfile").read_text("utf-8")


# --- Kafka and KEDA -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kustomization", OVERLAYS)
def test_every_pod_waits_for_the_topics_before_its_service_could_create_them(kustomization: str) -> None:
    """A service would create a missing topic itself; on Kubernetes the topics come from the cluster's side."""
    objects = render(kustomization)
    config = next(c for c in of_kind(objects, "ConfigMap") if c["metadata"]["name"].startswith("loa-wait-for-topics"))
    for deployment in of_kind(objects, "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        (init,) = pod["initContainers"]
        assert init["command"] == ["python", "/etc/loa-init/wait_for_topics.py"]
        (mount,) = [m for m in init["volumeMounts"] if m["mountPath"] == "/etc/loa-init"]
        (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
        assert volume["configMap"]["name"] == config["metadata"]["name"]
        assert "wait_for_topics.py" in config["data"]


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_keda_scales_on_the_contract_groups_and_never_past_the_partitions(kustomization: str) -> None:
    objects = render(kustomization)
    deployments = by_name(objects, "Deployment")
    scaled = by_name(objects, "ScaledObject")
    assert set(scaled) == {"transcode", "publisher"}
    groups = consumer_groups()
    for name, obj in scaled.items():
        (trigger,) = obj["spec"]["triggers"]
        meta = trigger["metadata"]
        assert trigger["type"] == "kafka"
        assert meta["consumerGroup"] == group_id(name)
        (topic,) = [t for t in groups[name] if t.full_name() == meta["topic"]]
        assert obj["spec"]["minReplicaCount"] >= 1
        assert obj["spec"]["maxReplicaCount"] <= topic.partitions
        target = deployments[obj["spec"]["scaleTargetRef"]["name"]]
        (container,) = target["spec"]["template"]["spec"]["containers"]
        assert meta["bootstrapServersFromEnv"] in container_env(objects, container)
        assert "replicas" not in target["spec"], "KEDA owns the replica count"


@pytest.mark.parametrize("kustomization", ["overlays/single-node", "overlays/city"])
def test_strimzi_topics_are_the_contract_topics(kustomization: str) -> None:
    objects = render(kustomization)
    topics = {t["spec"]["topicName"]: t for t in of_kind(objects, "KafkaTopic")}
    assert set(topics) == {spec.full_name() for spec in ALL_TOPICS}
    (kafka,) = of_kind(objects, "Kafka")
    for spec in ALL_TOPICS:
        topic = topics[spec.full_name()]
        assert topic["spec"]["partitions"] == spec.partitions
        assert topic["spec"]["config"]["retention.ms"] == spec.retention_ms
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
    # Each service reaches the brokers through the Kafka resource's bootstrap Service.
    config = next(c for c in of_kind(objects, "ConfigMap") if c["metadata"]["name"].startswith("loa-config"))
    assert config["data"]["LOA_KAFKA_BOOTSTRAP"].startswith(f"{kafka['metadata']['name']}-kafka-bootstrap")
    pools = of_kind(objects, "KafkaNodePool")
    brokers = sum(p["spec"]["replicas"] for p in pools if "broker" in p["spec"]["roles"])
    replication = int(kafka["spec"]["kafka"]["config"]["default.replication.factor"])
    assert replication <= brokers
    assert int(kafka["spec"]["kafka"]["config"]["min.insync.replicas"]) <= replication


# --- Monitoring ---------------------------------------------------------------------------------------------------


def test_every_dashboard_is_provisioned_and_the_rules_are_the_prometheus_files() -> None:
    objects = render("base")
    dashboards = by_name(objects, "ConfigMap")["loa-grafana-dashboards"]
    assert dashboards["metadata"]["labels"]["grafana_dashboard"] == "1"
    files = sorted(p.name for p in (REPO / "deploy" / "grafana" / "dashboards").glob("*.json"))
    assert sorted(dashboards["data"]) == files
    for name in files:
        committed = json.loads((REPO / "deploy" / "grafana" / "dashboards" / name).read_text("utf-8"))
        assert json.loads(dashboards["data"][name]) == committed
    datasource = yaml.safe_load(by_name(objects, "ConfigMap")["loa-grafana-datasource"]["data"]["loa-datasource.yaml"])
    uids = {ds["uid"] for ds in datasource["datasources"]}
    assert "loa-prometheus" in uids
    (rule,) = of_kind(objects, "PrometheusRule")
    groups = [g["name"] for g in rule["spec"]["groups"]]
    expected = [
        g["name"]
        for path in sorted((REPO / "deploy" / "prometheus" / "rules").glob("*.yml"))
        for g in yaml.safe_load(path.read_text("utf-8"))["groups"]
    ]
    assert groups == expected


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
@pytest.mark.parametrize("service", ["metrics", "archiver"])
def test_replicas_on_the_shared_database(kustomization: str, service: str) -> None:
    """Two metrics replicas share the projection in PostgreSQL (tests/integration/test_metrics_replicas.py), two
    archivers their stream keys, archives and leases (tests/integration/test_archiver_replicas.py), so they are
    rolled one at a time, keep nothing on a volume of their own, and one may be down at a time."""
    objects = render(kustomization)
    metrics = by_name(objects, "Deployment")[service]
    assert metrics["spec"]["replicas"] >= 2
    assert metrics["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
    }
    pod = metrics["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {v["name"]: v for v in container["env"]}
    assert env["LOA_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "loa-secrets", "key": "LOA_DATABASE_URL"}
    assert not [v for v in pod["volumes"] if "persistentVolumeClaim" in v]
    assert f"{service}-data" not in by_name(objects, "PersistentVolumeClaim")
    (budget,) = [p for p in of_kind(objects, "PodDisruptionBudget") if p["metadata"]["name"] == service]
    assert budget["spec"]["maxUnavailable"] == 1
