"""egress-dns: an egress NetworkPolicy that blocks DNS, or lets it through over one protocol only.

The verdict is about pods, not policies: a pod's allowed egress is the union of the egress rules of
every policy that selects it and isolates its egress, so pods are grouped by the set of policies
that select them, each set is judged once, and each problem is reported once, on the policy where
it is fixed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubectl_netfix import label_selectors
from kubectl_netfix.inventory import NAMESPACE_NAME_LABEL, Inventory
from kubectl_netfix.loader import escape_pointer_token
from kubectl_netfix.model import (
    Applicability,
    Finding,
    Fix,
    Fixability,
    JsonObject,
    KubeObject,
    ObjectPatch,
    PatchOp,
    Severity,
)
from kubectl_netfix.rules.base import Rule, effective_policy_types
from kubectl_netfix.workloads import WORKLOAD_KINDS, PodTemplate, containers

UDP = "UDP"
TCP = "TCP"
PROTOCOLS = (UDP, TCP)
BOTH = frozenset(PROTOCOLS)

# NetworkPolicy of these API groups (extensions/v1beta1 is the pre-1.16 spelling); Calico's and
# other CNIs' own `NetworkPolicy` kinds have another schema.
POLICY_GROUPS = frozenset({"networking.k8s.io", "extensions"})

# The Service port of kube-dns, which policies often name instead of the pods' own port.
SERVICE_DNS_PORT = 53

# Where pod IPs live when the input cannot say (RFC 1918 and IPv6 unique local addresses): an
# ipBlock that overlaps these may hold the DNS pods, one that does not cannot.
PRIVATE_CIDRS = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")

MAX_NAMES = 3

# Problem kinds. A pod group with DNS (partly) blocked gets one: a misaimed DNS rule (the
# namespace or pod labels, a podSelector alone, an address or port that is not the DNS pods'),
# else one protocol only, else blocked.
BLOCKED = "blocked"
UDP_ONLY = "udp-only"
TCP_ONLY = "tcp-only"
NAMESPACE_LABELS = "namespace-labels"
POD_LABELS = "pod-labels"
POD_SELECTOR_ONLY = "pod-selector-only"
SERVICE_IP = "service-ip"
SERVICE_PORT = "service-port"
NAMED_PORT = "named-port"
RESOLVER_IP = "resolver-ip"


# --- address ranges ------------------------------------------------------------------------------

# (IP version, first address, last address): plain integers, so IPv4 and IPv6 mix without casts.
Range = tuple[int, int, int]


def _range(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> Range:
    return (network.version, int(network.network_address), int(network.broadcast_address))


def _parse_range(text: Any) -> Range | None:
    if not isinstance(text, str):
        return None
    try:
        return _range(ipaddress.ip_network(text.strip(), strict=False))
    except ValueError:
        return None


def _inside(inner: Range, outer: Range) -> bool:
    return inner[0] == outer[0] and outer[1] <= inner[1] and inner[2] <= outer[2]


def _overlaps(a: Range, b: Range) -> bool:
    return a[0] == b[0] and a[1] <= b[2] and b[1] <= a[2]


def _subtract(ranges: list[Range], cut: Range) -> list[Range]:
    result: list[Range] = []
    for version, low, high in ranges:
        if not _overlaps((version, low, high), cut):
            result.append((version, low, high))
            continue
        if low < cut[1]:
            result.append((version, low, cut[1] - 1))
        if cut[2] < high:
            result.append((version, cut[2] + 1, high))
    return result


PRIVATE = tuple(_range(ipaddress.ip_network(cidr)) for cidr in PRIVATE_CIDRS)


# --- what the cluster DNS is ---------------------------------------------------------------------


@dataclass(frozen=True)
class DnsTarget:
    """The DNS pods as far as the input (and the options) tell."""

    namespace: str
    pod_labels: Mapping[str, str]  # the labels the canonical fix selects
    namespace_labels: Mapping[str, str]
    namespace_labels_known: bool  # live, or a Namespace object in the input
    pod_label_sets: tuple[Mapping[str, Any], ...]  # the DNS pods' labels (templates or options)
    pods_known: bool  # the DNS pods are in the input (else their labels are the options')
    port: int
    named_ports: Mapping[str, frozenset[str]]  # port name -> protocols the DNS pods serve on it
    pod_ips: tuple[Range, ...] | None  # known only for live pods
    peer_ranges: tuple[Range, ...]  # NodeLocal DNSCache / custom resolvers
    service_ranges: tuple[tuple[Range, str], ...]  # (range, CIDR as written)

    @classmethod
    def of(cls, inventory: Inventory) -> DnsTarget:
        options = inventory.options
        namespace = options.dns_namespace
        templates = inventory.pods_matching_map(namespace, options.dns_pod_labels)
        label_sets: tuple[Mapping[str, Any], ...] = tuple(t.labels for t in templates) or (
            dict(options.dns_pod_labels),
        )
        labels_known = (
            inventory.facts.live
            or namespace in inventory.facts.namespace_labels
            or inventory.get("Namespace", None, namespace) is not None
        )
        peers = (_parse_range(cidr) for cidr in options.dns_peer_cidrs)
        return cls(
            namespace=namespace,
            pod_labels=dict(options.dns_pod_labels),
            namespace_labels=inventory.namespace_labels(namespace),
            namespace_labels_known=labels_known,
            pod_label_sets=label_sets,
            pods_known=bool(templates),
            port=options.dns_port,
            named_ports=_named_ports(templates, options.dns_port, options.dns_port_names),
            pod_ips=_pod_ips(templates),
            peer_ranges=tuple(p for p in peers if p is not None),
            service_ranges=tuple((_range(n), str(n)) for n in options.service_cidr),
        )

    def selects_pods(self, selector: Any) -> bool:
        """A peer's podSelector (None: all pods of the selected namespaces) matches the DNS pods."""
        if not isinstance(selector, dict):
            return True
        return any(label_selectors.matches(selector, labels) for labels in self.pod_label_sets)

    def describe(self) -> str:
        labels = label_selectors.format_map(self.pod_labels) or "all pods"
        return f"{labels} in namespace {self.namespace}"


