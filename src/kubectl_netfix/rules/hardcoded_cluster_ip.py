"""`hardcoded-cluster-ip`: a Service's ClusterIP written where its DNS name belongs (rule 3)."""

from __future__ import annotations

import ipaddress
import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from kubectl_netfix.inventory import Inventory
from kubectl_netfix.label_selectors import matches_map
from kubectl_netfix.loader import escape_pointer_token
from kubectl_netfix.model import Applicability, Finding, Fix, Fixability, KubeObject, Severity
from kubectl_netfix.rules.base import Rule, single_patch_fix
from kubectl_netfix.workloads import containers

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Candidates only: ipaddress validates them. The guards keep versions (1.2.3.4.5), longer
# numbers, hostnames that start with an IP (10.0.0.1.nip.io) and CIDRs (10.96.0.0/12) out.
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?!\w|\.\w|/\d)")
_IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?"
    r"(?![\w:]|\.\w|/\d)"
)

# The API server gives the first address of the (primary) service range to `kubernetes`, and
# installers give the tenth to the cluster DNS Service (a soft convention, see the references).
_API_SERVICE = ("default", "kubernetes")
_API_OFFSET = 1
_DNS_OFFSET = 10


@dataclass(frozen=True)
class IPLiteral:
    start: int  # span to replace: includes the brackets of "[fd00::1]"
    end: int
    address: IPAddress


# What every match of _IPV4 ("1.2") or _IPV6 ("::", ":db8:") contains: most values have
# neither, and one search rules both patterns out.
_IP_HINT = re.compile(r"\d\.\d|:[0-9A-Fa-f]{0,4}:")


def _may_hold_ip(value: object) -> bool:
    """A string that ip_literals could find something in (the others make no Site)."""
    return isinstance(value, str) and _IP_HINT.search(value) is not None


def ip_literals(text: str) -> list[IPLiteral]:
    """Every IPv4/IPv6 address written inside `text`, left to right."""
    if not _IP_HINT.search(text):
        return []
    found: list[IPLiteral] = []
    taken: list[tuple[int, int]] = []
    for match in _IPV6.finditer(text):
        try:
            address: IPAddress = ipaddress.IPv6Address(match.group())
        except ValueError:
            continue
        start, end = match.span()
        taken.append((start, end))
        if start > 0 and text[start - 1] == "[" and text[end : end + 1] == "]":
            start, end = start - 1, end + 1
        found.append(IPLiteral(start, end, address))
    for match in _IPV4.finditer(text):
        start, end = match.span()
        if any(s <= start < e for s, e in taken):
            continue  # the tail of an IPv4-mapped IPv6 address
        try:
            address = ipaddress.IPv4Address(match.group())
        except ValueError:
            continue  # 999.1.1.1, leading zeros
        found.append(IPLiteral(start, end, address))
    found.sort(key=lambda literal: literal.start)
    return found


@dataclass(frozen=True)
class ServiceAddress:
    """A Service known to hold an address, and how sure we are of it."""

    namespace: str
    name: str
    obj: KubeObject | None  # None: inferred from the service CIDR (the `kubernetes` Service)

    def dns_name(self, cluster_domain: str) -> str:
        return f"{self.name}.{self.namespace}.svc.{cluster_domain}"

    def __str__(self) -> str:
        return f"Service {self.namespace}/{self.name}"


@dataclass
class AddressBook:
    services: dict[IPAddress, list[ServiceAddress]]
    cidrs: Sequence[IPNetwork]
    resolver_ips: set[IPAddress]  # the cluster DNS Service: never flagged


@dataclass(frozen=True)
class Site:
    """One string field that may hold an address."""

    obj: KubeObject
    pointer: str
    value: str
    where: str  # "container app env API_URL", "ConfigMap data key app.ini"
    can_hold_name: bool  # False for hostAliases[].ip
    immutable: bool  # a live Pod's spec


def service_ips(service: KubeObject) -> list[IPAddress]:
    spec = service.spec
    texts: list[object] = [spec.get("clusterIP")]
    ips = spec.get("clusterIPs")
    if isinstance(ips, list):
        texts.extend(ips)
    result: list[IPAddress] = []
    for text in texts:
        if not isinstance(text, str) or text in ("", "None"):
            continue
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            continue
        if address not in result:
            result.append(address)
    return result


