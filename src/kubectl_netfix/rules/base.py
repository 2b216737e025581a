"""What every rule is: stable metadata plus `check(inventory)`.

A rule never reads files or talks to the cluster, and never knows where its fix will go.
Its class docstring is its documentation, with the headings *What it does*, *Why is this bad?*,
*Example*, *Fix*, *Fix safety* and *References*; `explain` and docs/rules.md print it.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Sequence
from typing import ClassVar

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


def single_patch_fix(
    title: str, applicability: Applicability, target: KubeObject, ops: list[PatchOp], note: str = ""
) -> Fix:
    return Fix(
        title=title, applicability=applicability, patches=(ObjectPatch(target, ops),), note=note
    )
