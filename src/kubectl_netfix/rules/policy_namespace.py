"""policy-namespace: a NetworkPolicy in the wrong namespace, and namespaces left out of a
default-deny baseline."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from kubectl_netfix.inventory import Inventory
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
from kubectl_netfix.workloads import WORKLOAD_KINDS, PodTemplate

# Fields the API server owns: a copy created elsewhere must not carry them.
SERVER_METADATA = (
    "resourceVersion",
    "uid",
    "managedFields",
    "creationTimestamp",
    "generation",
    "selfLink",
    "ownerReferences",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
MAX_NAMED = 3


def is_empty_selector(selector: Mapping[str, Any]) -> bool:
    return not selector.get("matchLabels") and not selector.get("matchExpressions")


def format_selector(selector: Mapping[str, Any]) -> str:
    parts: list[str] = []
    labels = selector.get("matchLabels")
    if isinstance(labels, Mapping):
        parts.extend(f"{key}={value}" for key, value in labels.items())
    expressions = selector.get("matchExpressions")
    if isinstance(expressions, list):
        for expression in expressions:
            if not isinstance(expression, Mapping):
                continue
            key, operator = expression.get("key"), expression.get("operator")
            values = expression.get("values")
            if isinstance(values, list) and values:
                parts.append(f"{key} {operator} ({','.join(str(v) for v in values)})")
            else:
                parts.append(f"{key} {operator}")
    return ", ".join(parts)


def default_deny_directions(policy: KubeObject) -> list[str]:
    """The directions a policy denies for the whole namespace (empty podSelector, no rules)."""
    spec = policy.spec
    selector = spec.get("podSelector")
    if selector is None:
        selector = {}  # the API server decodes a missing podSelector as {}
    if not isinstance(selector, Mapping) or not is_empty_selector(selector):
        return []
    types = effective_policy_types(spec)
    return [
        direction
        for direction, rules in (("Ingress", spec.get("ingress")), ("Egress", spec.get("egress")))
        if direction in types and not rules
    ]


def _workloads_text(templates: Sequence[PodTemplate]) -> str:
    names = [f"{t.owner.kind} {t.owner.name}" for t in templates[:MAX_NAMED]]
    if len(templates) > MAX_NAMED:
        names.append(f"{len(templates) - MAX_NAMED} more")
    return ", ".join(names)


def copy_into_namespace(policy: KubeObject, namespace: str) -> JsonObject:
    """The policy as a new object in `namespace`, without what the API server owns."""
    body: JsonObject = copy.deepcopy(policy.body)
    metadata = body.get("metadata")
    if not isinstance(metadata, dict):
        metadata = {}
        body["metadata"] = metadata
    for key in SERVER_METADATA:
        metadata.pop(key, None)
    annotations = metadata.get("annotations")
    if isinstance(annotations, dict):
        annotations.pop(LAST_APPLIED, None)
        if not annotations:
            del metadata["annotations"]
    metadata["namespace"] = namespace
    body.pop("status", None)
    return body


def declares_namespace(obj: KubeObject) -> bool:
    declared = obj.metadata.get("namespace")
    return isinstance(declared, str) and bool(declared)


def is_system_namespace(namespace: str) -> bool:
    # `kube-` is reserved for Kubernetes; these namespaces are deliberately left out of
    # application default-deny baselines.
    return namespace.startswith("kube-")


class PolicyNamespace(Rule):
    """Flags NetworkPolicies that select pods only in other namespaces, and namespaces left
    out of a default-deny baseline.

    What it does
    A NetworkPolicy applies only to pods in its own namespace. For each policy with a non-empty
    `podSelector` that matches no pod in its namespace but matches pods in other namespaces,
    it reports where those pods are. Typically the policy has no `metadata.namespace` (so
    `kubectl apply` puts it in `default`, or in `-n`) or says `default`. Policies with an empty
    selector (`{}`) are not judged: they are meant for a whole namespace and cannot tell
    which. In files the pods are the workload pod templates of the input, and only workloads
    that state their namespace count as "elsewhere" (one without `metadata.namespace` lands
    wherever `-n` or a kustomize `namespace:` puts it, so it proves nothing); live, the
    cluster's workloads and pods.

    It also reports (info) a baseline gap: a namespace with workloads and no NetworkPolicy at
    all, while other namespaces have a default-deny policy (empty `podSelector`, `Ingress`
    and/or `Egress` with no rule for that direction). Namespaces starting with `kube-` are left
    out. The finding is on the namespace's first workload.

    Why is this bad?
    A policy in the wrong namespace protects nothing: the pods it was written for stay
    non-isolated (all traffic allowed), and nothing reports an error. A namespace forgotten by a
    default-deny rollout is open while its neighbours are closed.

    Example
    ```yaml
    kind: NetworkPolicy
    metadata:
      name: api-ingress          # no namespace: lands in default
    spec:
      podSelector:
        matchLabels: {app: api}  # app=api runs in namespace shop
    ```

    Fix
    When exactly one other namespace has matching pods: in files, set `metadata.namespace` to it
    (`add`, or a guarded `replace`). Live, a namespace cannot be changed: the fix creates a copy
    of the policy in that namespace (without resourceVersion, uid, managedFields, status) and
    never deletes the original. When several namespaces match, no fix is proposed.

    Fix safety
    Unsafe: moving the policy isolates the selected pods there, so any traffic its rules do not
    allow is cut. Peers in the policy's rules without a `namespaceSelector` mean "this namespace"
    and move with it. Delete the original policy yourself once the copy is checked.

    References
    https://kubernetes.io/docs/concepts/services-networking/network-policies/
    https://kubernetes.io/docs/concepts/services-networking/network-policies/#default-policies
    https://kubernetes.io/docs/concepts/overview/working-with-objects/namespaces/
    """

    id = "policy-namespace"
    summary = "NetworkPolicy in the wrong namespace, or a namespace missing the default-deny"
    kinds = ("NetworkPolicy",)
    default_severity = Severity.WARNING
    fixable = Fixability.SOMETIMES

    def check(self, inventory: Inventory) -> Iterator[Finding]:
        policies = inventory.of_kind("NetworkPolicy")
        if not policies or inventory.facts.unreadable & WORKLOAD_KINDS:
            return  # pods the run could not list might be the ones a policy selects
        namespaces = inventory.namespaces_with_pods()
        for policy in policies:
            finding = self._wrong_namespace(inventory, policy, namespaces)
            if finding is not None:
                yield finding
        yield from self._baseline_gaps(inventory, policies, namespaces)

    def _wrong_namespace(
        self, inventory: Inventory, policy: KubeObject, namespaces: Sequence[str]
    ) -> Finding | None:
        selector = policy.spec.get("podSelector")
        home = policy.namespace
        if not isinstance(selector, Mapping) or is_empty_selector(selector) or home is None:
            return None
        if inventory.pods_matching(home, selector):
            return None
        live = inventory.facts.live
        elsewhere: dict[str, list[PodTemplate]] = {}
        for namespace in namespaces:
            if namespace == home:
                continue
            # In files, a workload without metadata.namespace goes wherever `-n` or a kustomize
            # `namespace:` puts it: it is no evidence that the policy is the misplaced one.
            matched = [
                template
                for template in inventory.pods_matching(namespace, selector)
                if live or declares_namespace(template.owner)
            ]
            if matched:
                elsewhere[namespace] = matched
        if not elsewhere:
            return None
        declared = policy.metadata.get("namespace")
        has_namespace = declares_namespace(policy)
        pointer = "/metadata/namespace" if has_namespace else "/spec/podSelector"
        where = "; ".join(f"{ns} ({_workloads_text(found)})" for ns, found in elsewhere.items())
        how = "" if has_namespace else " (no metadata.namespace)"
        message = (
            f"NetworkPolicy {policy.name} is in namespace {home}{how}, where podSelector "
            f"{format_selector(selector)} matches no pod; it matches pods in "
            f"{'namespace' if len(elsewhere) == 1 else 'namespaces'} {where}"
        )
        fix = None
        if len(elsewhere) == 1:
            target = next(iter(elsewhere))
            fix = self._move_fix(inventory, policy, target, declared if has_namespace else None)
        else:
            message += "; move it (or copy it) to the namespace it was written for"
        return self.finding(policy, pointer, message, fix=fix)

    def _move_fix(
        self, inventory: Inventory, policy: KubeObject, target: str, declared: Any
    ) -> Fix:
        title = f"Move NetworkPolicy {policy.name} to namespace {target}"
        if inventory.facts.live:
            existing = inventory.get("NetworkPolicy", target, policy.name)
            if existing is not None:
                # Copied already (a second run), or a namesake is in the way: never create twice.
                same = existing.spec == policy.spec
                return Fix(
                    title=(
                        f"Delete NetworkPolicy {policy.name} from namespace {policy.namespace}"
                        if same
                        else f"Reconcile NetworkPolicy {policy.name} with its namesake in {target}"
                    ),
                    applicability=Applicability.MANUAL,
                    note=(
                        f"Namespace {target} already has NetworkPolicy {policy.name} with the "
                        f"same spec: once it works, run `kubectl -n {policy.namespace} delete "
                        f"networkpolicy {policy.name}`."
                        if same
                        else f"Namespace {target} already has a different NetworkPolicy named "
                        f"{policy.name}: merge the two by hand, then delete this one."
                    ),
                )
            return Fix(
                title=f"Create a copy of NetworkPolicy {policy.name} in namespace {target}",
                applicability=Applicability.UNSAFE,
                creates=(copy_into_namespace(policy, target),),
                note=(
                    "A live object's namespace cannot be changed, so this creates a copy in "
                    f"{target}; it never deletes the original: once the copy works, run "
                    f"`kubectl -n {policy.namespace} delete networkpolicy {policy.name}`."
                ),
            )
        ops: list[PatchOp]
        if declared is None:
            ops = [{"op": "add", "path": "/metadata/namespace", "value": target}]
        else:
            ops = [
                {"op": "test", "path": "/metadata/namespace", "value": declared},
                {"op": "replace", "path": "/metadata/namespace", "value": target},
            ]
        return Fix(
            title=title,
            applicability=Applicability.UNSAFE,
            patches=(ObjectPatch(policy, ops),),
            note=(
                f"If NetworkPolicy {policy.name} was already applied to {policy.namespace}, "
                "applying the file creates it in the new namespace and leaves the old copy: "
                "delete that one by hand."
            ),
        )

    def _baseline_gaps(
        self, inventory: Inventory, policies: Sequence[KubeObject], namespaces: Sequence[str]
    ) -> Iterator[Finding]:
        denying: dict[str, list[str]] = {}
        for policy in policies:
            directions = default_deny_directions(policy)
            if directions and policy.namespace is not None:
                denying.setdefault(policy.namespace, []).append(
                    f"{policy.name} ({'/'.join(directions)})"
                )
        if not denying:
            return
        with_policies = {policy.namespace for policy in policies}
        names = sorted(denying)
        shown = ", ".join(f"{ns}: {', '.join(denying[ns])}" for ns in names[:MAX_NAMED])
        if len(names) > MAX_NAMED:
            shown += f", and {len(names) - MAX_NAMED} more"
        for namespace in namespaces:
            if namespace in with_policies or is_system_namespace(namespace):
                continue
            templates = inventory.pod_templates(namespace)
            if not templates:
                continue
            first = templates[0].owner
            yield self.finding(
                first,
                "",
                f"namespace {namespace} has workloads ({_workloads_text(templates)}) but no "
                f"NetworkPolicy, while other namespaces have a default-deny ({shown}): "
                f"all traffic to and from {namespace} is allowed",
                severity=Severity.INFO,
            )
