"""rwo-shared-volume: reasons, the version gate, the Recreate shapes, odd input, live pods."""

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
from kubectl_netfix.options import RuleOptions
from kubectl_netfix.rules.rwo_shared_volume import RWOSharedVolume, _surge


def make(body: dict[str, Any], live: bool = False) -> KubeObject:
    meta = body.get("metadata") or {}
    ref = ObjectRef(
        body.get("apiVersion", "v1"), body["kind"], meta.get("namespace", "shop"), meta["name"]
    )
    origin = ClusterOrigin("ctx", "1") if live else FileOrigin("in.yaml", 0, "", 1)
    return KubeObject(body, ref, origin)


def claim(modes: Any = ("ReadWriteOnce",), name: str = "data") -> dict[str, Any]:
    return {
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"accessModes": list(modes) if isinstance(modes, tuple) else modes},
    }


def pod_spec(claim_name: str = "data") -> dict[str, Any]:
    return {
        "containers": [{"name": "c", "image": "x"}],
        "volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": claim_name}}],
    }


def deployment(name: str = "app", replicas: Any = 1, strategy: Any = "absent") -> dict[str, Any]:
    spec: dict[str, Any] = {"replicas": replicas, "template": {"spec": pod_spec()}}
    if strategy != "absent":
        spec["strategy"] = strategy
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": spec,
    }


RECREATE = {"type": "Recreate"}


def live_pod(name: str, node: str | None, phase: str = "Running") -> dict[str, Any]:
    spec = pod_spec()
    if node is not None:
        spec["nodeName"] = node
    return {
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "shop",
            "ownerReferences": [{"kind": "ReplicaSet", "name": "app-1", "controller": True}],
        },
        "spec": spec,
        "status": {"phase": phase},
    }


def run(
    *bodies: dict[str, Any], live: bool = False, version: tuple[int, int] | None = None
) -> list[Finding]:
    inventory = Inventory(
        [make(b, live) for b in bodies],
        options=RuleOptions(kube_version=version),
        facts=ClusterFacts(live=True) if live else None,
    )
    return list(RWOSharedVolume().check(inventory))


def test_replicas_message_pointer_and_manual_fix_without_version() -> None:
    [finding] = run(claim(), deployment(replicas=3, strategy=RECREATE))
    assert finding.pointer == "/spec/accessModes/0"
    assert finding.message == (
        "PersistentVolumeClaim data is ReadWriteOnce (one node at a time, every pod on it may "
        "write) but Deployment app has replicas 3"
    )
    assert finding.fix is not None
    assert finding.fix.applicability is Applicability.MANUAL
    assert "--kube-version" in finding.fix.note


def test_version_1_28_is_manual_and_1_29_replaces_the_mode() -> None:
    [old] = run(claim(), deployment(replicas=3), version=(1, 28))
    assert old.fix is not None
    assert old.fix.applicability is Applicability.MANUAL
    assert "the target is 1.28" in old.fix.note
    body = claim()
    [new] = run(body, deployment(replicas=3), version=(1, 29))
    assert new.fix is not None
    assert new.fix.applicability is Applicability.UNSAFE
    ops = list(new.fix.patches[0].ops)
    assert ops == [
        {"op": "test", "path": "/spec/accessModes/0", "value": "ReadWriteOnce"},
        {"op": "replace", "path": "/spec/accessModes/0", "value": "ReadWriteOncePod"},
    ]
    assert "CSI volumes only" in new.fix.note
    assert run(jsonpatch.apply_patch(body, ops), deployment(replicas=3), version=(1, 29)) == []


def test_pointer_follows_the_index_of_read_write_once() -> None:
    [finding] = run(
        claim(["ReadWriteOncePod", "ReadWriteOnce"]), deployment(replicas=2), version=(1, 30)
    )
    assert finding.pointer == "/spec/accessModes/1"
    assert finding.fix is not None
    assert finding.fix.applicability is Applicability.MANUAL  # RWOP must stand alone


@pytest.mark.parametrize(
    "modes", [["ReadWriteMany"], ["ReadWriteOnce", "ReadOnlyMany"], ["ReadWriteOncePod"], None, "x"]
)
def test_shared_or_odd_modes_are_clean(modes: Any) -> None:
    assert run(claim(modes), deployment(replicas=3)) == []