def service_cidrs(inventory: Inventory) -> Sequence[IPNetwork]:
    """Live: the cluster's ServiceCIDR objects when it has any; else --service-cidr."""
    if inventory.facts.live:
        networks: list[IPNetwork] = []
        for obj in inventory.of_kind("ServiceCIDR"):
            cidrs = obj.spec.get("cidrs")
            for text in cidrs if isinstance(cidrs, list) else []:
                try:
                    networks.append(ipaddress.ip_network(str(text), strict=False))
                except ValueError:
                    continue
        if networks:
            return networks
    return inventory.options.service_cidr


def _is_dns_service(service: KubeObject, inventory: Inventory) -> bool:
    options = inventory.options
    if service.namespace != options.dns_namespace:
        return False
    if service.name == "kube-dns":
        return True
    selector = service.spec.get("selector")
    return (
        isinstance(selector, dict)
        and bool(selector)
        and matches_map(selector, options.dns_pod_labels)
    )


def address_book(inventory: Inventory) -> AddressBook:
    services: dict[IPAddress, list[ServiceAddress]] = defaultdict(list)
    resolver_ips: set[IPAddress] = set()
    for service in inventory.of_kind("Service"):
        if service.namespace is None:
            continue
        for address in service_ips(service):
            if _is_dns_service(service, inventory):
                resolver_ips.add(address)
            else:
                services[address].append(ServiceAddress(service.namespace, service.name, service))
    cidrs = service_cidrs(inventory)
    if cidrs:
        first = cidrs[0]
        api = first.network_address + _API_OFFSET
        if api in first and api not in services:
            services[api].append(ServiceAddress(*_API_SERVICE, None))
    if not resolver_ips:
        for network in cidrs:
            dns = network.network_address + _DNS_OFFSET
            if dns in network and dns not in services:
                resolver_ips.add(dns)
    return AddressBook(dict(services), cidrs, resolver_ips)


def _sites(inventory: Inventory) -> Iterator[Site]:
    live = inventory.facts.live
    for namespace in inventory.namespaces_with_pods():
        for template in inventory.pod_templates(namespace):
            base = template.spec_pointer
            immutable = live and template.is_pod
            for path, container in containers(template.spec):
                name = container.get("name")
                label = f"container {name}" if isinstance(name, str) else f"container {path}"
                env = container.get("env")
                for number, item in enumerate(env if isinstance(env, list) else []):
                    if isinstance(item, dict) and _may_hold_ip(item.get("value")):
                        var = item.get("name")
                        yield Site(
                            template.owner,
                            f"{base}{path}/env/{number}/value",
                            item["value"],
                            f"{label} env {var if isinstance(var, str) else number}",
                            True,
                            immutable,
                        )
                for field in ("command", "args"):
                    items = container.get(field)
                    for number, item in enumerate(items if isinstance(items, list) else []):
                        if _may_hold_ip(item):
                            yield Site(
                                template.owner,
                                f"{base}{path}/{field}/{number}",
                                item,
                                f"{label} {field}[{number}]",
                                True,
                                immutable,
                            )
            aliases = template.spec.get("hostAliases")
            for number, alias in enumerate(aliases if isinstance(aliases, list) else []):
                if isinstance(alias, dict) and isinstance(alias.get("ip"), str):
                    yield Site(
                        template.owner,
                        f"{base}/hostAliases/{number}/ip",
                        alias["ip"],
                        f"hostAliases[{number}]",
                        False,
                        immutable,
                    )
    for config_map in inventory.of_kind("ConfigMap"):
        data = config_map.body.get("data")
        if not isinstance(data, dict):
            continue
        for key, value in data.items():
            if isinstance(key, str) and _may_hold_ip(value):
                yield Site(
                    config_map,
                    f"/data/{escape_pointer_token(key)}",
                    value,
                    f"data key {key}",
                    True,
                    False,
                )


