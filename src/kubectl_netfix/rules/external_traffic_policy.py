"""external-traffic-policy: a LoadBalancer (or NodePort) Service that loses the client IP."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from kubectl_netfix import label_selectors
from kubectl_netfix.inventory import Inventory
from kubectl_netfix.model import (
    Applicability,
    Finding,
    Fix,
    Fixability,
    KubeObject,
    ObjectPatch,
    PatchOp,
    Severity,
)
from kubectl_netfix.rules.base import Rule, set_ops
from kubectl_netfix.workloads import PodTemplate

HOSTNAME_KEY = "kubernetes.io/hostname"
PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"
REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"

# Service annotations (key -> value, compared without case) under which the load balancer sends
# traffic straight to pod IPs, bypassing node ports and kube-proxy: externalTrafficPolicy does
# not apply and the client IP is the load balancer's business. Only what truly targets pods:
# - AWS Load Balancer Controller and EKS Auto Mode, NLB with IP targets (the default target type,
#   with or without `loadBalancerClass: service.k8s.aws/nlb`, is `instance`, i.e. node ports):
#   https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/guide/service/annotations/
# - the same controller's v2.0/v2.1 spelling, still honoured: `aws-load-balancer-type: nlb-ip`
#   https://kubernetes-sigs.github.io/aws-load-balancer-controller/v2.1/guide/service/nlb_ip_mode/
# - Alibaba Cloud ACK with Terway: pod ENIs attached to the load balancer as backends.
# - Tencent TKE: CLB-to-pod direct access.
# Not listed: GKE's `cloud.google.com/neg` (container-native load balancing is for Ingress and
# standalone NEGs; the Service's own L4 load balancer still targets nodes), MetalLB, Cilium and
# kube-vip (traffic arrives on a node and kube-proxy or eBPF forwards it: the policy matters).
POD_TARGET_ANNOTATIONS: Mapping[str, str] = {
    "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
    "service.beta.kubernetes.io/aws-load-balancer-type": "nlb-ip",
    "service.beta.kubernetes.io/backend-type": "eni",
    "service.cloud.tencent.com/direct-access": "true",
}

# Kinds whose pod template the fix may change: not bare Pods (scheduling fields are immutable),
# not Jobs (their template is immutable), not DaemonSets (one pod per node already).
SPREADABLE_KINDS = frozenset(
    {"Deployment", "ReplicaSet", "StatefulSet", "ReplicationController", "CronJob"}
)


def targets_pods_directly(service: KubeObject) -> str | None:
    """The annotation that makes the load balancer target pod IPs, if any."""
    for key, wanted in POD_TARGET_ANNOTATIONS.items():
        value = service.annotations.get(key)
        if isinstance(value, str) and value.strip().lower() == wanted:
            return f"{key}: {value}"
    return None


def spreads_per_node(template: PodTemplate) -> bool:
    """At most (or preferably) one of its own pods per node already: a pod anti-affinity term
    on the hostname (a required term on any topology key implies one per node too), or a
    topology spread constraint on the hostname, whose selector matches the template's labels."""
    labels = template.labels
    spec = template.spec
    affinity = spec.get("affinity")
    anti = affinity.get("podAntiAffinity") if isinstance(affinity, dict) else None
    if isinstance(anti, dict):
        required = anti.get(REQUIRED)
        for term in required if isinstance(required, list) else []:
            if _term_selects(term, labels, any_key=True):
                return True
        preferred = anti.get(PREFERRED)
        for weighted in preferred if isinstance(preferred, list) else []:
            term = weighted.get("podAffinityTerm") if isinstance(weighted, dict) else None
            if _term_selects(term, labels, any_key=False):
                return True
    constraints = spec.get("topologySpreadConstraints")
    for constraint in constraints if isinstance(constraints, list) else []:
        if _term_selects(constraint, labels, any_key=False):
            return True
    return False


def _term_selects(term: Any, labels: Mapping[str, Any], any_key: bool) -> bool:
    if not isinstance(term, dict):
        return False
    key = term.get("topologyKey")
    if not isinstance(key, str) or not (key == HOSTNAME_KEY or (any_key and key)):
        return False
    selector = term.get("labelSelector")
    return isinstance(selector, dict) and label_selectors.matches(selector, labels)


def anti_affinity_term(selector: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "weight": 100,
        "podAffinityTerm": {
            "topologyKey": HOSTNAME_KEY,
            "labelSelector": {"matchLabels": dict(selector)},
        },
    }


