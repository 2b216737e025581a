"""Every rule, every fixture case, one contract (see rule_contract.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from rule_contract import RuleCase, all_cases, check_json, run_cli

from kubectl_netfix.model import Fixability
from kubectl_netfix.rules import ALL_RULES, rule_by_id

CASES = all_cases()


def test_every_rule_has_bad_and_good_cases() -> None:
    for rule in ALL_RULES:
        cases = [c for c in CASES if c.rule_id == rule.id]
        assert any(c.expected() for c in cases), f"{rule.id}: no case with findings"
        assert any(not c.expected() for c in cases), f"{rule.id}: no clean case"
        if rule.fixable is not Fixability.NEVER:
            assert any(c.fixed.exists() for c in cases), f"{rule.id}: no fixed.yaml case"


def test_every_fixture_folder_names_a_rule() -> None:
    for case in CASES:
        assert rule_by_id(case.rule_id) is not None, f"fixtures for unknown rule {case.rule_id}"
        assert case.input.exists(), f"{case.folder}: no input.yaml"


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.rule_id}/{c.name}")
def test_findings_at_marked_lines(case: RuleCase, capsys: pytest.CaptureFixture[str]) -> None:
    report = check_json(capsys, case.input, case)
    found = {(f["object"]["line"], f["rule"], f["severity"]) for f in report["findings"]}
    assert found == case.expected()
    rule = rule_by_id(case.rule_id)
    assert rule is not None
    for finding in report["findings"]:
        assert finding["object"]["line"] >= 1
        fix = finding["fix"]
        if rule.fixable is Fixability.NEVER:
            assert fix is None
        elif rule.fixable is Fixability.ALWAYS:
            assert fix is not None
        if fix is not None:
            assert fix["title"][0].isupper(), "fix titles are imperative sentences"
            for patch in fix["patches"]:
                ops = patch["ops"]
                assert ops, "a fix patch has ops"
                replaced = [op["path"] for op in ops if op["op"] in ("replace", "remove")]
                tested = {op["path"] for op in ops if op["op"] == "test"}
                for path in replaced:
                    assert path in tested, f"{path} replaced without a test guard"


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.expected()], ids=lambda c: f"{c.rule_id}/{c.name}"
)
def test_fix_write_gives_fixed_and_is_idempotent(
    case: RuleCase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    work = tmp_path / "input.yaml"
    shutil.copyfile(case.input, work)
    report = check_json(capsys, work, case)
    fixable = [
        f
        for f in report["findings"]
        if f["fix"]
        and f["fix"]["applicability"] in ("safe", "unsafe")
        and f["fix"]["patches"]
        and not f["fix"]["creates"]
    ]
    code, _out, err = run_cli(
        capsys,
        "fix",
        "-f",
        str(work),
        "--rule",
        case.rule_id,
        "--write",
        "--unsafe-fixes",
        *case.args,
    )
    assert code == 0, err
    if not fixable:
        assert work.read_bytes() == case.input.read_bytes(), "no applicable fix, file changed"
        assert not case.fixed.exists(), "fixed.yaml present but the rule proposed no fix"
        return
    assert case.fixed.exists(), f"{case.folder}: the rule fixes this case; add fixed.yaml"
    assert work.read_text() == case.fixed.read_text()
    # The fixed output re-checks clean of everything a fix could address.
    after = check_json(capsys, work, case)
    leftover = [
        f
        for f in after["findings"]
        if f["fix"] and f["fix"]["applicability"] in ("safe", "unsafe") and f["fix"]["patches"]
    ]
    assert leftover == []
    # A second fix changes nothing.
    before_second = work.read_bytes()
    code, _out, err = run_cli(
        capsys,
        "fix",
        "-f",
        str(work),
        "--rule",
        case.rule_id,
        "--write",
        "--unsafe-fixes",
        *case.args,
    )
    assert code == 0, err
    assert work.read_bytes() == before_second


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.expected()], ids=lambda c: f"{c.rule_id}/{c.name}"
)
def test_safe_only_fix_applies_no_unsafe_fix(
    case: RuleCase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    work = tmp_path / "input.yaml"
    shutil.copyfile(case.input, work)
    code, _out, err = run_cli(
        capsys, "fix", "-f", str(work), "--rule", case.rule_id, "--write", *case.args
    )
    assert code == 0, err
    after = check_json(capsys, work, case)
    safe_left = [
        f
        for f in after["findings"]
        if f["fix"] and f["fix"]["applicability"] == "safe" and f["fix"]["patches"]
    ]
    assert safe_left == []
    unsafe_before = [
        f
        for f in check_json(capsys, case.input, case)["findings"]
        if f["fix"] and f["fix"]["applicability"] == "unsafe"
    ]
    unsafe_after = [
        f for f in after["findings"] if f["fix"] and f["fix"]["applicability"] == "unsafe"
    ]
    assert len(unsafe_after) == len(unsafe_before), "an unsafe fix was applied without the flag"
