"""`check -o json` and `fix --patch` against their published schema (schemas/report.schema.json)."""

from __future__ import annotations

import importlib.resources
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped,unused-ignore]
import pytest
from conftest import REPO, SHARED

from kubectl_netfix import __version__, cli, commands, engine, report
from kubectl_netfix.files import FileSet, load_files
from kubectl_netfix.inventory import Inventory
from kubectl_netfix.loader import objects_of, parse_text
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
from kubectl_netfix.rules.base import Rule, single_patch_fix

SCHEMA = json.loads(
    importlib.resources.files("kubectl_netfix")
    .joinpath("schemas/report.schema.json")
    .read_text(encoding="utf-8")
)
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())
DOCS = REPO / "docs" / "json-report.md"
REAL_RULES: list[type[Rule]] = list(ALL_RULES)  # as collected, before a fixture swaps them
LABEL_POINTER = "/metadata/labels/tier"


def validate(document: Any) -> None:
    errors = sorted(VALIDATOR.iter_errors(document), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])


def invalid(document: Any) -> bool:
    return not VALIDATOR.is_valid(document)


class TierRule(Rule):
    """Flags `tier: db` labels, with every kind of fix (test-only rule).

    What it does
    x

    Why is this bad?
    x

    Example
    x

    Fix
    x

    Fix safety
    x

    References
    https://example.invalid/
    """

    id = "fake-tier"
    summary = "tier is db"
    kinds = ("ConfigMap",)
    default_severity = Severity.WARNING
    fixable = Fixability.SOMETIMES

    def check(self, inventory: Inventory) -> Iterator[Finding]:
        for obj in inventory.of_kind("ConfigMap"):
            tier = obj.labels.get("tier")
            ops: list[PatchOp] = [
                {"op": "test", "path": LABEL_POINTER, "value": tier},
                {"op": "replace", "path": LABEL_POINTER, "value": "cache"},
            ]
            if tier == "db":
                fix = single_patch_fix("Use the cache tier", Applicability.SAFE, obj, ops)
                yield self.finding(obj, LABEL_POINTER, "tier is db", fix=fix)
            elif tier == "queue":
                fix = single_patch_fix("Use the cache tier", Applicability.UNSAFE, obj, ops)
                yield self.finding(obj, LABEL_POINTER, "tier is queue", fix=fix)
            elif tier == "manual":
                fix = Fix("Ask the owner", Applicability.MANUAL, note="nothing to patch")
                yield self.finding(obj, "", "tier is manual", severity=Severity.INFO, fix=fix)
            elif tier == "create":
                fix = Fix(
                    "Create the cache",
                    Applicability.UNSAFE,
                    creates=({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}},),
                )
                yield self.finding(obj, "/metadata", "tier is create", fix=fix)
            elif tier == "none":
                yield self.finding(obj, "/metadata/name", "no fix", severity=Severity.ERROR)


STREAM = """\
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: a
  namespace: shop
  labels: {tier: db}
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: b, labels: {tier: queue}}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: c, labels: {tier: manual}}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: d, labels: {tier: create}}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: e, labels: {tier: none}}
"""


@pytest.fixture
def tier_rule(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    saved = list(ALL_RULES)
    ALL_RULES[:] = [TierRule]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "stream.yaml").write_text(STREAM)
    try:
        yield tmp_path
    finally:
        ALL_RULES[:] = saved


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, json.loads(out), err


# --- the schema itself ---------------------------------------------------------------------------


def test_schema_is_valid_2020_12_and_versioned_like_the_code() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SCHEMA["$defs"]["schemaVersion"]["const"] == report.REPORT_SCHEMA_VERSION


def test_schema_rejects_what_it_should() -> None:
    good: dict[str, Any] = json.loads(
        report.render_json([], lambda obj, pointer: None, ["x.yaml:1: invalid YAML: boom"])
    )
    validate(good)
    finding: dict[str, Any] = {
        "rule": "egress-dns",
        "severity": "warning",
        "message": "m",
        "object": {
            "apiVersion": "v1",
            "kind": "Service",
            "namespace": None,
            "name": "s",
            "file": "a.yaml",
            "document": 0,
            "pointerPrefix": "",
            "line": 3,
        },
        "pointer": "/spec",
        "fix": None,
    }
    validate({**good, "findings": [finding]})
    broken: list[tuple[str, Any]] = [
        ("schemaVersion", 2),
        ("summary", {"error": 0, "warning": 0}),
        ("extra", True),
        ("errors", [""]),
    ]
    for key, value in broken:
        assert invalid({**good, key: value}), key
    bad_findings: list[dict[str, Any]] = [
        {**finding, "severity": "fatal"},
        {**finding, "pointer": "spec"},
        {**finding, "rule": "Egress_DNS"},
        {**finding, "object": {**finding["object"], "context": "kind"}},  # both origins
        {**finding, "object": {**finding["object"], "pointerPrefix": "/items/x"}},
        {**finding, "object": {**finding["object"], "line": 0}},
        {k: v for k, v in finding.items() if k != "fix"},
    ]
    for bad in bad_findings:
        assert invalid({**good, "findings": [bad]}), bad
    target = {k: v for k, v in finding["object"].items() if k != "line"}
    for op in [
        {"op": "add", "path": "/a"},  # no value
        {"op": "move", "path": "/a"},  # no from
        {"op": "remove", "path": "/a", "value": 1},
        {"op": "frobnicate", "path": "/a", "value": 1},
        {"op": "add", "path": "a", "value": 1},
    ]:
        fix = {
            "title": "t",
            "applicability": "safe",
            "note": None,
            "patches": [{"target": target, "ops": [op]}],
            "creates": [],
        }
        assert invalid({**good, "findings": [{**finding, "fix": fix}]}), op


