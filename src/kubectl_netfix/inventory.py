"""Every object of one run, indexed once, plus the cluster facts rules need.

"Which pods does this selector match" goes through a per-namespace label index, so it costs what
the answer costs rather than a scan of every pod.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubectl_netfix import label_selectors
from kubectl_netfix.model import KubeObject
from kubectl_netfix.options import RuleOptions
from kubectl_netfix.workloads import PodTemplate, pod_template_of

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


@dataclass
class ClusterFacts:
    """What only a cluster knows; None means unknown (a file set has no server)."""

    live: bool = False
    context: str | None = None
    server_version: tuple[int, int] | None = None
    # Namespace name -> labels, as the API server reports them (live only).
    namespace_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    # Resources the run could not read (e.g. forbidden), so rules needing them stay silent.
    unreadable: set[str] = field(default_factory=set)
    # Live with -n: the namespaces whose objects were read (that one and kube-system), so a rule
    # looking for pods anywhere knows it saw only these. None: every namespace (-A, or files).
    namespaces_read: frozenset[str] | None = None
    # Live: the number of Services in the whole cluster, counted even when -n lists only some.
    service_count: int | None = None


class _LabelIndex:
    """Pod templates of one namespace, findable by any (key, value) they carry.

    Live Pods are also kept apart (`pods`): they answer "what runs where". Objects made by a
    workload (a Deployment's ReplicaSets and Pods, a CronJob's Jobs) are not templates: the
    top-level workload is what fixes patch, and a Deployment with its ReplicaSet and three Pods
    must never count as five workloads.
    """

    def __init__(self) -> None:
        self.templates: list[PodTemplate] = []
        self.pods: list[PodTemplate] = []
        self.by_pair: dict[tuple[str, str], list[int]] = defaultdict(list)

    def add(self, template: PodTemplate) -> None:
        if template.is_pod:
            self.pods.append(template)
        if template.is_controlled:
            return
        position = len(self.templates)
        self.templates.append(template)
        for key, value in template.labels.items():
            self.by_pair[(str(key), str(value))].append(position)

    def candidates(self, pairs: list[tuple[str, str]]) -> Iterable[PodTemplate]:
        if not pairs:
            return self.templates
        # The rarest required pair bounds the work.
        positions = min((self.by_pair.get(pair, []) for pair in pairs), key=len)
        return (self.templates[p] for p in positions)


class Inventory:
    def __init__(
        self,
        objects: Iterable[KubeObject],
        options: RuleOptions | None = None,
        facts: ClusterFacts | None = None,
    ) -> None:
        self.options = options or RuleOptions()
        self.facts = facts or ClusterFacts()
        self.objects: list[KubeObject] = list(objects)
        self._by_kind: dict[str, list[KubeObject]] = defaultdict(list)
        self._by_key: dict[tuple[str, str | None, str], KubeObject] = {}
        self._pods: dict[str, _LabelIndex] = defaultdict(_LabelIndex)
        self._namespace_objects: dict[str, KubeObject] = {}
        for obj in self.objects:
            self._by_kind[obj.kind].append(obj)
            self._by_key[(obj.kind, obj.namespace, obj.name)] = obj
            if obj.kind == "Namespace":
                self._namespace_objects[obj.name] = obj
            template = pod_template_of(obj)
            if template is not None and obj.namespace is not None:
                self._pods[obj.namespace].add(template)

    # --- objects -------------------------------------------------------------------------------

    def of_kind(self, *kinds: str) -> list[KubeObject]:
        if len(kinds) == 1:
            return self._by_kind.get(kinds[0], [])
        return [obj for kind in kinds for obj in self._by_kind.get(kind, [])]

    def get(self, kind: str, namespace: str | None, name: str) -> KubeObject | None:
        return self._by_key.get((kind, namespace, name))

    def controlled_by_known_owner(self, obj: KubeObject) -> bool:
        """Made by a controller that is itself in the inventory (a live Pod of a ReplicaSet, a
        ReplicaSet of a Deployment): rules report and fix the owner instead."""
        references = obj.metadata.get("ownerReferences")
        if not isinstance(references, list):
            return False
        for ref in references:
            if not isinstance(ref, Mapping) or ref.get("controller") is not True:
                continue
            kind, name = ref.get("kind"), ref.get("name")
            if (
                isinstance(kind, str)
                and isinstance(name, str)
                and self.get(kind, obj.namespace, name)
            ):
                return True
        return False

    # --- pods ----------------------------------------------------------------------------------

    def pod_templates(self, namespace: str) -> list[PodTemplate]:
        """Workload pod templates and bare Pods of a namespace (not Pods a workload made)."""
        index = self._pods.get(namespace)
        return index.templates if index else []

    def live_pods(self, namespace: str) -> list[PodTemplate]:
        """Every Pod object of a namespace (live mode; files rarely have any)."""
        index = self._pods.get(namespace)
        return index.pods if index else []

    def namespaces_with_pods(self) -> list[str]:
        return sorted(ns for ns, index in self._pods.items() if index.templates)

    def pods_matching(
        self, namespace: str, selector: Mapping[str, Any] | None
    ) -> list[PodTemplate]:
        """Templates in `namespace` matched by a LabelSelector ({} matches all)."""
        index = self._pods.get(namespace)
        if index is None or selector is None:
            return []
        pairs = label_selectors.required_pairs(selector)
        return [t for t in index.candidates(pairs) if label_selectors.matches(selector, t.labels)]

    def pods_matching_map(self, namespace: str, selector: Mapping[str, Any]) -> list[PodTemplate]:
        """Templates in `namespace` matched by a Service-style map selector."""
        index = self._pods.get(namespace)
        if index is None:
            return []
        pairs = [(str(k), str(v)) for k, v in selector.items()]
        return [
            t for t in index.candidates(pairs) if label_selectors.matches_map(selector, t.labels)
        ]

    # --- namespaces ----------------------------------------------------------------------------

    def known_namespaces(self) -> set[str]:
        names = {obj.namespace for obj in self.objects if obj.namespace}
        names.update(self._namespace_objects)
        names.update(self.facts.namespace_labels)
        return names

    def namespace_labels(self, namespace: str) -> dict[str, str]:
        """Labels of a namespace: the automatic name label plus what the source declares."""
        labels = {NAMESPACE_NAME_LABEL: namespace}
        if namespace in self.facts.namespace_labels:
            labels.update(self.facts.namespace_labels[namespace])
        obj = self._namespace_objects.get(namespace)
        if obj is not None:
            labels.update({str(k): str(v) for k, v in obj.labels.items()})
        return labels
