"""egress-dns: the semantics the fixture contract is too coarse for (exact messages, fix ops,
policyTypes defaulting, port and peer matching, odd input shapes)."""

from __future__ import annotations

import copy
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
from kubectl_netfix.rules.egress_dns import (
    DnsTarget,
    EgressDns,
    describe_selector,
    egress_isolating,
    entry_allows,
    ip_block_reaches,
    minimal_labels,
    peer_reaches,
)

CLUSTER_SCOPED = {"Namespace"}

DNS_RULE = {
    "to": [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ],
    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
}


def make(body: dict[str, Any], live: bool = False) -> KubeObject:
    metadata = body.get("metadata") or {}
    kind = body["kind"]
    namespace = None if kind in CLUSTER_SCOPED else metadata.get("namespace") or "default"
    ref = ObjectRef(body["apiVersion"], kind, namespace, metadata["name"])
    origin = ClusterOrigin("test", "1") if live else FileOrigin("test.yaml", 0, "", 1)
    return KubeObject(body=body, ref=ref, origin=origin)


def policy(
    name: str, spec: Any, namespace: str = "shop", api: str = "networking.k8s.io/v1"
) -> dict[str, Any]:
    return {
        "apiVersion": api,
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def deployment(
    name: str, namespace: str = "shop", labels: dict[str, str] | None = None, **spec: Any
) -> dict[str, Any]:
    labels = labels or {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": name, "image": "x"}], **spec},
            },
        },
    }


def deny_egress(name: str = "default-deny", **extra: Any) -> dict[str, Any]:
    return policy(name, {"podSelector": {}, "policyTypes": ["Egress"], **extra})


def inventory(
    *bodies: dict[str, Any], options: RuleOptions | None = None, **facts: Any
) -> Inventory:
    live = bool(facts.get("live"))
    return Inventory([make(b, live) for b in bodies], options, ClusterFacts(**facts))


def check(
    *bodies: dict[str, Any], options: RuleOptions | None = None, **facts: Any
) -> list[Finding]:
    return list(EgressDns().check(inventory(*bodies, options=options, **facts)))


def target(*bodies: dict[str, Any], options: RuleOptions | None = None, **facts: Any) -> DnsTarget:
    return DnsTarget.of(inventory(*bodies, options=options, **facts))


def apply_fixes(findings: list[Finding]) -> None:
    """Apply every fix to the objects in place (as --write would), in finding order."""
    for finding in findings:
        assert finding.fix is not None
        for patch in finding.fix.patches:
            patched = jsonpatch.apply_patch(patch.target.body, list(patch.ops))
            patch.target.body.clear()
            patch.target.body.update(patched)


def fix_converges(*bodies: dict[str, Any], options: RuleOptions | None = None) -> None:
    """One round of fixes leaves nothing to find (and nothing to fix)."""
    bodies = tuple(copy.deepcopy(b) for b in bodies)
    objects = [make(b) for b in bodies]
    findings = list(EgressDns().check(Inventory(objects, options)))
    assert findings
    apply_fixes(findings)
    assert list(EgressDns().check(Inventory(objects, options))) == []


# --- policyTypes defaulting ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "isolates"),
    [
        ({"podSelector": {}}, False),  # [Ingress]
        ({"podSelector": {}, "egress": []}, False),
        ({"podSelector": {}, "egress": [{"to": []}]}, True),  # + Egress: has egress rules
        ({"podSelector": {}, "policyTypes": [], "egress": [{}]}, True),  # empty = absent
        ({"podSelector": {}, "policyTypes": ["Egress"]}, True),  # deny all egress
        ({"podSelector": {}, "policyTypes": ["Ingress"], "egress": [{}]}, False),  # ignored
        ({"podSelector": {}, "policyTypes": ["Ingress", "Egress"], "egress": None}, True),
        ({"podSelector": {}, "policyTypes": "Egress"}, False),  # junk: treated as absent
        ({"podSelector": {}, "egress": "everything"}, False),
        ({"podSelector": {}, "egress": [None]}, True),  # a null rule decodes to {}
    ],
)
def test_effective_policy_types(spec: dict[str, Any], isolates: bool) -> None:
    assert (egress_isolating(make(policy("p", spec))) is not None) is isolates