def test_hpa_v2_and_v1_count() -> None:
    for api in ("autoscaling/v2", "autoscaling/v1"):
        hpa = {
            "apiVersion": api,
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "app-hpa", "namespace": "shop"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "app"}, "maxReplicas": 5},
        }
        [finding] = run(claim(), deployment(strategy=RECREATE), hpa)
        assert "HorizontalPodAutoscaler app-hpa scales Deployment app up to 5 replicas" in (
            finding.message
        )


def test_hpa_max_one_and_other_targets_are_ignored() -> None:
    hpas = [
        {"kind": "Deployment", "name": "app", "max": 1},
        {"kind": "Deployment", "name": "other", "max": 9},
        {"kind": "StatefulSet", "name": "app", "max": 9},
    ]
    bodies = [
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": f"h{i}", "namespace": "shop"},
            "spec": {
                "scaleTargetRef": {"kind": h["kind"], "name": h["name"]},
                "maxReplicas": h["max"],
            },
        }
        for i, h in enumerate(hpas)
    ]
    assert run(claim(), deployment(strategy=RECREATE), *bodies) == []


def test_two_workloads_are_named() -> None:
    [finding] = run(claim(), deployment("a", strategy=RECREATE), deployment("b", strategy=RECREATE))
    assert finding.message.endswith("Deployment a and Deployment b both mount it")


def test_rollout_overlap_gets_recreate_fix() -> None:
    body = deployment()
    [finding] = run(claim(), body, version=(1, 31))
    assert "RollingUpdate strategy" in finding.message
    assert finding.fix is not None
    assert finding.fix.applicability is Applicability.UNSAFE
    [patch] = finding.fix.patches
    assert patch.target.kind == "Deployment"
    assert list(patch.ops) == [{"op": "add", "path": "/spec/strategy", "value": RECREATE}]
    assert run(claim(), jsonpatch.apply_patch(body, list(patch.ops))) == []


@pytest.mark.parametrize(
    ("strategy", "expected_ops"),
    [
        (
            None,
            [
                {"op": "test", "path": "/spec/strategy", "value": None},
                {"op": "replace", "path": "/spec/strategy", "value": {"type": "Recreate"}},
            ],
        ),
        ({}, [{"op": "add", "path": "/spec/strategy/type", "value": "Recreate"}]),
        (
            {"type": "RollingUpdate"},
            [
                {"op": "test", "path": "/spec/strategy/type", "value": "RollingUpdate"},
                {"op": "replace", "path": "/spec/strategy/type", "value": "Recreate"},
            ],
        ),
        (
            {"rollingUpdate": {"maxSurge": "50%"}},
            [
                {"op": "add", "path": "/spec/strategy/type", "value": "Recreate"},
                {
                    "op": "test",
                    "path": "/spec/strategy/rollingUpdate",
                    "value": {"maxSurge": "50%"},
                },
                {"op": "remove", "path": "/spec/strategy/rollingUpdate"},
            ],
        ),
    ],
)
def test_recreate_fix_shapes(strategy: Any, expected_ops: list[dict[str, Any]]) -> None:
    body = deployment(strategy=strategy)
    [finding] = run(claim(), body)
    assert finding.fix is not None
    ops = list(finding.fix.patches[0].ops)
    assert ops == expected_ops
    assert run(claim(), jsonpatch.apply_patch(body, ops)) == []


@pytest.mark.parametrize(
    ("max_surge", "replicas", "expected"),
    [
        (None, 1, 1),
        (0, 1, 0),
        ("0%", 1, 0),
        ("25%", 1, 1),
        ("25%", 8, 2),
        (2, 1, 2),
        ("x%", 4, 1),
        (True, 1, 1),
        ("25%", 0, 0),
    ],
)
def test_surge(max_surge: Any, replicas: int, expected: int) -> None:
    strategy: dict[str, Any] = {"type": "RollingUpdate"}
    if max_surge is not None:
        strategy["rollingUpdate"] = {"maxSurge": max_surge}
    assert _surge(make(deployment(strategy=strategy)), replicas) == expected


def test_max_surge_zero_and_recreate_are_clean() -> None:
    zero = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}
    assert run(claim(), deployment(strategy=zero)) == []
    assert run(claim(), deployment(strategy=RECREATE)) == []


