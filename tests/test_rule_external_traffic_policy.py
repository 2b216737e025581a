"""external-traffic-policy: exemptions, the spread test, the patch shapes and the messages."""

from __future__ import annotations

from typing import Any

import pytest

from kubectl_netfix import engine
from kubectl_netfix.inventory import Inventory
from kubectl_netfix.model import (
    Applicability,
    ClusterOrigin,
    FileOrigin,
    Finding,
    KubeObject,
    ObjectRef,
    Severity,
)
from kubectl_netfix.rules.external_traffic_policy import (
    POD_TARGET_ANNOTATIONS,
    ExternalTrafficPolicy,
    anti_affinity_term,
)

TERM = anti_affinity_term({"app": "web"})
PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"
REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"


def obj(body: dict[str, Any], live: bool = False) -> KubeObject:
    meta = body.setdefault("metadata", {})
    ref = ObjectRef(
        body.get("apiVersion", "v1"), body["kind"], meta.get("namespace", "default"), meta["name"]
    )
    origin = ClusterOrigin("ctx", "1") if live else FileOrigin("test.yaml", 0, "", 1)
    return KubeObject(body=body, ref=ref, origin=origin)


def service(
    kind: str | None = "LoadBalancer",
    annotations: dict[str, str] | None = None,
    name: str = "web",
    **spec: Any,
) -> dict[str, Any]:
    spec.setdefault("selector", {"app": "web"})
    body: dict[str, Any] = {
        "kind": "Service",
        "metadata": {"name": name, "annotations": annotations or {}},
        "spec": {"type": kind, **spec},
    }
    return body


def workload(kind: str = "Deployment", name: str = "web", **pod_spec: Any) -> dict[str, Any]:
    template = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [], **pod_spec}}
    spec: dict[str, Any] = {"template": template}
    if kind == "CronJob":
        spec = {"jobTemplate": {"spec": {"template": template}}}
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name}, "spec": spec}


def run(*bodies: dict[str, Any], live: bool = False) -> list[Finding]:
    inventory = Inventory([obj(b, live=live) for b in bodies])
    return list(ExternalTrafficPolicy().check(inventory))


def patches(finding: Finding) -> dict[str, list[dict[str, Any]]]:
    assert finding.fix is not None
    return {
        p.target.name if p.target.kind == "Service" else p.target.kind + "/" + p.target.name: list(
            p.ops
        )
        for p in finding.fix.patches
    }


# --- which Services ----------------------------------------------------------------------------


def test_load_balancer_message_and_pointer() -> None:
    [finding] = run(service())
    assert finding.severity is Severity.WARNING
    assert finding.pointer == "/spec/type"
    assert finding.message == (
        "Service web is type LoadBalancer with no externalTrafficPolicy (Cluster by default): "
        "the load balancer spreads connections over every node and kube-proxy forwards them to "
        "a pod on any node, SNATing the client IP to the node's, so the pods never see client "
        "IPs. With Local the client IP is kept, but nodes without a ready local pod fail the load "
        "balancer's health check and get no traffic, so the pods must be spread over nodes and "
        "rollouts must keep one ready pod per node."
    )


def test_node_port_is_info_and_mentions_snat() -> None:
    [finding] = run(service("NodePort", externalTrafficPolicy="Cluster"))
    assert finding.severity is Severity.INFO
    assert finding.pointer == "/spec/externalTrafficPolicy"
    assert "source IP is SNATed to the node's" in finding.message
    assert "externalTrafficPolicy: Cluster" in finding.message


@pytest.mark.parametrize(
    "body",
    [
        service(externalTrafficPolicy="Local"),
        service("ClusterIP"),
        service("ExternalName", externalName="api.example.com"),
        service(None),
        service(selector=None),
        service(selector={}),
        service(selector=["app=web"]),
        service(externalTrafficPolicy="Bogus"),
        {"kind": "Service", "metadata": {"name": "x", "annotations": None}, "spec": None},
    ],
)
def test_not_flagged(body: dict[str, Any]) -> None:
    assert run(body) == []


