"""`service-selector`: a Service whose selector matches no pod (RULES.md rule 2)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubectl_netfix.inventory import Inventory
from kubectl_netfix.label_selectors import format_map
from kubectl_netfix.loader import escape_pointer_token
from kubectl_netfix.model import Applicability, Finding, Fix, Fixability, KubeObject, Severity
from kubectl_netfix.rules.base import Rule, single_patch_fix
from kubectl_netfix.workloads import PodTemplate

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
# How many nearest workloads a message lists before "and N more".
MAX_LISTED = 5


def label_text(value: Any) -> str | None:
    """A label value as the API server would store it; None for values no label can hold.

    YAML gives `version: 1` as an int and `enabled: true` as a bool: kubectl refuses both, but a
    rule must not raise on them, so they are compared in their text form."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return None


def text_labels(labels: Mapping[Any, Any]) -> dict[str, str]:
    result = {}
    for key, value in labels.items():
        text = label_text(value)
        if isinstance(key, str) and text is not None:
            result[key] = text
    return result


# Labels a controller puts on the pods it makes, which their templates never show.
STATEFULSET_POD_NAME = "statefulset.kubernetes.io/pod-name"
POD_INDEX_KEYS = ("apps.kubernetes.io/pod-index", "batch.kubernetes.io/job-completion-index")
JOB_NAME_KEYS = ("batch.kubernetes.io/job-name", "job-name")
# Hashes and uids: any value may be right, the input cannot tell.
OPAQUE_KEYS: Mapping[str, frozenset[str]] = {
    "pod-template-hash": frozenset({"Deployment", "ReplicaSet"}),
    "controller-revision-hash": frozenset({"StatefulSet", "DaemonSet"}),
    "pod-template-generation": frozenset({"DaemonSet"}),
    "controller-uid": frozenset({"Job", "CronJob"}),
    "batch.kubernetes.io/controller-uid": frozenset({"Job", "CronJob"}),
}


def controller_label(template: PodTemplate, key: str) -> bool:
    """Whether the controller of `template` sets `key` on the pods it makes."""
    kind = template.owner.kind
    if key in OPAQUE_KEYS:
        return kind in OPAQUE_KEYS[key]
    if key == STATEFULSET_POD_NAME or key == POD_INDEX_KEYS[0]:
        return kind == "StatefulSet"
    if key == POD_INDEX_KEYS[1]:
        return kind in ("Job", "CronJob")
    if key in JOB_NAME_KEYS:
        return kind in ("Job", "CronJob")
    return False


def controller_label_matches(template: PodTemplate, key: str, value: str) -> bool:
    """Whether some pod of `template` gets `key=value` from its controller."""
    if not controller_label(template, key):
        return False
    owner = template.owner
    if key in OPAQUE_KEYS:
        return True
    if key in POD_INDEX_KEYS:
        return value.isdigit()
    if key == STATEFULSET_POD_NAME:
        prefix = f"{owner.name}-"
        ordinal = value[len(prefix) :]
        if not value.startswith(prefix) or not ordinal.isdigit():
            return False
        replicas = owner.spec.get("replicas")
        if isinstance(replicas, int) and not isinstance(replicas, bool):
            return int(ordinal) < max(replicas, 1)
        return True  # scaled elsewhere (an HPA, kubectl scale): any ordinal may exist
    # job-name: a Job's own name; a CronJob's Jobs are named after it plus the schedule time.
    if owner.kind == "CronJob":
        return value.startswith(f"{owner.name}-")
    return value == owner.name


def controller_value_hint(template: PodTemplate, key: str) -> str:
    """What the controller sets `key` to, for a message."""
    owner = template.owner
    replicas = owner.spec.get("replicas")
    count = replicas if isinstance(replicas, int) and not isinstance(replicas, bool) else None
    if key == STATEFULSET_POD_NAME:
        if count is not None and count > 1:
            return f"{owner.name}-0 to {owner.name}-{count - 1}"
        return f"{owner.name}-0" if count is not None else f"{owner.name}-N"
    if key in JOB_NAME_KEYS:
        return f"{owner.name}-TIME" if owner.kind == "CronJob" else owner.name
    return "(set by the controller)"


