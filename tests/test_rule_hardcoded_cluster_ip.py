"""hardcoded-cluster-ip: address extraction, the replacement inside strings, odd shapes, live."""

from __future__ import annotations

import ipaddress
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
from kubectl_netfix.rules.hardcoded_cluster_ip import HardcodedClusterIP, ip_literals


def make(body: dict[str, Any], live: bool = False) -> KubeObject:
    meta = body.get("metadata") or {}
    ref = ObjectRef(
        body.get("apiVersion", "v1"), body["kind"], meta.get("namespace", "shop"), meta["name"]
    )
    origin = ClusterOrigin("ctx", "1") if live else FileOrigin("in.yaml", 0, "", 1)
    return KubeObject(body, ref, origin)


def service(name: str, ip: Any, namespace: str = "shop", **spec: Any) -> dict[str, Any]:
    return {
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"clusterIP": ip, **spec},
    }


def deployment(container: Any, **pod_spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"template": {"spec": {"containers": [container], **pod_spec}}},
    }


def env(value: Any) -> dict[str, Any]:
    return {"name": "app", "env": [{"name": "URL", "value": value}]}


def config_map(data: Any) -> dict[str, Any]:
    return {"kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "shop"}, "data": data}


def run(
    *bodies: dict[str, Any], live: bool = False, options: RuleOptions | None = None
) -> list[Finding]:
    inventory = Inventory(
        [make(b, live) for b in bodies],
        options=options,
        facts=ClusterFacts(live=True) if live else None,
    )
    return list(HardcodedClusterIP().check(inventory))


BACKEND = service("backend", "10.96.0.12")


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("http://10.96.0.12:8080/x", ["10.96.0.12"]),
        ("host=10.96.0.12", ["10.96.0.12"]),
        ("10.96.0.12", ["10.96.0.12"]),
        ("see 10.96.0.12.", ["10.96.0.12"]),
        ("[fd00::1]:80", ["fd00::1"]),
        ("http://[fd00:10:96::a]:8080/", ["fd00:10:96::a"]),
        ("fd00:10:96::a", ["fd00:10:96::a"]),
        ("a=10.96.0.12,b=10.96.0.13", ["10.96.0.12", "10.96.0.13"]),
        ("1.2.3.4.5", []),
        ("v10.96.0.12", []),
        ("110.96.0.123", ["110.96.0.123"]),
        ("1110.96.0.12", []),
        ("10.96.0.1234", []),
        ("10.96.0.12.nip.io", []),
        ("10.96.0.0/12", []),
        ("999.1.1.1", []),
        ("010.96.0.1", []),
        ("12:30:45", []),
        ("std::vector", []),
        ("nginx:1.25.3", []),
        ("", []),
    ],
)
def test_ip_literals(text: str, found: list[str]) -> None:
    assert [str(lit.address) for lit in ip_literals(text)] == found


def test_bracketed_ipv6_span_includes_brackets() -> None:
    [literal] = ip_literals("http://[fd00::1]:80/")
    assert (literal.start, literal.end) == (7, 16)


def test_env_url_fix_replaces_only_the_address() -> None:
    body = deployment(env("http://10.96.0.12:8080/api?x=1"))
    [finding] = run(BACKEND, body)
    assert finding.severity is Severity.WARNING
    assert finding.pointer == "/spec/template/spec/containers/0/env/0/value"
    assert finding.message == (
        "container app env URL: 10.96.0.12 is the ClusterIP of Service shop/backend: use "
        "backend.shop.svc.cluster.local (a ClusterIP changes when its Service is recreated)"
    )
    assert finding.fix is not None
    assert finding.fix.applicability is Applicability.SAFE
    ops = list(finding.fix.patches[0].ops)
    assert ops == [
        {"op": "test", "path": finding.pointer, "value": "http://10.96.0.12:8080/api?x=1"},
        {
            "op": "replace",
            "path": finding.pointer,
            "value": "http://backend.shop.svc.cluster.local:8080/api?x=1",
        },
    ]
    assert run(BACKEND, jsonpatch.apply_patch(body, ops)) == []