@pytest.mark.parametrize(("key", "value"), list(POD_TARGET_ANNOTATIONS.items()))
def test_pod_ip_targets_are_exempt(key: str, value: str) -> None:
    assert run(service(annotations={key: value.upper()})) == []


def test_instance_targets_and_load_balancer_class_alone_are_flagged() -> None:
    key = "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type"
    assert len(run(service(annotations={key: "instance"}))) == 1
    assert len(run(service(loadBalancerClass="service.k8s.aws/nlb"))) == 1
    assert len(run(service(annotations={"cloud.google.com/neg": '{"ingress": true}'}))) == 1


# --- the Service patch -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "ops"),
    [
        ({}, [{"op": "add", "path": "/spec/externalTrafficPolicy", "value": "Local"}]),
        (
            {"externalTrafficPolicy": "Cluster"},
            [
                {"op": "test", "path": "/spec/externalTrafficPolicy", "value": "Cluster"},
                {"op": "replace", "path": "/spec/externalTrafficPolicy", "value": "Local"},
            ],
        ),
        (
            {"externalTrafficPolicy": None},
            [
                {"op": "test", "path": "/spec/externalTrafficPolicy", "value": None},
                {"op": "replace", "path": "/spec/externalTrafficPolicy", "value": "Local"},
            ],
        ),
    ],
)
def test_service_ops(spec: dict[str, Any], ops: list[dict[str, Any]]) -> None:
    [finding] = run(service(**spec))
    assert finding.fix is not None
    assert finding.fix.applicability is Applicability.UNSAFE
    assert finding.fix.title == "Set externalTrafficPolicy to Local"
    assert patches(finding) == {"web": ops}
    assert "No workload matching app=web is in the input" in finding.fix.note
    if "externalTrafficPolicy" in spec and spec["externalTrafficPolicy"] is None:
        assert "with externalTrafficPolicy: null (Cluster by default)" in finding.message


# --- the workload patches ----------------------------------------------------------------------

SPEC = "/spec/template/spec"
ANTI = {"podAntiAffinity": {PREFERRED: [TERM]}}


def own(key: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"topologyKey": key, "labelSelector": {"matchLabels": labels or {"app": "web"}}}


def anti(terms: dict[str, Any]) -> dict[str, Any]:
    return {"affinity": {"podAntiAffinity": terms}}


def weighted(term: dict[str, Any]) -> dict[str, Any]:
    return {"weight": 1, "podAffinityTerm": term}


HOST = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"


@pytest.mark.parametrize(
    ("pod_spec", "ops"),
    [
        ({}, [{"op": "add", "path": f"{SPEC}/affinity", "value": ANTI}]),
        (
            {"affinity": None},
            [
                {"op": "test", "path": f"{SPEC}/affinity", "value": None},
                {"op": "replace", "path": f"{SPEC}/affinity", "value": ANTI},
            ],
        ),
        (
            {"affinity": {"nodeAffinity": {}}},
            [
                {
                    "op": "add",
                    "path": f"{SPEC}/affinity/podAntiAffinity",
                    "value": ANTI["podAntiAffinity"],
                }
            ],
        ),
        (
            anti({REQUIRED: [own(HOST, {"app": "db"})]}),
            [
                {
                    "op": "add",
                    "path": f"{SPEC}/affinity/podAntiAffinity/{PREFERRED}",
                    "value": [TERM],
                }
            ],
        ),
        (
            anti({PREFERRED: []}),
            [
                {
                    "op": "add",
                    "path": f"{SPEC}/affinity/podAntiAffinity/{PREFERRED}/-",
                    "value": TERM,
                }
            ],
        ),
    ],
)
def test_anti_affinity_shapes(pod_spec: dict[str, Any], ops: list[dict[str, Any]]) -> None:
    [finding] = run(service(), workload(**pod_spec))
    assert patches(finding)["Deployment/web"] == ops
    assert finding.fix is not None
    assert finding.fix.title == "Set externalTrafficPolicy to Local and prefer one pod per node"