def test_schema_ships_with_the_package() -> None:
    pyproject = (REPO / "pyproject.toml").read_text()
    assert '"schemas/*.json"' in pyproject


# --- real output ---------------------------------------------------------------------------------


def test_check_json_with_every_kind_of_fix(
    tier_rule: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, document, _ = run_cli(capsys, "check", "-f", "stream.yaml", "-o", "json")
    assert code == 1
    validate(document)
    by_name = {f["object"]["name"]: f for f in document["findings"]}
    assert by_name["a"]["fix"]["applicability"] == "safe"
    assert by_name["b"]["object"]["pointerPrefix"] == "/items/0"
    assert by_name["c"]["fix"]["note"] == "nothing to patch"
    assert by_name["d"]["fix"]["creates"][0]["kind"] == "ConfigMap"
    assert by_name["e"]["fix"] is None
    assert document["summary"] == {"info": 1, "warning": 3, "error": 1}


def test_check_json_with_errors_and_stdin(
    tier_rule: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tier_rule / "bad.yaml").write_text("a: [\n")
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(STREAM.encode())))
    code, document, err = run_cli(
        capsys, "check", "-f", "-", "-f", "bad.yaml", "-f", "missing.yaml", "-o", "json"
    )
    assert code == 2
    validate(document)
    assert {f["object"]["file"] for f in document["findings"]} == {"<stdin>"}
    assert document["errors"] == [line.removeprefix("error: ") for line in err.splitlines()]
    assert len(document["errors"]) == 2


def test_check_json_without_findings(tier_rule: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tier_rule / "empty.yaml").write_text("")
    code, document, _ = run_cli(capsys, "check", "-f", "empty.yaml", "-o", "json")
    assert code == 0
    validate(document)
    assert document["findings"] == [] and document["errors"] == []


