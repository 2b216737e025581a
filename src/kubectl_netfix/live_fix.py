"""`fix` without -f: preview fixes as JSON patches and kubectl commands, or apply them."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

from kubectl_netfix import apply as applier
from kubectl_netfix import engine
from kubectl_netfix.cli import EXIT_FINDINGS, EXIT_OK, UsageError
from kubectl_netfix.model import Applicability

if TYPE_CHECKING:
    from kubectl_netfix.cli import NetfixCommand
    from kubectl_netfix.commands import Loaded


def run_live_fix(
    cmd: NetfixCommand, loaded: Loaded, planned: engine.PlannedFixes, unsafe: bool
) -> int:
    if cmd.option("write"):
        raise UsageError("--write writes files named with -f; for the cluster use --apply")
    dry_run_mode = (cmd.option("dry-run") or "none").lower()
    if dry_run_mode not in ("none", "server", "client"):
        raise UsageError(f"--dry-run: expected none, server or client, got {dry_run_mode!r}")
    if not cmd.option("apply") or dry_run_mode == "client":
        if dry_run_mode == "server":
            raise UsageError("--dry-run=server rehearses --apply; add --apply")
        cmd.write_out(_preview(loaded, unsafe, as_json=_wants_json(cmd)))
        return EXIT_OK

    dry_run = dry_run_mode == "server"
    creates = [
        (finding, body)
        for finding in loaded.findings
        if finding.fix is not None
        and finding.fix.creates
        and finding.fix.applicability <= (Applicability.UNSAFE if unsafe else Applicability.SAFE)
        for body in finding.fix.creates
    ]
    targets = list(planned.ops_by_object)
    if not targets and not creates:
        cmd.write_err("Nothing to apply.\n")
        _mention_held_back(cmd, planned)
        return EXIT_OK
    if not cmd.option("yes") and not dry_run and not _confirm(cmd, planned, len(creates)):
        cmd.write_err("Aborted; nothing was changed.\n")
        return EXIT_OK

    assert loaded.cluster is not None
    from kubectl_netfix.cluster import connect

    client, _ = connect(cmd.option("kubeconfig"), cmd.option("context"))
    replan = applier.make_replanner(loaded.inventory, unsafe)
    rules_of = applier.findings_by_target(planned.applied)
    results = []
    for key in targets:
        target = planned.targets[key]
        results.append(
            applier.apply_patch(
                client, target, planned.ops_by_object[key], dry_run, replan, rules_of.get(key, [])
            )
        )
    for _finding, body in creates:
        results.append(applier.create_object(client, body, dry_run))
    for result in results:
        cmd.write_out(result.line() + "\n")
    _mention_held_back(cmd, planned)
    return EXIT_OK if all(r.ok for r in results) else EXIT_FINDINGS


def _wants_json(cmd: NetfixCommand) -> bool:
    return bool(cmd.option("patch")) or (cmd.option("output") or "").lower() == "json"


def _confirm(cmd: NetfixCommand, planned: engine.PlannedFixes, creates: int) -> bool:
    if not sys.stdin.isatty():
        raise UsageError("refusing to --apply without a terminal to confirm on; add --yes")
    names = ", ".join(str(planned.targets[k].ref) for k in planned.ops_by_object)
    extra = f" and create {creates} object(s)" if creates else ""
    cmd.write_err(f"Patch {len(planned.ops_by_object)} object(s){extra}: {names}\n")
    cmd.write_err("Apply? [y/N] ")
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


def _mention_held_back(cmd: NetfixCommand, planned: engine.PlannedFixes) -> None:
    unsafe = sum(1 for _f, reason in planned.skipped if reason == "unsafe")
    manual = sum(1 for _f, reason in planned.skipped if reason == "manual")
    if unsafe:
        cmd.write_err(f"{unsafe} unsafe fix(es) not applied (use --unsafe-fixes).\n")
    if manual:
        cmd.write_err(f"{manual} manual fix(es): see the preview for what to do.\n")


def _preview(loaded: Loaded, unsafe: bool, as_json: bool) -> str:
    entries = []
    lines: list[str] = []
    for finding in loaded.findings:
        fix = finding.fix
        if fix is None:
            continue
        entry = {
            "rule": finding.rule_id,
            "object": str(finding.obj.ref),
            "title": fix.title,
            "applicability": fix.applicability.label,
            "note": fix.note or None,
            "patches": [
                {
                    "target": str(p.target.ref),
                    "ops": applier.guarded(p.target, p.ops),
                    "command": applier.kubectl_patch_command(p.target, p.ops),
                }
                for p in fix.patches
            ],
            "creates": list(fix.creates),
        }
        entries.append(entry)
        lines.append(
            f"# {finding.obj.ref}: {finding.rule_id}: {fix.title} ({fix.applicability.label})"
        )
        if fix.note:
            lines.append(f"#   {fix.note}")
        for patch in fix.patches:
            lines.append(f"#   patch {patch.target.ref}:")
            lines.append(json.dumps(list(patch.ops)))
            lines.append(applier.kubectl_patch_command(patch.target, patch.ops))
        for body in fix.creates:
            lines.append("#   creates (kubectl apply -f - with this object):")
            lines.append(json.dumps(body))
        lines.append("")
    if as_json:
        return json.dumps({"fixes": entries}, indent=2) + "\n"
    if not entries:
        return "No fixes to propose.\n"
    return "\n".join(lines)