def test_null_egress_rule_allows_everything() -> None:
    assert check(deployment("api"), deny_egress(egress=[None])) == []


def test_ingress_only_policy_is_never_egress_isolating() -> None:
    assert check(deployment("api"), policy("p", {"podSelector": {}})) == []


# --- ports ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "protocol"),
    [
        ({"protocol": "UDP", "port": 53}, "UDP"),
        ({"port": 53}, "TCP"),  # absent protocol is TCP
        ({"protocol": None, "port": 53}, "TCP"),
        ({}, "TCP"),  # every TCP port
        ({"protocol": "UDP"}, "UDP"),  # every UDP port
        ({"protocol": "UDP", "port": 50, "endPort": 60}, "UDP"),
        ({"protocol": "UDP", "port": 54, "endPort": 60}, None),
        ({"protocol": "UDP", "port": 53, "endPort": 40}, "UDP"),  # invalid range: the port
        ({"protocol": "UDP", "port": "53"}, "UDP"),  # a numeric string
        ({"protocol": "UDP", "port": 5353}, None),
        ({"protocol": "UDP", "port": "dns"}, "UDP"),  # CoreDNS: dns is UDP
        ({"port": "dns"}, None),  # ... not TCP
        ({"protocol": "TCP", "port": "dns-tcp"}, "TCP"),
        ({"protocol": "UDP", "port": "dns-tcp"}, None),
        ({"protocol": "UDP", "port": "metrics"}, None),
        ({"protocol": "SCTP", "port": 53}, None),
        ({"protocol": "udp", "port": 53}, None),  # the API server is case-sensitive
        ({"protocol": "UDP", "port": True}, None),
    ],
)
def test_port_entry(entry: dict[str, Any], protocol: str | None) -> None:
    assert entry_allows(entry, target()) == protocol


def test_named_ports_come_from_the_dns_pods_when_present() -> None:
    coredns = deployment("coredns", "kube-system", {"k8s-app": "kube-dns"})
    coredns["spec"]["template"]["spec"]["containers"][0]["ports"] = [
        {"name": "dns", "containerPort": 53, "protocol": "UDP"},
        {"name": "dns-tcp", "containerPort": 53},  # protocol defaults to TCP
        {"name": "domain", "containerPort": 53, "protocol": "UDP"},  # any name on the DNS port
        {"name": "metrics", "containerPort": 9153},
        "junk",
    ]
    dns = target(coredns)
    assert entry_allows({"protocol": "UDP", "port": "domain"}, dns) == "UDP"
    assert entry_allows({"protocol": "TCP", "port": "dns-tcp"}, dns) == "TCP"
    assert entry_allows({"protocol": "TCP", "port": "metrics"}, dns) is None


def test_dns_pods_without_named_ports_match_no_named_port() -> None:
    dns = target(deployment("coredns", "kube-system", {"k8s-app": "kube-dns"}))
    assert entry_allows({"protocol": "UDP", "port": "dns"}, dns) is None


# --- peers ---------------------------------------------------------------------------------------


def test_peer_selectors() -> None:
    dns = target()
    ns = {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}
    pods = {"matchLabels": {"k8s-app": "kube-dns"}}
    assert peer_reaches({"namespaceSelector": ns}, "shop", dns)
    assert peer_reaches({"namespaceSelector": ns, "podSelector": pods}, "shop", dns)
    assert peer_reaches({"namespaceSelector": {}}, "shop", dns)  # every namespace
    assert peer_reaches({"namespaceSelector": {"matchLabels": None}}, "shop", dns)
    assert not peer_reaches(
        {"namespaceSelector": ns, "podSelector": {"matchLabels": {"a": "b"}}}, "shop", dns
    )
    assert not peer_reaches(
        {"namespaceSelector": {"matchLabels": {"name": "kube-system"}}}, "shop", dns
    )
    # A podSelector alone: pods of the policy's own namespace.
    assert not peer_reaches({"podSelector": pods}, "shop", dns)
    assert peer_reaches({"podSelector": pods}, "kube-system", dns)
    assert peer_reaches({"podSelector": {}}, "kube-system", dns)
    # Empty and junk peers select nothing (the API server rejects them).
    assert not peer_reaches({}, "kube-system", dns)
    assert not peer_reaches("kube-dns", "shop", dns)
    assert not peer_reaches({"namespaceSelector": None, "podSelector": None}, "shop", dns)