def test_fix_patch_output(tier_rule: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("kubectl_netfix.writeback")
    for extra in ([], ["--unsafe-fixes"]):
        code, document, _ = run_cli(capsys, "fix", "-f", "stream.yaml", "--patch", *extra)
        assert code == 0
        validate(document)
        reasons = sorted(item["reason"] for item in document["notApplied"])
        if extra:
            assert reasons == ["creates an object", "manual"]
            assert len(document["patches"]) == 2
        else:
            assert reasons == ["creates an object", "manual", "unsafe"]
            assert [p["target"]["name"] for p in document["patches"]] == ["a"]
        assert document["fixed"][0]["object"]["name"] == "a"


def test_patches_json_directly(tier_rule: Path) -> None:
    # The same document without the CLI (and without needing the write-back module).
    fileset = load_files(["stream.yaml"], False, "default")
    findings = engine.run(Inventory(fileset.objects), engine.select_rules())
    planned = engine.plan(findings, unsafe=True)
    document = json.loads(commands._patches_json(planned, fileset))
    validate(document)
    assert document["patches"][1]["target"]["pointerPrefix"] == "/items/0"


def test_conflicting_fixes_are_reported_not_applied(tier_rule: Path) -> None:
    fileset = load_files(["stream.yaml"], False, "default")
    obj = next(o for o in fileset.objects if o.name == "a")
    ops: list[PatchOp] = [
        {"op": "test", "path": LABEL_POINTER, "value": "db"},
        {"op": "replace", "path": LABEL_POINTER, "value": "cache"},
    ]
    twice = [
        Finding(
            "fake-tier",
            Severity.WARNING,
            obj,
            LABEL_POINTER,
            "one",
            single_patch_fix("Use the cache tier", Applicability.SAFE, obj, ops),
        ),
        Finding(
            "fake-tier",
            Severity.WARNING,
            obj,
            LABEL_POINTER,
            "two",
            single_patch_fix("Use the cache tier", Applicability.SAFE, obj, ops),
        ),
    ]
    document = json.loads(commands._patches_json(engine.plan(twice, unsafe=False), fileset))
    validate(document)
    (held,) = document["notApplied"]
    assert held["reason"].startswith("overlaps an earlier fix")


def test_live_objects_validate() -> None:
    obj = KubeObject(
        body={"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}},
        ref=ObjectRef("v1", "Service", "shop", "web"),
        origin=ClusterOrigin("kind-netfix", "4711"),
    )
    ops: list[PatchOp] = [{"op": "add", "path": "/spec/externalTrafficPolicy", "value": "Local"}]
    fix = Fix("Keep the client IP", Applicability.UNSAFE, (ObjectPatch(obj, ops),))
    finding = Finding("external-traffic-policy", Severity.WARNING, obj, "/spec", "m", fix)
    document = json.loads(report.render_json([finding], lambda o, p: None))
    validate(document)
    assert document["findings"][0]["object"]["context"] == "kind-netfix"
    assert "line" not in document["findings"][0]["object"]


@pytest.mark.parametrize(
    "inputs",
    [pytest.param(REPO / "examples", id="examples"), pytest.param(SHARED / "corpus", id="corpus")],
)
def test_real_rules_on_real_manifests(inputs: Path) -> None:
    assert inputs.exists(), f"{inputs} not present"
    assert REAL_RULES, "no rule registered"
    fileset = load_files([str(inputs)], True, "default")
    rules = [rule() for rule in REAL_RULES]
    findings = engine.run(Inventory(fileset.objects), rules)
    validate(
        json.loads(report.render_json(findings, fileset.line_of, [str(e) for e in fileset.errors]))
    )
    for unsafe in (False, True):
        planned = engine.plan(findings, unsafe=unsafe)
        validate(json.loads(commands._patches_json(planned, fileset)))


# --- values YAML gives that JSON does not have ---------------------------------------------------


def _dated_finding() -> tuple[Finding, FileSet]:
    source = parse_text(
        "d.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: d\n  labels:\n    tier: 2024-01-01\n",
    )
    fileset = FileSet(sources={"d.yaml": source}, objects=list(objects_of(source, "default")))
    (obj,) = fileset.objects
    value = obj.labels["tier"]
    assert value == "2024-01-01"  # kept a string, as kubectl does
    ops: list[PatchOp] = [
        {"op": "test", "path": LABEL_POINTER, "value": value},
        {"op": "replace", "path": LABEL_POINTER, "value": "cache"},
    ]
    fix = single_patch_fix("Use the cache tier", Applicability.SAFE, obj, ops)
    return Finding("fake-tier", Severity.WARNING, obj, LABEL_POINTER, "dated", fix), fileset


def test_a_yaml_date_in_a_fix_op_renders() -> None:
    finding, fileset = _dated_finding()
    document = json.loads(report.render_json([finding], fileset.line_of))
    validate(document)


# --- the documentation ---------------------------------------------------------------------------


def _json_blocks(markdown: str) -> list[Any]:
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", markdown, re.S)]


def test_docs_examples_validate() -> None:
    blocks = _json_blocks(DOCS.read_text(encoding="utf-8"))
    ours = [block for block in blocks if "schemaVersion" in block]
    assert len(ours) == 2
    for block in ours:
        validate(block)
    sarif_schema_path = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"
    sarif_schema = json.loads(sarif_schema_path.read_text(encoding="utf-8"))
    (sarif_log,) = [block for block in blocks if block.get("version") == "2.1.0"]
    jsonschema.validators.validator_for(sarif_schema)(sarif_schema).validate(sarif_log)


def _property_names(schema: Any) -> Iterator[str]:
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "properties" and isinstance(value, dict):
                yield from value
            yield from _property_names(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from _property_names(item)


def test_docs_name_every_field_of_the_schema() -> None:
    text = DOCS.read_text(encoding="utf-8")
    missing = sorted(
        {
            name
            for name in _property_names(SCHEMA)
            if f"`{name}" not in text and f'"{name}"' not in text
        }
    )
    assert not missing, f"docs/json-report.md does not mention: {missing}"


# --- streaming -----------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 1, 3])
def test_streamed_report_is_the_one_document_byte_for_byte(count: int) -> None:
    # iter_json writes a finding at a time (a big cluster's report is never held whole); the
    # bytes must be those of json.dumps(document, indent=2), the format the report always had.
    fileset = load_files([str(REPO / "examples")], True, "default")
    findings = engine.run(Inventory(fileset.objects), [rule() for rule in REAL_RULES])[:count]
    assert len(findings) == count
    errors = ["x.yaml:1: invalid YAML: boom"]
    document = {
        "schemaVersion": report.REPORT_SCHEMA_VERSION,
        "tool": {"name": "kubectl-netfix", "version": __version__},
        "findings": [report.finding_json(f, fileset.line_of) for f in findings],
        "errors": errors,
        "summary": {s.label: sum(1 for f in findings if f.severity == s) for s in Severity},
    }
    expected = json.dumps(document, indent=2, default=str) + "\n"
    chunks = list(report.iter_json(findings, fileset.line_of, errors))
    assert "".join(chunks) == expected
    assert len(chunks) == (1 if count == 0 else count + 2)


def test_streamed_text_report_is_a_chunk_per_finding() -> None:
    fileset = load_files([str(REPO / "examples")], True, "default")
    findings = engine.run(Inventory(fileset.objects), [rule() for rule in REAL_RULES])
    chunks = list(report.iter_text(findings, fileset.line_of))
    assert len(chunks) == len(findings) + 1
    assert chunks[-1] == report.summary_line(findings) + "\n"
    assert "".join(chunks) == report.render_text(findings, fileset.line_of)