@dataclass
class Candidate:
    """How close one workload's pod labels come to a selector."""

    template: PodTemplate
    shared: int  # selector keys the pods carry, whatever their value
    differing: list[tuple[str, str]] = field(default_factory=list)  # (key, the pods' value)
    missing: list[str] = field(default_factory=list)  # selector keys the pods lack
    # A differing value set by the controller (a StatefulSet pod name): not a label to copy.
    controller_set: bool = False

    @property
    def rank(self) -> tuple[int, int]:
        return (self.shared, -len(self.differing))

    @property
    def matches(self) -> bool:
        return not self.differing and not self.missing

    @property
    def name(self) -> str:
        return f"{self.template.owner.kind} {self.template.owner.name}"

    def describe(self) -> str:
        parts = [f"{key}={value}" for key, value in self.differing]
        text = ", ".join(parts)
        if self.missing:
            lacks = f"no {', '.join(self.missing)} label{'s' if len(self.missing) > 1 else ''}"
            text = f"{text} and {lacks}" if text else lacks
        return text


def compare(selector: Mapping[str, str], template: PodTemplate) -> Candidate:
    labels = text_labels(template.labels)
    candidate = Candidate(template, 0)
    for key, wanted in selector.items():
        if key in labels:
            candidate.shared += 1
            if labels[key] != wanted:
                candidate.differing.append((key, labels[key]))
        elif controller_label(template, key):
            candidate.shared += 1
            if not controller_label_matches(template, key, wanted):
                candidate.differing.append((key, controller_value_hint(template, key)))
                candidate.controller_set = True
        else:
            candidate.missing.append(key)
    return candidate


def nearest_workloads(selector: Mapping[str, str], templates: list[PodTemplate]) -> list[Candidate]:
    """The workloads whose pod labels come closest to `selector`.

    Closest means: the most selector keys carried (whatever their value), then the fewest of
    those with a different value. A workload that carries none of the keys is never near.
    Labels the controller adds to its pods (a StatefulSet's pod name, a Job's name, the
    template hashes) count as carried."""
    best: list[Candidate] = []
    for template in templates:
        candidate = compare(selector, template)
        if candidate.shared == 0:
            continue
        if not best or candidate.rank > best[0].rank:
            best = [candidate]
        elif candidate.rank == best[0].rank:
            best.append(candidate)
    return best


def _custom_label_maps(body: Any, depth: int = 0) -> Iterator[Mapping[str, Any]]:
    """Every `labels` / `matchLabels` map inside a custom resource (bounded depth)."""
    if depth > 8:
        return
    if isinstance(body, dict):
        for key, value in body.items():
            if key in ("labels", "matchLabels") and isinstance(value, dict):
                yield value
            elif isinstance(value, dict | list):
                yield from _custom_label_maps(value, depth + 1)
    elif isinstance(body, list):
        for item in body:
            yield from _custom_label_maps(item, depth + 1)


def is_custom_resource(obj: KubeObject) -> bool:
    """A kind served by a CRD (or an aggregated API): group with a dot, not a *.k8s.io one."""
    group = obj.ref.group
    return "." in group and not group.endswith(".k8s.io")