def test_namespace_labels_from_a_namespace_object_and_live_facts() -> None:
    selector = {"namespaceSelector": {"matchLabels": {"name": "kube-system"}}}
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "kube-system", "labels": {"name": "kube-system"}},
    }
    assert peer_reaches(selector, "shop", target(namespace))
    live = target(live=True, namespace_labels={"kube-system": {"name": "kube-system"}})
    assert peer_reaches(selector, "shop", live)
    assert live.namespace_labels_known


@pytest.mark.parametrize(
    ("block", "reaches"),
    [
        ({"cidr": "0.0.0.0/0"}, True),
        ({"cidr": "::/0"}, True),
        ({"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}, True),
        ({"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}, True),  # 172.16/12, 192.168/16 left
        ({"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]}, False),
        ({"cidr": "10.0.0.0/8"}, True),  # may hold the pod network
        ({"cidr": "10.244.0.0/16"}, True),
        ({"cidr": "10.96.0.10/32"}, False),  # the kube-dns ClusterIP
        ({"cidr": "10.96.0.0/12"}, False),  # the service CIDR itself
        ({"cidr": "8.8.8.8/32"}, False),  # public: never the DNS pods
        ({"cidr": "169.254.20.10/32"}, False),  # NodeLocal, unless configured
        ({"cidr": "2001:db8::/32"}, False),
        ({"cidr": "fd00::/8"}, True),
        ({"cidr": "not-an-ip"}, False),
        ({"cidr": None}, False),
        ({}, False),
        ({"cidr": "0.0.0.0/0", "except": "10.0.0.0/8"}, True),  # junk except: ignored
    ],
)
def test_ip_block_in_files(block: dict[str, Any], reaches: bool) -> None:
    assert ip_block_reaches(block, target()) is reaches


def test_ip_block_with_dns_peer_cidrs() -> None:
    dns = target(options=RuleOptions(dns_peer_cidrs=("169.254.20.10/32",)))
    assert ip_block_reaches({"cidr": "169.254.20.10/32"}, dns)
    assert ip_block_reaches({"cidr": "169.254.0.0/16"}, dns)
    assert not ip_block_reaches({"cidr": "169.254.0.0/16", "except": ["169.254.20.0/24"]}, dns)


def test_ip_block_with_a_custom_service_cidr() -> None:
    options = RuleOptions(service_cidr=(ipaddress.ip_network("172.20.0.0/16"),))
    dns = target(options=options)
    assert not ip_block_reaches({"cidr": "172.20.0.10/32"}, dns)
    assert ip_block_reaches({"cidr": "10.96.0.10/32"}, dns)  # just private space now


def test_ip_block_with_live_dns_pod_ips() -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "coredns-1",
            "namespace": "kube-system",
            "labels": {"k8s-app": "kube-dns"},
        },
        "spec": {"containers": [{"name": "coredns", "image": "x"}]},
        "status": {"podIP": "10.244.1.7", "podIPs": [{"ip": "10.244.1.7"}, {"ip": "fd00::7"}]},
    }
    dns = target(pod, live=True)
    assert dns.pod_ips is not None
    assert ip_block_reaches({"cidr": "10.244.1.0/24"}, dns)
    assert ip_block_reaches({"cidr": "fd00::/64"}, dns)
    assert not ip_block_reaches({"cidr": "10.244.2.0/24"}, dns)  # private, but not there
    assert not ip_block_reaches({"cidr": "10.244.0.0/16", "except": ["10.244.1.0/24"]}, dns)


# --- findings: messages, pointers, severities ----------------------------------------------------


def test_blocked_message_and_pointer() -> None:
    [finding] = check(deployment("api"), deny_egress())
    assert finding.severity is Severity.ERROR
    assert finding.pointer == "/spec/policyTypes/0"
    assert finding.message == (
        "DNS is blocked for Deployment api: egress is isolated by NetworkPolicy default-deny and "
        "no egress rule allows port 53 over UDP or TCP to the DNS pods (k8s-app=kube-dns in "
        "namespace kube-system), so every name lookup fails"
    )


def test_udp_only_message_explains_the_tcp_retry() -> None:
    rule = {"to": DNS_RULE["to"], "ports": [{"protocol": "UDP", "port": 53}]}
    [finding] = check(deployment("api"), deny_egress(egress=[rule]))
    assert finding.severity is Severity.WARNING
    assert finding.pointer == "/spec/egress/0/ports/0"
    assert finding.message.startswith("DNS over TCP is blocked for Deployment api: egress rule 0")
    assert "512 bytes" in finding.message and "EDNS0" in finding.message
    assert "DNSSEC" in finding.message


def test_tcp_only_is_an_error_and_names_the_default_protocol() -> None:
    rule = {"ports": [{"port": 53}]}
    [finding] = check(deployment("api"), deny_egress(egress=[rule]))
    assert finding.severity is Severity.ERROR
    assert "a port entry without `protocol` means TCP" in finding.message
    explicit = {"ports": [{"protocol": "TCP", "port": 53}]}
    [finding] = check(deployment("api"), deny_egress(egress=[explicit]))
    assert "without `protocol`" not in finding.message


def test_wrong_namespace_label_names_the_labels_the_namespace_has() -> None:
    rule = copy.deepcopy(DNS_RULE)
    rule["to"][0]["namespaceSelector"] = {"matchLabels": {"name": "kube-system"}}
    [finding] = check(deployment("api"), deny_egress(egress=[rule]))
    assert finding.severity is Severity.WARNING  # the cluster's namespace may carry it
    assert finding.pointer == "/spec/egress/0/to/0/namespaceSelector/matchLabels/name"
    assert "namespaceSelector name=kube-system in egress rule 0" in finding.message
    assert "whose labels are kubernetes.io/metadata.name=kube-system" in finding.message
    assert "the input has no Namespace kube-system" in finding.message
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "kube-system", "labels": {"team": "platform"}},
    }
    [finding] = check(namespace, deployment("api"), deny_egress(egress=[rule]))
    assert finding.severity is Severity.ERROR
    assert "kubernetes.io/metadata.name=kube-system,team=platform" in finding.message
    assert "the input has no Namespace" not in finding.message


def test_wrong_namespace_expression_points_at_the_expression() -> None:
    rule = copy.deepcopy(DNS_RULE)
    rule["to"][0]["namespaceSelector"] = {
        "matchExpressions": [{"key": "name", "operator": "In", "values": ["kube-system"]}]
    }
    [finding] = check(deployment("api"), deny_egress(egress=[rule]))
    assert finding.pointer == "/spec/egress/0/to/0/namespaceSelector/matchExpressions/0"
    assert "namespaceSelector name in (kube-system)" in finding.message


def test_a_selector_not_aimed_at_dns_is_just_blocked() -> None:
    rule = {"to": [{"namespaceSelector": {"matchLabels": {"team": "data"}}}]}
    [finding] = check(deployment("api"), deny_egress(egress=[rule]))
    assert finding.pointer == "/spec/egress"
    assert finding.message.startswith("DNS is blocked for Deployment api: egress is isolated")


def test_workloads_are_named_up_to_three() -> None:
    bodies = [deployment(n) for n in ("a", "b", "c", "d", "e")]
    [finding] = check(*bodies, deny_egress())
    assert "for Deployment a, Deployment b, Deployment c and 2 more:" in finding.message


def test_one_finding_per_policy_problem_not_per_pod() -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "debug", "namespace": "shop", "labels": {"app": "debug"}},
        "spec": {"containers": [{"name": "sh", "image": "busybox"}]},
    }
    other = policy(
        "api-egress", {"podSelector": {"matchLabels": {"app": "api"}}, "policyTypes": ["Egress"]}
    )
    findings = check(deployment("api"), deployment("web"), pod, deny_egress(), other)
    # Two pod groups ({default-deny, api-egress} and {default-deny}), one problem: on the deny.
    assert [f.obj.name for f in findings] == ["default-deny"]
    assert "Deployment api, Deployment web, Pod debug" in findings[0].message
    assert "NetworkPolicies api-egress and default-deny" in findings[0].message


