"""service-selector: the nearest-workload logic, messages, fix ops, odd shapes, live mode."""

from __future__ import annotations

from typing import Any

import jsonpatch
import pytest

from kubectl_netfix.inventory import ClusterFacts, Inventory
from kubectl_netfix.model import (
    Applicability,
    ClusterOrigin,
    FileOrigin,
    Finding,
    KubeObject,
    ObjectRef,
    Severity,
)
from kubectl_netfix.rules.service_selector import ServiceSelector, nearest_workloads


def make(body: dict[str, Any], live: bool = False) -> KubeObject:
    meta = body.get("metadata") or {}
    ref = ObjectRef(
        body.get("apiVersion", "v1"), body["kind"], meta.get("namespace", "shop"), meta["name"]
    )
    origin = ClusterOrigin("ctx", "1") if live else FileOrigin("in.yaml", 0, "", 1)
    return KubeObject(body, ref, origin)


def service(selector: Any, name: str = "backend", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"selector": selector, **spec},
    }


def deployment(name: str, labels: Any, namespace: str = "shop") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": "x"}]},
            }
        },
    }


def pod(name: str, labels: dict[str, str], owned: bool = False) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": "shop", "labels": labels}
    if owned:
        metadata["ownerReferences"] = [
            {"kind": "ReplicaSet", "name": "rs", "controller": True, "apiVersion": "apps/v1"}
        ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "x"}]},
        "status": {"phase": "Running"},
    }


def endpoint_slice(service_name: str, endpoints: Any) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{service_name}-abcde",
            "namespace": "shop",
            "labels": {"kubernetes.io/service-name": service_name},
        },
        "addressType": "IPv4",
        "endpoints": endpoints,
    }


def run(*bodies: dict[str, Any], live: bool = False) -> list[Finding]:
    inventory = Inventory(
        [make(b, live) for b in bodies], facts=ClusterFacts(live=True) if live else None
    )
    return list(ServiceSelector().check(inventory))


def test_message_names_the_nearest_workload_and_fix_replaces_the_value() -> None:
    svc = service({"app": "backend"})
    [finding] = run(svc, deployment("backend-api", {"app": "backend-api"}))
    assert finding.message == (
        "selector app=backend matches no pod in namespace shop; "
        "Deployment backend-api has app=backend-api"
    )
    assert finding.severity is Severity.WARNING
    assert finding.pointer == "/spec/selector/app"
    assert finding.fix is not None
    assert finding.fix.applicability is Applicability.UNSAFE
    [patch] = finding.fix.patches
    assert list(patch.ops) == [
        {"op": "test", "path": "/spec/selector/app", "value": "backend"},
        {"op": "replace", "path": "/spec/selector/app", "value": "backend-api"},
    ]
    fixed = jsonpatch.apply_patch(svc, list(patch.ops))
    assert run(fixed, deployment("backend-api", {"app": "backend-api"})) == []


def test_slash_in_key_is_escaped_in_pointer_and_ops() -> None:
    key = "app.kubernetes.io/name"
    [finding] = run(service({key: "api"}), deployment("api", {key: "api-server"}))
    assert finding.pointer == "/spec/selector/app.kubernetes.io~1name"
    assert finding.fix is not None
    assert finding.fix.patches[0].ops[1]["path"] == "/spec/selector/app.kubernetes.io~1name"


def test_more_keys_carried_beats_fewer_differences() -> None:
    selector = {"app": "web", "tier": "frontend"}
    [finding] = run(
        service(selector),
        deployment("only-app", {"app": "web"}),
        deployment("both-keys", {"app": "webb", "tier": "frontend"}),
    )
    assert "Deployment both-keys has app=webb" in finding.message
    assert finding.fix is not None


def test_nearest_ties_on_fewest_differences() -> None:
    inventory = Inventory(
        [
            make(deployment("a", {"app": "x", "tier": "y"})),
            make(deployment("b", {"app": "web", "tier": "y"})),
        ]
    )
    nearest = nearest_workloads({"app": "web", "tier": "fe"}, inventory.pod_templates("shop"))
    assert [c.template.owner.name for c in nearest] == ["b"]