def test_configmap_multiline_keeps_other_lines() -> None:
    value = "a=1\nhost=10.96.0.12\n# 10.96.0.12 again\nb=2\n"
    [finding] = run(BACKEND, config_map({"app.ini": value, "n": 5}))
    assert finding.pointer == "/data/app.ini"
    assert finding.fix is not None
    new = finding.fix.patches[0].ops[1]["value"]
    assert new == (
        "a=1\nhost=backend.shop.svc.cluster.local\n# backend.shop.svc.cluster.local again\nb=2\n"
    )


def test_configmap_key_with_slash_is_escaped() -> None:
    [finding] = run(BACKEND, config_map({"conf/app": "10.96.0.12"}))
    assert finding.pointer == "/data/conf~1app"


def test_host_alias_is_a_manual_fix() -> None:
    body = deployment({"name": "app"}, hostAliases=[{"ip": "10.96.0.12", "hostnames": ["backend"]}])
    [finding] = run(BACKEND, body)
    assert finding.pointer == "/spec/template/spec/hostAliases/0/ip"
    assert finding.fix is not None
    assert finding.fix.applicability is Applicability.MANUAL
    assert finding.fix.patches == ()
    assert "backend.shop.svc.cluster.local" in finding.fix.note


def test_dns_config_nameservers_never_flagged() -> None:
    body = deployment({"name": "app"}, dnsConfig={"nameservers": ["10.96.0.12", "10.100.0.1"]})
    assert run(BACKEND, body) == []


def test_ipv6_service_and_second_family_address() -> None:
    dual = service("api", "10.96.0.40", clusterIPs=["10.96.0.40", "fd00:10:96::28"])
    [finding] = run(dual, deployment(env("[fd00:10:96::28]:443")))
    assert finding.fix is not None
    assert finding.fix.patches[0].ops[1]["value"] == "api.shop.svc.cluster.local:443"


def test_in_cidr_without_service_has_no_fix() -> None:
    [finding] = run(deployment(env("10.100.3.7:6379")))
    assert finding.fix is None
    assert "no Service in the input has it: probably broken already" in finding.message
    assert finding.severity is Severity.WARNING


def test_outside_cidr_is_clean() -> None:
    assert run(BACKEND, deployment(env("http://10.0.5.5:80 192.168.0.1"))) == []


def test_service_cidr_and_cluster_domain_options() -> None:
    options = RuleOptions(
        service_cidr=(ipaddress.ip_network("172.20.0.0/16"),), cluster_domain="corp.internal"
    )
    findings = run(
        service("backend", "172.20.9.9"),
        deployment(env("172.20.9.9 172.20.1.1 10.100.3.7")),
        options=options,
    )
    [finding] = findings
    assert "172.20.1.1 is in the service CIDR 172.20.0.0/16" in finding.message
    assert "10.100.3.7" not in finding.message
    assert finding.fix is not None
    assert finding.fix.patches[0].ops[1]["value"] == (
        "backend.shop.svc.corp.internal 172.20.1.1 10.100.3.7"
    )


def test_first_address_is_the_api_service_with_an_unsafe_fix() -> None:
    [finding] = run(deployment(env("https://10.96.0.1")))
    assert "the kubernetes API Service" in finding.message
    assert finding.fix is not None
    assert finding.fix.applicability is Applicability.UNSAFE
    assert finding.fix.patches[0].ops[1]["value"] == "https://kubernetes.default.svc.cluster.local"


def test_declared_kubernetes_service_gives_a_safe_fix() -> None:
    api = service("kubernetes", "10.96.0.1", namespace="default")
    [finding] = run(api, deployment(env("https://10.96.0.1")))
    assert finding.fix is not None
    assert finding.fix.applicability is Applicability.SAFE


