"""What each command does, behind the cleo definitions in cli.py.

Imported only when a command runs, so `kubectl netfix version` stays fast.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kubectl_netfix import engine, report
from kubectl_netfix.cli import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, UsageError
from kubectl_netfix.files import FileSet, load_files
from kubectl_netfix.inventory import Inventory
from kubectl_netfix.loader import STDIN, InputError
from kubectl_netfix.model import Finding, FileOrigin, KubeObject, PatchOp, Severity
from kubectl_netfix.options import RuleOptions, parse_kube_version
from kubectl_netfix.rules import ALL_RULES, rule_by_id

if TYPE_CHECKING:
    from kubectl_netfix.cli import NetfixCommand


# --- options -------------------------------------------------------------------------------------


def _int_option(cmd: NetfixCommand, name: str, minimum: int = 0) -> int | None:
    raw = cmd.option(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise UsageError(f"--{name}: expected a whole number, got {raw!r}") from None
    if value < minimum:
        raise UsageError(f"--{name}: must be at least {minimum}, got {value}")
    return value


def _parse_labels(text: str, flag: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{flag}: expected key=value[,key=value], got {text!r}")
        labels[key.strip()] = value.strip()
    return labels


def build_options(cmd: NetfixCommand) -> RuleOptions:
    options = RuleOptions()
    if cmd.option("namespace"):
        options.default_namespace = cmd.option("namespace")
    if cmd.option("service-cidr"):
        try:
            options.service_cidr = tuple(
                ipaddress.ip_network(part.strip(), strict=False)
                for part in cmd.option("service-cidr").split(",")
            )
        except ValueError as exc:
            raise UsageError(f"--service-cidr: {exc}") from None
    if cmd.option("cluster-domain"):
        options.cluster_domain = cmd.option("cluster-domain").strip(".")
    ndots = _int_option(cmd, "ndots", minimum=0)
    if ndots is not None:
        if ndots > 15:
            raise UsageError("--ndots: the resolver caps ndots at 15")
        options.ndots = str(ndots)
    if cmd.option("kube-version"):
        try:
            options.kube_version = parse_kube_version(cmd.option("kube-version"))
        except ValueError as exc:
            raise UsageError(f"--kube-version: {exc}") from None
    threshold = _int_option(cmd, "service-threshold", minimum=1)
    if threshold is not None:
        options.service_threshold = threshold
    options.service_count = _int_option(cmd, "service-count")
    if cmd.option("proxy-mode"):
        mode = cmd.option("proxy-mode")
        if mode not in ("nftables", "ipvs", "iptables"):
            raise UsageError(f"--proxy-mode: expected nftables, ipvs or iptables, got {mode!r}")
        options.proxy_mode = mode
    max_ttl = _int_option(cmd, "max-dns-ttl")
    if max_ttl is not None:
        options.max_dns_ttl = max_ttl
    if cmd.option("ingress-class"):
        options.ingress_classes = tuple(cmd.option("ingress-class"))
    if cmd.option("dns-namespace"):
        options.dns_namespace = cmd.option("dns-namespace")
    if cmd.option("dns-labels"):
        options.dns_pod_labels = _parse_labels(cmd.option("dns-labels"), "--dns-labels")
    dns_port = _int_option(cmd, "dns-port", minimum=1)
    if dns_port is not None:
        options.dns_port = dns_port
    return options


def _selected_rules(cmd: NetfixCommand) -> list[Any]:
    try:
        return engine.select_rules(only=cmd.option("rule") or (), skip=cmd.option("skip") or ())
    except engine.UnknownRuleError as exc:
        raise UsageError(str(exc)) from None


# --- loading -------------------------------------------------------------------------------------


@dataclass
class Loaded:
    inventory: Inventory
    fileset: FileSet
    findings: list[Finding]


def _load_and_check(cmd: NetfixCommand) -> Loaded:
    paths = cmd.option("filename") or []
    if not paths:
        raise UsageError(
            "no input: name manifests with -f FILE|DIR|- (live cluster mode is not available "
            "in this build)"
        )
    options = build_options(cmd)
    rules = _selected_rules(cmd)
    fileset = load_files(paths, bool(cmd.option("recursive")), options.default_namespace)
    inventory = Inventory(fileset.objects, options)
    findings = engine.run(inventory, rules)
    return Loaded(inventory, fileset, findings)


def _report_errors(cmd: NetfixCommand, errors: Sequence[InputError]) -> None:
    for error in errors:
        cmd.write_err(f"error: {error}\n")


# --- check ---------------------------------------------------------------------------------------


def _fail_on(cmd: NetfixCommand) -> Severity | None:
    value = (cmd.option("fail-on") or "warning").lower()
    if value == "none":
        return None
    try:
        return Severity.parse(value)
    except ValueError:
        raise UsageError(
            f"--fail-on: expected error, warning, info or none, got {value!r}"
        ) from None


def run_check(cmd: NetfixCommand) -> int:
    output = (cmd.option("output") or "text").lower()
    if output not in ("text", "json", "sarif"):
        raise UsageError(f"--output: expected text, json or sarif, got {output!r}")
    threshold = _fail_on(cmd)
    loaded = _load_and_check(cmd)
    findings = loaded.findings
    errors = loaded.fileset.errors
    resolve = loaded.fileset.line_of
    if output == "json":
        cmd.write_out(report.render_json(findings, resolve, [str(e) for e in errors]))
    elif output == "sarif":
        from kubectl_netfix import sarif

        cmd.write_out(sarif.render_sarif(findings, resolve, errors))
    else:
        cmd.write_out(report.render_text(findings, resolve, colour=_colour(cmd)))
    _report_errors(cmd, errors)
    if errors:
        return EXIT_USAGE
    if threshold is not None and any(f.severity >= threshold for f in findings):
        return EXIT_FINDINGS
    return EXIT_OK


def _colour(cmd: NetfixCommand) -> bool:
    import os

    if os.environ.get("NO_COLOR"):
        return False
    return cmd.stdout_is_tty()


# --- fix -----------------------------------------------------------------------------------------


def _ops_by_document(
    planned: engine.PlannedFixes,
) -> dict[str, dict[int, list[PatchOp]]]:
    """path -> doc index -> ops with document-level pointers (List items get their prefix)."""
    result: dict[str, dict[int, list[PatchOp]]] = defaultdict(lambda: defaultdict(list))
    for key, ops in planned.ops_by_object.items():
        target: KubeObject = planned.targets[key]
        origin = target.origin
        if not isinstance(origin, FileOrigin):
            continue
        for op in ops:
            prefixed = dict(op)
            prefixed["path"] = origin.pointer_prefix + op["path"]
            if "from" in op:
                prefixed["from"] = origin.pointer_prefix + op["from"]
            result[origin.path][origin.doc_index].append(prefixed)
    return result


def run_fix(cmd: NetfixCommand) -> int:
    from kubectl_netfix import writeback

    output = "json" if cmd.option("patch") else (cmd.option("output") or "diff").lower()
    if output not in ("diff", "json"):
        raise UsageError(f"--output: expected diff or json, got {output!r}")
    loaded = _load_and_check(cmd)
    fileset = loaded.fileset
    errors: list[InputError] = list(fileset.errors)
    unsafe = bool(cmd.option("unsafe-fixes"))
    planned = engine.plan(loaded.findings, unsafe=unsafe)

    if output == "json":
        cmd.write_out(_patches_json(planned, fileset))
        _report_errors(cmd, errors)
        return EXIT_USAGE if errors else EXIT_OK

    write = bool(cmd.option("write"))
    broken_files = {e.path for e in fileset.errors}
    changed = 0
    failed = False
    stdin_written = False
    for path, ops_by_doc in sorted(_ops_by_document(planned).items()):
        source = fileset.sources[path]
        if path in broken_files:
            cmd.write_err(f"error: {path}: not written: the file has errors (see above)\n")
            failed = True
            continue
        try:
            new_text = writeback.rewrite(source, ops_by_doc)
        except writeback.WriteBackError as exc:
            cmd.write_err(f"error: {path}: {exc}\n")
            failed = True
            continue
        if new_text == writeback.original_text(source):
            continue
        changed += 1
        if write:
            if path == STDIN:
                cmd.write_out(new_text)
                stdin_written = True
            else:
                try:
                    writeback.write_atomic(path, new_text)
                except OSError as exc:
                    cmd.write_err(f"error: {path}: cannot write: {exc.strerror or exc}\n")
                    failed = True
                    continue
        else:
            cmd.write_out(_unified_diff(path, writeback.original_text(source), new_text))
    if write and STDIN in fileset.sources and not stdin_written:
        # A pipeline's next stage still gets the stream when nothing needed fixing.
        cmd.write_out(writeback.original_text(fileset.sources[STDIN]))

    _report_errors(cmd, errors)
    _report_fix_summary(cmd, planned, changed, write, unsafe)
    if errors or failed:
        return EXIT_USAGE if errors else EXIT_FINDINGS
    return EXIT_OK


def _unified_diff(path: str, before: str, after: str) -> str:
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"a/{path}",
        tofile=f"b/{path}",
    )
    text = ""
    for line in lines:
        text += line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
    return text


def _report_fix_summary(
    cmd: NetfixCommand, planned: engine.PlannedFixes, changed: int, write: bool, unsafe: bool
) -> None:
    applied = len(planned.applied)
    verb = "Fixed" if write else "Would fix"
    files = "file" if changed == 1 else "files"
    parts = [f"{verb} {applied} finding{'s' if applied != 1 else ''} in {changed} {files}."]
    held = defaultdict(int)
    for _finding, reason in planned.skipped:
        held[reason] += 1
    if held.get("unsafe"):
        parts.append(f"{held.pop('unsafe')} unsafe fix(es) not applied (use --unsafe-fixes).")
    if held.get("manual"):
        parts.append(f"{held.pop('manual')} manual fix(es): see `kubectl netfix check`.")
    for reason, count in held.items():
        parts.append(f"{count} fix(es) skipped: {reason}.")
    cmd.write_err(" ".join(parts) + "\n")


def _patches_json(planned: engine.PlannedFixes, fileset: FileSet) -> str:
    patches = []
    for key, ops in planned.ops_by_object.items():
        target = planned.targets[key]
        patches.append(
            {"target": report.object_json(target, None, fileset.line_of), "ops": ops}
        )
    document = {
        "schemaVersion": report.REPORT_SCHEMA_VERSION,
        "patches": patches,
        "fixed": [report.finding_json(f, fileset.line_of) for f in planned.applied],
        "notApplied": [
            {"finding": report.finding_json(f, fileset.line_of), "reason": reason}
            for f, reason in planned.skipped
        ],
    }
    return json.dumps(document, indent=2) + "\n"


# --- rules / explain -----------------------------------------------------------------------------


def run_rules(cmd: NetfixCommand) -> int:
    output = (cmd.option("output") or "text").lower()
    if output == "json":
        rows = [
            {
                "id": rule.id,
                "severity": rule.default_severity.label,
                "fixable": rule.fixable.value,
                "summary": rule.summary,
            }
            for rule in ALL_RULES
        ]
        cmd.write_out(json.dumps(rows, indent=2) + "\n")
        return EXIT_OK
    if output != "text":
        raise UsageError(f"--output: expected text or json, got {output!r}")
    header = ("ID", "SEVERITY", "FIXABLE", "SUMMARY")
    rows_text = [
        (rule.id, rule.default_severity.label, rule.fixable.value, rule.summary)
        for rule in ALL_RULES
    ]
    widths = [max(len(row[i]) for row in [header, *rows_text]) for i in range(3)]
    lines = [
        f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}"
        for row in [header, *rows_text]
    ]
    cmd.write_out("\n".join(lines) + "\n")
    return EXIT_OK


def run_explain(cmd: NetfixCommand) -> int:
    rule_id = cmd.argument("rule")
    rule = rule_by_id(rule_id)
    if rule is None:
        close = difflib.get_close_matches(rule_id, [r.id for r in ALL_RULES], n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise UsageError(f"unknown rule {rule_id!r}{hint}; see `kubectl netfix rules`")
    header = (
        f"{rule.id} — {rule.summary}\n"
        f"severity: {rule.default_severity.label}   fixable: {rule.fixable.value}   "
        f"kinds: {', '.join(rule.kinds)}\n\n"
    )
    cmd.write_out(header + rule.doc() + "\n")
    return EXIT_OK