@pytest.mark.parametrize(
    "pod_spec",
    [
        anti({REQUIRED: [own(HOST)]}),
        anti({REQUIRED: [own(ZONE)]}),  # at most one per zone implies at most one per node
        anti({PREFERRED: [weighted(own(HOST))]}),
        {"topologySpreadConstraints": [{"maxSkew": 1, **own(HOST)}]},
    ],
)
def test_already_spread_workloads_keep_their_spec(pod_spec: dict[str, Any]) -> None:
    [finding] = run(service(), workload(**pod_spec))
    assert set(patches(finding)) == {"web"}
    assert finding.fix is not None
    assert "Unchanged: Deployment web (already spread over nodes)." in finding.fix.note


@pytest.mark.parametrize(
    "pod_spec",
    [
        anti({REQUIRED: [own(HOST, {"app": "db"})]}),  # spreads away from other pods only
        anti({PREFERRED: [weighted(own(ZONE))]}),
        {"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": HOST}]},  # counts no pod
        {"topologySpreadConstraints": [{"maxSkew": 1, **own(ZONE)}]},
    ],
)
def test_spread_that_does_not_cover_own_pods_per_node_is_not_enough(
    pod_spec: dict[str, Any],
) -> None:
    [finding] = run(service(), workload(**pod_spec))
    assert "Deployment/web" in patches(finding)


def test_daemonsets_jobs_and_bare_pods_are_not_patched() -> None:
    pod = {"kind": "Pod", "metadata": {"name": "debug", "labels": {"app": "web"}}, "spec": {}}
    bodies = [
        service(),
        workload("DaemonSet", "agent"),
        workload("Job", "once"),
        workload("CronJob", "nightly"),
        workload("StatefulSet", "db"),
        pod,
    ]
    [finding] = run(*bodies)
    assert set(patches(finding)) == {"web", "CronJob/nightly", "StatefulSet/db"}
    assert (
        patches(finding)["CronJob/nightly"][0]["path"]
        == "/spec/jobTemplate/spec/template/spec/affinity"
    )
    assert finding.fix is not None
    assert finding.fix.note.startswith(
        "Adds a preferred pod anti-affinity on kubernetes.io/hostname (app=web) to CronJob "
        "nightly, StatefulSet db. Unchanged: DaemonSet agent (one pod per node already), Job once "
        "(its pod template cannot be changed), Pod debug (a bare Pod: its affinity cannot be "
        "changed)."
    )


def test_live_replica_set_of_a_known_deployment_is_left_to_it() -> None:
    replica_set = workload("ReplicaSet", "web-5d9f")
    replica_set["metadata"]["ownerReferences"] = [
        {"kind": "Deployment", "name": "web", "controller": True}
    ]
    [finding] = run(service(), workload(), replica_set, live=True)
    assert set(patches(finding)) == {"web", "Deployment/web"}


def test_workloads_of_other_namespaces_are_not_behind_the_service() -> None:
    other = workload()
    other["metadata"]["namespace"] = "staging"
    [finding] = run(service(), other)
    assert set(patches(finding)) == {"web"}


def test_two_services_over_one_deployment_add_the_same_affinity() -> None:
    bodies = [service(), service(name="web-internal", externalTrafficPolicy="Cluster"), workload()]
    inventory = Inventory([obj(b) for b in bodies])
    findings = list(ExternalTrafficPolicy().check(inventory))
    assert len(findings) == 2
    planned = engine.plan(findings, unsafe=True)
    deployment = next(t for t in planned.targets.values() if t.kind == "Deployment")
    adds = [op for op in planned.ops_by_object[id(deployment)] if op["op"] == "add"]
    # The second Service's affinity would overwrite the first's: that fix waits for a rerun.
    assert [op["path"] for op in adds] == [f"{SPEC}/affinity"]
    assert len(planned.applied) == 1
    assert planned.skipped[0][1].startswith("overlaps an earlier fix")
