"""Findings as SARIF 2.1.0, for code scanning (GitHub, Azure DevOps, IDE viewers).

One run. `tool.driver.rules` is the whole catalogue (ALL_RULES), so a viewer can explain any
rule even when this run found nothing for it. Each result points at its file and line
(`physicalLocation`) and at the Kubernetes object (`logicalLocations`); objects read from a
live cluster have no file, so they get the logical location only.

Fixes. A SARIF `fix` must carry `artifactChanges` (byte-accurate text replacements), which only
the write-back can compute. So every fix is always given, in full, as RFC 6902 ops in the
result's `properties.fix` (the same shape as the JSON report's `fix`); a SARIF `fixes[]` entry
is added only when the caller passes the parsed sources and `kubectl_netfix.writeback.rewrite`
produces the new text of the file, from which whole-line replacements are derived.

Input errors become `invocations[0].toolExecutionNotifications`, and make
`executionSuccessful` false (the exit status is 2 then).

The format is documented in docs/json-report.md (section "SARIF").
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from kubectl_netfix import __version__, report
from kubectl_netfix.loader import STDIN
from kubectl_netfix.model import (
    Applicability,
    ClusterOrigin,
    FileOrigin,
    Finding,
    Fix,
    KubeObject,
    PatchOp,
    Severity,
)
from kubectl_netfix.rules import ALL_RULES
from kubectl_netfix.rules.base import DOC_HEADINGS, Rule

if TYPE_CHECKING:
    from kubectl_netfix.loader import InputError, SourceFile

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
TOOL_NAME = "kubectl-netfix"
INFORMATION_URI = "https://pypi.org/project/kubectl-netfix/"

# Relative artifact URIs are relative to the working directory of the run, named by this base
# id (the one GitHub code scanning and the SARIF spec's examples use for a source root).
SRCROOT = "%SRCROOT%"
# `-f -` has no file: its URI is "stdin" under a base id of its own with no URI, which SARIF
# reads as "base unknown", so no consumer can mistake it for a file called stdin in the repo.
STDIN_BASE = "STDIN"
STDIN_URI = "stdin"

INPUT_ERROR_ID = "input-error"

_LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}

LineResolver = Callable[[KubeObject, str], int | None]


def level(severity: Severity) -> str:
    return _LEVELS[severity]


# --- rules ---------------------------------------------------------------------------------------


def _pascal_name(rule_id: str) -> str:
    # SARIF's `name` is the reader-friendly identifier; its examples use PascalCase.
    return "".join(part.capitalize() for part in rule_id.split("-"))


def _doc_markdown(doc: str) -> str:
    headings = set(DOC_HEADINGS)
    return "\n".join(
        f"### {line.strip()}" if line.strip() in headings else line for line in doc.splitlines()
    )


def _doc_section(doc: str, heading: str) -> str:
    """The text under one heading of a rule's docstring, up to the next heading."""
    headings = set(DOC_HEADINGS)
    collected: list[str] = []
    inside = False
    for line in doc.splitlines():
        stripped = line.strip()
        if stripped in headings:
            if inside:
                break
            inside = stripped == heading
            continue
        if inside:
            collected.append(line)
    return re.sub(r"\s+", " ", " ".join(collected)).strip()


def rule_descriptor(rule: type[Rule]) -> dict[str, Any]:
    doc = rule.doc()
    what = _doc_section(doc, DOC_HEADINGS[0]) or rule.summary
    descriptor: dict[str, Any] = {
        "id": rule.id,
        "name": _pascal_name(rule.id),
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": what},
        "defaultConfiguration": {"level": level(rule.default_severity)},
        "properties": {
            "fixable": rule.fixable.value,
            "kinds": list(rule.kinds),
            "tags": ["kubernetes", "networking"],
        },
    }
    if doc:
        descriptor["help"] = {"text": doc, "markdown": _doc_markdown(doc)}
    return descriptor


def _unknown_rule_descriptor(rule_id: str) -> dict[str, Any]:
    # A finding whose rule is not registered (should not happen): keep ruleIndex valid anyway.
    return {"id": rule_id, "name": _pascal_name(rule_id), "shortDescription": {"text": rule_id}}


# --- locations -----------------------------------------------------------------------------------


def artifact_location(path: str, root: Path) -> dict[str, Any]:
    """A URI for a path as the user named it: relative to `root` when inside it, else absolute."""
    if path in (STDIN, "-"):
        return {
            "uri": STDIN_URI,
            "uriBaseId": STDIN_BASE,
            "description": {"text": "standard input (-f -)"},
        }
    absolute = Path(os.path.abspath(path))
    try:
        relative = absolute.relative_to(root)
    except ValueError:
        return {"uri": absolute.as_uri()}
    return {"uri": quote(PurePosixPath(*relative.parts).as_posix()), "uriBaseId": SRCROOT}


