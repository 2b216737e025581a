"""The explicit registry of rules: `explain`, `rules` and docs/rules.md read this list."""

from __future__ import annotations

from kubectl_netfix.rules.base import Rule
from kubectl_netfix.rules.dns_ndots import DnsNdots
from kubectl_netfix.rules.egress_dns import EgressDns
from kubectl_netfix.rules.external_traffic_policy import ExternalTrafficPolicy
from kubectl_netfix.rules.hardcoded_cluster_ip import HardcodedClusterIP
from kubectl_netfix.rules.headless_dns_ttl import HeadlessDnsTtl
from kubectl_netfix.rules.ingress_class import IngressClassRule
from kubectl_netfix.rules.kube_proxy_mode import KubeProxyMode
from kubectl_netfix.rules.policy_namespace import PolicyNamespace
from kubectl_netfix.rules.rwo_shared_volume import RWOSharedVolume
from kubectl_netfix.rules.service_selector import ServiceSelector

ALL_RULES: list[type[Rule]] = [
    EgressDns,
    ServiceSelector,
    HardcodedClusterIP,
    DnsNdots,
    RWOSharedVolume,
    KubeProxyMode,
    PolicyNamespace,
    HeadlessDnsTtl,
    IngressClassRule,
    ExternalTrafficPolicy,
]


def rule_ids() -> list[str]:
    return [rule.id for rule in ALL_RULES]


def rule_by_id(rule_id: str) -> type[Rule] | None:
    return next((rule for rule in ALL_RULES if rule.id == rule_id), None)
