"""The facts a rule may need that the input cannot always tell, with their defaults.

Set from command-line flags (and, later, `.netfix.yaml`); the rules only read them.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field


@dataclass
class RuleOptions:
    # Namespace for objects without metadata.namespace in files (kubectl apply's -n).
    default_namespace: str = "default"
    # Where the cluster DNS pods are (OpenShift: openshift-dns, dns-default, 5353).
    dns_namespace: str = "kube-system"
    dns_pod_labels: dict[str, str] = field(default_factory=lambda: {"k8s-app": "kube-dns"})
    dns_port: int = 53
    dns_port_names: tuple[str, ...] = ("dns", "dns-tcp")
    # Extra egress peers that serve DNS (NodeLocal DNSCache, custom resolvers), as CIDRs.
    dns_peer_cidrs: tuple[str, ...] = ()
    # hardcoded-cluster-ip
    service_cidr: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = (
        ipaddress.ip_network("10.96.0.0/12"),
    )
    cluster_domain: str = "cluster.local"
    # dns-ndots
    ndots: str = "2"
    # rwo-shared-volume, kube-proxy-mode: the target Kubernetes version, e.g. (1, 31)
    kube_version: tuple[int, int] | None = None
    # kube-proxy-mode
    service_threshold: int = 1000
    service_count: int | None = None
    proxy_mode: str | None = None
    # headless-dns-ttl
    max_dns_ttl: int = 10
    # ingress-class: classes known to exist when the input declares none
    ingress_classes: tuple[str, ...] = ()


def parse_kube_version(text: str) -> tuple[int, int]:
    """'1.31', 'v1.31.2', '1.31+' -> (1, 31)."""
    cleaned = text.strip().lstrip("v")
    parts = cleaned.split(".")
    try:
        major = int(parts[0])
        minor = int("".join(ch for ch in parts[1] if ch.isdigit()))
    except (IndexError, ValueError):
        raise ValueError(f"invalid Kubernetes version {text!r} (expected e.g. 1.31)") from None
    return major, minor