def _named_ports(
    templates: Sequence[PodTemplate], port: int, names: Sequence[str]
) -> dict[str, frozenset[str]]:
    """Port names the DNS pods serve DNS on, with their protocols.

    From the DNS pods' containers when the input has them (a name from `dns_port_names`, or any
    name on the DNS port); else CoreDNS's: the first name is UDP, the second TCP."""
    if not templates:
        return {
            name: frozenset({protocol}) for name, protocol in zip(names, PROTOCOLS, strict=False)
        }
    found: dict[str, set[str]] = {}
    for template in templates:
        for _pointer, container in containers(template.spec):
            for entry in container.get("ports") or []:
                if not isinstance(entry, dict):
                    continue
                name = entry.get("name")
                protocol = entry.get("protocol") or TCP
                if not isinstance(name, str) or protocol not in PROTOCOLS:
                    continue
                if name in names or _port_number(entry.get("containerPort")) == port:
                    found.setdefault(name, set()).add(protocol)
    return {name: frozenset(protocols) for name, protocols in found.items()}


def _pod_ips(templates: Sequence[PodTemplate]) -> tuple[Range, ...] | None:
    """The DNS pods' IPs when they are live Pods; None when unknown (files)."""
    ips: list[Range] = []
    for template in templates:
        if not template.is_pod:
            continue
        status = template.owner.body.get("status")
        if not isinstance(status, dict):
            continue
        texts = [item.get("ip") for item in status.get("podIPs") or [] if isinstance(item, dict)]
        texts.append(status.get("podIP"))
        ips.extend(r for r in (_parse_range(text) for text in texts) if r is not None)
    return tuple(ips) or None


# --- policies ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    """A NetworkPolicy that isolates the egress of the pods it selects."""

    obj: KubeObject
    selector: JsonObject
    rules: tuple[tuple[int, JsonObject], ...]  # (index in spec.egress, rule)

    @property
    def name(self) -> str:
        return self.obj.name

    @property
    def namespace(self) -> str:
        return self.obj.namespace or ""

    @property
    def selects_all(self) -> bool:
        return not self.selector.get("matchLabels") and not self.selector.get("matchExpressions")


def egress_isolating(obj: KubeObject) -> Policy | None:
    """The policy when its effective policyTypes hold Egress.

    Without policyTypes (or with an empty list) the API server sets [Ingress], plus Egress when
    spec.egress is non-empty; egress rules of a policy without Egress apply to nothing."""
    spec = obj.spec
    if "Egress" not in effective_policy_types(spec):
        return None
    egress = spec.get("egress")
    rules_list = egress if isinstance(egress, list) else []
    selector = spec.get("podSelector")
    rules = tuple(
        # A null list item decodes to an empty rule (allow all), as the API server does.
        (index, rule if isinstance(rule, dict) else {})
        for index, rule in enumerate(rules_list)
        if rule is None or isinstance(rule, dict)
    )
    return Policy(obj, selector if isinstance(selector, dict) else {}, rules)


def _isolation_pointer(policy: Policy) -> str:
    """Where a policy isolates egress: its egress rules, else the `Egress` policy type."""
    spec = policy.obj.spec
    egress = spec.get("egress")
    if isinstance(egress, list) and egress:
        return "/spec/egress"
    types = spec.get("policyTypes")
    if isinstance(types, list) and "Egress" in types:
        return f"/spec/policyTypes/{types.index('Egress')}"
    return "/spec/egress" if "egress" in spec else "/spec"


# --- what one egress rule allows -----------------------------------------------------------------


