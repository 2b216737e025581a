"""Where each workload kind keeps its pod template, so rules never hard-code those paths."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from kubectl_netfix.model import JsonObject, KubeObject

# kind -> JSON pointer of the pod template (metadata + spec) inside the object.
POD_TEMPLATE_POINTERS: Mapping[str, str] = {
    "Pod": "",
    "Deployment": "/spec/template",
    "ReplicaSet": "/spec/template",
    "StatefulSet": "/spec/template",
    "DaemonSet": "/spec/template",
    "Job": "/spec/template",
    "ReplicationController": "/spec/template",
    "CronJob": "/spec/jobTemplate/spec/template",
    "PodTemplate": "/template",
}

WORKLOAD_KINDS = frozenset(POD_TEMPLATE_POINTERS) - {"PodTemplate"}

CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")


@dataclass(frozen=True)
class PodTemplate:
    """The pods a workload makes (or a live Pod itself), as the rules need them."""

    owner: KubeObject
    pointer: str  # pointer of the template in owner.body ("" for a Pod)
    labels: Mapping[str, Any]
    spec: JsonObject

    @property
    def spec_pointer(self) -> str:
        return f"{self.pointer}/spec"

    @property
    def node_name(self) -> str | None:
        node = self.spec.get("nodeName")
        return node if isinstance(node, str) else None

    @property
    def is_pod(self) -> bool:
        return self.owner.kind == "Pod"

    @property
    def is_controlled(self) -> bool:
        """Made by another workload (a Deployment's ReplicaSet, its Pods, a CronJob's Job):
        fixes go to the top-level workload, and counting both would count one app twice."""
        return is_controlled(self.owner)


def is_controlled(obj: KubeObject) -> bool:
    references = obj.metadata.get("ownerReferences")
    if not isinstance(references, list):
        return False
    return any(isinstance(ref, dict) and ref.get("controller") is True for ref in references)


def _walk(body: Any, pointer: str) -> Any:
    node = body
    for token in pointer.lstrip("/").split("/") if pointer else []:
        if not isinstance(node, dict):
            return None
        node = node.get(token)
    return node


def pod_template_of(obj: KubeObject) -> PodTemplate | None:
    pointer = POD_TEMPLATE_POINTERS.get(obj.kind)
    if pointer is None or obj.kind == "PodTemplate":
        return None
    template = _walk(obj.body, pointer)
    if not isinstance(template, dict):
        return None
    spec = template.get("spec")
    if not isinstance(spec, dict):
        return None
    metadata = template.get("metadata")
    labels = metadata.get("labels") if isinstance(metadata, dict) else None
    return PodTemplate(obj, pointer, labels if isinstance(labels, dict) else {}, spec)


def containers(spec: Mapping[str, Any]) -> Iterator[tuple[str, JsonObject]]:
    """(pointer relative to the pod spec, container) for every container of a pod spec."""
    for list_name in CONTAINER_LISTS:
        items = spec.get(list_name)
        if not isinstance(items, list):
            continue
        for number, container in enumerate(items):
            if isinstance(container, dict):
                yield f"/{list_name}/{number}", container
