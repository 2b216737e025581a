"""`-o sarif`: SARIF 2.1.0, validated against the official OASIS schema (tests/data/SOURCE.md)."""

from __future__ import annotations

import datetime
import json
import re
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema  # type: ignore[import-untyped,unused-ignore]
import pytest
from conftest import REPO, SHARED

from kubectl_netfix import __version__, cli, report, sarif
from kubectl_netfix.files import FileSet, load_files
from kubectl_netfix.inventory import Inventory
from kubectl_netfix.loader import STDIN, InputError, SourceFile, objects_of, parse_text
from kubectl_netfix.model import (
    Applicability,
    ClusterOrigin,
    Finding,
    Fix,
    Fixability,
    KubeObject,
    ObjectPatch,
    ObjectRef,
    PatchOp,
    Severity,
)
from kubectl_netfix.rules import ALL_RULES
from kubectl_netfix.rules.base import Rule

SCHEMA_PATH = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"
SCHEMA = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
# The validator of the draft the schema declares (draft-07), checking the formats it can.
VALIDATOR = jsonschema.validators.validator_for(SCHEMA)(
    SCHEMA, format_checker=jsonschema.FormatChecker()
)

# RFC 3986 URI / URI-reference (jsonschema checks `uri` formats only with extra packages).
_PCHAR = r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})"
_URI_REFERENCE = re.compile(rf"^(?:[A-Za-z][A-Za-z0-9+.\-]*:)?{_PCHAR}*(?:\?{_PCHAR}*)?$")

DOC = """\
What it does
Flags the test label.

Why is this bad?
It is a test.

Example
labels: {netfix-test: bad}

Fix
Set it to good.

Fix safety
Safe.

References
- https://example.invalid/sarif
"""


class _Quiet(Rule):
    """Descriptor-only fakes: the findings of these tests are built by hand."""

    def check(self, inventory: Inventory) -> Iterator[Finding]:
        return iter(())


class FakeWarning(_Quiet):
    __doc__ = DOC
    id = "fake-warning"
    summary = "netfix-test is bad"
    kinds = ("ConfigMap",)
    default_severity = Severity.WARNING
    fixable = Fixability.ALWAYS


class FakeError(_Quiet):
    __doc__ = DOC
    id = "fake-error"
    summary = "netfix-test is broken"
    kinds = ("ConfigMap",)
    default_severity = Severity.ERROR
    fixable = Fixability.SOMETIMES


class FakeInfo(_Quiet):
    __doc__ = DOC
    id = "fake-info"
    summary = "netfix-test is meh"
    kinds = ("ConfigMap",)
    default_severity = Severity.INFO
    fixable = Fixability.NEVER


STREAM = """\
# leading comment
apiVersion: v1
kind: ConfigMap
metadata:
  name: first
  labels:
    netfix-test: bad
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: item
    namespace: other
    labels:
      netfix-test: broken
"""

POINTER = "/metadata/labels/netfix-test"
# The real registry, as collection sees it (before any fixture swaps in the fake rules).
REAL_RULES: list[type[Rule]] = list(ALL_RULES)


@pytest.fixture(autouse=True)
def fake_rules() -> Iterator[None]:
    saved = list(ALL_RULES)
    ALL_RULES[:] = [FakeWarning, FakeError, FakeInfo]
    try:
        yield
    finally:
        ALL_RULES[:] = saved


def validate(text: str) -> dict[str, Any]:
    log = json.loads(text)
    errors = sorted(VALIDATOR.iter_errors(log), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])
    for uri in _uris(log):
        assert _URI_REFERENCE.match(uri), f"not a URI reference: {uri!r}"
    assert isinstance(log, dict)
    return log