def _port_number(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _port_entries(rule: JsonObject) -> list[tuple[int, JsonObject]] | None:
    """(index, entry) of a rule's ports; None when the rule allows every port."""
    ports = rule.get("ports")
    if not isinstance(ports, list) or not ports:
        return None
    return [
        (index, entry if isinstance(entry, dict) else {})
        for index, entry in enumerate(ports)
        if entry is None or isinstance(entry, dict)
    ]


def _protocol(entry: JsonObject) -> str | None:
    protocol = entry.get("protocol")
    if protocol is None:
        return TCP  # the API default
    return protocol if protocol in PROTOCOLS else None


def _covers(entry: JsonObject, port: int) -> bool:
    """A numeric port entry (with an optional endPort range) holds `port`."""
    start = _port_number(entry.get("port"))
    if start is None:
        return False
    end = entry.get("endPort")
    if isinstance(end, int) and not isinstance(end, bool) and end >= start:
        return start <= port <= end
    return start == port


def entry_allows(entry: JsonObject, dns: DnsTarget) -> str | None:
    """The protocol on which a port entry lets DNS through, if any."""
    protocol = _protocol(entry)
    if protocol is None:
        return None
    port = entry.get("port")
    if port is None:
        return protocol  # every port of that protocol
    if _port_number(port) is not None:
        return protocol if _covers(entry, dns.port) else None
    if isinstance(port, str) and protocol in dns.named_ports.get(port, frozenset()):
        return protocol
    return None


def ports_allow(rule: JsonObject, dns: DnsTarget) -> frozenset[str]:
    entries = _port_entries(rule)
    if entries is None:
        return BOTH
    return frozenset(p for p in (entry_allows(e, dns) for _i, e in entries) if p is not None)


def ip_block_reaches(block: JsonObject, dns: DnsTarget) -> bool:
    """Whether an ipBlock may hold the DNS pods (or a configured DNS peer).

    Live pods have IPs; in files they are unknown, so a block counts when it may hold them: it
    overlaps the private ranges pod networks use (minus its `except` ranges), and is not inside
    the service CIDR (most CNIs match egress after the Service IP is translated to a pod IP)."""
    cidr = _parse_range(block.get("cidr"))
    if cidr is None:
        return False
    excepts = [r for r in (_parse_range(e) for e in _as_list(block.get("except"))) if r is not None]

    def holds(target: Range) -> bool:
        return _inside(target, cidr) and not any(_overlaps(target, cut) for cut in excepts)

    if any(holds(peer) for peer in dns.peer_ranges):
        return True
    if dns.pod_ips is not None:
        return any(holds(ip) for ip in dns.pod_ips)
    if _service_cidr_of(cidr, dns) is not None:
        return False
    remaining = [cidr]
    for cut in excepts:
        remaining = _subtract(remaining, cut)
    return any(_overlaps(part, private) for part in remaining for private in PRIVATE)


def _service_cidr_of(cidr: Range, dns: DnsTarget) -> str | None:
    """The service CIDR holding a range, if any."""
    return next((text for service, text in dns.service_ranges if _inside(cidr, service)), None)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def peer_reaches(peer: Any, policy_namespace: str, dns: DnsTarget) -> bool:
    if not isinstance(peer, dict):
        return False
    block = peer.get("ipBlock")
    if isinstance(block, dict):
        return ip_block_reaches(block, dns)
    namespaces = peer.get("namespaceSelector")
    pods = peer.get("podSelector")
    if not isinstance(namespaces, dict) and not isinstance(pods, dict):
        return False  # an empty peer: the API server rejects it
    if isinstance(namespaces, dict):
        in_namespace = label_selectors.matches(namespaces, dns.namespace_labels)
    else:
        # A podSelector alone selects pods in the policy's own namespace.
        in_namespace = policy_namespace == dns.namespace
    return in_namespace and dns.selects_pods(pods)


def destinations_reach(rule: JsonObject, policy_namespace: str, dns: DnsTarget) -> bool:
    peers = rule.get("to")
    if not isinstance(peers, list) or not peers:
        return True  # every destination
    return any(peer_reaches(peer, policy_namespace, dns) for peer in peers)


def rule_allows(rule: JsonObject, policy_namespace: str, dns: DnsTarget) -> frozenset[str]:
    """The protocols on which an egress rule lets DNS through to the DNS pods."""
    protocols = ports_allow(rule, dns)
    if not protocols or not destinations_reach(rule, policy_namespace, dns):
        return frozenset()
    return protocols


# --- diagnosis -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Misaim:
    """An egress rule meant for DNS that misses the DNS pods, and why."""

    kind: str
    policy: Policy
    rule_index: int
    pointer: str
    detail: str
    uncertain: bool = False  # the input cannot tell for sure (namespace labels, a resolver IP)
    note: str = ""

    @property
    def in_ports(self) -> bool:
        """The rule reaches the DNS pods; only a port entry is wrong."""
        return self.kind in (NAMED_PORT, SERVICE_PORT)


def _misaim(
    policy: Policy, index: int, rule: JsonObject, dns: DnsTarget, missing: frozenset[str]
) -> Misaim | None:
    base = f"/spec/egress/{index}"
    peers = rule.get("to")
    if destinations_reach(rule, policy.namespace, dns):
        return _port_misaim(policy, index, rule, dns, missing)
    if not ports_allow(rule, dns) & missing:
        return None
    for number, peer in enumerate(_as_list(peers)):
        if not isinstance(peer, dict):
            continue
        where = f"{base}/to/{number}"
        block = peer.get("ipBlock")
        if isinstance(block, dict):
            cidr = _parse_range(block.get("cidr"))
            service = _service_cidr_of(cidr, dns) if cidr is not None else None
            if service is not None:
                return Misaim(
                    SERVICE_IP,
                    policy,
                    index,
                    f"{where}/ipBlock/cidr",
                    f"ipBlock {block.get('cidr')} in egress rule {index} is a Service address "
                    f"(service CIDR {service}); most network plugins apply egress policy after a "
                    "Service IP is translated to a pod IP, so it does not let DNS through to the "
                    f"DNS pods ({dns.describe()}){_peer_hint(block)}",
                )
            if _names_dns_port(rule, dns) and not ip_block_reaches(block, dns):
                return Misaim(
                    RESOLVER_IP,
                    policy,
                    index,
                    f"{where}/ipBlock/cidr",
                    f"ipBlock {block.get('cidr')} in egress rule {index} does not hold the DNS "
                    f"pods ({dns.describe()}){_peer_hint(block)}",
                    uncertain=True,
                )
            continue
        namespaces = peer.get("namespaceSelector")
        pods = peer.get("podSelector")
        aimed_by_pods = isinstance(pods, dict) and _non_empty(pods) and dns.selects_pods(pods)
        if isinstance(namespaces, dict) and not label_selectors.matches(
            namespaces, dns.namespace_labels
        ):
            if not (aimed_by_pods or _names_value(namespaces, dns.namespace)):
                continue
            known = label_selectors.format_map(dns.namespace_labels)
            unknown = (
                ""
                if dns.namespace_labels_known
                else f" (the input has no Namespace {dns.namespace}, so only its automatic label "
                "is known)"
            )
            return Misaim(
                NAMESPACE_LABELS,
                policy,
                index,
                f"{where}/namespaceSelector{_mismatch_pointer(namespaces, dns.namespace_labels)}",
                f"namespaceSelector {describe_selector(namespaces)} in egress rule {index} "
                f"does not select the DNS namespace {dns.namespace}, whose labels are "
                f"{known}{unknown}; "
                f"select it by {NAMESPACE_NAME_LABEL}={dns.namespace}, which Kubernetes sets on "
                "every namespace",
                uncertain=not dns.namespace_labels_known,
            )
        in_dns_namespace = (
            label_selectors.matches(namespaces, dns.namespace_labels)
            if isinstance(namespaces, dict)
            else policy.namespace == dns.namespace
        )
        if (
            in_dns_namespace
            and isinstance(pods, dict)
            and not dns.selects_pods(pods)
            and _names_dns_port(rule, dns)
        ):
            labels = dns.pod_label_sets[0]
            assumed = (
                ""
                if dns.pods_known
                else " (assumed: the input has no DNS pods; set --dns-labels if yours differ)"
            )
            return Misaim(
                POD_LABELS,
                policy,
                index,
                f"{where}/podSelector{_mismatch_pointer(pods, labels)}",
                f"podSelector {describe_selector(pods)} in egress rule {index} does not select "
                f"the DNS pods in {dns.namespace}, whose labels are "
                f"{label_selectors.format_map(labels)}{assumed}",
                uncertain=not dns.pods_known,
            )
        if aimed_by_pods and policy.namespace != dns.namespace:
            return Misaim(
                POD_SELECTOR_ONLY,
                policy,
                index,
                f"{where}/podSelector",
                f"the peer podSelector {describe_selector(pods)} in egress rule {index} has no "
                f"namespaceSelector, so it selects pods in this policy's namespace "
                f"{policy.namespace}, not the DNS pods in {dns.namespace}",
            )
    return None


def _port_misaim(
    policy: Policy, index: int, rule: JsonObject, dns: DnsTarget, missing: frozenset[str]
) -> Misaim | None:
    """The rule reaches the DNS pods, but a port entry meant for DNS misses them: a port name the
    DNS pods do not serve DNS on with that protocol (`port: dns` without `protocol` means TCP,
    and CoreDNS's `dns` is UDP), or the Service port 53 where the pods listen on another port
    (egress policy sees the pod port, after translation)."""
    for number, entry in _port_entries(rule) or []:
        protocol = _protocol(entry)
        if protocol is None or entry_allows(entry, dns) is not None:
            continue
        where = f"/spec/egress/{index}/ports/{number}"
        port = entry.get("port")
        if isinstance(port, str) and _port_number(port) is None and _meant_for_dns(port, dns):
            served = dns.named_ports.get(port, frozenset())
            if protocol not in missing and not served & missing:
                continue
            given = "" if entry.get("protocol") is not None else " (no `protocol` means TCP)"
            return Misaim(
                NAMED_PORT,
                policy,
                index,
                where,
                f"port entry {port}/{protocol}{given} in egress rule {index} matches no DNS port "
                f"of the DNS pods ({dns.describe()}), which serve DNS on {_named_port_list(dns)}",
                note=f"The port entry {port}/{protocol} can then be removed.",
            )
        if (
            dns.port != SERVICE_DNS_PORT
            and protocol in missing
            and _covers(entry, SERVICE_DNS_PORT)
        ):
            return Misaim(
                SERVICE_PORT,
                policy,
                index,
                where,
                f"egress rule {index} allows port {SERVICE_DNS_PORT}, the Service port, but the "
                f"DNS pods ({dns.describe()}) listen on port {dns.port}; egress policy applies "
                "after the Service port is translated to the pod port",
                note=f"The port {SERVICE_DNS_PORT} entries can then be removed.",
            )
    return None


def _peer_hint(block: JsonObject) -> str:
    return (
        f"; if {block.get('cidr')} is a NodeLocal DNSCache or another resolver your pods use, "
        "name it with --dns-peer-cidr"
    )


def _names_dns_port(rule: JsonObject, dns: DnsTarget) -> bool:
    """The rule lists the DNS port explicitly: it is meant for DNS, wherever it points."""
    return any(
        entry.get("port") is not None
        and (entry_allows(entry, dns) is not None or _covers(entry, SERVICE_DNS_PORT))
        for _number, entry in _port_entries(rule) or []
    )


def _meant_for_dns(port_name: str, dns: DnsTarget) -> bool:
    return port_name in dns.named_ports or "dns" in port_name.lower()


def _named_port_list(dns: DnsTarget) -> str:
    names = [f"{name}/{p}" for name, ps in sorted(dns.named_ports.items()) for p in sorted(ps)]
    return ", ".join(names) or f"no named port (use port {dns.port})"


def _non_empty(selector: JsonObject) -> bool:
    return bool(selector.get("matchLabels")) or bool(selector.get("matchExpressions"))


def _names_value(selector: JsonObject, value: str) -> bool:
    """The selector mentions `value` (e.g. `name: kube-system`): it is meant for that namespace."""
    labels = selector.get("matchLabels")
    if isinstance(labels, dict) and any(str(v) == value for v in labels.values()):
        return True
    for expression in _as_list(selector.get("matchExpressions")):
        if isinstance(expression, dict) and value in [
            str(v) for v in _as_list(expression.get("values"))
        ]:
            return True
    return False


def _mismatch_pointer(selector: JsonObject, labels: Mapping[str, Any]) -> str:
    """The first part of a selector that the labels fail, relative to the selector."""
    match_labels = selector.get("matchLabels")
    if isinstance(match_labels, dict):
        for key, value in match_labels.items():
            if labels.get(str(key)) != str(value):
                return f"/matchLabels/{escape_pointer_token(str(key))}"
    for number, expression in enumerate(_as_list(selector.get("matchExpressions"))):
        if not label_selectors.matches({"matchExpressions": [expression]}, labels):
            return f"/matchExpressions/{number}"
    return ""


def describe_selector(selector: Any) -> str:
    """kubectl's selector syntax: `a=b,c in (d,e),!f`; `{}` for the empty selector."""
    if not isinstance(selector, dict):
        return "{}"
    parts: list[str] = []
    match_labels = selector.get("matchLabels")
    if isinstance(match_labels, dict):
        parts.extend(f"{key}={value}" for key, value in match_labels.items())
    for expression in _as_list(selector.get("matchExpressions")):
        if not isinstance(expression, dict):
            continue
        key, operator = expression.get("key"), expression.get("operator")
        values = ",".join(str(v) for v in _as_list(expression.get("values")))
        if operator in ("In", "NotIn"):
            parts.append(f"{key} {str(operator).lower()} ({values})")
        elif operator == "Exists":
            parts.append(str(key))
        elif operator == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts) or "{}"


