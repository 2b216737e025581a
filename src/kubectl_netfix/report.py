"""Findings as text (for people) and JSON (a documented, versioned schema for programs).

The JSON schema is `schemas/report.schema.json`; bump REPORT_SCHEMA_VERSION on any change that
is not a pure addition.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TextIO

from kubectl_netfix import __version__
from kubectl_netfix.model import FileOrigin, Finding, Fix, KubeObject, Severity

REPORT_SCHEMA_VERSION = 1

LineResolver = Callable[[KubeObject, str], int | None]

_COLOURS = {
    Severity.ERROR: "\033[31m",
    Severity.WARNING: "\033[33m",
    Severity.INFO: "\033[36m",
}
_DIM = "\033[2m"
_BOLD = "\033[1m"
_RESET = "\033[0m"


def use_colour(stream: TextIO) -> bool:
    """Colour only on a TTY, never with NO_COLOR (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def location(finding: Finding, resolve_line: LineResolver) -> str:
    origin = finding.obj.origin
    if isinstance(origin, FileOrigin):
        line = resolve_line(finding.obj, finding.pointer) or origin.line
        return f"{origin.path}:{line}"
    return f"{finding.obj.ref}:{finding.pointer or '/'}"


def fix_label(fix: Fix) -> str:
    return f"{fix.applicability.label} fix"


def render_text(
    findings: Sequence[Finding],
    resolve_line: LineResolver,
    colour: bool = False,
) -> str:
    return "".join(iter_text(findings, resolve_line, colour))


def iter_text(
    findings: Sequence[Finding],
    resolve_line: LineResolver,
    colour: bool = False,
) -> Iterator[str]:
    """The text report a finding at a time: a big cluster's report is never one string."""

    def paint(code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if colour else text

    for finding in findings:
        severity = paint(_COLOURS[finding.severity], finding.severity.label)
        where = paint(_BOLD, location(finding, resolve_line))
        lines = [f"{where}: {severity} {finding.rule_id} {finding.message}"]
        if finding.fix is not None:
            lines.append(paint(_DIM, f"  fix ({fix_label(finding.fix)}): {finding.fix.title}"))
            if finding.fix.note:
                lines.append(paint(_DIM, f"  note: {finding.fix.note}"))
        yield "\n".join(lines) + "\n"
    yield summary_line(findings) + "\n"


def summary_line(findings: Sequence[Finding]) -> str:
    if not findings:
        return "No findings."
    counts = {severity: 0 for severity in Severity}
    fixable = 0
    for finding in findings:
        counts[finding.severity] += 1
        if finding.fix is not None and (finding.fix.patches or finding.fix.creates):
            fixable += 1
    parts = [
        f"{counts[s]} {s.label}{'s' if counts[s] != 1 and s != Severity.INFO else ''}"
        for s in sorted(Severity, reverse=True)
        if counts[s]
    ]
    noun = "finding" if len(findings) == 1 else "findings"
    return f"{len(findings)} {noun} ({', '.join(parts)}); {fixable} with a fix."


def object_json(obj: KubeObject, pointer: str | None, resolve_line: LineResolver) -> dict[str, Any]:
    ref = obj.ref
    result: dict[str, Any] = {
        "apiVersion": ref.api_version,
        "kind": ref.kind,
        "namespace": ref.namespace,
        "name": ref.name,
    }
    origin = obj.origin
    if isinstance(origin, FileOrigin):
        result["file"] = origin.path
        result["document"] = origin.doc_index
        result["pointerPrefix"] = origin.pointer_prefix
        if pointer is not None:
            result["line"] = resolve_line(obj, pointer) or origin.line
    else:
        result["context"] = origin.context
        result["resourceVersion"] = origin.resource_version
    return result


def fix_json(fix: Fix, resolve_line: LineResolver) -> dict[str, Any]:
    return {
        "title": fix.title,
        "applicability": fix.applicability.label,
        "note": fix.note or None,
        "patches": [
            {"target": object_json(patch.target, None, resolve_line), "ops": list(patch.ops)}
            for patch in fix.patches
        ],
        "creates": list(fix.creates),
    }


def finding_json(finding: Finding, resolve_line: LineResolver) -> dict[str, Any]:
    return {
        "rule": finding.rule_id,
        "severity": finding.severity.label,
        "message": finding.message,
        "object": object_json(finding.obj, finding.pointer, resolve_line),
        "pointer": finding.pointer,
        "fix": fix_json(finding.fix, resolve_line) if finding.fix else None,
    }


def render_json(
    findings: Sequence[Finding],
    resolve_line: LineResolver,
    errors: Sequence[str] = (),
) -> str:
    return "".join(iter_json(findings, resolve_line, errors))


# Stands in for the findings list while the rest of the document is dumped.
_FINDINGS_SLOT = "\x00findings\x00"


def iter_json(
    findings: Sequence[Finding],
    resolve_line: LineResolver,
    errors: Sequence[str] = (),
) -> Iterator[str]:
    """The JSON report (`json.dumps(document, indent=2)`, byte for byte) a finding at a time,
    so a big cluster's findings are never all held as dicts and as one string."""
    document = {
        "schemaVersion": REPORT_SCHEMA_VERSION,
        "tool": {"name": "kubectl-netfix", "version": __version__},
        "findings": _FINDINGS_SLOT,
        "errors": list(errors),
        "summary": {
            severity.label: sum(1 for f in findings if f.severity == severity)
            for severity in Severity
        },
    }
    # The slot comes before the errors: the first occurrence is it, whatever an error says.
    head, _slot, tail = json.dumps(document, indent=2, default=str).partition(
        json.dumps(_FINDINGS_SLOT)
    )
    if not findings:
        yield head + "[]" + tail + "\n"
        return
    yield head + "[\n"
    last = len(findings) - 1
    for index, finding in enumerate(findings):
        text = json.dumps(finding_json(finding, resolve_line), indent=2, default=str)
        # Items of a list one level down: every line indented by four (no JSON string holds a
        # raw line break, so every line break is the layout's).
        yield "    " + text.replace("\n", "\n    ") + ("\n" if index == last else ",\n")
    yield "  ]" + tail + "\n"
