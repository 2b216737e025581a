"""docs/rules.md is generated from the rules' metadata; keep the checked-in copy current."""

from __future__ import annotations

import re

from conftest import REPO

from kubectl_netfix.commands import rules_markdown
from kubectl_netfix.rules import ALL_RULES
from kubectl_netfix.rules.base import DOC_HEADINGS


def test_docs_rules_md_is_current() -> None:
    checked_in = (REPO / "docs" / "rules.md").read_text()
    assert checked_in == rules_markdown(), (
        "docs/rules.md is stale: run `kubectl netfix rules -o markdown > docs/rules.md`"
    )


def test_every_rule_doc_has_the_headings_in_order() -> None:
    for rule in ALL_RULES:
        lines = [line.strip() for line in rule.doc().splitlines()]
        positions = [lines.index(h) if h in lines else -1 for h in DOC_HEADINGS]
        assert -1 not in positions, f"{rule.id}: missing heading(s) in its docstring"
        assert positions == sorted(positions), f"{rule.id}: headings out of order"
        references = "\n".join(lines[positions[-1] :])
        assert re.search(r"https?://", references), f"{rule.id}: no reference URL"


def test_rule_metadata_is_complete() -> None:
    ids = [rule.id for rule in ALL_RULES]
    assert len(ids) == len(set(ids))
    for rule in ALL_RULES:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", rule.id)
        assert rule.summary and "\n" not in rule.summary
        assert rule.kinds