def _uris(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("uri", "informationUri", "helpUri", "$schema") and isinstance(item, str):
                yield item
            else:
                yield from _uris(item)
    elif isinstance(value, list):
        for item in value:
            yield from _uris(item)


def fileset_of(path: str, text: str) -> FileSet:
    source = parse_text(path, text)
    fileset = FileSet()
    fileset.sources[path] = source
    fileset.errors.extend(source.errors)
    fileset.objects.extend(objects_of(source, "default"))
    return fileset


def replace_fix(obj: KubeObject, old: Any, new: Any, applicability: Applicability) -> Fix:
    ops: list[PatchOp] = [
        {"op": "test", "path": POINTER, "value": old},
        {"op": "replace", "path": POINTER, "value": new},
    ]
    return Fix("Set netfix-test to good", applicability, (ObjectPatch(obj, ops),))


def sample(path: str = "manifests/app.yaml") -> tuple[FileSet, list[Finding]]:
    fileset = fileset_of(path, STREAM)
    first, item = fileset.objects
    findings = [
        Finding(
            "fake-warning",
            Severity.WARNING,
            first,
            POINTER,
            "label is 'bad'",
            replace_fix(first, "bad", "good", Applicability.SAFE),
        ),
        Finding(
            "fake-error",
            Severity.ERROR,
            item,
            POINTER,
            "label is 'broken'",
            replace_fix(item, "broken", "good", Applicability.UNSAFE),
            related=(first,),
        ),
        Finding(
            "fake-info",
            Severity.INFO,
            first,
            "/metadata/name",
            "just so you know",
            Fix("Ask the owner", Applicability.MANUAL, note="nothing to patch"),
        ),
    ]
    return fileset, findings


def render(
    findings: list[Finding], fileset: FileSet, errors: list[InputError] | None = None, **kw: Any
) -> dict[str, Any]:
    return validate(sarif.render_sarif(findings, fileset.line_of, errors or [], **kw))


# --- the log -------------------------------------------------------------------------------------


def test_schema_is_the_oasis_draft_07_schema() -> None:
    assert SCHEMA["$id"].endswith("/sarif-schema-2.1.0.json")
    assert SCHEMA["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert isinstance(VALIDATOR, jsonschema.Draft7Validator)
    VALIDATOR.check_schema(SCHEMA)


def test_the_schema_catches_mistakes() -> None:
    # A guard against a vacuous validation: a broken log must fail.
    fileset, findings = sample()
    log = json.loads(sarif.render_sarif(findings, fileset.line_of, []))
    log["runs"][0]["results"][0]["level"] = "warn"
    assert not VALIDATOR.is_valid(log)
    del log["runs"][0]["tool"]["driver"]["name"]
    assert not VALIDATOR.is_valid(log)


def test_empty_run(tmp_path: Path) -> None:
    log = render([], FileSet(), root=tmp_path)
    assert log["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    assert log["version"] == "2.1.0"
    (run,) = log["runs"]
    assert run["results"] == []
    assert run["invocations"] == [{"executionSuccessful": True, "toolExecutionNotifications": []}]
    driver = run["tool"]["driver"]
    assert driver["name"] == "kubectl-netfix"
    assert driver["version"] == __version__
    assert urlsplit(driver["informationUri"]).scheme == "https"
    assert [rule["id"] for rule in driver["rules"]] == ["fake-warning", "fake-error", "fake-info"]


def test_rule_descriptors() -> None:
    fileset, findings = sample()
    rules = render(findings, fileset)["runs"][0]["tool"]["driver"]["rules"]
    warning, error, info = rules
    assert warning["shortDescription"] == {"text": "netfix-test is bad"}
    assert warning["name"] == "FakeWarning"
    assert warning["fullDescription"] == {"text": "Flags the test label."}
    assert warning["help"]["text"] == DOC.rstrip("\n")
    markdown = warning["help"]["markdown"]
    for heading in ("What it does", "Why is this bad?", "Fix safety", "References"):
        assert f"### {heading}\n" in markdown
    assert [r["defaultConfiguration"]["level"] for r in rules] == ["warning", "error", "note"]
    assert [r["properties"]["fixable"] for r in rules] == ["always", "sometimes", "never"]
    assert info["properties"]["kinds"] == ["ConfigMap"]
    assert error["id"] == "fake-error"


def test_results_point_at_file_line_and_object(tmp_path: Path) -> None:
    path = str(tmp_path / "manifests" / "app.yaml")
    fileset, findings = sample(path)
    log = render(findings, fileset, root=tmp_path)
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    first, second, third = run["results"]
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    assert [r["level"] for r in run["results"]] == ["warning", "error", "note"]
    assert first["message"] == {"text": "label is 'bad'"}

    physical = first["locations"][0]["physicalLocation"]
    assert physical["artifactLocation"] == {"uri": "manifests/app.yaml", "uriBaseId": "%SRCROOT%"}
    assert physical["region"] == {"startLine": 7}
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == tmp_path.as_uri() + "/"
    assert second["locations"][0]["physicalLocation"]["region"] == {"startLine": 18}
    assert third["locations"][0]["physicalLocation"]["region"] == {"startLine": 5}

    (logical,) = second["locations"][0]["logicalLocations"]
    assert logical == {
        "name": "item",
        "fullyQualifiedName": "ConfigMap/other/item",
        "kind": "resource",
        "properties": {"apiVersion": "v1", "kind": "ConfigMap", "namespace": "other"},
    }
    (related,) = second["relatedLocations"]
    assert related["id"] == 0
    assert related["message"] == {"text": "ConfigMap/default/first"}
    assert related["physicalLocation"]["region"] == {"startLine": 2}


def test_fix_ops_are_in_properties_like_the_json_report() -> None:
    fileset, findings = sample()
    results = render(findings, fileset)["runs"][0]["results"]
    for finding, result in zip(findings, results, strict=True):
        assert finding.fix is not None
        assert result["properties"]["fix"] == report.fix_json(finding.fix, fileset.line_of)
        assert result["properties"]["pointer"] == finding.pointer
        # Without the sources (or the write-back), no SARIF fixes[]: they need artifactChanges.
        assert "fixes" not in result
    ops = results[1]["properties"]["fix"]["patches"][0]
    assert ops["target"]["pointerPrefix"] == "/items/0"


def test_uris_stdin_outside_root_and_escaping(tmp_path: Path) -> None:
    for path, expected in [
        (STDIN, {"uri": "stdin", "uriBaseId": "STDIN"}),
        (str(tmp_path / "dir with space" / "ü.yaml"), None),
        ("/elsewhere/app.yaml", {"uri": "file:///elsewhere/app.yaml"}),
    ]:
        fileset, findings = sample(path)
        log = render(findings, fileset, root=tmp_path)
        location = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
        artifact = location["artifactLocation"]
        if expected is None:
            assert artifact == {"uri": "dir%20with%20space/%C3%BC.yaml", "uriBaseId": "%SRCROOT%"}
        else:
            assert {k: artifact[k] for k in expected} == expected
    assert "STDIN" in log["runs"][0]["originalUriBaseIds"]


def test_relative_paths_are_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    fileset, findings = sample("./deploy/../deploy/app.yaml")
    log = render(findings, fileset)
    artifact = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert artifact["artifactLocation"]["uri"] == "deploy/app.yaml"


def test_cluster_objects_have_only_logical_locations() -> None:
    obj = KubeObject(
        body={"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}},
        ref=ObjectRef("v1", "Service", "shop", "web"),
        origin=ClusterOrigin("kind-netfix", "4711"),
    )
    finding = Finding("fake-error", Severity.ERROR, obj, "/spec/type", "live finding")
    log = render([finding], FileSet())
    (location,) = log["runs"][0]["results"][0]["locations"]
    assert set(location) == {"logicalLocations"}
    assert location["logicalLocations"][0]["fullyQualifiedName"] == "Service/shop/web"
    assert location["logicalLocations"][0]["properties"]["context"] == "kind-netfix"


def test_cluster_scoped_object_has_no_namespace() -> None:
    fileset = fileset_of("ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n")
    (obj,) = fileset.objects
    log = render([Finding("fake-info", Severity.INFO, obj, "", "hello")], fileset)
    logical = log["runs"][0]["results"][0]["locations"][0]["logicalLocations"][0]
    assert logical["fullyQualifiedName"] == "Namespace/shop"
    assert "namespace" not in logical["properties"]


def test_input_errors_are_notifications(tmp_path: Path) -> None:
    fileset, findings = sample(str(tmp_path / "app.yaml"))
    errors = [
        InputError(str(tmp_path / "broken.yaml"), "invalid YAML: boom", 12),
        InputError(str(tmp_path / "binary.yaml"), "not a text file (binary content)"),
    ]
    log = render(findings, fileset, errors, root=tmp_path)
    (invocation,) = log["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is False
    first, second = invocation["toolExecutionNotifications"]
    assert first["level"] == "error"
    assert first["message"] == {"text": "invalid YAML: boom"}
    assert first["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "broken.yaml", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 12},
    }
    assert "region" not in second["locations"][0]["physicalLocation"]
    descriptor = log["runs"][0]["tool"]["driver"]["notifications"][first["descriptor"]["index"]]
    assert descriptor["id"] == first["descriptor"]["id"] == "input-error"
    assert len(log["runs"][0]["results"]) == 3  # findings of the good inputs are still there


def test_unknown_rule_gets_a_descriptor() -> None:
    fileset, findings = sample()
    stray = Finding("not-registered", Severity.WARNING, findings[0].obj, "", "stray")
    log = render([*findings, stray], fileset)
    run = log["runs"][0]
    result = run["results"][-1]
    assert run["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == "not-registered"


def test_fingerprints_survive_line_moves() -> None:
    fileset, findings = sample()
    moved_fileset, moved = sample()
    moved_fileset = fileset_of("manifests/app.yaml", "\n\n\n" + STREAM)
    moved = [
        Finding(f.rule_id, f.severity, o, f.pointer, f.message)
        for f, o in zip(findings, [*moved_fileset.objects, moved_fileset.objects[0]], strict=True)
    ]
    a = render(findings, fileset)["runs"][0]["results"]
    b = render(moved, moved_fileset)["runs"][0]["results"]
    assert [r["partialFingerprints"] for r in a] == [r["partialFingerprints"] for r in b]
    assert len({json.dumps(r["partialFingerprints"]) for r in a}) == 3
    assert a[0]["locations"] != b[0]["locations"]


def test_yaml_dates_in_ops_do_not_crash() -> None:
    fileset, findings = sample()
    first = findings[0].obj
    fix = replace_fix(first, datetime.date(2024, 1, 1), "good", Applicability.SAFE)
    finding = Finding("fake-warning", Severity.WARNING, first, POINTER, "dated", fix)
    log = render([finding], fileset)
    ops = log["runs"][0]["results"][0]["properties"]["fix"]["patches"][0]["ops"]
    assert ops[0]["value"] == "2024-01-01"


# --- fixes[] with artifactChanges ----------------------------------------------------------------


def apply_replacements(text: str, replacements: list[dict[str, Any]]) -> str:
    """Apply SARIF replacements (line/column regions, 1-based) as a SARIF consumer would."""
    lines = text.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(line: int, column: int) -> int:
        return (starts[line - 1] if line - 1 < len(starts) else len(text)) + column - 1

    edits = []
    for replacement in replacements:
        region = replacement["deletedRegion"]
        begin = offset(region["startLine"], region["startColumn"])
        end = offset(region["endLine"], region["endColumn"])
        edits.append((begin, end, replacement.get("insertedContent", {}).get("text", "")))
    for begin, end, inserted in sorted(edits, reverse=True):
        text = text[:begin] + inserted + text[end:]
    return text


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("a\nb\nc\n", "a\nB\nc\n"),
        ("a\nb\nc\n", "a\nb\nc\nd\n"),
        ("a\nb\nc\n", "x\na\nc\n"),
        ("a\nb\nc", "a\nb\nC"),
        ("a\nb\nc", "a\nb\nc\nd"),
        ("a\r\nb\r\n", "a\r\n  x: 1\r\nb\r\n"),
        ("", "a\n"),
        ("a\n", ""),
        ("k: v\n" * 5, "k: v\nk: w\nk: v\nnew: 1\nk: v\nk: v\n"),
    ],
)
def test_line_replacements_reproduce_the_new_text(before: str, after: str) -> None:
    replacements = sarif._line_replacements(before, after)
    assert apply_replacements(before, replacements) == after
    if before == after:
        assert replacements == []


class _FakeWriteBackError(Exception):
    pass


@pytest.fixture
def fake_writeback(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """A stand-in write-back that edits the lines of `replace` ops (enough for these fixes)."""
    module = types.ModuleType("kubectl_netfix.writeback")

    def original_text(source: SourceFile) -> str:
        return ("\ufeff" if source.has_bom else "") + source.text

    def rewrite(source: SourceFile, ops_by_doc: dict[int, list[PatchOp]]) -> str:
        lines = source.text.splitlines(keepends=True)
        for doc_index, ops in ops_by_doc.items():
            for op in ops:
                if op["op"] == "replace":
                    number = source.line_of(doc_index, op["path"]) - 1
                    key = op["path"].rsplit("/", 1)[1]
                    head = lines[number].split(key + ":")[0]
                    ending = "\r\n" if lines[number].endswith("\r\n") else "\n"
                    lines[number] = f"{head}{key}: {op['value']}{ending}"
                elif op["op"] != "test":
                    raise _FakeWriteBackError(op["op"])
        return ("\ufeff" if source.has_bom else "") + "".join(lines)

    module.original_text = original_text  # type: ignore[attr-defined]
    module.rewrite = rewrite  # type: ignore[attr-defined]
    module.WriteBackError = _FakeWriteBackError  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "kubectl_netfix.writeback", module)
    return module


def test_fixes_with_artifact_changes(tmp_path: Path, fake_writeback: types.ModuleType) -> None:
    path = str(tmp_path / "app.yaml")
    fileset, findings = sample(path)
    log = render(findings, fileset, sources=fileset.sources, root=tmp_path)
    results = log["runs"][0]["results"]
    (fix,) = results[0]["fixes"]
    assert fix["description"] == {"text": "Set netfix-test to good (safe fix)"}
    (change,) = fix["artifactChanges"]
    assert change["artifactLocation"] == {"uri": "app.yaml", "uriBaseId": "%SRCROOT%"}
    assert change["replacements"] == [
        {
            "deletedRegion": {"startLine": 7, "startColumn": 1, "endLine": 8, "endColumn": 1},
            "insertedContent": {"text": "    netfix-test: good\n"},
        }
    ]
    assert apply_replacements(STREAM, change["replacements"]) == STREAM.replace(
        "netfix-test: bad", "netfix-test: good"
    )
    # The List item's fix reaches its line through the item's pointer prefix.
    (item_fix,) = results[1]["fixes"]
    assert item_fix["description"]["text"].endswith("(unsafe fix)")
    region = item_fix["artifactChanges"][0]["replacements"][0]["deletedRegion"]
    assert region["startLine"] == 18
    # A manual fix has nothing to change.
    assert "fixes" not in results[2]


def test_fixes_on_a_bom_crlf_file(tmp_path: Path, fake_writeback: types.ModuleType) -> None:
    text = STREAM.replace("\n", "\r\n")
    fileset = fileset_of(str(tmp_path / "w.yaml"), text)
    fileset.sources[str(tmp_path / "w.yaml")].has_bom = True
    first = fileset.objects[0]
    finding = Finding(
        "fake-warning",
        Severity.WARNING,
        first,
        POINTER,
        "bad",
        replace_fix(first, "bad", "good", Applicability.SAFE),
    )
    log = render([finding], fileset, sources=fileset.sources, root=tmp_path)
    replacements = log["runs"][0]["results"][0]["fixes"][0]["artifactChanges"][0]["replacements"]
    # Lines count from the first line of text; the BOM is not a column.
    assert apply_replacements(text, replacements) == text.replace("bad", "good")


def test_no_fixes_when_the_write_back_refuses(
    tmp_path: Path, fake_writeback: types.ModuleType
) -> None:
    fileset, findings = sample(str(tmp_path / "app.yaml"))
    first = findings[0].obj
    ops: list[PatchOp] = [{"op": "remove", "path": POINTER}]
    fix = Fix("Remove it", Applicability.SAFE, (ObjectPatch(first, ops),))
    finding = Finding("fake-warning", Severity.WARNING, first, POINTER, "bad", fix)
    result = render([finding], fileset, sources=fileset.sources)["runs"][0]["results"][0]
    assert "fixes" not in result
    assert result["properties"]["fix"]["patches"][0]["ops"] == ops


def test_no_fixes_for_objects_to_create_or_live_objects(
    tmp_path: Path, fake_writeback: types.ModuleType
) -> None:
    fileset, findings = sample(str(tmp_path / "app.yaml"))
    first = findings[0].obj
    creating = Fix(
        "Create a policy",
        Applicability.UNSAFE,
        (ObjectPatch(first, [{"op": "replace", "path": POINTER, "value": "x"}]),),
        creates=({"apiVersion": "v1", "kind": "ConfigMap"},),
    )
    live = KubeObject(first.body, first.ref, ClusterOrigin("ctx", "1"))
    live_fix = replace_fix(live, "bad", "good", Applicability.SAFE)
    log = render(
        [
            Finding("fake-warning", Severity.WARNING, first, POINTER, "c", creating),
            Finding("fake-warning", Severity.WARNING, live, POINTER, "l", live_fix),
        ],
        fileset,
        sources=fileset.sources,
    )
    assert all("fixes" not in result for result in log["runs"][0]["results"])


# --- through the command line --------------------------------------------------------------------


def test_check_o_sarif_end_to_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ok.yaml").write_text(STREAM)
    (tmp_path / "bad.yaml").write_text("a: [\n")
    code = cli.main(["check", "-f", "ok.yaml", "-f", "bad.yaml", "-o", "sarif"])
    out, err = capsys.readouterr()
    assert code == 2, err
    log = validate(out)
    (notification,) = log["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert notification["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "bad.yaml"
    assert "bad.yaml:2: invalid YAML" in err


@pytest.mark.parametrize(
    "inputs",
    [
        pytest.param([REPO / "examples"], id="examples"),
        pytest.param([SHARED / "corpus"], id="corpus"),
    ],
)
def test_real_rules_on_real_manifests_validate(
    inputs: list[Path],
) -> None:
    assert all(path.exists() for path in inputs), f"missing input among {inputs}"
    assert REAL_RULES, "no rule registered"
    ALL_RULES[:] = REAL_RULES  # the autouse fixture puts the fakes back afterwards
    fileset = load_files([str(p) for p in inputs], True, "default")
    from kubectl_netfix import engine

    findings = engine.run(Inventory(fileset.objects), engine.select_rules())
    # fixes[] costs one write-back per fix: on the examples only (the corpus is large).
    sources = fileset.sources if inputs == [REPO / "examples"] else None
    log = render(findings, fileset, list(fileset.errors), sources=sources, root=REPO)
    results = log["runs"][0]["results"]
    assert len(results) == len(findings)
    if sources is not None and _has_writeback():
        fixes = [result["fixes"][0] for result in results if "fixes" in result]
        assert fixes, "no SARIF fix on the examples"
        for fix in fixes:
            for change in fix["artifactChanges"]:
                path = REPO / change["artifactLocation"]["uri"]
                before = path.read_text(encoding="utf-8-sig")
                assert apply_replacements(before, change["replacements"]) != before


def _has_writeback() -> bool:
    try:
        import kubectl_netfix.writeback  # noqa: F401
    except ImportError:
        return False
    return True