def test_hypothetical_pods_when_the_namespace_has_no_workloads() -> None:
    [finding] = check(deny_egress())
    assert finding.message.startswith(
        "DNS is blocked for every pod in namespace shop (no workload of shop is in the input):"
    )
    selective = policy(
        "api", {"podSelector": {"matchLabels": {"app": "api"}}, "policyTypes": ["Egress"]}
    )
    [finding] = check(selective)
    assert "for pods with app=api in namespace shop (no workload" in finding.message


def test_hypothetical_pods_get_dns_from_a_matching_selector() -> None:
    allow = policy(
        "allow-dns", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [DNS_RULE]}
    )
    selective = policy(
        "api", {"podSelector": {"matchLabels": {"app": "api"}}, "policyTypes": ["Egress"]}
    )
    # Pods with app=api are also selected by allow-dns ({}), so they have DNS.
    assert check(allow, selective) == []


def test_pods_outside_the_cluster_dns_are_not_judged() -> None:
    host = deployment("agent", hostNetwork=True)
    node_dns = deployment("probe", dnsPolicy="Default")
    assert check(host, node_dns, deny_egress()) == []
    [finding] = check(
        host, node_dns, deployment("api", dnsPolicy="ClusterFirstWithHostNet"), deny_egress()
    )
    assert "for Deployment api:" in finding.message


