"""The one contract every rule is held to, driven by fixture folders.

tests/fixtures/rules/<rule-id>/<case>/
    input.yaml     the manifests; a finding is expected on every line that carries
                   `# netfix-expect: <rule-id> <severity>` (several: comma-separated)
    fixed.yaml     (optional) input.yaml after `fix --write --unsafe-fixes`, byte for byte
    args.txt       (optional) extra command-line flags, one per line (e.g. --kube-version=1.31)

A case without expect markers is a "good" case: the rule must say nothing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kubectl_netfix.cli import main

FIXTURES = Path(__file__).parent / "fixtures" / "rules"
EXPECT = re.compile(r"#\s*netfix-expect:\s*(.+?)\s*$")


@dataclass(frozen=True)
class RuleCase:
    rule_id: str
    name: str
    folder: Path

    @property
    def input(self) -> Path:
        return self.folder / "input.yaml"

    @property
    def fixed(self) -> Path:
        return self.folder / "fixed.yaml"

    @property
    def args(self) -> list[str]:
        path = self.folder / "args.txt"
        if not path.exists():
            return []
        return [line.strip() for line in path.read_text().splitlines() if line.strip()]

    def expected(self) -> set[tuple[int, str, str]]:
        """(line, rule, severity) marked in input.yaml."""
        result = set()
        for number, line in enumerate(self.input.read_text().split("\n"), start=1):
            match = EXPECT.search(line)
            if match:
                for item in match.group(1).split(","):
                    rule, severity = item.split()
                    result.add((number, rule, severity))
        return result


def all_cases() -> list[RuleCase]:
    cases = []
    for rule_dir in sorted(p for p in FIXTURES.iterdir() if p.is_dir()):
        for case_dir in sorted(p for p in rule_dir.iterdir() if p.is_dir()):
            cases.append(RuleCase(rule_dir.name, case_dir.name, case_dir))
    return cases


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def check_json(capsys: pytest.CaptureFixture[str], path: Path, case: RuleCase) -> dict[str, Any]:
    code, out, err = run_cli(
        capsys, "check", "-f", str(path), "--rule", case.rule_id, "-o", "json", *case.args
    )
    assert code in (0, 1), f"check failed ({code}): {err}"
    result: dict[str, Any] = json.loads(out)
    return result
