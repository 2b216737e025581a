"""The public RFC 6902 conformance cases (json-patch-tests), run against our patch engine.

Every enabled case runs against `patch_engine.apply_patch` over a ruamel round-trip tree (what
the write-back patches) and over plain JSON values (what it patches for JSON files). Cases whose
document is an object also run end to end through `writeback.rewrite`, on a YAML and on a JSON
rendering of the document: the written text must read back as the expected document, and an
expected error must surface as a WriteBackError (nothing written).

Records with `disabled: true` and records that are only a comment are not cases (the suite's
README says so), so they are not parameters at all.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from ruamel.yaml import YAML

from kubectl_netfix.loader import parse_text
from kubectl_netfix.patch_engine import PatchError, apply_patch, json_equal, to_plain
from kubectl_netfix.writeback import WriteBackError, rewrite

# CI clones the repository into a fresh folder with `shared/` beside it.
SUITE = Path(__file__).resolve().parents[1].parent / "shared" / "conformance" / "json-patch-tests"
SUITE_FILES = ("tests.json", "spec_tests.json")


def _load_cases() -> list[tuple[str, dict[str, Any]]]:
    cases: list[tuple[str, dict[str, Any]]] = []
    for name in SUITE_FILES:
        path = SUITE / name
        if not path.is_file():
            continue  # test_suite_is_present says so, once, instead of every case erroring
        for number, record in enumerate(json.loads(path.read_text(encoding="utf-8"))):
            if record.get("disabled") or "doc" not in record or "patch" not in record:
                continue
            label = record.get("comment", "")
            cases.append((f"{name.removesuffix('.json')}[{number}] {label}".strip(), record))
    return cases


CASES = _load_cases()
OBJECT_CASES = [(name, case) for name, case in CASES if isinstance(case["doc"], dict)]


def _params(cases: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    return [pytest.param(case, id=name) for name, case in cases]


def test_suite_is_present() -> None:
    assert all((SUITE / name).is_file() for name in SUITE_FILES), f"missing {SUITE}"
    # 92 enabled cases in tests.json and 16 in spec_tests.json at the pinned commit.
    assert len(CASES) >= 100


def _round_trip_tree(doc: Any) -> Any:
    return YAML(typ="rt").load(json.dumps(doc))


@pytest.mark.parametrize("tree_kind", ["ruamel", "plain"])
@pytest.mark.parametrize("case", _params(CASES))
def test_engine(case: dict[str, Any], tree_kind: str) -> None:
    tree = _round_trip_tree(case["doc"]) if tree_kind == "ruamel" else copy.deepcopy(case["doc"])
    if "error" in case:
        with pytest.raises(PatchError):
            apply_patch(tree, case["patch"])
        return
    result = to_plain(apply_patch(tree, case["patch"]))
    expected = case.get("expected", case["doc"])  # no `expected`: the patch must just apply
    assert json_equal(result, expected), f"{result!r} != {expected!r}"


def _yaml_rendering(doc: dict[str, Any]) -> str:
    # The comment keeps the loader from taking a bare `{}` for JSON, and must survive.
    return "# conformance case\n" + yaml.safe_dump(
        doc, sort_keys=False, default_flow_style=False, allow_unicode=True
    )


def _json_rendering(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2) + "\n"


@pytest.mark.parametrize("rendering", ["yaml", "json"])
@pytest.mark.parametrize("case", _params(OBJECT_CASES))
def test_rewrite(case: dict[str, Any], rendering: str) -> None:
    if rendering == "yaml":
        path, text = "case.yaml", _yaml_rendering(case["doc"])
    else:
        path, text = "case.json", _json_rendering(case["doc"])
    source = parse_text(path, text)
    assert not source.errors
    assert source.is_json == (rendering == "json")
    assert json_equal(source.documents[0].data, case["doc"])
    if "error" in case:
        with pytest.raises(WriteBackError):
            rewrite(source, {0: case["patch"]})
        return
    new_text = rewrite(source, {0: case["patch"]})
    reparsed = parse_text(path, new_text)
    assert not reparsed.errors, new_text
    expected = case.get("expected", case["doc"])
    assert json_equal(reparsed.documents[0].data, expected), new_text
    if rendering == "yaml":
        assert new_text.startswith("# conformance case\n")
    if json_equal(expected, case["doc"]):
        assert new_text == text  # a patch that changes nothing writes nothing