def test_policies_of_other_groups_and_cluster_scoped_objects_are_ignored() -> None:
    calico = deny_egress()
    calico["apiVersion"] = "crd.projectcalico.org/v1"
    assert check(deployment("api"), calico) == []
    legacy = deny_egress()
    legacy["apiVersion"] = "extensions/v1beta1"
    assert len(check(deployment("api"), legacy)) == 1


def test_dns_allowed_by_the_union_of_policies() -> None:
    udp = {"to": DNS_RULE["to"], "ports": [{"protocol": "UDP", "port": 53}]}
    tcp = {"to": DNS_RULE["to"], "ports": [{"protocol": "TCP", "port": 53}]}
    assert (
        check(deployment("api"), deny_egress("a", egress=[udp]), deny_egress("b", egress=[tcp]))
        == []
    )


# --- fixes ---------------------------------------------------------------------------------------


def test_fix_adds_one_rule_when_egress_is_absent() -> None:
    [finding] = check(deployment("api"), deny_egress())
    assert finding.fix is not None
    assert finding.fix.applicability is Applicability.SAFE
    assert (
        finding.fix.title
        == "Allow DNS (UDP and TCP 53) to k8s-app=kube-dns in namespace kube-system"
    )
    [patch] = finding.fix.patches
    assert patch.ops == [{"op": "add", "path": "/spec/egress", "value": [DNS_RULE]}]


def test_fix_appends_to_an_egress_list() -> None:
    rule = {"to": [{"ipBlock": {"cidr": "203.0.113.0/24"}}], "ports": [{"port": 443}]}
    [finding] = check(deployment("api"), deny_egress(egress=[rule]))
    assert finding.fix is not None
    assert finding.fix.patches[0].ops == [
        {"op": "add", "path": "/spec/egress/-", "value": DNS_RULE}
    ]


def test_fix_guards_a_null_egress() -> None:
    [finding] = check(deployment("api"), deny_egress(egress=None))
    assert finding.fix is not None
    assert finding.fix.patches[0].ops == [
        {"op": "test", "path": "/spec/egress", "value": None},
        {"op": "replace", "path": "/spec/egress", "value": [DNS_RULE]},
    ]


def test_fix_for_a_udp_only_rule_adds_tcp_to_that_rule() -> None:
    rule = {"to": DNS_RULE["to"], "ports": [{"protocol": "UDP", "port": "dns"}]}
    [finding] = check(deployment("api"), deny_egress(egress=[rule]))
    assert finding.fix is not None
    assert finding.fix.title == "Allow DNS over TCP (port 53) in the same egress rule"
    assert finding.fix.patches[0].ops == [
        {"op": "add", "path": "/spec/egress/0/ports/-", "value": {"protocol": "TCP", "port": 53}}
    ]


def test_fix_goes_to_the_policy_selecting_every_pod() -> None:
    first = policy(
        "a-api", {"podSelector": {"matchLabels": {"app": "api"}}, "policyTypes": ["Egress"]}
    )
    [finding] = check(deployment("api"), first, deny_egress("z-deny"))
    assert finding.obj.name == "z-deny"


