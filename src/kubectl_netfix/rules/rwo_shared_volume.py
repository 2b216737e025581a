"""`rwo-shared-volume`: a ReadWriteOnce claim mounted by more than one pod (RULES.md rule 5)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from kubectl_netfix.inventory import Inventory
from kubectl_netfix.model import (
    Applicability,
    Finding,
    Fix,
    Fixability,
    KubeObject,
    PatchOp,
    Severity,
)
from kubectl_netfix.rules.base import Rule, single_patch_fix
from kubectl_netfix.workloads import PodTemplate

RWO = "ReadWriteOnce"
RWOP = "ReadWriteOncePod"
# A claim that also lists one of these is bound to a volume the attach/detach controller lets
# several nodes attach: no Multi-Attach error, no finding.
SHARED_MODES = frozenset({"ReadWriteMany", "ReadOnlyMany"})
RWOP_GA = (1, 29)
REPLICATED_KINDS = ("Deployment", "ReplicaSet", "StatefulSet", "ReplicationController")
SCALABLE_KINDS = frozenset(REPLICATED_KINDS)
FINISHED_PHASES = frozenset({"Succeeded", "Failed"})


def _count(value: Any, default: int) -> int:
    """A replica-like count from YAML: absent, null or malformed means the API default."""
    if isinstance(value, bool) or not isinstance(value, int):
        return default
    return value


def _surge(deployment: KubeObject, replicas: int) -> int:
    """Pods a RollingUpdate may add above `replicas` (maxSurge, default 25%, rounded up)."""
    strategy = deployment.spec.get("strategy")
    rolling = strategy.get("rollingUpdate") if isinstance(strategy, dict) else None
    raw = rolling.get("maxSurge") if isinstance(rolling, dict) else None
    if isinstance(raw, bool):
        raw = None
    if isinstance(raw, int):
        return max(raw, 0)
    percent = 25.0
    if isinstance(raw, str) and raw.endswith("%"):
        try:
            percent = float(raw[:-1])
        except ValueError:
            percent = 25.0
    return math.ceil(replicas * percent / 100)


def _strategy_type(deployment: KubeObject) -> str:
    strategy = deployment.spec.get("strategy")
    kind = strategy.get("type") if isinstance(strategy, dict) else None
    return kind if isinstance(kind, str) else "RollingUpdate"


@dataclass
class Mount:
    """One workload (or bare Pod) that mounts the claim, and what it implies."""

    template: PodTemplate
    reasons: list[str]  # why this workload alone runs several pods with the claim
    rollout_overlap: bool  # a Deployment whose rollout runs old and new pod together

    @property
    def name(self) -> str:
        return f"{self.template.owner.kind} {self.template.owner.name}"


def claim_names(spec: Mapping[str, Any]) -> set[str]:
    volumes = spec.get("volumes")
    names: set[str] = set()
    for volume in volumes if isinstance(volumes, list) else []:
        if not isinstance(volume, dict):
            continue
        source = volume.get("persistentVolumeClaim")
        if isinstance(source, dict) and isinstance(source.get("claimName"), str):
            names.add(source["claimName"])
    return names


def _autoscalers(inventory: Inventory) -> dict[tuple[str, str, str], list[tuple[KubeObject, int]]]:
    """(namespace, kind, name) of a scale target -> its HPAs (autoscaling/v1 or v2) and max."""
    result: dict[tuple[str, str, str], list[tuple[KubeObject, int]]] = defaultdict(list)
    for hpa in inventory.of_kind("HorizontalPodAutoscaler"):
        target = hpa.spec.get("scaleTargetRef")
        if hpa.namespace is None or not isinstance(target, dict):
            continue
        kind, name = target.get("kind"), target.get("name")
        maximum = _count(hpa.spec.get("maxReplicas"), 0)
        if isinstance(kind, str) and isinstance(name, str):
            result[(hpa.namespace, kind, name)].append((hpa, maximum))
    return result


def describe_mount(
    template: PodTemplate, autoscalers: Mapping[tuple[str, str, str], list[tuple[KubeObject, int]]]
) -> Mount:
    owner = template.owner
    reasons: list[str] = []
    overlap = False
    replicas = 1
    if owner.kind in SCALABLE_KINDS:
        replicas = _count(owner.spec.get("replicas"), 1)
        if replicas > 1:
            reasons.append(f"{owner.kind} {owner.name} has replicas {replicas}")
        key = (owner.namespace or "", owner.kind, owner.name)
        for hpa, maximum in autoscalers.get(key, []):
            if maximum > 1:
                reasons.append(
                    f"HorizontalPodAutoscaler {hpa.name} scales {owner.kind} {owner.name} "
                    f"up to {maximum} replicas"
                )
    elif owner.kind == "DaemonSet":
        reasons.append(f"DaemonSet {owner.name} runs a pod on every node")
    elif owner.kind in ("Job", "CronJob"):
        job_spec = owner.spec
        if owner.kind == "CronJob":
            job_template = owner.spec.get("jobTemplate")
            inner = job_template.get("spec") if isinstance(job_template, dict) else None
            job_spec = inner if isinstance(inner, dict) else {}
        parallelism = _count(job_spec.get("parallelism"), 1)
        if parallelism > 1:
            reasons.append(f"{owner.kind} {owner.name} has parallelism {parallelism}")
    if owner.kind == "Deployment" and _strategy_type(owner) == "RollingUpdate":
        overlap = _surge(owner, replicas) > 0
    return Mount(template, reasons, overlap)


class RWOSharedVolume(Rule):
    """Flags ReadWriteOnce claims that more than one pod mounts.

    What it does
    Looks at every PersistentVolumeClaim whose `spec.accessModes` hold `ReadWriteOnce` (and
    neither `ReadWriteMany` nor `ReadOnlyMany`), and at the pods that mount it through
    `volumes[].persistentVolumeClaim.claimName` in the same namespace. It is flagged when:

    - a Deployment, ReplicaSet, StatefulSet or ReplicationController mounting it has
      `replicas` > 1, or a HorizontalPodAutoscaler (autoscaling/v1 or v2) may scale it above 1;
    - a DaemonSet mounts it (a pod per node);
    - a Job (or a CronJob's job) mounting it has `parallelism` > 1;
    - two or more workloads or bare Pods mount it;
    - a Deployment mounts it with the `RollingUpdate` strategy (the default) and a `maxSurge`
      above 0 (the default 25% rounds up to one pod): during every rollout the new pod starts
      while the old one still runs. `strategy: Recreate`, or `maxSurge: 0`, starts the new pod
      only once the old one is told to stop (with `maxSurge: 0` it may still be terminating for
      its grace period; `Recreate` waits until it is gone).

    StatefulSet `volumeClaimTemplates` and generic ephemeral volumes are never counted: each pod
    gets its own claim. On a live cluster the running pods also count: two running pods on the
    same node that mount the claim are an error (both write at once: ReadWriteOnce allows it),
    pods on different nodes a warning (the second waits on a Multi-Attach error).

    Why is this bad?
    ReadWriteOnce means one *node*, not one pod. Pods on the same node all mount the volume read
    and write, and an application that assumes it is the only writer (a database, an embedded
    store, a lock file) corrupts its data. A pod scheduled on another node cannot attach the
    volume at all and hangs in `ContainerCreating` with a `Multi-Attach error`, which is also why
    a RollingUpdate of a single-replica Deployment often stalls.

    Example
    ```yaml
    kind: PersistentVolumeClaim
    metadata:
      name: data
    spec:
      accessModes: [ReadWriteOnce]
    ---
    kind: Deployment
    spec:
      replicas: 3
      template:
        spec:
          volumes:
            - name: data
              persistentVolumeClaim:
                claimName: data
    ```

    Fix
    On files, when the target version is known to be 1.29 or later (`--kube-version`;
    `ReadWriteOncePod` is GA there), the fix replaces the claim's `ReadWriteOnce` with
    `ReadWriteOncePod` (guarded by a `test`). Without `--kube-version`, or below 1.29, the fix is
    manual and says so. When the only reason is the rollout overlap of a one-replica Deployment,
    the fix sets that Deployment's `strategy` to `Recreate` instead (`ReadWriteOncePod` would
    stall every rollout). On a live cluster the access modes of a bound claim are immutable: the
    fix is manual (recreate the claim).

    Fix safety
    Unsafe: `ReadWriteOncePod` changes behaviour, on purpose: the second pod no longer starts
    (it stays Pending with a scheduling error) instead of silently sharing the volume or hanging
    on a Multi-Attach error. It works with CSI volumes only. The real cure is to give each pod
    its own volume (a StatefulSet with `volumeClaimTemplates`), to run a single pod with
    `strategy: Recreate`, or to use a ReadWriteMany volume built for shared writers. `Recreate`
    means a short outage on every rollout.

    References
    - https://kubernetes.io/docs/concepts/storage/persistent-volumes/#access-modes
    - https://kubernetes.io/blog/2023/12/18/read-write-once-pod-access-mode-ga/
    - https://kubernetes.io/docs/tasks/administer-cluster/change-pv-access-mode-readwriteoncepod/
    - https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#strategy
    """

    id = "rwo-shared-volume"
    summary = "ReadWriteOnce volume mounted by more than one pod"
    kinds = (
        "PersistentVolumeClaim",
        "Pod",
        "Deployment",
        "ReplicaSet",
        "StatefulSet",
        "DaemonSet",
        "Job",
        "CronJob",
        "ReplicationController",
        "HorizontalPodAutoscaler",
    )
    default_severity = Severity.WARNING
    fixable = Fixability.SOMETIMES

    def check(self, inventory: Inventory) -> Iterator[Finding]:
        claims = inventory.of_kind("PersistentVolumeClaim")
        if not claims:
            return
        autoscalers = _autoscalers(inventory)
        mounts: dict[tuple[str, str], list[Mount]] = defaultdict(list)
        running: dict[tuple[str, str], list[PodTemplate]] = defaultdict(list)
        namespaces = {claim.namespace for claim in claims if claim.namespace is not None}
        for namespace in sorted(namespaces):
            for template in inventory.pod_templates(namespace):
                for claim_name in claim_names(template.spec):
                    mounts[(namespace, claim_name)].append(describe_mount(template, autoscalers))
            if inventory.facts.live:
                for pod in inventory.live_pods(namespace):
                    if pod.node_name is None or _phase(pod) in FINISHED_PHASES:
                        continue
                    for claim_name in claim_names(pod.spec):
                        running[(namespace, claim_name)].append(pod)
        for claim in claims:
            if claim.namespace is None:
                continue
            modes = claim.spec.get("accessModes")
            if not isinstance(modes, list) or RWO not in modes or SHARED_MODES & set(modes):
                continue
            key = (claim.namespace, claim.name)
            finding = self._check_claim(
                claim, modes, mounts.get(key, []), running.get(key, []), inventory
            )
            if finding is not None:
                yield finding

    def _check_claim(
        self,
        claim: KubeObject,
        modes: list[Any],
        mounts: list[Mount],
        pods: list[PodTemplate],
        inventory: Inventory,
    ) -> Finding | None:
        reasons: list[str] = []
        for mount in mounts:
            reasons.extend(mount.reasons)
        if len(mounts) > 1:
            both = "both" if len(mounts) == 2 else "all"
            reasons.append(f"{_join([m.name for m in mounts])} {both} mount it")
        rollout_only = False
        if not reasons:
            overlapping = [m for m in mounts if m.rollout_overlap]
            if overlapping:
                rollout_only = True
                reasons.append(
                    f"{overlapping[0].name} uses the RollingUpdate strategy: during a rollout "
                    "the new pod starts while the old one still runs"
                )
        severity = Severity.WARNING
        live_reason = _live_evidence(pods)
        if live_reason is not None:
            severity, text = live_reason
            reasons.append(text)
            rollout_only = False
        if not reasons:
            return None
        index = modes.index(RWO)
        message = (
            f"PersistentVolumeClaim {claim.name} is ReadWriteOnce (one node at a time, every pod "
            f"on it may write) but " + "; ".join(reasons)
        )
        if rollout_only:
            fix = _recreate_fix(mounts[0].template.owner)
        else:
            fix = _access_mode_fix(claim, modes, index, inventory)
        return self.finding(
            claim,
            f"/spec/accessModes/{index}",
            message,
            severity=severity,
            fix=fix,
            related=[m.template.owner for m in mounts],
        )


def _phase(pod: PodTemplate) -> str | None:
    status = pod.owner.body.get("status")
    phase = status.get("phase") if isinstance(status, dict) else None
    return phase if isinstance(phase, str) else None


def _join(names: list[str]) -> str:
    if len(names) <= 2:
        return " and ".join(names)
    return ", ".join(names[:-1]) + f" and {names[-1]}"


def _live_evidence(pods: list[PodTemplate]) -> tuple[Severity, str] | None:
    """Pods (live, scheduled, not finished) that mount the claim: same node, or several nodes."""
    if len(pods) < 2:
        return None
    by_node: dict[str, list[str]] = defaultdict(list)
    running_by_node: dict[str, list[str]] = defaultdict(list)
    for pod in pods:
        node = pod.node_name or ""
        by_node[node].append(pod.owner.name)
        if _phase(pod) == "Running":
            running_by_node[node].append(pod.owner.name)
    for node, names in sorted(running_by_node.items()):
        if len(names) > 1:
            return (
                Severity.ERROR,
                f"pods {_join(sorted(names))} run on node {node} and write to it at once",
            )
    for node, names in sorted(by_node.items()):
        if len(names) > 1:
            return (
                Severity.WARNING,
                f"pods {_join(sorted(names))} are on node {node}: once they all run, they write "
                "to it at once",
            )
    if len(by_node) > 1:
        placed = [f"{name} on {node}" for node, names in sorted(by_node.items()) for name in names]
        return (
            Severity.WARNING,
            f"pods {_join(placed)} mount it from different nodes: the volume attaches to one "
            "node, the others wait on a Multi-Attach error",
        )
    return None


_RWOP_EFFECT = (
    "ReadWriteOncePod turns silent shared writes and Multi-Attach errors into a clear scheduling "
    "error: one pod starts, the others stay Pending. It works with CSI volumes only."
)
_REAL_CURE = (
    "The real cure is one volume per pod (a StatefulSet with volumeClaimTemplates), or a single "
    "pod with strategy: Recreate."
)


def _access_mode_fix(claim: KubeObject, modes: list[Any], index: int, inventory: Inventory) -> Fix:
    if inventory.facts.live:
        return Fix(
            title="Recreate the claim with access mode ReadWriteOncePod",
            applicability=Applicability.MANUAL,
            note=(
                "The access modes of a bound claim cannot be changed: back up the data, set the "
                "PersistentVolume's reclaimPolicy to Retain, then delete the claim and create it "
                "again with ReadWriteOncePod, bound to the same volume (the Kubernetes task "
                "'Change the Access Mode of a PersistentVolume to ReadWriteOncePod'). "
                f"{_RWOP_EFFECT} {_REAL_CURE}"
            ),
        )
    version = inventory.options.kube_version
    if version is None or version < RWOP_GA:
        if version is None:
            gate = "Pass --kube-version (1.29 or later) to get the ReadWriteOncePod fix."
        else:
            gate = f"ReadWriteOncePod is GA from 1.29; the target is {version[0]}.{version[1]}."
        return Fix(
            title="Give each pod its own volume, or run a single pod",
            applicability=Applicability.MANUAL,
            note=f"{_REAL_CURE} {gate} {_RWOP_EFFECT}",
        )
    if [m for m in modes if m != RWO]:
        return Fix(
            title="Make ReadWriteOncePod the claim's only access mode",
            applicability=Applicability.MANUAL,
            note=f"ReadWriteOncePod cannot be combined with other access modes. {_RWOP_EFFECT}",
        )
    path = f"/spec/accessModes/{index}"
    return single_patch_fix(
        "Change the access mode to ReadWriteOncePod",
        Applicability.UNSAFE,
        claim,
        [
            {"op": "test", "path": path, "value": RWO},
            {"op": "replace", "path": path, "value": RWOP},
        ],
        note=f"{_RWOP_EFFECT} {_REAL_CURE}",
    )


def _recreate_fix(deployment: KubeObject) -> Fix:
    """strategy: Recreate on a one-pod Deployment, in the fewest ops from each starting shape."""
    spec = deployment.spec
    ops: list[PatchOp] = []
    base = "/spec/strategy"
    if "strategy" not in spec:
        ops.append({"op": "add", "path": base, "value": {"type": "Recreate"}})
    elif not isinstance(spec["strategy"], dict):
        ops.append({"op": "test", "path": base, "value": spec["strategy"]})
        ops.append({"op": "replace", "path": base, "value": {"type": "Recreate"}})
    else:
        strategy = spec["strategy"]
        if "type" in strategy:
            ops.append({"op": "test", "path": f"{base}/type", "value": strategy["type"]})
            ops.append({"op": "replace", "path": f"{base}/type", "value": "Recreate"})
        else:
            ops.append({"op": "add", "path": f"{base}/type", "value": "Recreate"})
        if "rollingUpdate" in strategy:
            # The API server refuses rollingUpdate alongside type Recreate.
            path = f"{base}/rollingUpdate"
            ops.append({"op": "test", "path": path, "value": strategy["rollingUpdate"]})
            ops.append({"op": "remove", "path": path})
    note = (
        "The old pod is stopped before the new one starts, so every rollout has a short outage; "
        "the two never share the volume."
    )
    return single_patch_fix(
        f"Use strategy Recreate on Deployment {deployment.name}",
        Applicability.UNSAFE,
        deployment,
        ops,
        note=note,
    )
