"""What every rule is: stable metadata plus `check(inventory)`.

A rule never reads files or talks to the cluster, and never knows where its fix will go.
Its class docstring is its documentation, with the headings *What it does*, *Why is this bad?*,
*Example*, *Fix*, *Fix safety* and *References*; `explain` and docs/rules.md print it.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

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

DOC_HEADINGS = ("What it does", "Why is this bad?", "Example", "Fix", "Fix safety", "References")


class Rule:
    id: ClassVar[str]
    summary: ClassVar[str]
    kinds: ClassVar[tuple[str, ...]]
    default_severity: ClassVar[Severity]
    fixable: ClassVar[Fixability]

    def check(self, inventory: Inventory) -> Iterator[Finding]:
        raise NotImplementedError

    @classmethod
    def doc(cls) -> str:
        return inspect.cleandoc(cls.__doc__ or "")

    # Helpers so rules build findings and fixes the same way.

    def finding(
        self,
        obj: KubeObject,
        pointer: str,
        message: str,
        *,
        severity: Severity | None = None,
        fix: Fix | None = None,
        related: Sequence[KubeObject] = (),
    ) -> Finding:
        return Finding(
            rule_id=self.id,
            severity=severity if severity is not None else self.default_severity,
            obj=obj,
            pointer=pointer,
            message=message,
            fix=fix,
            related=tuple(related),
        )


def effective_policy_types(spec: Mapping[str, Any]) -> set[str]:
    """A NetworkPolicy's policyTypes as the API server defaults them: the declared list, else
    Ingress plus Egress when spec.egress holds rules."""
    declared = spec.get("policyTypes")
    if isinstance(declared, list) and declared:
        return {str(t) for t in declared}
    egress = spec.get("egress")
    return {"Ingress", "Egress"} if isinstance(egress, list) and egress else {"Ingress"}


def set_ops(path: str, present: bool, current: Any, value: Any) -> list[PatchOp]:
    """Set a member: `add` when absent, else `test` the current value and `replace` it."""
    if present:
        return [
            {"op": "test", "path": path, "value": current},
            {"op": "replace", "path": path, "value": value},
        ]
    return [{"op": "add", "path": path, "value": value}]


def single_patch_fix(
    title: str, applicability: Applicability, target: KubeObject, ops: list[PatchOp], note: str = ""
) -> Fix:
    return Fix(
        title=title, applicability=applicability, patches=(ObjectPatch(target, ops),), note=note
    )