def test_fix_goes_to_the_first_policy_by_name_without_a_default_deny() -> None:
    b = policy("b", {"podSelector": {"matchLabels": {"app": "api"}}, "policyTypes": ["Egress"]})
    a = policy(
        "a",
        {"podSelector": {"matchLabels": {"tier": "web"}}, "egress": [{"ports": [{"port": 443}]}]},
    )
    [finding] = check(deployment("api", labels={"app": "api", "tier": "web"}), b, a)
    assert finding.obj.name == "a"


def test_fix_never_creates_egress_isolation() -> None:
    # An ingress-only policy (no policyTypes, no egress) sorts first but isolates no egress:
    # adding a rule to it would make it isolate egress. It never gets the fix.
    ingress_only = policy("aaa-ingress", {"podSelector": {}})
    [finding] = check(deployment("api"), ingress_only, deny_egress("zzz-deny"))
    assert finding.obj.name == "zzz-deny"


@pytest.mark.parametrize(
    "rule",
    [
        {"ports": [{"protocol": "UDP", "port": 53}]},
        {"ports": [{"port": 53}]},
        {"ports": [{"port": "dns"}, {"port": "dns-tcp"}]},
        {
            "to": [{"podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
            "ports": DNS_RULE["ports"],
        },
        {"to": [{"namespaceSelector": {"matchLabels": {"name": "kube-system"}}}]},
        {"to": [{"ipBlock": {"cidr": "10.96.0.10/32"}}], "ports": DNS_RULE["ports"]},
        {
            "to": [
                {
                    "ipBlock": {
                        "cidr": "0.0.0.0/0",
                        "except": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"],
                    }
                }
            ]
        },
    ],
)
def test_one_round_of_fixes_converges(rule: dict[str, Any]) -> None:
    fix_converges(deployment("api"), deny_egress(egress=[rule]))


def test_openshift_fix_and_service_port() -> None:
    options = RuleOptions(
        dns_namespace="openshift-dns",
        dns_pod_labels={"dns.operator.openshift.io/daemonset-dns": "default"},
        dns_port=5353,
    )
    rule = {
        "to": [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "openshift-dns"}}}
        ],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
    }
    [finding] = check(deployment("api"), deny_egress(egress=[rule]), options=options)
    assert finding.pointer == "/spec/egress/0/ports/0"
    assert "listen on port 5353" in finding.message
    assert finding.fix is not None
    assert [op["value"] for op in finding.fix.patches[0].ops] == [
        {"protocol": "UDP", "port": 5353},
        {"protocol": "TCP", "port": 5353},
    ]
    fix_converges(deployment("api"), deny_egress(egress=[rule]), options=options)
    fix_converges(deployment("api"), deny_egress(), options=options)


def test_two_groups_sharing_a_misaimed_rule_get_one_fix() -> None:
    # api is selected by both policies, web by the deny alone: the same misaimed rule is the
    # diagnosis for both groups and is reported once, naming both.
    rule = {
        "to": [{"podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
        "ports": DNS_RULE["ports"],
    }
    other = policy(
        "api", {"podSelector": {"matchLabels": {"app": "api"}}, "policyTypes": ["Egress"]}
    )
    findings = check(deployment("api"), deployment("web"), deny_egress(egress=[rule]), other)
    assert len(findings) == 1
    assert "Deployment api, Deployment web" in findings[0].message


# --- odd shapes never raise ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        None,
        "junk",
        {"podSelector": None, "policyTypes": ["Egress"]},
        {"podSelector": "all", "policyTypes": ["Egress"]},
        {"podSelector": {"matchLabels": None}, "policyTypes": [None, 3, "Egress"]},
        {"podSelector": {}, "policyTypes": ["Egress"], "egress": [1, "x", None, {"to": "x"}]},
        {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{"to": [None, 3], "ports": [None, 7]}],
        },
        {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [{"ipBlock": "x"}]}]},
        {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"ipBlock": {"cidr": 5, "except": [None]}}]}],
        },
        {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{"ports": [{"port": {"a": 1}, "endPort": "x"}]}],
        },
        {
            "podSelector": {"matchExpressions": [None, {"key": "a", "operator": "Bogus"}]},
            "policyTypes": ["Egress"],
        },
        {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [
                        {
                            "namespaceSelector": {"matchExpressions": "x"},
                            "podSelector": {"matchLabels": 3},
                        }
                    ]
                }
            ],
        },
    ],
)
def test_odd_shapes_never_raise(spec: Any) -> None:
    for finding in check(deployment("api"), policy("p", spec)):
        assert finding.fix is not None
    check(policy("p", spec))  # and with hypothetical pods


