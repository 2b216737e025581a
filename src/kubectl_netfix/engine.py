"""Run the selected rules over an inventory, honour suppressions, and plan which fixes apply."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubectl_netfix.inventory import Inventory
from kubectl_netfix.model import Applicability, Finding, Fix, KubeObject, PatchOp, Severity
from kubectl_netfix.rules import ALL_RULES
from kubectl_netfix.rules.base import Rule

IGNORE_ANNOTATION = "netfix.io/ignore"


class UnknownRuleError(ValueError):
    pass


def select_rules(
    only: Sequence[str] = (),
    skip: Sequence[str] = (),
    disabled: Iterable[str] = (),
) -> list[Rule]:
    known = {rule.id for rule in ALL_RULES}
    for rule_id in [*only, *skip]:
        if rule_id not in known:
            raise UnknownRuleError(f"unknown rule {rule_id!r} (see `kubectl netfix rules`)")
    chosen = [rule for rule in ALL_RULES if not only or rule.id in only]
    excluded = set(skip) | (set(disabled) - set(only))
    return [rule() for rule in chosen if rule.id not in excluded]


def ignored_rules(obj: KubeObject) -> set[str]:
    value = obj.annotations.get(IGNORE_ANNOTATION)
    if not isinstance(value, str):
        return set()
    return {part.strip() for part in value.split(",") if part.strip()}


def is_suppressed(finding: Finding) -> bool:
    ignored = ignored_rules(finding.obj)
    return "all" in ignored or finding.rule_id in ignored


def run(
    inventory: Inventory,
    rules: Sequence[Rule],
    severity_overrides: dict[str, Severity] | None = None,
) -> list[Finding]:
    overrides = severity_overrides or {}
    findings: list[Finding] = []
    for rule in rules:
        for finding in rule.check(inventory):
            if is_suppressed(finding):
                continue
            if rule.id in overrides:
                finding = _with_severity(finding, overrides[rule.id])
            findings.append(finding)
    findings.sort(key=_sort_key)
    return findings


def _with_severity(finding: Finding, severity: Severity) -> Finding:
    return Finding(
        finding.rule_id,
        severity,
        finding.obj,
        finding.pointer,
        finding.message,
        finding.fix,
        finding.related,
    )


def _sort_key(finding: Finding) -> tuple[str, int, str, str, str]:
    origin = finding.obj.origin
    path = getattr(origin, "path", "")
    doc = getattr(origin, "doc_index", 0)
    return (path, doc, str(finding.obj.ref), finding.rule_id, finding.pointer)


@dataclass
class PlannedFixes:
    """Ops to apply per target object, in finding order, and what was left out and why."""

    ops_by_object: dict[int, list[PatchOp]] = field(default_factory=dict)
    targets: dict[int, KubeObject] = field(default_factory=dict)
    applied: list[Finding] = field(default_factory=list)
    skipped: list[tuple[Finding, str]] = field(default_factory=list)


def applicable(fix: Fix | None, unsafe: bool) -> bool:
    if fix is None or not fix.patches or fix.creates:
        return False
    limit = Applicability.UNSAFE if unsafe else Applicability.SAFE
    return fix.applicability <= limit


def plan(findings: Sequence[Finding], unsafe: bool) -> PlannedFixes:
    """Gather the ops of every applicable fix, per target object, in finding order.

    Each fix is tried on the objects as the earlier fixes leave them: one whose guards no longer
    hold, or whose `add` would land on a member an earlier fix created (two Services adding the
    same affinity to one Deployment: RFC 6902 would silently replace it), is skipped and
    reported, so the result is never half a fix; the next run plans it afresh.
    """
    import jsonpatch  # only fixes need it: `check` starts faster without
    import jsonpointer

    planned = PlannedFixes()
    current: dict[int, Any] = {}
    for finding in findings:
        fix = finding.fix
        if fix is None:
            continue
        if not applicable(fix, unsafe):
            reason = "creates an object" if fix.creates else fix.applicability.label
            planned.skipped.append((finding, reason))
            continue
        trial: dict[int, Any] = {}
        try:
            for patch in fix.patches:
                key = id(patch.target)
                base = trial.get(key, current.get(key, patch.target.body))
                _refuse_overwriting_add(base, patch.ops)
                trial[key] = jsonpatch.apply_patch(base, list(patch.ops))
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException):
            planned.skipped.append(
                (finding, "overlaps an earlier fix of the same object; run fix again")
            )
            continue
        current.update(trial)
        for patch in fix.patches:
            key = id(patch.target)
            planned.targets[key] = patch.target
            planned.ops_by_object.setdefault(key, []).extend(patch.ops)
        planned.applied.append(finding)
    return planned


def _refuse_overwriting_add(document: Any, ops: Sequence[PatchOp]) -> None:
    """Rules `add` only what is absent (they `test`+`replace` what exists), so an `add` onto an
    existing member means another fix got there first."""
    import jsonpatch
    import jsonpointer

    for op in ops:
        if op.get("op") != "add":
            continue
        pointer = jsonpointer.JsonPointer(op["path"])
        if not pointer.parts or pointer.parts[-1] == "-":
            continue
        try:
            parent = jsonpointer.JsonPointer.from_parts(pointer.parts[:-1]).resolve(document)
        except jsonpointer.JsonPointerException:
            continue  # created by an earlier op of this patch, or the op fails and says why
        if isinstance(parent, dict) and pointer.parts[-1] in parent:
            raise jsonpatch.JsonPatchConflict(f"{op['path']} already exists")
