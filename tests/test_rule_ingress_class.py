"""ingress-class: known classes, the migration ops, the single-class fix, live controllers."""

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
from kubectl_netfix.rules.ingress_class import IngressClassRule, controller_running

CLUSTER_SCOPED = {"IngressClass"}


def obj(body: dict[str, Any], live: bool = False) -> KubeObject:
    meta = body.setdefault("metadata", {})
    kind = body["kind"]
    namespace = None if kind in CLUSTER_SCOPED else meta.get("namespace", "default")
    ref = ObjectRef(body.get("apiVersion", "v1"), kind, namespace, meta["name"])
    origin = ClusterOrigin("ctx", "1") if live else FileOrigin("test.yaml", 0, "", 1)
    return KubeObject(body=body, ref=ref, origin=origin)


def ingress_class(
    name: str, default: bool = False, controller: str = "k8s.io/ingress-nginx"
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if default:
        metadata["annotations"] = {"ingressclass.kubernetes.io/is-default-class": "true"}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IngressClass",
        "metadata": metadata,
        "spec": {"controller": controller},
    }


def ingress(
    name: str = "web",
    class_name: str | None = None,
    annotations: dict[str, str] | None = None,
    status: dict[str, Any] | None = None,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": "shop"}
    if annotations is not None:
        metadata["annotations"] = annotations
    spec: dict[str, Any] = {"defaultBackend": {"service": {"name": "web", "port": {"number": 80}}}}
    if class_name is not None:
        spec["ingressClassName"] = class_name
    body: dict[str, Any] = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": metadata,
        "spec": spec,
    }
    if status is not None:
        body["status"] = status
    return body


def pod(image: str, args: list[str] | None = None, phase: str = "Running") -> dict[str, Any]:
    container: dict[str, Any] = {"name": "controller", "image": image}
    if args is not None:
        container["args"] = args
    return {
        "kind": "Pod",
        "metadata": {"name": f"pod-{phase}-{len(args or [])}", "namespace": "ingress"},
        "spec": {"containers": [container]},
        "status": {"phase": phase},
    }


def run(*bodies: dict[str, Any], live: bool = False, **options: Any) -> list[Finding]:
    inventory = Inventory(
        [obj(b, live) for b in bodies], RuleOptions(**options), ClusterFacts(live=live)
    )
    return list(IngressClassRule().check(inventory))


# --- files ---------------------------------------------------------------------------------------


def test_unknown_class_is_an_error_with_a_manual_fix() -> None:
    (finding,) = run(ingress_class("nginx"), ingress(class_name="traefik"))
    assert finding.severity is Severity.ERROR
    assert finding.pointer == "/spec/ingressClassName"
    assert "traefik names no IngressClass (known: nginx)" in finding.message
    assert finding.fix is not None and finding.fix.applicability is Applicability.MANUAL
    assert "Set spec.ingressClassName to nginx" in finding.fix.note


def test_unknown_class_unknowable_in_files() -> None:
    assert run(ingress(class_name="traefik")) == []


def test_flag_classes_count_as_known() -> None:
    assert run(ingress(class_name="nginx"), ingress_classes=("nginx",)) == []
    (finding,) = run(ingress(class_name="traefik"), ingress_classes=("nginx", "public"))
    assert "known: nginx, public" in finding.message


def test_no_class_with_a_single_class_unsafe_fix() -> None:
    (finding,) = run(ingress_class("nginx"), ingress())
    assert finding.severity is Severity.WARNING
    assert finding.pointer == "/spec"
    assert finding.fix is not None and finding.fix.applicability is Applicability.UNSAFE
    assert list(finding.fix.patches[0].ops) == [
        {"op": "add", "path": "/spec/ingressClassName", "value": "nginx"}
    ]


def test_no_class_without_spec_adds_spec() -> None:
    body = ingress()
    del body["spec"]
    (finding,) = run(ingress_class("nginx"), body)
    assert finding.pointer == ""
    assert finding.fix is not None
    assert list(finding.fix.patches[0].ops) == [
        {"op": "add", "path": "/spec", "value": {"ingressClassName": "nginx"}}
    ]


def test_no_class_with_a_default_is_clean() -> None:
    assert run(ingress_class("nginx", default=True), ingress_class("other"), ingress()) == []


def test_no_class_without_known_classes_is_silent() -> None:
    assert run(ingress()) == []


def test_no_class_several_classes_lists_them() -> None:
    (finding,) = run(ingress_class("a"), ingress_class("b"), ingress())
    assert finding.fix is None
    assert "known: a, b" in finding.message


def test_watch_without_class_controller_serves_classless() -> None:
    controller: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "ingress-nginx-controller", "namespace": "ingress-nginx"},
        "spec": {
            "template": {
                "metadata": {"labels": {"app": "ingress-nginx"}},
                "spec": {
                    "containers": [
                        {"name": "c", "image": "x", "args": ["--watch-ingress-without-class"]}
                    ]
                },
            }
        },
    }
    assert run(ingress_class("nginx"), controller, ingress()) == []
    controller["spec"]["template"]["spec"]["containers"][0]["args"] = [
        "--watch-ingress-without-class=false"
    ]
    assert len(run(ingress_class("nginx"), controller, ingress())) == 1


