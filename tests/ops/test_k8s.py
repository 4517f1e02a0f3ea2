"""deploy/k8s: every manifest parses, the core resources validate against the Kubernetes
schemas (kubernetes-validate ships them, so this runs offline), and the invariants hold:
Kafka of 3 KRaft nodes with RF 3 and min ISR 2, Cassandra 5.0 of 3 nodes, settings that the
engine accepts, probes and resources on every workload, a distinct worker id per ingest pod,
a PodDisruptionBudget and a Service per part, and monitoring that matches deploy/prometheus."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from typing import Any

import kubernetes_validate
import pytest
import yaml

from engine.config import Settings
from tests.ops.conftest import DEPLOY
from tests.ops.promql import rule_groups
from tests.ops.settings_check import replication, unknown_vars
from timeline.cli import API_PARTS, access_warning, parser

K8S = DEPLOY / "k8s"
NAMESPACE = "timeline"
CORE_KINDS = {
    "Namespace",
    "ConfigMap",
    "Service",
    "Deployment",
    "StatefulSet",
    "Job",
    "PodDisruptionBudget",
}
# oldest and newest Kubernetes versions the manifests are checked against
K8S_VERSIONS = ("1.28.0", kubernetes_validate.latest_version())
PARTS = {"ingest", "readers", "fanout", "index"}


def load() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                doc["__file__"] = path.name
                docs.append(doc)
    return docs


DOCS = load()


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [d for d in DOCS if d["kind"] == kind]


def one(kind: str) -> dict[str, Any]:
    found = of_kind(kind)
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def workloads() -> list[dict[str, Any]]:
    return of_kind("Deployment") + of_kind("StatefulSet")


def part(workload: dict[str, Any]) -> str:
    return str(workload["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"])


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return list(doc["spec"]["template"]["spec"]["containers"])


def config() -> dict[str, str]:
    return {k: str(v) for k, v in one("ConfigMap")["data"].items()}


def engine_command(container: dict[str, Any]) -> list[str]:
    """The `timeline` arguments a container runs (the image's entrypoint is `timeline`)."""
    if "command" in container:
        script = container["command"][-1]
        return script.split("exec timeline ", 1)[1].split()
    return list(container["args"])


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(kustomization["resources"]) == sorted(files)
    assert kustomization["namespace"] == NAMESPACE


def test_every_document_is_a_named_resource_in_the_namespace() -> None:
    names = Counter()
    for doc in DOCS:
        if doc["kind"] == "Kustomization":
            continue
        assert doc["apiVersion"] and doc["metadata"]["name"], doc["__file__"]
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == NAMESPACE, doc["metadata"]["name"]
        names[(doc["kind"], doc["metadata"]["name"])] += 1
    assert [k for k, n in names.items() if n > 1] == []


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_core_resources_validate_against_the_kubernetes_schema(version: str) -> None:
    checked = 0
    for doc in DOCS:
        if doc["kind"] not in CORE_KINDS:
            continue
        resource = {k: v for k, v in doc.items() if k != "__file__"}
        try:
            kubernetes_validate.validate(resource, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{doc['__file__']} {doc['kind']}/{doc['metadata']['name']}: {e}")
        checked += 1
    assert checked == len([d for d in DOCS if d["kind"] in CORE_KINDS]) >= 10


def test_the_schema_check_can_fail() -> None:
    bad = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {"replicas": "three", "selector": {}, "template": {}},
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSIONS[-1], strict=True)


def test_strimzi_kafka_three_kraft_nodes_rf3_min_isr_2() -> None:
    kafka = one("Kafka")
    assert kafka["apiVersion"] == "kafka.strimzi.io/v1beta2"
    annotations = kafka["metadata"]["annotations"]
    assert annotations["strimzi.io/node-pools"] == "enabled"
    assert annotations["strimzi.io/kraft"] == "enabled"
    cfg = kafka["spec"]["kafka"]["config"]
    assert cfg["default.replication.factor"] == 3
    assert cfg["min.insync.replicas"] == 2
    assert cfg["offsets.topic.replication.factor"] == 3
    assert cfg["transaction.state.log.replication.factor"] == 3
    assert cfg["transaction.state.log.min.isr"] == 2
    assert cfg["auto.create.topics.enable"] is False
    assert cfg["unclean.leader.election.enable"] is False
    assert "zookeeper" not in kafka["spec"]
    pools = [
        p
        for p in of_kind("KafkaNodePool")
        if p["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
    ]
    brokers = sum(p["spec"]["replicas"] for p in pools if "broker" in p["spec"]["roles"])
    controllers = sum(p["spec"]["replicas"] for p in pools if "controller" in p["spec"]["roles"])
    assert brokers == 3
    assert controllers == 3
    for pool in pools:
        assert pool["apiVersion"] == "kafka.strimzi.io/v1beta2"
        assert pool["spec"]["storage"]["type"] in {"jbod", "persistent-claim"}


def test_k8ssandra_cluster_three_nodes_of_cassandra_5() -> None:
    cluster = one("K8ssandraCluster")
    assert cluster["apiVersion"] == "k8ssandra.io/v1alpha1"
    cassandra = cluster["spec"]["cassandra"]
    assert str(cassandra["serverVersion"]).startswith("5.0.")
    assert sum(dc["size"] for dc in cassandra["datacenters"]) == 3
    # the engine has no Cassandra credentials settings, so authentication must be off; when
    # it gets them, turn auth on and pass K8ssandra's superuser secret to the pods
    credentials = [f.name for f in dataclasses.fields(Settings) if "password" in f.name]
    assert credentials == []
    assert cluster["spec"]["auth"] is False


def test_config_is_settings_the_engine_accepts() -> None:
    data = config()
    assert not unknown_vars(data), unknown_vars(data)
    assert "TIMELINE_WORKER_ID" not in data, "worker ids are leased, not set by hand"
    settings = Settings.from_env(data)
    assert settings.backend == "kafka-cassandra", "the clusters below, not the embedded default"
    assert settings.kafka_replication_factor == 3
    assert settings.host == "0.0.0.0"
    # the Services the operators create for the clusters above
    kafka = one("Kafka")
    port = kafka["spec"]["kafka"]["listeners"][0]["port"]
    assert settings.kafka_bootstrap == f"{kafka['metadata']['name']}-kafka-bootstrap:{port}"
    cluster = one("K8ssandraCluster")
    dcs = cluster["spec"]["cassandra"]["datacenters"]
    assert settings.cassandra_hosts == tuple(
        f"{cluster['metadata']['name']}-{dc['metadata']['name']}-service" for dc in dcs
    )
    want = {"class": "NetworkTopologyStrategy"} | {dc["metadata"]["name"]: 3 for dc in dcs}
    assert replication(settings) == want
    assert all(dc["size"] >= 3 for dc in dcs)


def test_every_workload_has_probes_resources_and_the_config() -> None:
    assert {part(w) for w in workloads()} == PARTS
    for w in workloads() + of_kind("Job"):
        name = w["metadata"]["name"]
        for c in containers(w):
            assert c["image"].startswith("timeline-engine"), name
            refs = [e["configMapRef"]["name"] for e in c["envFrom"]]
            assert refs == [one("ConfigMap")["metadata"]["name"]], name
            env = {e["name"]: e.get("value", "") for e in c.get("env", [])}
            assert not unknown_vars(env), name
            requests, limits = c["resources"]["requests"], c["resources"]["limits"]
            assert {"cpu", "memory"} <= set(requests), name
            assert "memory" in limits, name
            parser().parse_args(engine_command(c))  # the `timeline` command accepts it
            assert c["securityContext"]["allowPrivilegeEscalation"] is False, name
        assert w["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True, name
    for w in workloads():
        name = w["metadata"]["name"]
        for c in containers(w):
            ports = {p["name"]: p["containerPort"] for p in c["ports"]}
            assert ports == {"http": Settings.from_env(config()).port}, name
            ready, live = c["readinessProbe"]["httpGet"], c["livenessProbe"]["httpGet"]
            assert (ready["path"], ready["port"]) == ("/readyz", "http"), name
            assert (live["path"], live["port"]) == ("/healthz", "http"), name
            assert engine_command(c)[0] == part(w), name
        assert w["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 30, name
    job = one("Job")
    assert engine_command(containers(job)[0]) == ["migrate"]


def test_ingest_pods_lease_their_worker_ids() -> None:
    ingest = [w for w in workloads() if part(w) == "ingest"]
    assert [w["kind"] for w in ingest] == ["Deployment"], "pods need no ordinal"
    assert 2 <= ingest[0]["spec"]["replicas"] <= 1024
    for c in containers(ingest[0]):
        assert "TIMELINE_WORKER_ID" not in json.dumps(c), "worker ids are leased at start"


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def test_every_part_has_a_disruption_budget_and_a_service() -> None:
    pdbs = of_kind("PodDisruptionBudget")
    services = of_kind("Service")
    for w in workloads():
        name = w["metadata"]["name"]
        labels = w["spec"]["template"]["metadata"]["labels"]
        assert matches(w["spec"]["selector"]["matchLabels"], labels), name
        covering = [p for p in pdbs if matches(p["spec"]["selector"]["matchLabels"], labels)]
        assert len(covering) == 1, f"{name}: {len(covering)} PodDisruptionBudgets"
        pdb = covering[0]["spec"]
        assert pdb.get("maxUnavailable", 0) >= 1 or pdb["minAvailable"] < w["spec"]["replicas"]
        serving = [s for s in services if matches(s["spec"]["selector"], labels)]
        assert any(s["spec"].get("clusterIP") != "None" for s in serving), name
        port_names = {p["name"] for c in containers(w) for p in c["ports"]}
        for s in serving:
            assert {p["targetPort"] for p in s["spec"]["ports"]} <= port_names, name
        if w["kind"] == "StatefulSet":
            governing = [s for s in services if s["metadata"]["name"] == w["spec"]["serviceName"]]
            assert governing and governing[0]["spec"]["clusterIP"] == "None", name


def test_service_monitor_scrapes_one_service_per_part() -> None:
    monitor = one("ServiceMonitor")
    selector = monitor["spec"]["selector"]["matchLabels"]
    scraped = [s for s in of_kind("Service") if matches(selector, s["metadata"]["labels"])]
    by_part = {s["metadata"]["labels"]["app.kubernetes.io/component"]: s for s in scraped}
    assert len(scraped) == len(by_part) and set(by_part) == PARTS
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    for s in scraped:
        assert endpoint["port"] in {p["name"] for p in s["spec"]["ports"]}
        # the job label is the Service name: the alerts select job=~"timeline.*"
        assert s["metadata"]["name"].startswith("timeline")
    assert by_part["ingest"]["metadata"]["name"] == "timeline-ingest"


def test_prometheus_rules_match_deploy_prometheus() -> None:
    in_k8s = [g for r in of_kind("PrometheusRule") for g in r["spec"]["groups"]]
    files = sorted((DEPLOY / "prometheus" / "rules").glob("*.yml"))
    key = lambda g: g["name"]  # noqa: E731
    assert sorted(in_k8s, key=key) == sorted(rule_groups(files), key=key)


def test_tokens_come_from_a_secret_the_operator_creates() -> None:
    assert of_kind("Secret") == [], "the tokens Secret is created by the operator, not applied"
    assert not {"TIMELINE_TOKENS", "TIMELINE_AUTH"} & set(config()), "no tokens in the ConfigMap"
    serving = [w for w in workloads() if part(w) in API_PARTS]
    assert {part(w) for w in serving} == {"ingest", "readers"}
    for w in serving:
        for c in containers(w):
            (entry,) = [e for e in c.get("env", []) if e["name"] == "TIMELINE_TOKENS"]
            ref = entry["valueFrom"]["secretKeyRef"]
            assert ref == {"name": "timeline-tokens", "key": "TIMELINE_TOKENS"}, ref
            assert not ref.get("optional", False)
            # the ConfigMap alone (a missing Secret) would not serve the API open
            with pytest.raises(ValueError, match="refusing to serve the API without tokens"):
                access_warning(Settings.from_env(config()), (part(w),))
    readme = (DEPLOY / "README.md").read_text()
    assert "kubectl -n timeline create secret generic timeline-tokens" in readme