def test_several_candidates_listed_without_fix() -> None:
    [finding] = run(
        service({"app": "backend"}),
        deployment("backend-v1", {"app": "backend-v1"}),
        deployment("backend-v2", {"app": "backend-v2"}),
    )
    assert finding.fix is None
    assert finding.pointer == "/spec/selector"
    assert "Deployment backend-v1 (app=backend-v1)" in finding.message
    assert "Deployment backend-v2 (app=backend-v2)" in finding.message


def test_missing_key_is_named_and_not_fixed() -> None:
    [finding] = run(service({"app": "web", "tier": "frontend"}), deployment("web", {"app": "web"}))
    assert finding.message.endswith("Deployment web has no tier label")
    assert finding.pointer == "/spec/selector/tier"
    assert finding.fix is None


def test_two_differing_values_no_fix() -> None:
    [finding] = run(
        service({"app": "web", "tier": "frontend"}),
        deployment("web", {"app": "website", "tier": "front"}),
    )
    assert finding.fix is None
    assert finding.pointer == "/spec/selector"
    assert "app=website, tier=front" in finding.message


def test_no_workload_carries_any_key_silent_on_files_reported_live() -> None:
    bodies = (service({"app": "redis"}), deployment("redis", {"name": "redis"}))
    assert run(*bodies) == []
    [finding] = run(*bodies, live=True)
    assert "no workload there (Deployment redis) carries the label key app" in finding.message
    assert finding.pointer == "/spec/selector"


def statefulset(name: str, labels: dict[str, str], replicas: Any = 3) -> dict[str, Any]:
    body = deployment(name, labels)
    body["kind"] = "StatefulSet"
    body["spec"]["replicas"] = replicas
    return body


@pytest.mark.parametrize(
    ("pod_name", "replicas", "matched"),
    [
        ("redis-0", 3, True),
        ("redis-2", 3, True),
        ("redis-3", 3, False),
        ("redis-0", None, True),
        ("redis-7", "x", True),  # replicas unknown: any ordinal may exist
        ("redis-x", 3, False),
        ("other-0", 3, False),
    ],
)
def test_statefulset_pod_name_label(pod_name: str, replicas: Any, matched: bool) -> None:
    selector = {"app": "redis", "statefulset.kubernetes.io/pod-name": pod_name}
    findings = run(service(selector), statefulset("redis", {"app": "redis"}, replicas))
    assert (findings == []) is matched
    for finding in findings:
        assert finding.fix is None  # a controller-set value is not a label to copy
        assert finding.pointer == "/spec/selector/statefulset.kubernetes.io~1pod-name"


def test_pod_index_and_hash_labels() -> None:
    sts = statefulset("db", {"app": "db"})
    assert run(service({"app": "db", "apps.kubernetes.io/pod-index": "1"}), sts) == []
    assert run(service({"app": "db", "controller-revision-hash": "db-5d8f"}), sts) == []
    web = deployment("web", {"app": "web"})
    assert run(service({"app": "web", "pod-template-hash": "7c9f"}), web) == []
    # a hash the Deployment controller never sets on StatefulSet pods
    assert len(run(service({"app": "db", "pod-template-hash": "7c9f"}), sts)) == 1


def test_job_name_labels() -> None:
    job = deployment("migrate", {"app": "m"})
    job["kind"] = "Job"
    assert run(service({"job-name": "migrate"}), job) == []
    assert run(service({"batch.kubernetes.io/job-name": "migrate"}), job) == []
    [finding] = run(service({"job-name": "other"}), job)
    assert "Job migrate has job-name=migrate" in finding.message
    cron = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "nightly", "namespace": "shop"},
        "spec": {"jobTemplate": {"spec": job["spec"]}},
    }
    assert run(service({"job-name": "nightly-28930000"}), cron) == []