class HardcodedClusterIP(Rule):
    """Flags Service ClusterIPs written into pod specs and ConfigMaps instead of DNS names.

    What it does
    Looks for IPv4 and IPv6 addresses inside container `env[].value`, `command` and `args`, pod
    `hostAliases[].ip`, and ConfigMap `data` values (anywhere in the string: in a URL
    `http://10.96.0.12:8080/`, `host=10.96.0.12`, `[fd00::1]:80`). An address is flagged when it
    is the ClusterIP of a Service (files: the Services of the input that set `spec.clusterIP` or
    `clusterIPs`; live: every Service), or when it lies in the service CIDR (`--service-cidr`,
    default `10.96.0.0/12`; live: the cluster's ServiceCIDR objects) while no Service holds it:
    that one is probably broken already (an error on a live cluster read with `-A`, where every
    Service is known; a warning on files, and live with `-n`, which reads the Services of that
    namespace and kube-system only: the Service may be defined elsewhere). The first address of
    the service CIDR is the `kubernetes` API Service even when the input does not declare it.

    Never flagged: `dnsConfig.nameservers`, and the cluster DNS Service's address wherever it
    appears (the `kube-dns` Service, or the tenth address of the service CIDR when the input
    declares none): a resolver cannot be found by name, so resolver settings must hold an IP.
    Version strings (`1.2.3.4.5`), hostnames such as `10.0.0.1.nip.io` and CIDRs are not
    addresses.

    Why is this bad?
    A ClusterIP belongs to one Service object: deleting and recreating the Service (a Helm
    uninstall/install, a namespace rebuilt, a migration to another cluster) gives it another
    address, and the hardcoded one then points at nothing, or at another Service. The DNS name
    `NAME.NAMESPACE.svc.cluster.local` stays right through all of that.

    Example
    ```yaml
    env:
      - name: BACKEND_URL
        value: http://10.96.0.12:8080/api   # the ClusterIP of Service shop/backend
    ```

    Fix
    When the address is the ClusterIP of exactly one Service, the fix replaces only the address
    inside the string with the Service's DNS name, keeping the rest of the string (scheme, port,
    path, the other lines of a ConfigMap value):
    `http://backend.shop.svc.cluster.local:8080/api` (`--cluster-domain` sets the domain). The
    patch tests the whole old string and replaces it with the whole new one. `hostAliases` get a
    manual fix (an `ip` field cannot hold a name: remove the alias and use the DNS name). An
    address in the CIDR that no Service holds has no fix.

    Fix safety
    Safe when the address maps to one Service declared in the input: the name resolves to that
    same address today. The program must accept a hostname where it had an IP, and TLS clients
    then check the certificate against the name instead of the IP. The `kubernetes` API Service
    inferred from the first address of the CIDR gets an unsafe fix, since the CIDR may be a
    default rather than the cluster's. A live Pod's spec is immutable: its fix is manual (edit
    the workload that makes it). Pods read ConfigMap values at start: restart them after the fix.

    References
    - https://kubernetes.io/docs/concepts/services-networking/dns-pod-service/
    - https://kubernetes.io/docs/concepts/services-networking/service/#discovering-services
    - https://kubernetes.io/docs/concepts/services-networking/cluster-ip-allocation/
    """

    id = "hardcoded-cluster-ip"
    summary = "ClusterIP hardcoded instead of the Service's DNS name"
    kinds = (
        "Pod",
        "Deployment",
        "ReplicaSet",
        "StatefulSet",
        "DaemonSet",
        "Job",
        "CronJob",
        "ReplicationController",
        "ConfigMap",
        "Service",
        "ServiceCIDR",
    )
    default_severity = Severity.WARNING
    fixable = Fixability.SOMETIMES

    def check(self, inventory: Inventory) -> Iterator[Finding]:
        book = address_book(inventory)
        if not book.services and not book.cidrs:
            return
        for site in _sites(inventory):
            finding = self._check_site(site, book, inventory)
            if finding is not None:
                yield finding

    def _check_site(self, site: Site, book: AddressBook, inventory: Inventory) -> Finding | None:
        live = inventory.facts.live
        domain = inventory.options.cluster_domain
        problems: list[str] = []
        severity = Severity.WARNING
        # literal -> the one Service it names, for the fix
        replacements: list[tuple[IPLiteral, ServiceAddress]] = []
        for literal in ip_literals(site.value):
            address = literal.address
            if address in book.resolver_ips:
                continue
            holders = book.services.get(address, [])
            if len(holders) == 1:
                holder = holders[0]
                if holder.obj is None:
                    problems.append(
                        f"{address} is the first address of the service CIDR {book.cidrs[0]}, "
                        f"the kubernetes API Service: use {holder.dns_name(domain)} (the "
                        "address differs from cluster to cluster)"
                    )
                else:
                    problems.append(
                        f"{address} is the ClusterIP of {holder}: use {holder.dns_name(domain)}"
                    )
                replacements.append((literal, holder))
            elif holders:
                names = ", ".join(str(h) for h in holders)
                problems.append(f"{address} is the ClusterIP of several Services ({names})")
            else:
                network = next((n for n in book.cidrs if address in n), None)
                if network is None:
                    continue
                if live and inventory.facts.namespaces_read is None:
                    severity = Severity.ERROR
                    problems.append(
                        f"{address} is in the service CIDR {network} but no Service has it: "
                        "the connection is broken"
                    )
                elif live:
                    # -n: a Service of a namespace this run did not read may hold it.
                    problems.append(
                        f"{address} is in the service CIDR {network} but no Service in the "
                        "namespaces read has it (-A reads them all)"
                    )
                else:
                    problems.append(
                        f"{address} is in the service CIDR {network} but no Service in the input "
                        "has it: probably broken already"
                    )
        if not problems:
            return None
        distinct = list(dict.fromkeys(problems))
        message = f"{site.where}: " + "; ".join(distinct)
        if any(holder.obj is not None for _, holder in replacements):
            message += " (a ClusterIP changes when its Service is recreated)"
        fix = self._fix(site, replacements, domain) if replacements else None
        return self.finding(site.obj, site.pointer, message, severity=severity, fix=fix)

    def _fix(
        self, site: Site, replacements: list[tuple[IPLiteral, ServiceAddress]], domain: str
    ) -> Fix:
        names = list(dict.fromkeys(holder.dns_name(domain) for _, holder in replacements))
        addresses = list(dict.fromkeys(str(literal.address) for literal, _ in replacements))
        if not site.can_hold_name:
            return Fix(
                title=f"Remove this hostAlias and use {names[0]}",
                applicability=Applicability.MANUAL,
                note=(
                    f"hostAliases[].ip must be an IP address: delete the alias that maps "
                    f"{addresses[0]} and have the program connect to {names[0]} (or the short "
                    "Service name from the same namespace)."
                ),
            )
        title = (
            f"Use {names[0]} instead of {addresses[0]}"
            if len(names) == 1 and len(addresses) == 1
            else "Use the Services' DNS names instead of their ClusterIPs"
        )
        if site.immutable:
            return Fix(
                title=title,
                applicability=Applicability.MANUAL,
                note="A Pod's spec cannot be changed: edit the workload or manifest it comes from.",
            )
        new_value = _replace(site.value, [(lit, h.dns_name(domain)) for lit, h in replacements])
        inferred = any(holder.obj is None for _, holder in replacements)
        note = ""
        if inferred:
            note = (
                "The kubernetes API Service is inferred from the first address of the service "
                "CIDR: check --service-cidr matches the cluster."
            )
        elif site.obj.kind == "ConfigMap":
            note = "Pods read ConfigMap data when they start: restart the ones that use it."
        return single_patch_fix(
            title,
            Applicability.UNSAFE if inferred else Applicability.SAFE,
            site.obj,
            [
                {"op": "test", "path": site.pointer, "value": site.value},
                {"op": "replace", "path": site.pointer, "value": new_value},
            ],
            note=note,
        )


def _replace(text: str, replacements: Sequence[tuple[IPLiteral, str]]) -> str:
    parts: list[str] = []
    position = 0
    for literal, name in sorted(replacements, key=lambda item: item[0].start):
        parts.append(text[position : literal.start])
        parts.append(name)
        position = literal.end
    parts.append(text[position:])
    return "".join(parts)
