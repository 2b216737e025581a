"""What each command does, behind the cleo definitions in cli.py.

Imported only when a command runs, so `kubectl netfix version` stays fast.
"""

from __future__ import annotations

import difflib
import gc
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kubectl_netfix import engine, report
from kubectl_netfix.cli import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, UsageError
from kubectl_netfix.config import (
    OPTION_PARSERS,
    Config,
    ConfigError,
    build_rule_options,
    find_config,
    load_config,
)
from kubectl_netfix.files import FileSet, load_files
from kubectl_netfix.inventory import Inventory
from kubectl_netfix.loader import STDIN, InputError, split_lines
from kubectl_netfix.model import FileOrigin, Finding, KubeObject, PatchOp, Severity
from kubectl_netfix.options import RuleOptions
from kubectl_netfix.rules import ALL_RULES, rule_by_id
from kubectl_netfix.rules.base import DOC_HEADINGS, Rule

if TYPE_CHECKING:
    from kubectl_netfix.cli import NetfixCommand
    from kubectl_netfix.cluster import ClusterRead


# --- options -------------------------------------------------------------------------------------


def _config(cmd: NetfixCommand) -> Config:
    known = {rule.id for rule in ALL_RULES}
    try:
        explicit = cmd.option("config")
        if explicit:
            if not Path(explicit).is_file():
                raise UsageError(f"--config: {explicit}: no such file")
            return load_config(Path(explicit), known)
        found = find_config(Path.cwd())
        return load_config(found, known) if found else Config()
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def build_options(cmd: NetfixCommand, config: Config) -> RuleOptions:
    """Rule options from the config file, then the flags (which win)."""
    values: dict[str, tuple[Any, str]] = {
        name: (value, f"{config.path}: options.{name}") for name, value in config.options.items()
    }
    for name in OPTION_PARSERS:
        raw = cmd.option(name) if cmd.definition.has_option(name) else None
        if raw not in (None, [], ""):
            values[name] = (raw, f"--{name}")
    try:
        return build_rule_options(values)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def _selected_rules(cmd: NetfixCommand, config: Config) -> list[Rule]:
    try:
        return engine.select_rules(
            only=cmd.option("rule") or (),
            skip=cmd.option("skip") or (),
            disabled=config.disabled,
        )
    except engine.UnknownRuleError as exc:
        raise UsageError(str(exc)) from None


# --- loading -------------------------------------------------------------------------------------


@dataclass
class Loaded:
    inventory: Inventory
    findings: list[Finding]
    config: Config
    fileset: FileSet | None = None  # file mode
    cluster: ClusterRead | None = None  # live mode
    warnings: Sequence[str] = ()

    def line_of(self, obj: KubeObject, pointer: str) -> int | None:
        return self.fileset.line_of(obj, pointer) if self.fileset else None

    @property
    def errors(self) -> list[InputError]:
        return self.fileset.errors if self.fileset else []


def _given_options(cmd: NetfixCommand, config: Config) -> set[str]:
    given = set(config.options)
    given.update(
        name
        for name in OPTION_PARSERS
        if cmd.definition.has_option(name) and cmd.option(name) not in (None, [], "")
    )
    return given


def _load_and_check(cmd: NetfixCommand) -> Loaded:
    paths = cmd.option("filename") or []
    config = _config(cmd)
    options = build_options(cmd, config)
    rules = _selected_rules(cmd, config)
    if not paths:
        return _load_cluster(cmd, config, options, rules)
    for flag in ("all-namespaces", "context", "kubeconfig"):
        if cmd.option(flag):
            raise UsageError(f"--{flag} reads a cluster; it cannot be combined with -f")
    fileset = load_files(paths, bool(cmd.option("recursive")), options.default_namespace)
    # The loaded objects live until exit: move them out of the cyclic GC's sight, or its next
    # collections rescan every one of them for nothing (a tenth of a large run).
    gc.freeze()
    inventory = Inventory(fileset.objects, options)
    findings = engine.run(inventory, rules, config.severity)
    return Loaded(inventory, findings, config, fileset=fileset)


