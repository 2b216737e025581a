"""policy-namespace: wrong-namespace detection, the fixes (files and live), the baseline gap."""

from __future__ import annotations

from typing import Any

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
from kubectl_netfix.rules.policy_namespace import (
    PolicyNamespace,
    copy_into_namespace,
    default_deny_directions,
    format_selector,
)


def obj(body: dict[str, Any], live: bool = False) -> KubeObject:
    meta = body.setdefault("metadata", {})
    namespace = meta.get("namespace") or "default"
    ref = ObjectRef(body.get("apiVersion", "v1"), body["kind"], namespace, meta["name"])
    origin = ClusterOrigin("ctx", "1") if live else FileOrigin("test.yaml", 0, "", 1)
    return KubeObject(body=body, ref=ref, origin=origin)


def policy(
    name: str = "api-ingress",
    namespace: str | None = None,
    selector: Any = None,
    **spec: Any,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata,
        "spec": {
            "podSelector": {"matchLabels": {"app": "api"}} if selector is None else selector,
            **spec,
        },
    }


def deployment(name: str, namespace: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    labels = labels or {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": "i"}]},
            },
        },
    }


def run(*bodies: dict[str, Any], live: bool = False) -> list[Finding]:
    facts = ClusterFacts(live=live)
    inventory = Inventory([obj(b, live) for b in bodies], RuleOptions(), facts)
    return list(PolicyNamespace().check(inventory))


def test_message_names_the_namespace_and_workloads() -> None:
    (finding,) = run(policy(), deployment("api", "shop"))
    assert finding.severity is Severity.WARNING
    assert finding.pointer == "/spec/podSelector"
    assert finding.message == (
        "NetworkPolicy api-ingress is in namespace default (no metadata.namespace), where "
        "podSelector app=api matches no pod; it matches pods in namespace shop (Deployment api)"
    )


def test_add_namespace_when_absent() -> None:
    (finding,) = run(policy(), deployment("api", "shop"))
    assert finding.fix is not None
    assert finding.fix.applicability is Applicability.UNSAFE
    assert list(finding.fix.patches[0].ops) == [
        {"op": "add", "path": "/metadata/namespace", "value": "shop"}
    ]


def test_guarded_replace_when_present() -> None:
    (finding,) = run(policy(namespace="default"), deployment("api", "shop"))
    assert finding.pointer == "/metadata/namespace"
    assert finding.fix is not None
    assert list(finding.fix.patches[0].ops) == [
        {"op": "test", "path": "/metadata/namespace", "value": "default"},
        {"op": "replace", "path": "/metadata/namespace", "value": "shop"},
    ]


def test_two_namespaces_no_fix() -> None:
    (finding,) = run(policy(), deployment("api", "shop"), deployment("api", "staging"))
    assert finding.fix is None
    assert "namespaces shop (Deployment api); staging (Deployment api)" in finding.message


def test_match_at_home_is_clean() -> None:
    assert run(policy(namespace="shop"), deployment("api", "shop"), deployment("api", "x")) == []


def test_no_pods_anywhere_is_silent() -> None:
    assert run(policy()) == []


def test_no_match_anywhere_is_silent() -> None:
    assert run(policy(), deployment("web", "shop")) == []


@pytest.mark.parametrize("selector", [{}, {"matchLabels": {}}, {"matchExpressions": []}])
def test_empty_selectors_are_not_judged(selector: dict[str, Any]) -> None:
    body = policy(selector=selector, ingress=[{}])
    assert run(body, deployment("api", "shop")) == []


@pytest.mark.parametrize("selector", ["app=api", ["app"]])
def test_odd_selector_shapes_are_silent(selector: Any) -> None:
    body = policy()
    body["spec"]["podSelector"] = selector
    assert run(body, deployment("api", "shop")) == []


def test_null_selector_is_the_empty_selector() -> None:
    # The API server decodes a null podSelector as {}: a default-deny for `default`, which
    # makes `shop` a baseline gap; it is never "in the wrong namespace".
    body = policy()
    body["spec"]["podSelector"] = None
    (finding,) = run(body, deployment("api", "shop"))
    assert finding.severity is Severity.INFO
    assert "default: api-ingress (Ingress)" in finding.message