def logical_location(obj: KubeObject) -> dict[str, Any]:
    ref = obj.ref
    properties: dict[str, Any] = {"apiVersion": ref.api_version, "kind": ref.kind}
    if ref.namespace is not None:
        properties["namespace"] = ref.namespace
    origin = obj.origin
    if isinstance(origin, ClusterOrigin):
        properties["context"] = origin.context
        properties["resourceVersion"] = origin.resource_version
    return {
        "name": ref.name,
        "fullyQualifiedName": str(ref),
        "kind": "resource",  # a well-known SARIF logical location kind
        "properties": properties,
    }


def location(
    obj: KubeObject, pointer: str, resolve_line: LineResolver, root: Path
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    origin = obj.origin
    if isinstance(origin, FileOrigin):
        line = resolve_line(obj, pointer) or origin.line
        result["physicalLocation"] = {
            "artifactLocation": artifact_location(origin.path, root),
            "region": {"startLine": max(1, line)},
        }
    result["logicalLocations"] = [logical_location(obj)]
    return result


def _fingerprint(finding: Finding) -> str:
    # Stable across line moves, so code scanning keeps one alert per (rule, object, field).
    key = "\0".join((finding.rule_id, str(finding.obj.ref), finding.pointer))
    return hashlib.sha256(key.encode()).hexdigest()[:32]


# --- fixes ---------------------------------------------------------------------------------------


def _ops_by_file(fix: Fix) -> dict[str, dict[int, list[PatchOp]]] | None:
    """Document-level ops per file (List items get their prefix); None if not all in files."""
    result: dict[str, dict[int, list[PatchOp]]] = {}
    for patch in fix.patches:
        origin = patch.target.origin
        if not isinstance(origin, FileOrigin):
            return None
        by_doc = result.setdefault(origin.path, {})
        for op in patch.ops:
            prefixed = dict(op)
            prefixed["path"] = origin.pointer_prefix + op["path"]
            if "from" in op:
                prefixed["from"] = origin.pointer_prefix + op["from"]
            by_doc.setdefault(origin.doc_index, []).append(prefixed)
    return result


def _line_replacements(before: str, after: str) -> list[dict[str, Any]]:
    """Whole-line replacements turning `before` into `after` (1-based lines, columns from 1).

    A region ends at column 1 of the line after its last line, so it includes that line's end;
    an empty region (start == end) is an insertion point.
    """
    old = before.splitlines(keepends=True)
    new = after.splitlines(keepends=True)
    # A fix changes a few lines of a file that may have thousands: match only the middle that
    # differs (SequenceMatcher is quadratic in the worst case).
    head = 0
    while head < min(len(old), len(new)) and old[head] == new[head]:
        head += 1
    tail = 0
    while tail < min(len(old), len(new)) - head and old[-1 - tail] == new[-1 - tail]:
        tail += 1
    replacements: list[dict[str, Any]] = []
    matcher = difflib.SequenceMatcher(
        a=old[head : len(old) - tail], b=new[head : len(new) - tail], autojunk=False
    )
    for tag, a1, a2, b1, b2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        i1, i2, j1, j2 = a1 + head, a2 + head, b1 + head, b2 + head
        if i2 == len(old) and old and not old[-1].endswith("\n") and i1 < i2:
            # The last line has no line break: end after its last character.
            end_line, end_column = len(old), len(old[-1]) + 1
        else:
            end_line, end_column = i2 + 1, 1
        replacement: dict[str, Any] = {
            "deletedRegion": {
                "startLine": i1 + 1,
                "startColumn": 1,
                "endLine": end_line,
                "endColumn": end_column,
            }
        }
        inserted = "".join(new[j1:j2])
        if inserted:
            replacement["insertedContent"] = {"text": inserted}
        replacements.append(replacement)
    return replacements


def sarif_fix(fix: Fix, sources: Mapping[str, SourceFile], root: Path) -> dict[str, Any] | None:
    """A SARIF fix with artifactChanges, or None when they cannot be computed exactly."""
    if fix.applicability == Applicability.MANUAL or not fix.patches or fix.creates:
        return None
    ops_by_file = _ops_by_file(fix)
    if not ops_by_file:
        return None
    try:
        # By name: the write-back is optional for reporting, and may not exist in a build.
        writeback = importlib.import_module("kubectl_netfix.writeback")
    except ImportError:
        return None
    rewrite = getattr(writeback, "rewrite", None)
    original_text = getattr(writeback, "original_text", None)
    if rewrite is None:
        return None
    changes = []
    for path, ops_by_doc in sorted(ops_by_file.items()):
        source = sources.get(path)
        if source is None:
            return None
        try:
            before = original_text(source) if original_text else source.text
            after = rewrite(source, ops_by_doc)
        except Exception:  # a fix the write-back refuses stays a property-only fix
            return None
        if not isinstance(before, str) or not isinstance(after, str):
            return None
        # Lines and columns count text, and a BOM is not part of the first line's text.
        before, after = before.removeprefix("\ufeff"), after.removeprefix("\ufeff")
        replacements = _line_replacements(before, after)
        if replacements:
            changes.append(
                {
                    "artifactLocation": artifact_location(path, root),
                    "replacements": replacements,
                }
            )
    if not changes:
        return None
    return {
        "description": {"text": f"{fix.title} ({fix.applicability.label} fix)"},
        "artifactChanges": changes,
    }


# --- results -------------------------------------------------------------------------------------


def result(
    finding: Finding,
    rule_index: int,
    resolve_line: LineResolver,
    root: Path,
    sources: Mapping[str, SourceFile] | None,
) -> dict[str, Any]:
    properties: dict[str, Any] = {"pointer": finding.pointer}
    if finding.fix is not None:
        properties["fix"] = report.fix_json(finding.fix, resolve_line)
    entry: dict[str, Any] = {
        "ruleId": finding.rule_id,
        "ruleIndex": rule_index,
        "level": level(finding.severity),
        "message": {"text": finding.message},
        "locations": [location(finding.obj, finding.pointer, resolve_line, root)],
        "partialFingerprints": {"netfixFinding/v1": _fingerprint(finding)},
    }
    if finding.related:
        related = []
        for number, obj in enumerate(finding.related):
            place = location(obj, "", resolve_line, root)
            place["id"] = number
            place["message"] = {"text": str(obj.ref)}
            related.append(place)
        entry["relatedLocations"] = related
    if finding.fix is not None and sources is not None:
        fix = sarif_fix(finding.fix, sources, root)
        if fix is not None:
            entry["fixes"] = [fix]
    entry["properties"] = properties
    return entry


def notification(error: InputError, root: Path) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": artifact_location(error.path, root)}
    if error.line:
        physical["region"] = {"startLine": error.line}
    return {
        "level": "error",
        "message": {"text": error.message},
        "locations": [{"physicalLocation": physical}],
        "descriptor": {"id": INPUT_ERROR_ID, "index": 0},
    }


def render_sarif(
    findings: Sequence[Finding],
    resolve_line: LineResolver,
    errors: Sequence[InputError] = (),
    *,
    sources: Mapping[str, SourceFile] | None = None,
    root: Path | None = None,
) -> str:
    """The SARIF log of one run. `sources` (path -> parsed file) enables `fixes[]`; `root` is
    the directory relative URIs are relative to (default: the working directory)."""
    base = Path(os.path.abspath(root if root is not None else os.getcwd()))
    rules = [rule_descriptor(rule) for rule in ALL_RULES]
    index = {rule.id: number for number, rule in enumerate(ALL_RULES)}
    for finding in findings:
        if finding.rule_id not in index:
            index[finding.rule_id] = len(rules)
            rules.append(_unknown_rule_descriptor(finding.rule_id))

    results = [
        result(finding, index[finding.rule_id], resolve_line, base, sources) for finding in findings
    ]
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": TOOL_NAME,
                "version": __version__,
                "semanticVersion": __version__,
                "informationUri": INFORMATION_URI,
                "rules": rules,
                "notifications": [
                    {
                        "id": INPUT_ERROR_ID,
                        "name": "InputError",
                        "shortDescription": {
                            "text": "An input could not be read or parsed; it was skipped."
                        },
                        "defaultConfiguration": {"level": "error"},
                    }
                ],
            }
        },
        "invocations": [
            {
                "executionSuccessful": not errors,
                "toolExecutionNotifications": [notification(e, base) for e in errors],
            }
        ],
        "originalUriBaseIds": {
            # A trailing slash is required for a base URI by the SARIF spec (3.14.14).
            SRCROOT: {"uri": base.as_uri().rstrip("/") + "/"},
            STDIN_BASE: {"description": {"text": "The standard input of the run; not a file."}},
        },
        # Python string indices: the columns of fix regions count code points, not UTF-16.
        "columnKind": "unicodeCodePoints",
        "results": results,
    }
    log = {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}
    return json.dumps(log, indent=2, ensure_ascii=False, default=_json_default) + "\n"


def _json_default(value: Any) -> Any:
    # YAML gives dates and timestamps (`2024-01-01`) as date objects; a fix op may quote one.
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
