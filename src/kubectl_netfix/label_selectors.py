"""Kubernetes label selectors: the map form (Services) and LabelSelector (matchLabels and
matchExpressions, used by NetworkPolicies, Deployments, ...)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def matches_map(selector: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    """Service-style selector: every key=value must be present."""
    return all(
        labels.get(key) == str(value) or labels.get(key) == value for key, value in selector.items()
    )


def matches(selector: Mapping[str, Any] | None, labels: Mapping[str, Any]) -> bool:
    """LabelSelector semantics; an empty selector ({}) selects everything.

    A null selector is treated as "nothing" by callers that care (e.g. namespaceSelector absent
    means "this namespace", which is not a label question)."""
    if selector is None:
        return False
    match_labels = selector.get("matchLabels") or {}
    if isinstance(match_labels, Mapping) and not matches_map(match_labels, labels):
        return False
    for expression in selector.get("matchExpressions") or []:
        if not isinstance(expression, Mapping):
            return False
        key = str(expression.get("key"))
        operator = expression.get("operator")
        values = [str(v) for v in expression.get("values") or []]
        present = key in labels
        if operator == "In":
            if not present or str(labels[key]) not in values:
                return False
        elif operator == "NotIn":
            if present and str(labels[key]) in values:
                return False
        elif operator == "Exists":
            if not present:
                return False
        elif operator == "DoesNotExist":
            if present:
                return False
        else:
            return False  # unknown operator: the API server rejects it; match nothing
    return True


def required_pairs(selector: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """key=value pairs any match must carry: what the label index can look up directly."""
    if not selector:
        return []
    pairs = [(str(k), str(v)) for k, v in (selector.get("matchLabels") or {}).items()]
    for expression in selector.get("matchExpressions") or []:
        if (
            isinstance(expression, Mapping)
            and expression.get("operator") == "In"
            and len(expression.get("values") or []) == 1
        ):
            pairs.append((str(expression.get("key")), str(expression["values"][0])))
    return pairs


def format_map(selector: Mapping[str, Any]) -> str:
    return ",".join(f"{key}={value}" for key, value in selector.items())