# --- pods ----------------------------------------------------------------------------------------


def uses_cluster_dns(template: PodTemplate) -> bool:
    """Pods that query the cluster DNS and are subject to NetworkPolicy.

    hostNetwork pods are outside NetworkPolicy on most plugins; `dnsPolicy: Default` pods use the
    node's resolver and `None` names its own servers, so neither needs the DNS pods."""
    spec = template.spec
    if spec.get("hostNetwork") is True:
        return False
    return spec.get("dnsPolicy") not in ("Default", "None")


def minimal_labels(selector: JsonObject) -> dict[str, str] | None:
    """The smallest label set a selector matches, standing in for pods the input does not have."""
    labels: dict[str, str] = {}
    match_labels = selector.get("matchLabels")
    if isinstance(match_labels, dict):
        labels.update({str(k): str(v) for k, v in match_labels.items()})
    for expression in _as_list(selector.get("matchExpressions")):
        if not isinstance(expression, dict):
            continue
        key = str(expression.get("key"))
        values = _as_list(expression.get("values"))
        if expression.get("operator") == "In" and values:
            labels.setdefault(key, str(values[0]))
        elif expression.get("operator") == "Exists":
            labels.setdefault(key, "")
    return labels if label_selectors.matches(selector, labels) else None


@dataclass
class PodGroup:
    """Pods selected by the same set of egress-isolating policies."""

    policies: tuple[Policy, ...]
    workloads: list[str] = field(default_factory=list)  # "Deployment api"
    hypothetical: list[str] = field(default_factory=list)  # pods the input does not have