def anti_affinity_ops(template: PodTemplate, selector: Mapping[str, Any]) -> list[PatchOp]:
    """The fewest ops that add the preferred hostname anti-affinity term to the template."""
    term = anti_affinity_term(selector)
    spec = template.spec
    path = f"{template.spec_pointer}/affinity"
    affinity = spec.get("affinity")
    if not isinstance(affinity, dict):
        value = {"podAntiAffinity": {PREFERRED: [term]}}
        return set_ops(path, "affinity" in spec, affinity, value)
    path += "/podAntiAffinity"
    anti = affinity.get("podAntiAffinity")
    if not isinstance(anti, dict):
        return set_ops(path, "podAntiAffinity" in affinity, anti, {PREFERRED: [term]})
    path += f"/{PREFERRED}"
    preferred = anti.get(PREFERRED)
    if not isinstance(preferred, list):
        return set_ops(path, PREFERRED in anti, preferred, [term])
    return [{"op": "add", "path": f"{path}/-", "value": term}]


class ExternalTrafficPolicy(Rule):
    """
    What it does
    Finds Services of `type: LoadBalancer` (warning) or `type: NodePort` (info) whose
    `externalTrafficPolicy` is absent or `Cluster`, unless the load balancer sends traffic to
    pod IPs directly (AWS `aws-load-balancer-nlb-target-type: ip` or the older
    `aws-load-balancer-type: nlb-ip`, Alibaba `backend-type: eni`, Tencent `direct-access`).
    Services without a selector are left alone: their endpoints are not pods kube-proxy can
    keep local, and `Local` would leave them without any.

    Why is this bad?
    With `Cluster`, the load balancer (or a client of the node port) reaches any node, and
    kube-proxy forwards the connection to a pod on any node, SNATing the source to the node's
    IP: the application sees node IPs, not clients, so IP allow-lists, rate limits, geo-IP and
    audit logs are wrong, and each connection may take an extra hop between nodes.
    `externalTrafficPolicy: Local` keeps the client IP and the hop, at a price: a node without
    a ready local pod drops the traffic and fails the load balancer's health check
    (`healthCheckNodePort`), so the pods must be spread over nodes and rollouts must keep a
    ready pod on each node that has one.

    Example
    ```yaml
    kind: Service
    spec:
      type: LoadBalancer
      selector:
        app: web
    ```
    Use instead:
    ```yaml
    kind: Service
    spec:
      type: LoadBalancer
      externalTrafficPolicy: Local
      selector:
        app: web
    ---
    kind: Deployment
    spec:
      template:
        spec:
          affinity:
            podAntiAffinity:
              preferredDuringSchedulingIgnoredDuringExecution:
                - weight: 100
                  podAffinityTerm:
                    topologyKey: kubernetes.io/hostname
                    labelSelector:
                      matchLabels:
                        app: web
    ```

    Fix
    One fix that patches several objects: `externalTrafficPolicy: Local` on the Service (an
    `add`, or a guarded `replace` of `Cluster`), and on each workload behind it (Deployment,
    ReplicaSet, StatefulSet, ReplicationController, CronJob in the Service's namespace, matched
    by its selector) that does not already keep one pod per node (a pod anti-affinity or a
    topology spread constraint on `kubernetes.io/hostname` over its own labels) a preferred pod
    anti-affinity: weight 100, `topologyKey: kubernetes.io/hostname`, the Service's selector,
    added with the fewest operations for the shape found. DaemonSets already run one pod per
    node; bare Pods and Jobs cannot change their template and are left as they are.

    Fix safety
    Unsafe: it changes where traffic may go. Nodes without a ready pod stop receiving traffic
    from the load balancer once its health check notices (seconds to a minute, depending on the
    cloud), so a node whose only pod is being replaced drops connections meanwhile: roll out
    with `maxUnavailable: 0` and a surge. Traffic is balanced per node, not per pod: a node with
    three pods gets the same share as a node with one, which the anti-affinity mitigates. For
    NodePort, whatever sends traffic to the nodes must health-check them. The anti-affinity is
    only preferred, so it never blocks scheduling, and the pods are spread as they are
    re-created.

    References
    https://kubernetes.io/docs/tasks/access-application-cluster/create-external-load-balancer/#preserving-the-client-source-ip
    https://kubernetes.io/docs/tutorials/services/source-ip/
    https://kubernetes.io/docs/reference/networking/virtual-ips/#traffic-policies
    https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#inter-pod-affinity-and-anti-affinity
    https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/guide/service/nlb/
    """

    id = "external-traffic-policy"
    summary = "LoadBalancer with externalTrafficPolicy Cluster loses the client IP"
    kinds = (
        "Service",
        "Deployment",
        "ReplicaSet",
        "StatefulSet",
        "DaemonSet",
        "ReplicationController",
        "CronJob",
    )
    default_severity = Severity.WARNING
    fixable = Fixability.ALWAYS

    def check(self, inventory: Inventory) -> Iterator[Finding]:
        for service in inventory.of_kind("Service"):
            spec = service.spec
            service_type = spec.get("type")
            if service_type not in ("LoadBalancer", "NodePort"):
                continue
            policy = spec.get("externalTrafficPolicy")
            if policy not in (None, "", "Cluster"):
                continue  # Local, or a value the API server would refuse
            if targets_pods_directly(service) is not None:
                continue
            selector = spec.get("selector")
            if not isinstance(selector, dict) or not selector:
                continue
            yield self._finding(service, service_type, policy, selector, inventory)

    def _finding(
        self,
        service: KubeObject,
        service_type: str,
        policy: Any,
        selector: Mapping[str, Any],
        inventory: Inventory,
    ) -> Finding:
        spec = service.spec
        present = "externalTrafficPolicy" in spec
        if policy == "Cluster":
            stated = "externalTrafficPolicy: Cluster"
        elif present:
            stated = f"externalTrafficPolicy: {json.dumps(policy)} (Cluster by default)"
        else:
            stated = "no externalTrafficPolicy (Cluster by default)"
        if service_type == "LoadBalancer":
            message = (
                f"Service {service.name} is type LoadBalancer with {stated}: the load balancer "
                "spreads connections over every node and kube-proxy forwards them to a pod on "
                "any node, SNATing the client IP to the node's, so the pods never see client "
                "IPs. With Local the client IP is kept, but nodes without a ready local pod fail "
                "the load balancer's health check and get no traffic, so the pods must be spread "
                "over nodes and rollouts must keep one ready pod per node."
            )
            severity = Severity.WARNING
        else:
            message = (
                f"Service {service.name} is type NodePort with {stated}: a connection to the "
                "node port of any node is forwarded to a pod on any node and its source IP is "
                "SNATed to the node's, so the pods see node IPs instead of client IPs. With "
                "Local the client IP is kept, but only nodes running a ready pod answer on the "
                "node port, so whatever sends traffic to the nodes must health-check them."
            )
            severity = Severity.INFO
        pointer = "/spec/externalTrafficPolicy" if present else "/spec/type"
        fix = self._fix(service, policy, present, selector, inventory)
        return self.finding(service, pointer, message, severity=severity, fix=fix)

    def _fix(
        self,
        service: KubeObject,
        policy: Any,
        present: bool,
        selector: Mapping[str, Any],
        inventory: Inventory,
    ) -> Fix:
        patches = [
            ObjectPatch(service, set_ops("/spec/externalTrafficPolicy", present, policy, "Local"))
        ]
        spread: list[str] = []
        kept: list[str] = []
        namespace = service.namespace or inventory.options.default_namespace
        for template in inventory.pods_matching_map(namespace, selector):
            owner = template.owner
            if inventory.controlled_by_known_owner(owner):
                continue
            label = f"{owner.kind} {owner.name}"
            if owner.kind == "DaemonSet":
                kept.append(f"{label} (one pod per node already)")
            elif owner.kind == "Pod":
                kept.append(f"{label} (a bare Pod: its affinity cannot be changed)")
            elif owner.kind not in SPREADABLE_KINDS:
                kept.append(f"{label} (its pod template cannot be changed)")
            elif spreads_per_node(template):
                kept.append(f"{label} (already spread over nodes)")
            else:
                patches.append(ObjectPatch(owner, anti_affinity_ops(template, selector)))
                spread.append(label)
        selector_text = label_selectors.format_map(selector)
        notes = []
        if spread:
            notes.append(
                f"Adds a preferred pod anti-affinity on {HOSTNAME_KEY} ({selector_text}) to "
                f"{', '.join(spread)}."
            )
        if kept:
            notes.append(f"Unchanged: {', '.join(kept)}.")
        if not spread and not kept:
            notes.append(
                f"No workload matching {selector_text} is in the input: spread its pods over "
                "nodes (pod anti-affinity or a topology spread constraint on "
                f"{HOSTNAME_KEY})."
            )
        notes.append(
            "Keep a ready pod on each node during rollouts (for a Deployment, maxUnavailable: 0 "
            "with a surge): the load balancer only stops sending to a node without one after "
            "its health check fails."
        )
        title = "Set externalTrafficPolicy to Local"
        if spread:
            title += " and prefer one pod per node"
        return Fix(
            title=title,
            applicability=Applicability.UNSAFE,
            patches=tuple(patches),
            note=" ".join(notes),
        )