def test_minimal_labels_and_describe_selector() -> None:
    selector = {
        "matchLabels": {"app": "api"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["web", "api"]},
            {"key": "canary", "operator": "DoesNotExist"},
            {"key": "team", "operator": "Exists"},
        ],
    }
    assert minimal_labels(selector) == {"app": "api", "tier": "web", "team": ""}
    assert describe_selector(selector) == "app=api,tier in (web,api),!canary,team"
    assert describe_selector({}) == "{}"
    conflicting = {
        "matchLabels": {"app": "a"},
        "matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["a"]}],
    }
    assert minimal_labels(conflicting) is None


def test_pod_labels_that_miss_the_dns_pods() -> None:
    rule = copy.deepcopy(DNS_RULE)
    rule["to"][0]["podSelector"] = {"matchLabels": {"k8s-app": "coredns"}}
    [finding] = check(deployment("api"), deny_egress(egress=[rule]))
    assert finding.severity is Severity.WARNING  # the DNS pods' labels are assumed
    assert finding.pointer == "/spec/egress/0/to/0/podSelector/matchLabels/k8s-app"
    assert "whose labels are k8s-app=kube-dns (assumed" in finding.message
    coredns = deployment("coredns", "kube-system", {"k8s-app": "kube-dns", "tier": "dns"})
    [finding] = check(coredns, deployment("api"), deny_egress(egress=[rule]))
    assert finding.severity is Severity.ERROR
    assert "whose labels are k8s-app=kube-dns,tier=dns" in finding.message
    assert "assumed" not in finding.message
    # A rule to other pods of kube-system that does not name the DNS port is not about DNS.
    other = {"to": rule["to"], "ports": [{"protocol": "TCP", "port": 443}]}
    [finding] = check(deployment("api"), deny_egress(egress=[other]))
    assert finding.pointer == "/spec/egress"


def test_resolver_ip_is_a_warning_with_the_peer_cidr_hint() -> None:
    rule = {"to": [{"ipBlock": {"cidr": "169.254.20.10/32"}}], "ports": DNS_RULE["ports"]}
    [finding] = check(deployment("api"), deny_egress(egress=[rule]))
    assert finding.severity is Severity.WARNING
    assert finding.pointer == "/spec/egress/0/to/0/ipBlock/cidr"
    assert finding.message.endswith(
        "if 169.254.20.10/32 is a NodeLocal DNSCache or another resolver your pods use, name it "
        "with --dns-peer-cidr"
    )
    assert finding.fix is not None and finding.fix.note == ""


def test_service_ip_is_an_error() -> None:
    rule = {"to": [{"ipBlock": {"cidr": "10.96.0.10/32"}}], "ports": DNS_RULE["ports"]}
    [finding] = check(deployment("api"), deny_egress(egress=[rule]))
    assert finding.severity is Severity.ERROR
    assert "is a Service address (service CIDR 10.96.0.0/12)" in finding.message


def test_blocked_message_explains_an_ip_block_cut_by_except() -> None:
    private = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
    rule = {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": private}}]}
    [finding] = check(deployment("api"), deny_egress(egress=[rule]))
    assert "; ipBlock 0.0.0.0/0 in egress rule 0 of default-deny excepts the private ranges" in (
        finding.message
    )
    with_peer = RuleOptions(dns_peer_cidrs=("100.64.0.0/10",))  # a pod network outside RFC 1918
    assert check(deployment("api"), deny_egress(egress=[rule]), options=with_peer) == []


def test_merged_problem_names_every_isolating_policy() -> None:
    bodies: list[dict[str, Any]] = [deny_egress("deny")]
    for name in ("a", "b", "c", "d"):
        bodies.append(deployment(name))
        bodies.append(
            policy(
                f"p-{name}",
                {
                    "podSelector": {"matchLabels": {"app": name}},
                    "egress": [{"ports": [{"port": 443}]}],
                },
            )
        )
    [finding] = check(*bodies)
    assert finding.obj.name == "deny"
    assert "egress is isolated by NetworkPolicies deny, p-a, p-b and 2 more and no egress rule" in (
        finding.message
    )