def pod_groups(inventory: Inventory, namespace: str, policies: Sequence[Policy]) -> list[PodGroup]:
    groups: dict[tuple[int, ...], PodGroup] = {}
    templates = inventory.pod_templates(namespace)
    if templates:
        selecting: dict[int, list[int]] = {}
        for number, policy in enumerate(policies):
            for template in inventory.pods_matching(namespace, policy.selector):
                if uses_cluster_dns(template):
                    selecting.setdefault(id(template), []).append(number)
        for template in templates:  # in input order
            numbers = selecting.get(id(template))
            if numbers is None:
                continue
            key = tuple(numbers)
            group = groups.setdefault(key, PodGroup(tuple(policies[n] for n in key)))
            name = f"{template.owner.kind} {template.owner.name}"
            if name not in group.workloads:
                group.workloads.append(name)
        return list(groups.values())
    # No workloads of this namespace in the input: judge the pods each selector stands for.
    seen: set[str] = set()
    for policy in policies:
        described = describe_selector(policy.selector)
        if described in seen:
            continue
        seen.add(described)
        labels = minimal_labels(policy.selector)
        if labels is None:
            continue
        key = tuple(
            n for n, other in enumerate(policies) if label_selectors.matches(other.selector, labels)
        )
        group = groups.setdefault(key, PodGroup(tuple(policies[n] for n in key)))
        if policy.selects_all:
            group.hypothetical.insert(0, f"every pod in namespace {namespace}")
        else:
            group.hypothetical.append(f"pods with {described} in namespace {namespace}")
    return list(groups.values())


# --- problems and fixes --------------------------------------------------------------------------