def _load_cluster(
    cmd: NetfixCommand, config: Config, options: RuleOptions, rules: list[Rule]
) -> Loaded:
    from kubectl_netfix.cluster import ClusterError, read_cluster

    if cmd.option("recursive"):
        raise UsageError("-R applies to directories named with -f")
    try:
        read = read_cluster(
            kubeconfig=cmd.option("kubeconfig"),
            context=cmd.option("context"),
            namespace=cmd.option("namespace"),
            all_namespaces=bool(cmd.option("all-namespaces")),
            options=options,
            options_given=_given_options(cmd, config),
        )
    except ClusterError as exc:
        raise UsageError(str(exc)) from None
    for warning in read.warnings:
        cmd.write_err(warning + "\n")
    findings = engine.run(read.inventory, rules, config.severity)
    return Loaded(read.inventory, findings, config, cluster=read, warnings=read.warnings)


def _report_errors(cmd: NetfixCommand, errors: Sequence[InputError]) -> None:
    for error in errors:
        cmd.write_err(f"error: {error}\n")


# --- check ---------------------------------------------------------------------------------------


def _fail_on(cmd: NetfixCommand, config: Config) -> Severity | None:
    explicit = cmd.option("fail-on")
    value = (explicit if explicit else config.fail_on or "warning").lower()
    where = "--fail-on" if explicit else f"{config.path}: fail-on"
    if value == "none":
        return None
    try:
        return Severity.parse(value)
    except ValueError:
        raise UsageError(f"{where}: expected error, warning, info or none, got {value!r}") from None


def run_check(cmd: NetfixCommand) -> int:
    output = (cmd.option("output") or "text").lower()
    if output not in ("text", "json", "sarif"):
        raise UsageError(f"--output: expected text, json or sarif, got {output!r}")
    loaded = _load_and_check(cmd)
    threshold = _fail_on(cmd, loaded.config)
    findings = loaded.findings
    errors = loaded.errors
    resolve = loaded.line_of
    if loaded.fileset is not None:
        loaded.fileset.resolve_lines((finding.obj, finding.pointer) for finding in findings)
    if output == "json":
        _write_chunks(cmd, report.iter_json(findings, resolve, [str(e) for e in errors]))
    elif output == "sarif":
        from kubectl_netfix import sarif

        cmd.write_out(sarif.render_sarif(findings, resolve, errors))
    else:
        _write_chunks(cmd, report.iter_text(findings, resolve, colour=_colour(cmd)))
    _report_errors(cmd, errors)
    if errors:
        return EXIT_USAGE
    if threshold is not None and any(f.severity >= threshold for f in findings):
        return EXIT_FINDINGS
    return EXIT_OK


def _write_chunks(cmd: NetfixCommand, chunks: Iterable[str], size: int = 1 << 16) -> None:
    """Write a streamed report in writes of about `size` characters."""
    buffer: list[str] = []
    held = 0
    for chunk in chunks:
        buffer.append(chunk)
        held += len(chunk)
        if held >= size:
            cmd.write_out("".join(buffer))
            buffer.clear()
            held = 0
    if buffer:
        cmd.write_out("".join(buffer))


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
    unsafe = bool(cmd.option("unsafe-fixes"))
    planned = engine.plan(loaded.findings, unsafe=unsafe)
    if loaded.fileset is None:
        from kubectl_netfix.live_fix import run_live_fix

        return run_live_fix(cmd, loaded, planned, unsafe)
    if cmd.option("apply") or cmd.option("dry-run") or cmd.option("yes"):
        raise UsageError("--apply, --dry-run and --yes patch a cluster; with -f use --write")
    fileset = loaded.fileset
    errors: list[InputError] = list(fileset.errors)

    if output == "json":
        if cmd.option("write"):
            raise UsageError("--write writes the files; --patch / -o json only prints the patches")
        cmd.write_out(_patches_json(planned, fileset))
        _report_errors(cmd, errors)
        return EXIT_USAGE if errors else EXIT_OK

    write = bool(cmd.option("write"))
    broken_files = {e.path for e in fileset.errors}
    changed = 0
    failed_paths: set[str] = set()
    stdin_written = False
    for path, ops_by_doc in sorted(_ops_by_document(planned).items()):
        source = fileset.sources[path]
        if path in broken_files:
            cmd.write_err(f"error: {path}: not written: the file has errors (see above)\n")
            failed_paths.add(path)
            continue
        try:
            new_text = writeback.rewrite(source, ops_by_doc)
        except writeback.WriteBackError as exc:
            cmd.write_err(f"error: {path}: {exc}\n")
            failed_paths.add(path)
            continue
        if new_text == writeback.original_text(source):
            continue
        if write:
            if path == STDIN:
                cmd.write_out(new_text)
                stdin_written = True
            else:
                try:
                    writeback.write_atomic(path, new_text)
                except OSError as exc:
                    cmd.write_err(f"error: {path}: cannot write: {exc.strerror or exc}\n")
                    failed_paths.add(path)
                    continue
        else:
            cmd.write_out(_unified_diff(path, writeback.original_text(source), new_text))
        changed += 1
    if write and STDIN in fileset.sources and not stdin_written:
        # A pipeline's next stage still gets the stream when nothing needed fixing.
        cmd.write_out(writeback.original_text(fileset.sources[STDIN]))

    _report_errors(cmd, errors)
    _report_fix_summary(cmd, planned, changed, write, failed_paths)
    # A file that could not be fixed is an input or I/O error, like one that could not be read.
    return EXIT_USAGE if errors or failed_paths else EXIT_OK