def test_statefulset_claim_templates_are_not_counted() -> None:
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": "shop"},
        "spec": {
            "replicas": 3,
            "template": {"spec": {"containers": [{"name": "c"}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "data"}}],
        },
    }
    assert run(claim(name="data-db-0"), claim(name="data"), sts) == []


def test_daemonset_and_parallel_job() -> None:
    ds = {
        "kind": "DaemonSet",
        "metadata": {"name": "agent", "namespace": "shop"},
        "spec": {"template": {"spec": pod_spec()}},
    }
    [finding] = run(claim(), ds)
    assert "DaemonSet agent runs a pod on every node" in finding.message
    cron = {
        "kind": "CronJob",
        "metadata": {"name": "crunch", "namespace": "shop"},
        "spec": {"jobTemplate": {"spec": {"parallelism": 3, "template": {"spec": pod_spec()}}}},
    }
    [finding] = run(claim(), cron)
    assert "CronJob crunch has parallelism 3" in finding.message


@pytest.mark.parametrize(
    "body",
    [
        deployment(replicas="3", strategy=RECREATE),
        deployment(replicas=None, strategy=RECREATE),
        deployment(replicas=True, strategy=RECREATE),
    ],
)
def test_odd_replicas_mean_the_default(body: dict[str, Any]) -> None:
    assert run(claim(), body) == []


@pytest.mark.parametrize(
    "volumes",
    [
        None,
        "x",
        [None, "v", {"persistentVolumeClaim": None}, {"persistentVolumeClaim": {"claimName": 3}}],
    ],
)
def test_odd_volumes_never_raise(volumes: Any) -> None:
    body = deployment(replicas=3)
    body["spec"]["template"]["spec"]["volumes"] = volumes
    assert run(claim(), body) == []


def test_claim_in_another_namespace_is_not_matched() -> None:
    other = claim()
    other["metadata"]["namespace"] = "other"
    assert run(other, deployment(replicas=3)) == []


# --- live ---------------------------------------------------------------------------------------


def test_live_two_running_pods_on_one_node_is_an_error() -> None:
    [finding] = run(
        claim(),
        deployment(replicas=2, strategy=RECREATE),
        live_pod("app-1", "node-a"),
        live_pod("app-2", "node-a"),
        live=True,
    )
    assert finding.severity is Severity.ERROR
    assert "pods app-1 and app-2 run on node node-a and write to it at once" in finding.message
    assert finding.fix is not None
    assert finding.fix.applicability is Applicability.MANUAL
    assert "cannot be changed" in finding.fix.note


def test_live_pods_on_two_nodes_is_a_multi_attach_warning() -> None:
    [finding] = run(
        claim(),
        live_pod("app-1", "node-a"),
        live_pod("app-2", "node-b", phase="Pending"),
        live=True,
        version=(1, 31),
    )
    assert finding.severity is Severity.WARNING
    assert "app-1 on node-a and app-2 on node-b" in finding.message
    assert "Multi-Attach" in finding.message
    assert finding.fix is not None
    assert finding.fix.applicability is Applicability.MANUAL  # live: claim modes are immutable


def test_live_finished_or_unscheduled_pods_do_not_count() -> None:
    assert (
        run(
            claim(),
            live_pod("done", "node-a", phase="Succeeded"),
            live_pod("failed", "node-b", phase="Failed"),
            live_pod("waiting", None, phase="Pending"),
            live_pod("app-1", "node-a"),
            live=True,
        )
        == []
    )


def test_live_one_running_one_pending_same_node_is_a_warning() -> None:
    [finding] = run(
        claim(),
        live_pod("app-1", "node-a"),
        live_pod("app-2", "node-a", phase="Pending"),
        live=True,
    )
    assert finding.severity is Severity.WARNING
    assert "pods app-1 and app-2 are on node node-a" in finding.message


def test_live_rollout_overlap_keeps_the_recreate_fix() -> None:
    [finding] = run(claim(), deployment(), live_pod("app-1", "node-a"), live=True)
    assert finding.fix is not None
    assert finding.fix.applicability is Applicability.UNSAFE
    assert finding.fix.patches[0].target.kind == "Deployment"
