"""`check` on each folder of the real corpus reports exactly the reviewed findings.

The expectations (tests/corpus_expectations.yaml) were written by reading the manifests: each
finding says why it is right. A change in what the rules report on real-world YAML shows up here
and must be reviewed the same way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO, SHARED

from kubectl_netfix.cli import main

CORPUS = SHARED / "corpus"
EXPECTATIONS: dict[str, Any] = yaml.safe_load(
    (REPO / "tests" / "corpus_expectations.yaml").read_text()
)


def test_every_corpus_folder_has_expectations() -> None:
    folders = sorted(p.name for p in CORPUS.iterdir() if p.is_dir())
    assert folders == sorted(EXPECTATIONS)


@pytest.mark.parametrize("folder", sorted(EXPECTATIONS))
def test_corpus_folder_findings(folder: str, capsys: pytest.CaptureFixture[str]) -> None:
    root = CORPUS / folder
    capsys.readouterr()
    code = main(["check", "-f", str(root), "-R", "-o", "json", "--fail-on", "none"])
    report = json.loads(capsys.readouterr().out)
    expected = EXPECTATIONS[folder]
    assert code == (2 if expected["errors"] else 0)

    found = []
    for finding in report["findings"]:
        obj = finding["object"]
        assert obj["line"] >= 1, "every finding carries a line number"
        relative = Path(obj["file"]).resolve().relative_to(root.resolve())
        found.append((f"{relative}:{obj['line']}", finding["rule"], finding["severity"]))
    wanted = [(e["at"], e["rule"], e["severity"]) for e in expected["findings"]]
    assert sorted(found) == sorted(wanted)
    for entry in expected["findings"]:
        assert entry["why"].startswith("right"), f"{entry['at']}: every finding is reviewed"

    # Paths in error lines relative to the folder ("" for the folder itself).
    errors = [e.split(f"corpus/{folder}", 1)[-1].lstrip("/") for e in report["errors"]]
    assert errors == expected["errors"]