def test_dns_service_address_is_exempt() -> None:
    dns = service("kube-dns", "10.96.0.10", namespace="kube-system")
    assert run(dns, BACKEND, deployment(env("10.96.0.10"))) == []
    # Without a DNS Service in the input, the conventional tenth address is exempt ...
    assert run(BACKEND, deployment(env("10.96.0.10"))) == []
    # ... but not once the input declares the DNS Service at another address.
    other_dns = service(
        "coredns", "10.96.0.53", namespace="kube-system", selector={"k8s-app": "kube-dns"}
    )
    [finding] = run(other_dns, deployment(env("10.96.0.10 10.96.0.53")))
    assert "10.96.0.10 is in the service CIDR" in finding.message
    assert "10.96.0.53" not in finding.message


def test_same_address_on_two_services_lists_both_without_fix() -> None:
    [finding] = run(
        service("backend", "10.96.0.12", namespace="a"),
        service("backend", "10.96.0.12", namespace="b"),
        config_map({"X": "10.96.0.12"}),
    )
    assert finding.fix is None
    assert "Service a/backend" in finding.message
    assert "Service b/backend" in finding.message


@pytest.mark.parametrize("ip", [None, "None", "", "not-an-ip", 5, ["10.96.0.12"]])
def test_odd_cluster_ips_are_ignored(ip: Any) -> None:
    findings = run(service("backend", ip), deployment(env("10.96.0.12")))
    assert all(f.fix is None for f in findings)


@pytest.mark.parametrize(
    "container",
    [
        {"name": "app", "env": None},
        {"name": "app", "env": [None, "x", {"name": "A"}, {"name": "B", "value": 5}]},
        {"name": "app", "args": [1, None, {"a": "10.96.0.12"}], "command": "10.96.0.12"},
        {"args": ["10.96.0.12"]},
    ],
)
def test_odd_container_shapes_never_raise(container: Any) -> None:
    findings = run(BACKEND, deployment(container))
    assert len(findings) == (1 if container.get("args") == ["10.96.0.12"] else 0)


@pytest.mark.parametrize("data", [None, [], "x", {"a": None, "b": 1, 3: "10.96.0.12"}])
def test_odd_configmap_data_never_raises(data: Any) -> None:
    assert run(BACKEND, config_map(data)) == []


# --- live ---------------------------------------------------------------------------------------


def test_live_unmatched_address_in_cidr_is_an_error() -> None:
    [finding] = run(BACKEND, deployment(env("10.100.3.7")), live=True)
    assert finding.severity is Severity.ERROR
    assert "no Service has it: the connection is broken" in finding.message


def test_live_reads_service_cidr_objects() -> None:
    cidr = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "ServiceCIDR",
        "metadata": {"name": "kubernetes"},
        "spec": {"cidrs": ["10.43.0.0/16", "bogus"]},
    }
    findings = run(cidr, deployment(env("10.43.7.7 10.100.3.7")), live=True)
    [finding] = findings
    assert "10.43.7.7 is in the service CIDR 10.43.0.0/16" in finding.message
    assert "10.100.3.7" not in finding.message


def test_live_bare_pod_gets_a_manual_fix() -> None:
    bare = {
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "shop"},
        "spec": {"containers": [env("10.96.0.12")]},
    }
    [finding] = run(BACKEND, bare, live=True)
    assert finding.fix is not None
    assert finding.fix.applicability is Applicability.MANUAL


def test_live_controlled_pods_are_not_reported_twice() -> None:
    owned = {
        "kind": "Pod",
        "metadata": {
            "name": "web-abc",
            "namespace": "shop",
            "ownerReferences": [{"kind": "ReplicaSet", "name": "web-1", "controller": True}],
        },
        "spec": {"containers": [env("10.96.0.12")]},
    }
    findings = run(BACKEND, deployment(env("10.96.0.12")), owned, live=True)
    assert [f.obj.kind for f in findings] == ["Deployment"]