def _diff_name(path: str) -> str:
    """As git names it: relative to the working directory, so `git apply` / `patch -p1` work."""
    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return Path(path).as_posix().lstrip("/")


def _unified_diff(path: str, before: str, after: str) -> str:
    name = _diff_name(path)
    lines = difflib.unified_diff(
        split_lines(before),
        split_lines(after),
        fromfile=f"a/{name}",
        tofile=f"b/{name}",
    )
    # Lines split where YAML breaks them (as the loader counts lines), not at form feeds.
    line_breaks = ("\n", "\r", "\x85", "\u2028", "\u2029")
    text = ""
    for line in lines:
        text += line if line.endswith(line_breaks) else line + "\n\\ No newline at end of file\n"
    return text


def _target_paths(finding: Finding) -> set[str]:
    assert finding.fix is not None
    return {
        patch.target.origin.path
        for patch in finding.fix.patches
        if isinstance(patch.target.origin, FileOrigin)
    }


def _report_fix_summary(
    cmd: NetfixCommand,
    planned: engine.PlannedFixes,
    changed: int,
    write: bool,
    failed_paths: set[str],
) -> None:
    # Only what reached (or would reach) a file counts as fixed.
    applied = sum(1 for f in planned.applied if not _target_paths(f) & failed_paths)
    verb = "Fixed" if write else "Would fix"
    files = "file" if changed == 1 else "files"
    parts = [f"{verb} {applied} finding{'s' if applied != 1 else ''} in {changed} {files}."]
    held: dict[str, int] = defaultdict(int)
    for _finding, reason in planned.skipped:
        held[reason] += 1
    not_written = len(planned.applied) - applied
    if not_written:
        parts.append(f"{not_written} fix(es) not written: see the errors above.")
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
        patches.append({"target": report.object_json(target, None, fileset.line_of), "ops": ops})
    document = {
        "schemaVersion": report.REPORT_SCHEMA_VERSION,
        "patches": patches,
        "fixed": [report.finding_json(f, fileset.line_of) for f in planned.applied],
        "notApplied": [
            {"finding": report.finding_json(f, fileset.line_of), "reason": reason}
            for f, reason in planned.skipped
        ],
    }
    return json.dumps(document, indent=2, default=str) + "\n"


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
    if output == "markdown":
        cmd.write_out(rules_markdown())
        return EXIT_OK
    if output != "text":
        raise UsageError(f"--output: expected text, json or markdown, got {output!r}")
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


def rules_markdown() -> str:
    """docs/rules.md, generated from the rules' own metadata (a test keeps the file current)."""
    parts = [
        "# Rules\n",
        "<!-- Generated by `kubectl netfix rules -o markdown`; do not edit by hand. -->\n",
        "| id | severity | fixable | summary |",
        "|---|---|---|---|",
    ]
    for rule in ALL_RULES:
        anchor = rule.id
        parts.append(
            f"| [`{rule.id}`](#{anchor}) | {rule.default_severity.label} | "
            f"{rule.fixable.value} | {rule.summary} |"
        )
    for rule in ALL_RULES:
        parts.append(f"\n## {rule.id}\n")
        parts.append(
            f"{rule.summary}. Default severity: **{rule.default_severity.label}**; "
            f"fixable: **{rule.fixable.value}**; kinds: {', '.join(rule.kinds)}.\n"
        )
        parts.append(_doc_as_markdown(rule.doc()))
    return "\n".join(parts).rstrip("\n") + "\n"


def _doc_as_markdown(doc: str) -> str:
    headings = set(DOC_HEADINGS)
    lines = []
    for line in doc.splitlines():
        if line.strip() in headings:
            lines.append(f"### {line.strip()}")
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"


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