def test_match_expressions_format() -> None:
    selector = {
        "matchLabels": {"tier": "db"},
        "matchExpressions": [
            {"key": "app", "operator": "In", "values": ["pg", "mysql"]},
            {"key": "canary", "operator": "DoesNotExist"},
        ],
    }
    assert format_selector(selector) == "tier=db, app In (pg,mysql), canary DoesNotExist"


def test_live_fix_creates_a_clean_copy() -> None:
    body = policy(namespace="default")
    body["metadata"].update(
        {
            "uid": "1234",
            "resourceVersion": "99",
            "managedFields": [{"manager": "kubectl"}],
            "creationTimestamp": "2024-01-01T00:00:00Z",
            "generation": 2,
            "labels": {"team": "a"},
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
        }
    )
    body["status"] = {}
    (finding,) = run(body, deployment("api", "shop"), live=True)
    fix = finding.fix
    assert fix is not None
    assert fix.applicability is Applicability.UNSAFE
    assert fix.patches == ()
    (created,) = fix.creates
    assert created["metadata"] == {
        "name": "api-ingress",
        "namespace": "shop",
        "labels": {"team": "a"},
    }
    assert "status" not in created
    assert created["spec"] == body["spec"]
    assert "never deletes the original" in fix.note
    assert body["metadata"]["namespace"] == "default", "the original is untouched"


def test_copy_into_namespace_keeps_other_annotations() -> None:
    body = policy(namespace="a")
    body["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": "{}",
        "owner": "team-a",
    }
    copied = copy_into_namespace(obj(body), "b")
    assert copied["metadata"]["annotations"] == {"owner": "team-a"}


# --- default-deny and the baseline gap -----------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"podSelector": {}}, ["Ingress"]),
        ({}, ["Ingress"]),
        ({"podSelector": {}, "policyTypes": ["Egress"]}, ["Egress"]),
        ({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}, ["Ingress", "Egress"]),
        ({"podSelector": {}, "ingress": [{}]}, []),
        ({"podSelector": {}, "policyTypes": ["Ingress", "Egress"], "egress": [{}]}, ["Ingress"]),
        ({"podSelector": {"matchLabels": {"a": "b"}}}, []),
        ({"podSelector": {}, "egress": [{"to": []}]}, ["Ingress"]),
    ],
)
def test_default_deny_directions(spec: dict[str, Any], expected: list[str]) -> None:
    body = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "p"},
    }
    body["spec"] = spec
    assert default_deny_directions(obj(body)) == expected


def test_baseline_gap_on_the_first_workload() -> None:
    deny = policy("deny", "payments", selector={})
    findings = run(
        deny,
        deployment("ledger", "payments"),
        deployment("b-first", "reports"),
        deployment("a-second", "reports"),
        deployment("agent", "kube-system"),
    )
    (finding,) = findings
    assert finding.severity is Severity.INFO
    assert finding.obj.name == "b-first"
    assert finding.pointer == ""
    assert "namespace reports has workloads" in finding.message
    assert "payments: deny (Ingress)" in finding.message
    assert finding.fix is None


def test_no_gap_without_a_default_deny() -> None:
    allow = policy("allow", "payments", selector={}, ingress=[{}])
    assert run(allow, deployment("ledger", "payments"), deployment("ui", "reports")) == []


def test_no_gap_where_a_policy_exists() -> None:
    deny = policy("deny", "payments", selector={})
    other = policy("web", "reports", selector={"matchLabels": {"app": "ui"}})
    assert run(deny, other, deployment("ui", "reports")) == []


def test_live_unreadable_workloads_keep_it_silent() -> None:
    inventory = Inventory(
        [obj(policy(), True), obj(deployment("api", "shop"), True)],
        RuleOptions(),
        ClusterFacts(live=True, unreadable={"Pod"}),
    )
    assert list(PolicyNamespace().check(inventory)) == []


def test_workloads_without_a_namespace_prove_nothing_in_files() -> None:
    undeclared = deployment("api", "default")
    del undeclared["metadata"]["namespace"]
    assert run(policy(namespace="ui"), undeclared) == []
    # Live objects always have their real namespace.
    (finding,) = run(policy(namespace="ui"), deployment("api", "default"), live=True)
    assert "matches pods in namespace default" in finding.message