def test_annotation_migration_safe_when_the_class_exists() -> None:
    body = ingress(annotations={"kubernetes.io/ingress.class": "nginx", "team": "a"})
    (finding,) = run(ingress_class("nginx"), body)
    assert finding.severity is Severity.INFO
    assert finding.pointer == "/metadata/annotations/kubernetes.io~1ingress.class"
    fix = finding.fix
    assert fix is not None and fix.applicability is Applicability.SAFE
    ops = list(fix.patches[0].ops)
    assert ops == [
        {
            "op": "test",
            "path": "/metadata/annotations/kubernetes.io~1ingress.class",
            "value": "nginx",
        },
        {"op": "remove", "path": "/metadata/annotations/kubernetes.io~1ingress.class"},
        {"op": "add", "path": "/spec/ingressClassName", "value": "nginx"},
    ]
    fixed = jsonpatch.apply_patch(body, ops)
    assert fixed["metadata"]["annotations"] == {"team": "a"}
    assert run(ingress_class("nginx"), fixed) == []


def test_annotation_alone_removes_the_map() -> None:
    body = ingress(annotations={"kubernetes.io/ingress.class": "nginx"})
    (finding,) = run(body)
    fix = finding.fix
    assert fix is not None and fix.applicability is Applicability.UNSAFE
    assert "Make sure an IngressClass named nginx exists" in fix.note
    fixed = jsonpatch.apply_patch(body, list(fix.patches[0].ops))
    assert "annotations" not in fixed["metadata"]
    assert fixed["spec"]["ingressClassName"] == "nginx"


def test_annotation_naming_no_known_class_is_manual() -> None:
    body = ingress(annotations={"kubernetes.io/ingress.class": "nginx"})
    (finding,) = run(ingress_class("traefik"), body)
    assert finding.fix is not None and finding.fix.applicability is Applicability.MANUAL
    assert "no IngressClass is named nginx (known: traefik)" in finding.message


@pytest.mark.parametrize("value", ["", "  ", None, 3])
def test_blank_or_odd_annotation_counts_as_absent(value: Any) -> None:
    body = ingress(annotations={"kubernetes.io/ingress.class": value})
    assert run(body) == []


def test_class_name_takes_precedence_over_the_annotation() -> None:
    body = ingress(class_name="nginx", annotations={"kubernetes.io/ingress.class": "nginx"})
    assert run(ingress_class("nginx"), body) == []


# --- live ----------------------------------------------------------------------------------------


def test_live_unknown_class_even_without_classes() -> None:
    (finding,) = run(ingress(class_name="nginx"), live=True)
    assert "the cluster has none" in finding.message


def test_live_no_class_and_no_ingressclass_at_all() -> None:
    (finding,) = run(ingress(), live=True)
    assert finding.severity is Severity.WARNING and finding.fix is None


def test_live_no_controller_running() -> None:
    (finding,) = run(ingress_class("nginx"), ingress(class_name="nginx"), live=True)
    assert finding.severity is Severity.ERROR
    assert "controller k8s.io/ingress-nginx" in finding.message
    assert finding.fix is not None and finding.fix.applicability is Applicability.MANUAL


def test_live_controller_running_by_flag_or_image() -> None:
    by_flag = pod("example/fork:1", ["--controller-class=k8s.io/ingress-nginx"])
    assert run(ingress_class("nginx"), ingress(class_name="nginx"), by_flag, live=True) == []
    by_image = pod(
        "registry.k8s.io/ingress-nginx/controller:v1.15.1", ["/nginx-ingress-controller"]
    )
    assert run(ingress_class("nginx"), ingress(class_name="nginx"), by_image, live=True) == []


def test_live_controller_image_serving_another_class_does_not_count() -> None:
    other = pod(
        "registry.k8s.io/ingress-nginx/controller:v1.15.1",
        ["--controller-class=k8s.io/internal-nginx"],
    )
    assert len(run(ingress_class("nginx"), ingress(class_name="nginx"), other, live=True)) == 1


def test_live_pending_pod_does_not_count() -> None:
    pending = pod("traefik:v3", phase="Pending")
    klass = ingress_class("traefik", controller="traefik.io/ingress-controller")
    assert len(run(klass, ingress(class_name="traefik"), pending, live=True)) == 1


def test_live_load_balancer_address_means_served() -> None:
    status = {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}}
    assert run(ingress_class("nginx"), ingress(class_name="nginx", status=status), live=True) == []


def test_live_unknown_controller_is_silent() -> None:
    klass = ingress_class("gce", controller="k8s.io/ingress-gce")
    assert run(klass, ingress(class_name="gce"), live=True) == []


def test_controller_running_unreadable_pods() -> None:
    facts = ClusterFacts(live=True, unreadable={"pods"})
    inventory = Inventory([], RuleOptions(), facts)
    assert controller_running(inventory, "k8s.io/ingress-nginx") is None


def test_live_unreadable_ingressclasses_are_unknown() -> None:
    inventory = Inventory(
        [obj(ingress(class_name="nginx"), True), obj(ingress("b"), True)],
        RuleOptions(),
        ClusterFacts(live=True, unreadable={"IngressClass"}),
    )
    assert list(IngressClassRule().check(inventory)) == []