@dataclass
class Problem:
    """One problem of one policy, possibly shared by several pod groups."""

    policy: Policy
    pointer: str
    kind: str
    severity: Severity
    impact: str
    detail: str
    fix: Fix
    workloads: list[str] = field(default_factory=list)
    hypothetical: list[str] = field(default_factory=list)
    isolating: list[str] = field(default_factory=list)  # names of the policies isolating them

    def absorb(self, group: PodGroup) -> None:
        self.workloads.extend(w for w in group.workloads if w not in self.workloads)
        self.hypothetical.extend(h for h in group.hypothetical if h not in self.hypothetical)
        names = (p.name for p in group.policies)
        self.isolating.extend(n for n in names if n not in self.isolating)

    def who(self) -> str:
        if self.workloads:
            names = self.workloads[:MAX_NAMES]
            text = ", ".join(names)
            if len(self.workloads) > MAX_NAMES:
                text += f" and {len(self.workloads) - MAX_NAMES} more"
            return text
        namespace = self.policy.namespace
        every = [h for h in self.hypothetical if h.startswith("every pod")]
        text = ", ".join(every or self.hypothetical)
        return f"{text} (no workload of {namespace} is in the input)"

    def message(self) -> str:
        detail = self.detail
        if self.kind == BLOCKED:
            detail = f"egress is isolated by {_policy_names(sorted(self.isolating))} and {detail}"
        return f"{self.impact} for {self.who()}: {detail}"


def _impact(allowed: frozenset[str]) -> tuple[str, Severity]:
    if UDP in allowed:
        return "DNS over TCP is blocked", Severity.WARNING
    if TCP in allowed:
        return "DNS over UDP is blocked", Severity.ERROR
    return "DNS is blocked", Severity.ERROR