class ServiceSelector(Rule):
    """Flags a Service whose label selector matches no pod, so it has no endpoints.

    What it does
    Looks at every Service with a non-empty `spec.selector` (not `type: ExternalName`) and checks
    that at least one pod, or the pod template of a workload (Pod, Deployment, ReplicaSet,
    StatefulSet, DaemonSet, Job, CronJob's `jobTemplate`, ReplicationController) in the same
    namespace carries every `key=value` of the selector. Labels a controller adds to the pods it
    makes count too: a StatefulSet's `statefulset.kubernetes.io/pod-name` (`NAME-0` up to its
    replicas) and `apps.kubernetes.io/pod-index`, a Job's `job-name`, and the template hashes.

    On files the input may not hold every pod, so the rule stays silent when the namespace has
    no workload in the input, when no workload there carries even one of the selector's keys
    (the pods come from another chart, an operator, or labels set at run time), and when a
    custom resource of the namespace carries the selector's labels (an Alertmanager, an Argo
    Rollout: its operator makes the pods). On a live cluster every pod is known: it also says
    when the Service's EndpointSlices are empty, and stays silent when they hold endpoints.

    The message names the nearest workload: the one whose pod labels carry the most selector
    keys (whatever their value), then the fewest of those with another value. Several workloads
    equally near are all listed.

    Why is this bad?
    A Service that selects no pod has no endpoints: connections to its ClusterIP are refused or
    time out, and its DNS name still resolves, so the failure looks like a network problem rather
    than a typo in a label. It usually comes from a renamed app label or a selector copied from
    another chart.

    Example
    ```yaml
    kind: Service
    spec:
      selector:
        app: backend        # the pods are labelled app=backend-api
    ---
    kind: Deployment
    metadata:
      name: backend-api
    spec:
      template:
        metadata:
          labels:
            app: backend-api
    ```

    Fix
    When exactly one workload is nearest, carries every selector key, and differs in exactly one
    value, the fix replaces that selector value with the workload's (guarded by a `test` of the
    old value): `selector: {app: backend-api}`. With several equally near workloads, or more than
    one difference, there is no fix: the message lists the candidates.

    Fix safety
    Unsafe: the rule guesses which pods the Service was meant for from their labels. After the
    fix the Service sends traffic to that workload's pods; check that they serve the Service's
    `targetPort`, and that nothing else (a NetworkPolicy, a second Service, a PodMonitor) relied
    on the old value.

    References
    - https://kubernetes.io/docs/concepts/services-networking/service/
    - https://kubernetes.io/docs/tasks/debug/debug-application/debug-service/
    - https://kubernetes.io/docs/concepts/services-networking/endpoint-slices/
    """

    id = "service-selector"
    summary = "Service selector matches no pod"
    kinds = (
        "Service",
        "Pod",
        "Deployment",
        "ReplicaSet",
        "StatefulSet",
        "DaemonSet",
        "Job",
        "CronJob",
        "ReplicationController",
        "EndpointSlice",
    )
    default_severity = Severity.WARNING
    fixable = Fixability.SOMETIMES

    def __init__(self) -> None:
        self._custom_labels: dict[str, list[Mapping[str, Any]]] | None = None

    def check(self, inventory: Inventory) -> Iterator[Finding]:
        self._custom_labels = None
        live = inventory.facts.live
        if live and inventory.facts.unreadable & {"pods", "Pod"}:
            return
        slices = _endpoint_slices(inventory) if live else {}
        for service in inventory.of_kind("Service"):
            namespace = service.namespace
            spec = service.spec
            if namespace is None or spec.get("type") == "ExternalName":
                continue
            raw = spec.get("selector")
            if not isinstance(raw, dict) or not raw:
                continue
            selector = text_labels(raw)
            if len(selector) != len(raw):
                continue  # a key or value no label can hold: the API server rejects it
            templates = inventory.pod_templates(namespace)
            if not templates and not live:
                continue
            if inventory.pods_matching_map(namespace, selector):
                continue
            if any(compare(selector, t).matches for t in templates):
                continue  # matched through a label the controller adds (a pod name, a hash)
            if not live and self._custom_resource_may_make(inventory, namespace, selector):
                continue
            endpoint_note = ""
            if live:
                own = slices.get((namespace, service.name))
                if own is not None:
                    if any(_has_endpoints(s) for s in own):
                        continue  # the cluster serves it: pods we did not see
                    endpoint_note = "; its EndpointSlices have no endpoints"
            nearest = nearest_workloads(selector, templates)
            if not live and not nearest:
                # No workload carries even one selector key: on files the pods most likely come
                # from elsewhere (another chart, an operator, labels set at run time).
                continue
            yield self._finding(service, raw, selector, templates, nearest, live, endpoint_note)

    def _custom_resource_may_make(
        self, inventory: Inventory, namespace: str, selector: Mapping[str, str]
    ) -> bool:
        """A custom resource of the namespace whose labels carry the selector (an Alertmanager,
        an Argo Rollout, an OpenShift DeploymentConfig) may well make the pods."""
        if self._custom_labels is None:
            self._custom_labels = defaultdict(list)
            for obj in inventory.objects:
                if obj.namespace is not None and is_custom_resource(obj):
                    self._custom_labels[obj.namespace].extend(_custom_label_maps(obj.body))
        return any(
            all(label_text(labels.get(k)) == v for k, v in selector.items())
            for labels in self._custom_labels.get(namespace, [])
        )

    def _finding(
        self,
        service: KubeObject,
        raw: Mapping[str, Any],
        selector: dict[str, str],
        templates: list[PodTemplate],
        nearest: list[Candidate],
        live: bool,
        endpoint_note: str,
    ) -> Finding:
        namespace = service.namespace
        head = f"selector {format_map(selector)} matches no pod in namespace {namespace}"
        pointer = "/spec/selector"
        fix: Fix | None = None
        if not templates:
            detail = "; no pod or workload runs in that namespace"
        elif not nearest:
            keys = ", ".join(selector)
            names = [f"{t.owner.kind} {t.owner.name}" for t in templates[:MAX_LISTED]]
            if len(templates) > MAX_LISTED:
                names.append(f"{len(templates) - MAX_LISTED} more")
            detail = (
                f"; no workload there ({', '.join(names)}) carries "
                f"the label key{'s' if len(selector) != 1 else ''} {keys}"
            )
        elif len(nearest) == 1:
            only = nearest[0]
            detail = f"; {only.name} has {only.describe()}"
            problems = [key for key, _ in only.differing] + only.missing
            if len(problems) == 1:
                pointer = f"/spec/selector/{escape_pointer_token(problems[0])}"
            if not only.missing and len(only.differing) == 1 and not only.controller_set:
                fix = self._fix(service, raw, only)
        else:
            listed = "; ".join(f"{c.name} ({c.describe()})" for c in nearest[:MAX_LISTED])
            more = len(nearest) - MAX_LISTED
            detail = f"; equally near: {listed}" + (f"; and {more} more" if more > 0 else "")
        severity = Severity.ERROR if live else Severity.WARNING
        return self.finding(
            service,
            pointer,
            head + detail + endpoint_note,
            severity=severity,
            fix=fix,
            related=[c.template.owner for c in nearest],
        )

    def _fix(self, service: KubeObject, raw: Mapping[str, Any], nearest: Candidate) -> Fix:
        key, value = nearest.differing[0]
        path = f"/spec/selector/{escape_pointer_token(key)}"
        return single_patch_fix(
            f"Change the selector to {key}={value}, the label of {nearest.name}",
            Applicability.UNSAFE,
            service,
            [
                {"op": "test", "path": path, "value": raw[key]},
                {"op": "replace", "path": path, "value": value},
            ],
            note=(
                f"The Service then sends traffic to the pods of {nearest.name}: check they "
                "serve its targetPort and that nothing else relied on the old selector."
            ),
        )


def _endpoint_slices(inventory: Inventory) -> dict[tuple[str, str], list[KubeObject]]:
    """EndpointSlices by (namespace, Service name), from the `kubernetes.io/service-name` label."""
    result: dict[tuple[str, str], list[KubeObject]] = defaultdict(list)
    for endpoint_slice in inventory.of_kind("EndpointSlice"):
        owner = endpoint_slice.labels.get(SERVICE_NAME_LABEL)
        if isinstance(owner, str) and endpoint_slice.namespace is not None:
            result[(endpoint_slice.namespace, owner)].append(endpoint_slice)
    return result


def _has_endpoints(endpoint_slice: KubeObject) -> bool:
    endpoints = endpoint_slice.body.get("endpoints")
    return isinstance(endpoints, list) and any(isinstance(e, dict) for e in endpoints)
