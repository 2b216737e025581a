"""The explicit registry of rules: `explain`, `rules` and docs/rules.md read this list."""

from __future__ import annotations

from kubectl_netfix.rules.base import Rule

ALL_RULES: list[type[Rule]] = []


def rule_ids() -> list[str]:
    return [rule.id for rule in ALL_RULES]


def rule_by_id(rule_id: str) -> type[Rule] | None:
    return next((rule for rule in ALL_RULES if rule.id == rule_id), None)