def dns_rule(dns: DnsTarget) -> JsonObject:
    """The egress rule the fix adds: UDP and TCP to the DNS pods, selected by namespace name."""
    peer: JsonObject = {"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: dns.namespace}}}
    if dns.pod_labels:
        peer["podSelector"] = {"matchLabels": dict(dns.pod_labels)}
    return {
        "to": [peer],
        "ports": [{"protocol": UDP, "port": dns.port}, {"protocol": TCP, "port": dns.port}],
    }


def add_rule_fix(policy: Policy, dns: DnsTarget, note: str = "") -> Fix:
    spec = policy.obj.spec
    egress = spec.get("egress")
    rule = dns_rule(dns)
    ops: list[PatchOp]
    if isinstance(egress, list):
        ops = [{"op": "add", "path": "/spec/egress/-", "value": rule}]
    elif "egress" in spec:
        # `egress: null` (or junk) is there to be replaced, guarded.
        ops = [
            {"op": "test", "path": "/spec/egress", "value": egress},
            {"op": "replace", "path": "/spec/egress", "value": [rule]},
        ]
    else:
        ops = [{"op": "add", "path": "/spec/egress", "value": [rule]}]
    title = f"Allow DNS (UDP and TCP {dns.port}) to {dns.describe()}"
    return Fix(
        title=title,
        applicability=Applicability.SAFE,
        patches=(ObjectPatch(policy.obj, ops),),
        note=note,
    )


def add_ports_fix(
    policy: Policy, rule_index: int, rule: JsonObject, dns: DnsTarget, note: str = ""
) -> Fix:
    """Port entries for the DNS protocols a rule (that reaches the DNS pods) lacks.

    What the rule lacks, not what one pod group misses, so every group sharing the rule gets the
    same fix and one run fixes them all."""
    protocols = [p for p in PROTOCOLS if p not in rule_allows(rule, policy.namespace, dns)]
    ops: list[PatchOp] = [
        {
            "op": "add",
            "path": f"/spec/egress/{rule_index}/ports/-",
            "value": {"protocol": protocol, "port": dns.port},
        }
        for protocol in protocols
    ]
    return Fix(
        title=f"Allow DNS over {' and '.join(protocols)} (port {dns.port}) in the same egress rule",
        applicability=Applicability.SAFE,
        patches=(ObjectPatch(policy.obj, ops),),
        note=note,
    )


def _policy_names(names: Sequence[str]) -> str:
    if len(names) == 1:
        return f"NetworkPolicy {names[0]}"
    if len(names) > MAX_NAMES:
        return f"NetworkPolicies {', '.join(names[:MAX_NAMES])} and {len(names) - MAX_NAMES} more"
    return f"NetworkPolicies {', '.join(names[:-1])} and {names[-1]}"


def _fix_home(policies: Sequence[Policy]) -> Policy:
    """Where a missing DNS rule goes: a policy selecting every pod (the namespace's default deny,
    the idiomatic home, fixing every pod at once), else the first by name."""
    return next((p for p in policies if p.selects_all), policies[0])


def diagnose(group: PodGroup, dns: DnsTarget) -> Problem | None:
    allowed: frozenset[str] = frozenset()
    for policy in group.policies:
        for _index, rule in policy.rules:
            allowed |= rule_allows(rule, policy.namespace, dns)
    missing = BOTH - allowed
    if not missing:
        return None
    impact, severity = _impact(allowed)

    for policy in group.policies:
        for index, rule in policy.rules:
            misaim = _misaim(policy, index, rule, dns, missing)
            if misaim is None:
                continue
            if misaim.uncertain:
                severity = Severity.WARNING
            if misaim.in_ports:
                fix = add_ports_fix(policy, index, rule, dns, misaim.note)
            elif misaim.kind in (SERVICE_IP, RESOLVER_IP):
                fix = add_rule_fix(policy, dns)  # the address may still serve a NodeLocal cache
            else:
                fix = add_rule_fix(
                    policy, dns, f"Egress rule {index} can then be corrected or removed."
                )
            return Problem(
                policy=policy,
                pointer=misaim.pointer,
                kind=misaim.kind,
                severity=severity,
                impact=impact,
                detail=misaim.detail,
                fix=fix,
            )

    if len(missing) == 1:
        # One protocol gets through: the rule that lets it through gets the other one too.
        present = next(iter(allowed))
        for policy in group.policies:
            for index, rule in policy.rules:
                if present not in rule_allows(rule, policy.namespace, dns):
                    continue
                number, entry = next(
                    (
                        (n, e)
                        for n, e in _port_entries(rule) or []
                        if entry_allows(e, dns) == present
                    ),
                    (None, {}),
                )
                if number is None:
                    continue
                return Problem(
                    policy=policy,
                    pointer=f"/spec/egress/{index}/ports/{number}",
                    kind=UDP_ONLY if present == UDP else TCP_ONLY,
                    severity=severity,
                    impact=impact,
                    detail=_one_protocol_detail(index, entry, present, dns),
                    fix=add_ports_fix(policy, index, rule, dns),
                )

    home = _fix_home(group.policies)
    return Problem(
        policy=home,
        pointer=_isolation_pointer(home),
        kind=BLOCKED,
        severity=severity,
        impact=impact,
        detail=(
            f"no egress rule allows port {dns.port} over UDP or TCP to the DNS pods "
            f"({dns.describe()}), so every name lookup fails"
            f"{_excluded_block_hint(group.policies, dns)}"
        ),
        fix=add_rule_fix(home, dns),
    )


def _excluded_block_hint(policies: Sequence[Policy], dns: DnsTarget) -> str:
    """Why an ipBlock such as `0.0.0.0/0 except 10.0.0.0/8, ...` does not count."""
    if dns.pod_ips is not None:
        return ""
    for policy in policies:
        for index, rule in policy.rules:
            if not ports_allow(rule, dns):
                continue
            for peer in _as_list(rule.get("to")):
                block = peer.get("ipBlock") if isinstance(peer, dict) else None
                if not isinstance(block, dict) or not _as_list(block.get("except")):
                    continue
                cidr = _parse_range(block.get("cidr"))
                if cidr is None or not any(_overlaps(cidr, private) for private in PRIVATE):
                    continue
                if not ip_block_reaches(block, dns):
                    return (
                        f"; ipBlock {block.get('cidr')} in egress rule {index} of {policy.name} "
                        "excepts the private ranges where pod networks, and so the DNS pods, "
                        "live (if yours is elsewhere, name it with --dns-peer-cidr)"
                    )
    return ""


def _one_protocol_detail(index: int, entry: JsonObject, present: str, dns: DnsTarget) -> str:
    if present == UDP:
        return (
            f"egress rule {index} lets DNS through over UDP only; answers larger than 512 bytes "
            "(or the EDNS0 buffer size) come back truncated and are retried over TCP, which is "
            "blocked, so lookups with large answers fail (DNSSEC, long TXT/SPF records, names "
            "with many addresses)"
        )
    default = (
        " (a port entry without `protocol` means TCP)" if entry.get("protocol") is None else ""
    )
    return (
        f"egress rule {index} lets DNS through over TCP only{default}; resolvers send queries "
        "over UDP first, so nearly every lookup times out"
    )


# --- the rule ------------------------------------------------------------------------------------


class EgressDns(Rule):
    """
    What it does
    Finds pods whose egress is isolated by NetworkPolicies that do not let DNS through to the
    cluster DNS pods over both UDP and TCP. A pod's egress is isolated when a policy selecting it
    has `Egress` in its effective `policyTypes` (absent, the API server sets `[Ingress]`, plus
    `Egress` only when `spec.egress` is non-empty); it may then reach the union of the egress
    rules of every such policy, so DNS allowed by a second policy is fine. A rule lets DNS through
    over a protocol when it has no `ports`, or a port entry of that protocol (absent means TCP)
    with the DNS port, a range holding it, or a port name the DNS pods serve DNS on with that
    protocol (CoreDNS: `dns` is UDP, `dns-tcp` is TCP; the DNS pods' own ports when the input has
    them); and when it has no `to`, or a peer that selects the DNS pods: a `namespaceSelector`
    matching the DNS namespace's labels (the automatic `kubernetes.io/metadata.name`, plus what a
    Namespace object in the input declares) with no `podSelector` or one matching the DNS pods; a
    `podSelector` alone only in the DNS namespace itself (it selects the policy's own namespace);
    an `ipBlock` holding a `--dns-peer-cidr` (NodeLocal DNSCache, custom resolvers) or, since files
    do not know pod IPs, overlapping the private ranges pod networks use once its `except` ranges
    are cut out, and not inside the service CIDR (most network plugins see the pod IP, after the
    Service IP is translated).

    One finding per problem, on the policy where it is fixed, naming up to three affected
    workloads; with no workload of a namespace in the input, each policy's selector stands for its
    pods. It names the usual mistakes: a `namespaceSelector` on a label the DNS namespace lacks
    (`name: kube-system`), a `podSelector` without `namespaceSelector`, pod labels that are not the
    DNS pods', the kube-dns ClusterIP as an `ipBlock`, `port: dns` without `protocol`, the Service
    port 53 when the pods listen elsewhere (OpenShift: 5353). Severity: error when DNS is blocked
    or UDP is; warning when only TCP is, or when the input cannot be sure (the DNS namespace's or
    pods' labels are assumed, an `ipBlock` names an unknown resolver). Pods on the host network,
    and pods with `dnsPolicy: Default` or `None`, do not use the DNS pods and are not judged.

    Why is this bad?
    With DNS blocked, every name lookup of the pod times out: the application cannot reach
    Services by name even where the policy allows the traffic itself. UDP alone is not enough:
    answers larger than 512 bytes (or the EDNS0 buffer size) are truncated and retried over TCP,
    so DNSSEC, long TXT/SPF records and names with many addresses fail intermittently. TCP alone
    breaks nearly every lookup, since resolvers ask over UDP first.

    Example
    ```yaml
    apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata:
      name: default-deny-egress
      namespace: shop
    spec:
      podSelector: {}
      policyTypes: [Egress]      # DNS is blocked for every pod of shop
    ```
    Use instead:
    ```yaml
    spec:
      podSelector: {}
      policyTypes: [Egress]
      egress:
      - to:
        - namespaceSelector:
            matchLabels:
              kubernetes.io/metadata.name: kube-system
          podSelector:
            matchLabels:
              k8s-app: kube-dns
        ports:
        - protocol: UDP
          port: 53
        - protocol: TCP
          port: 53
    ```

    Fix
    A rule that reaches the DNS pods over one protocol, or whose port entries miss them (a wrong
    port name, the Service port), gets entries for what it lacks: `add .../ports/-` of
    `{protocol: TCP, port: 53}` (or UDP), its other entries untouched. Otherwise the policy gets
    one more egress rule allowing UDP and TCP to the DNS pods, selected by the namespace's
    automatic `kubernetes.io/metadata.name` label and the DNS pod labels (`add /spec/egress/-`,
    `add /spec/egress` when it has none, a guarded `replace` of `egress: null`). When several
    policies isolate the same pods, the rule goes to one selecting every pod of the namespace
    (the default deny: one edit fixes them all), else to the first by name; a misaimed DNS rule's
    own policy gets it, and the message says what to correct. The DNS namespace, pod labels and
    port come from `--dns-namespace`, `--dns-labels`, `--dns-port` (OpenShift: `openshift-dns`,
    `dns.operator.openshift.io/daemonset-dns=default`, 5353); `--dns-peer-cidr` names NodeLocal
    DNSCache, custom resolvers, or a pod network outside the private ranges.

    Fix safety
    Safe. NetworkPolicies only allow: an added egress rule or port entry can only let more traffic
    through, namely the DNS port, to the DNS pods or to the destinations the rule already allows.
    The fix only edits policies that already isolate egress, so it never makes a pod newly
    isolated (a policy without `policyTypes` whose egress list became non-empty would start
    isolating; such a policy is never a target).

    References
    https://kubernetes.io/docs/concepts/services-networking/network-policies/
    https://kubernetes.io/docs/concepts/services-networking/network-policies/#targeting-a-namespace-by-its-name
    https://kubernetes.io/docs/reference/kubernetes-api/networking-resources/network-policy-v1/
    https://kubernetes.io/docs/reference/labels-annotations-taints/#kubernetes-io-metadata-name
    https://kubernetes.io/docs/concepts/services-networking/dns-pod-service/
    https://kubernetes.io/docs/tasks/administer-cluster/nodelocaldns/
    https://www.rfc-editor.org/rfc/rfc7766
    """

    id = "egress-dns"
    summary = "An egress NetworkPolicy blocks DNS, or lets it through over UDP or TCP only"
    kinds = ("NetworkPolicy", "Namespace", *sorted(WORKLOAD_KINDS))
    default_severity = Severity.ERROR
    fixable = Fixability.ALWAYS

    def check(self, inventory: Inventory) -> Iterator[Finding]:
        by_namespace: dict[str, list[Policy]] = {}
        for obj in inventory.of_kind("NetworkPolicy"):
            if obj.ref.group not in POLICY_GROUPS or obj.namespace is None:
                continue
            policy = egress_isolating(obj)
            if policy is not None:
                by_namespace.setdefault(obj.namespace, []).append(policy)
        if not by_namespace:
            return
        dns = DnsTarget.of(inventory)
        for namespace in sorted(by_namespace):
            policies = sorted(by_namespace[namespace], key=lambda p: p.name)
            yield from self._findings(self._problems(inventory, namespace, policies, dns))

    def _problems(
        self, inventory: Inventory, namespace: str, policies: Sequence[Policy], dns: DnsTarget
    ) -> list[Problem]:
        problems: dict[tuple[int, str], Problem] = {}
        for group in pod_groups(inventory, namespace, policies):
            problem = diagnose(group, dns)
            if problem is None:
                continue
            key = (id(problem.policy.obj), problem.pointer)
            known = problems.get(key)
            if known is None:
                problems[key] = known = problem
            elif problem.severity > known.severity:
                known.severity, known.impact = problem.severity, problem.impact
            known.absorb(group)
        return list(problems.values())

    def _findings(self, problems: Iterable[Problem]) -> Iterator[Finding]:
        for problem in problems:
            yield self.finding(
                problem.policy.obj,
                problem.pointer,
                problem.message(),
                severity=problem.severity,
                fix=problem.fix,
            )