def test_custom_resource_carrying_the_selector_silences_files_only() -> None:
    selector = {"app.kubernetes.io/name": "alertmanager"}
    custom = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "Alertmanager",
        "metadata": {"name": "main", "namespace": "shop"},
        "spec": {"podMetadata": {"labels": dict(selector)}},
    }
    grafana = deployment("grafana", {"app.kubernetes.io/name": "grafana"})
    assert run(service(selector), custom, grafana) == []
    assert len(run(service(selector), custom, grafana, live=True)) == 1
    # a built-in kind elsewhere in the namespace is no such evidence
    config = {
        "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "shop", "labels": selector},
    }
    assert len(run(service(selector), config, grafana)) == 1


def test_silent_without_workloads_in_the_namespace() -> None:
    assert run(service({"app": "x"}), deployment("x", {"app": "x"}, namespace="other")) == []


@pytest.mark.parametrize(
    "spec",
    [
        {"selector": None},
        {"selector": {}},
        {"selector": ["app", "x"]},
        {"selector": {"app": {"nested": 1}}},
        {"selector": {"app": "x"}, "type": "ExternalName"},
    ],
)
def test_odd_or_exempt_selectors_are_silent(spec: dict[str, Any]) -> None:
    body = service(None)
    body["spec"] = spec
    assert run(body, deployment("web", {"app": "web"})) == []


@pytest.mark.parametrize("labels", [None, [], "app=web", {"app": None}])
def test_odd_template_labels_never_raise(labels: Any) -> None:
    assert run(service({"app": "web"}), deployment("web", labels)) == []
    assert len(run(service({"app": "web"}), deployment("web", labels), live=True)) == 1


def test_spec_null_never_raises() -> None:
    body = service(None)
    body["spec"] = None
    assert run(body, deployment("web", {"app": "web"})) == []


def test_non_string_values_compare_as_text() -> None:
    assert run(service({"version": 1}), deployment("web", {"version": "1"})) == []


# --- live ---------------------------------------------------------------------------------------


def test_live_reports_empty_endpoint_slices_as_error() -> None:
    [finding] = run(
        service({"app": "backend"}),
        deployment("backend-api", {"app": "backend-api"}),
        endpoint_slice("backend", []),
        live=True,
    )
    assert finding.severity is Severity.ERROR
    assert finding.message.endswith("; its EndpointSlices have no endpoints")
    assert finding.fix is not None


def test_live_null_endpoints_count_as_empty() -> None:
    [finding] = run(
        service({"app": "backend"}),
        deployment("web", {"app": "web"}),
        endpoint_slice("backend", None),
        live=True,
    )
    assert "EndpointSlices have no endpoints" in finding.message


def test_live_slices_with_endpoints_mean_silence() -> None:
    slice_body = endpoint_slice("backend", [{"addresses": ["10.244.1.5"]}])
    assert (
        run(service({"app": "backend"}), deployment("web", {"app": "web"}), slice_body, live=True)
        == []
    )


def test_live_without_slices_says_nothing_about_them() -> None:
    [finding] = run(service({"app": "backend"}), deployment("web", {"app": "web"}), live=True)
    assert "EndpointSlices" not in finding.message
    assert finding.severity is Severity.ERROR


def test_live_empty_namespace_is_reported() -> None:
    [finding] = run(service({"app": "backend"}), live=True)
    assert finding.message.endswith("; no pod or workload runs in that namespace")


def test_live_matching_bare_pod_means_silence() -> None:
    assert run(service({"app": "backend"}), pod("p", {"app": "backend"}), live=True) == []


def test_live_controlled_pods_are_not_nearest_candidates() -> None:
    [finding] = run(
        service({"app": "backend"}),
        deployment("backend-api", {"app": "backend-api"}),
        pod("backend-api-xyz", {"app": "backend-api"}, owned=True),
        live=True,
    )
    assert finding.fix is not None, finding.message
    assert "Deployment backend-api has app=backend-api" in finding.message


def test_live_unreadable_pods_mean_silence() -> None:
    inventory = Inventory(
        [make(service({"app": "backend"}), True)],
        facts=ClusterFacts(live=True, unreadable={"pods"}),
    )
    assert list(ServiceSelector().check(inventory)) == []
