"""Write-back: a patch changes the lines it needs and not one byte more.

Most tests state the whole expected output, written by hand; every test also checks, with
difflib, that exactly the intended lines were removed and added. Every test runs twice: with
the write-back as it is (its text fast path where that takes the case) and with the fast path
off (ruamel.yaml for every document).
"""

from __future__ import annotations

import difflib
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubectl_netfix import writeback
from kubectl_netfix.loader import BOM, parse_text
from kubectl_netfix.patch_engine import PatchError, apply_patch
from kubectl_netfix.writeback import WriteBackError, original_text, rewrite, write_atomic

DNS_RULE: dict[str, Any] = {
    "to": [{"namespaceSelector": {}}],
    "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
}


@pytest.fixture(autouse=True, params=["text-edit", "ruamel"])
def write_back_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "ruamel":
        monkeypatch.setattr(writeback, "edit_body", lambda *_args, **_kwargs: None)
    return str(request.param)


def changes(before: str, after: str) -> tuple[list[str], list[str]]:
    """The lines removed from `before` and added in `after` (with their line endings)."""
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    removed: list[str] = []
    added: list[str] = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            removed += old[i1:i2]
            added += new[j1:j2]
    return removed, added


def patch(text: str, ops: list[dict[str, Any]], doc: int = 0, path: str = "in.yaml") -> str:
    source = parse_text(path, text)
    assert not source.errors, source.errors
    return rewrite(source, {doc: ops})


def lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


# --- the basic ops -------------------------------------------------------------------------------

POLICY = """\
# Allow the web tier to reach the API.
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: web   # the web tier
  namespace: shop
spec:
  podSelector:
    matchLabels:
      app: web
  policyTypes:
  - Egress
  # Only the API, for now.
  egress:
  - to:
    - podSelector:
        matchLabels:
          app: api
    ports:
    - port: 8080
      protocol: TCP

# end of policy
"""


def test_append_to_an_existing_list() -> None:
    result = patch(POLICY, [{"op": "add", "path": "/spec/egress/-", "value": DNS_RULE}])
    new_rule = """\
  - to:
    - namespaceSelector: {}
    ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
"""
    # After the last rule, before the blank line and the comment that end the document.
    assert result == POLICY.replace(
        "      protocol: TCP\n\n", "      protocol: TCP\n" + new_rule + "\n"
    )
    assert changes(POLICY, result) == ([], lines(new_rule))


def test_add_a_list_that_is_absent() -> None:
    text = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: web
spec:
  podSelector: {}
  policyTypes:
  - Egress
"""
    result = patch(text, [{"op": "add", "path": "/spec/egress", "value": [DNS_RULE]}])
    added = """\
  egress:
  - to:
    - namespaceSelector: {}
    ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
"""
    assert result == text + added
    assert changes(text, result) == ([], lines(added))


def test_replace_a_nested_string() -> None:
    ops = [{"op": "replace", "path": "/spec/podSelector/matchLabels/app", "value": "frontend"}]
    result = patch(POLICY, ops)
    assert result == POLICY.replace("      app: web\n", "      app: frontend\n")
    assert changes(POLICY, result) == (["      app: web\n"], ["      app: frontend\n"])


def test_replace_keeps_the_space_before_the_inline_comment() -> None:
    result = patch(POLICY, [{"op": "replace", "path": "/metadata/name", "value": "web-tier"}])
    assert changes(POLICY, result) == (
        ["  name: web   # the web tier\n"],
        ["  name: web-tier   # the web tier\n"],
    )


def test_replace_keeps_a_column_of_comments_aligned() -> None:
    text = "data:\n  a: one      # first\n  bb: two     # second\n  c: three    # third\n"
    result = patch(text, [{"op": "replace", "path": "/data/bb", "value": "22"}])
    # The comment stays in its column (a lone comment would keep its 5-space gap instead).
    assert changes(text, result) == (["  bb: two     # second\n"], ['  bb: "22"    # second\n'])


def test_remove() -> None:
    ops = [{"op": "remove", "path": "/spec/egress/0/ports/0/protocol"}]
    result = patch(POLICY, ops)
    assert result == POLICY.replace("    - port: 8080\n      protocol: TCP\n", "    - port: 8080\n")
    assert changes(POLICY, result) == (["      protocol: TCP\n"], [])


def test_no_ops_and_no_change_return_the_text_untouched() -> None:
    source = parse_text("in.yaml", POLICY)
    assert rewrite(source, {}) == POLICY
    assert rewrite(source, {0: []}) == POLICY
    # A patch that changes nothing (a passing test, a same-value replace) writes nothing.
    ops = [
        {"op": "test", "path": "/metadata/name", "value": "web"},
        {"op": "replace", "path": "/metadata/namespace", "value": "shop"},
    ]
    assert rewrite(source, {0: ops}) == POLICY


# --- comments ------------------------------------------------------------------------------------

COMMENTED = """\
# head of the file
apiVersion: v1
kind: Service
metadata:
  name: api  # inline
  # about the labels
  labels:
    app: api
    # trailing, inside labels
  # about the annotations
  annotations:
    owner: team-a

# about the spec
spec:
  ports:
  # first port
  - name: http   # inline on an item
    port: 80
  # second port
  - name: https
    port: 443
  # after the last port
# end of document
"""


def test_new_key_goes_before_the_comment_that_heads_the_next_key() -> None:
    ops = [{"op": "add", "path": "/metadata/annotations/note", "value": "x"}]
    result = patch(COMMENTED, ops)
    assert result == COMMENTED.replace("    owner: team-a\n", "    owner: team-a\n    note: x\n")
    assert changes(COMMENTED, result) == ([], ["    note: x\n"])


def test_new_key_at_the_end_of_a_mapping_before_blank_line_and_comment() -> None:
    result = patch(COMMENTED, [{"op": "add", "path": "/metadata/namespace", "value": "shop"}])
    assert result == COMMENTED.replace(
        "    owner: team-a\n\n", "    owner: team-a\n  namespace: shop\n\n"
    )
    assert changes(COMMENTED, result) == ([], ["  namespace: shop\n"])


def test_new_item_goes_before_trailing_comments() -> None:
    ops = [{"op": "add", "path": "/spec/ports/-", "value": {"name": "dns", "port": 53}}]
    result = patch(COMMENTED, ops)
    assert result == COMMENTED.replace(
        "    port: 443\n", "    port: 443\n  - name: dns\n    port: 53\n"
    )
    assert changes(COMMENTED, result) == ([], ["  - name: dns\n", "    port: 53\n"])


def test_new_top_level_key_goes_before_the_end_of_document_comment() -> None:
    result = patch(COMMENTED, [{"op": "add", "path": "/status", "value": {"ready": True}}])
    # The indented comment belongs to the list above it; the one at column 0 ends the file.
    assert result == COMMENTED.replace(
        "# end of document\n", "status:\n  ready: true\n# end of document\n"
    )
    assert changes(COMMENTED, result) == ([], ["status:\n", "  ready: true\n"])


def test_new_first_item_goes_above_the_comment_that_heads_the_old_first_item() -> None:
    ops = [{"op": "add", "path": "/spec/ports/0", "value": {}}]
    result = patch(COMMENTED, ops)
    assert changes(COMMENTED, result) == ([], ["  - {}\n"])
    assert "  ports:\n  - {}\n  # first port\n  - name: http" in result


def test_removed_key_takes_its_own_comment_and_leaves_the_next_one() -> None:
    result = patch(COMMENTED, [{"op": "remove", "path": "/metadata/labels"}])
    expected = COMMENTED.replace(
        "  # about the labels\n  labels:\n    app: api\n    # trailing, inside labels\n", ""
    )
    assert result == expected
    assert changes(COMMENTED, result) == (
        [
            "  # about the labels\n",
            "  labels:\n",
            "    app: api\n",
            "    # trailing, inside labels\n",
        ],
        [],
    )


def test_removed_item_takes_its_own_comment() -> None:
    result = patch(COMMENTED, [{"op": "remove", "path": "/spec/ports/1"}])
    # The comment after the last item stays: it is not the removed item's.
    assert result == COMMENTED.replace("  # second port\n  - name: https\n    port: 443\n", "")
    assert changes(COMMENTED, result) == (
        ["  # second port\n", "  - name: https\n", "    port: 443\n"],
        [],
    )


def test_replace_keeps_inline_comment_on_an_item() -> None:
    result = patch(COMMENTED, [{"op": "replace", "path": "/spec/ports/0/name", "value": "web"}])
    assert changes(COMMENTED, result) == (
        ["  - name: http   # inline on an item\n"],
        ["  - name: web   # inline on an item\n"],
    )


# --- file-level bytes: CRLF, BOM, EOF, whitespace, quotes ---------------------------------------


def test_crlf_line_endings() -> None:
    text = (
        "apiVersion: v1\r\nkind: Service\r\nmetadata:\r\n  name: api\r\n"
        "spec:\r\n  ports:\r\n  - port: 80\r\n"
    )
    ops = [
        {"op": "add", "path": "/spec/ports/-", "value": {"port": 443}},
        {"op": "add", "path": "/metadata/labels", "value": {"app": "api"}},
    ]
    result = patch(text, ops)
    assert result == (
        "apiVersion: v1\r\nkind: Service\r\nmetadata:\r\n  name: api\r\n"
        "  labels:\r\n    app: api\r\n"
        "spec:\r\n  ports:\r\n  - port: 80\r\n  - port: 443\r\n"
    )
    assert changes(text, result) == ([], ["  labels:\r\n", "    app: api\r\n", "  - port: 443\r\n"])


def test_bom_is_kept() -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: '1'\n"
    source = parse_text("in.yaml", text, has_bom=True)
    assert original_text(source) == BOM + text
    assert rewrite(source, {}) == BOM + text
    result = rewrite(source, {0: [{"op": "add", "path": "/data/b", "value": "2"}]})
    # A new string that would read as a number is quoted, with the file's quote character.
    assert result == BOM + text + "  b: '2'\n"


def test_no_newline_at_end_of_file() -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: x"
    result = patch(text, [{"op": "add", "path": "/data/b", "value": "y"}])
    assert result == "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: x\n  b: y"
    # The old last line gains the line break it needs; nothing else changes.
    assert changes(text, result) == (["  a: x"], ["  a: x\n", "  b: y"])
    # A change elsewhere leaves the unterminated last line alone.
    result = patch(text, [{"op": "replace", "path": "/metadata/name", "value": "d"}])
    assert result == text.replace("name: c", "name: d")


def test_trailing_whitespace_and_quotes_on_other_lines_are_kept() -> None:
    text = (
        "apiVersion: v1  \n"
        "kind: ConfigMap\n"
        "metadata:\t\n"
        "  name: 'single'   \n"
        '  namespace: "double"\n'
        "data:\n"
        '  key: "value"  \n'
        "  other: plain\n"
    )
    result = patch(text, [{"op": "replace", "path": "/data/other", "value": "changed"}])
    assert result == text.replace("  other: plain\n", "  other: changed\n")
    assert changes(text, result) == (["  other: plain\n"], ["  other: changed\n"])


def test_replacing_a_quoted_string_keeps_its_quotes() -> None:
    text = "data:\n  a: \"one\"\n  b: 'two'\n"
    ops = [
        {"op": "replace", "path": "/data/a", "value": "uno"},
        {"op": "replace", "path": "/data/b", "value": "dos"},
    ]
    assert patch(text, ops) == "data:\n  a: \"uno\"\n  b: 'dos'\n"


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("on", '"on"'),
        ("yes", '"yes"'),
        ("1.5", '"1.5"'),
        ("null", '"null"'),
        ("1e0", "1e0"),
        ("web", "web"),
        (True, "true"),
        (None, "null"),
        (53, "53"),
    ],
)
def test_new_scalars_read_back_as_what_they_are(value: Any, written: str) -> None:
    # YAML 1.1 readers (kubectl, PyYAML) take a plain `on` for true and `1.5` for a number.
    text = "data:\n  a: x\n"
    result = patch(text, [{"op": "add", "path": "/data/b", "value": value}])
    assert result == text + f"  b: {written}\n"
    assert yaml.safe_load(result)["data"]["b"] == value


def test_test_op_sees_values_the_way_kubectl_reads_them() -> None:
    # `yes` is a boolean to YAML 1.1 (what the rules saw), a string to YAML 1.2 (ruamel's default).
    text = (
        "spec:\n  hostNetwork: yes\n  replicas: 0777\n  since: 2024-01-01\n  at: 1:20\n  name: x\n"
    )
    ops: list[dict[str, Any]] = [
        {"op": "test", "path": "/spec/hostNetwork", "value": True},
        {"op": "test", "path": "/spec/replicas", "value": 511},
        # The loader keeps timestamps and sexagesimals as strings, as kubectl does.
        {"op": "test", "path": "/spec/since", "value": "2024-01-01"},
        {"op": "test", "path": "/spec/at", "value": "1:20"},
        {"op": "replace", "path": "/spec/name", "value": "y"},
    ]
    result = patch(text, ops)
    assert changes(text, result) == (["  name: x\n"], ["  name: y\n"])


def test_quotes_a_value_needed_are_not_kept_when_it_no_longer_needs_them() -> None:
    text = 'spec:\n  externalTrafficPolicy: ""  # was empty\n  port: "80"\n'
    ops = [
        {"op": "replace", "path": "/spec/externalTrafficPolicy", "value": "Local"},
        {"op": "replace", "path": "/spec/port", "value": "http"},
    ]
    assert patch(text, ops) == "spec:\n  externalTrafficPolicy: Local  # was empty\n  port: http\n"


def test_emptying_a_list_that_has_a_head_comment() -> None:
    # ruamel alone would write the comment and then `[]` on a line of its own: not YAML.
    text = "spec:\n  tls:\n  # the secret must exist\n  - secretName: tls\n  rules: []\n"
    result = patch(text, [{"op": "remove", "path": "/spec/tls/0"}])
    assert result == "spec:\n  tls: []\n  rules: []\n"


def test_a_scalar_replaced_by_a_list_keeps_its_inline_comment_and_the_next_keys() -> None:
    text = "conntrack:\n  maxPerCore: 0  # off\n  # the timeout\n  tcpTimeout: 0s\n"
    result = patch(text, [{"op": "replace", "path": "/conntrack/maxPerCore", "value": [1]}])
    # ruamel alone would put `# the timeout` between the key and the list.
    assert result == (
        "conntrack:\n  maxPerCore:  # off\n  - 1\n  # the timeout\n  tcpTimeout: 0s\n"
    )


def test_a_scalar_with_an_inline_comment_replaced_by_an_empty_list() -> None:
    text = "selector:\n  matchLabels:\n    app: db # must match\nstrategy:\n  type: Recreate\n"
    result = patch(text, [{"op": "replace", "path": "/selector/matchLabels/app", "value": []}])
    assert changes(text, result) == (["    app: db # must match\n"], ["    app: [] # must match\n"])


def test_keep_chomping_block_scalar_keeps_its_blank_lines() -> None:
    text = "data:\n  script: |+\n    echo hi\n\n\nnext: 1\n"
    result = patch(text, [{"op": "add", "path": "/data/other", "value": "x"}])
    assert result == "data:\n  script: |+\n    echo hi\n\n\n  other: x\nnext: 1\n"
    assert yaml.safe_load(result)["data"]["script"] == "echo hi\n\n\n"


def test_a_multi_line_flow_list_is_rewritten_whole_when_patched() -> None:
    # ruamel writes a flow collection on one line: the lines it spans are the edited span.
    text = "spec:\n  ports: [80,\n    443]\n  type: ClusterIP\n"
    result = patch(text, [{"op": "add", "path": "/spec/ports/-", "value": 8080}])
    assert result == "spec:\n  ports: [80, 443, 8080]\n  type: ClusterIP\n"


# --- indentation and sequence styles -------------------------------------------------------------

STYLES = {
    "indented": """\
spec:
  egress:
    - to:
        - podSelector: {}
      ports:
        - port: 80
""",
    "not-indented": """\
spec:
  egress:
  - to:
    - podSelector: {}
    ports:
    - port: 80
""",
    "four-spaces": """\
spec:
    egress:
        - to:
              - podSelector: {}
          ports:
              - port: 80
""",
}

STYLE_ADDITIONS = {
    "indented": """\
    - to:
        - namespaceSelector: {}
      ports:
        - port: 53
          protocol: UDP
        - port: 53
          protocol: TCP
""",
    "not-indented": """\
  - to:
    - namespaceSelector: {}
    ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
""",
    "four-spaces": """\
        - to:
              - namespaceSelector: {}
          ports:
              - port: 53
                protocol: UDP
              - port: 53
                protocol: TCP
""",
}


@pytest.mark.parametrize("style", sorted(STYLES))
def test_new_lines_follow_the_file_style(style: str) -> None:
    text = STYLES[style]
    result = patch(text, [{"op": "add", "path": "/spec/egress/-", "value": DNS_RULE}])
    assert result == text + STYLE_ADDITIONS[style]
    assert changes(text, result) == ([], lines(STYLE_ADDITIONS[style]))


def test_a_list_indented_unlike_the_rest_of_the_file_gets_matching_items() -> None:
    text = """\
spec:
  containers:
  - name: a
    ports:
      - containerPort: 80
        name: http
  - name: b
"""
    ops = [{"op": "add", "path": "/spec/containers/0/ports/-", "value": {"containerPort": 53}}]
    result = patch(text, ops)
    assert changes(text, result) == ([], ["      - containerPort: 53\n"])
    ops = [{"op": "add", "path": "/spec/containers/0/ports/0/protocol", "value": "TCP"}]
    result = patch(text, ops)
    assert changes(text, result) == ([], ["        protocol: TCP\n"])


def test_a_mapping_indented_deeper_than_the_rest_gets_matching_keys() -> None:
    text = """\
metadata:
  name: public
  annotations:
      ingressclass.kubernetes.io/is-default-class: "true"
spec:
  controller: nginx
"""
    ops = [{"op": "add", "path": "/metadata/annotations/netfix.io~1probe", "value": "x"}]
    result = patch(text, ops)
    assert changes(text, result) == ([], ["      netfix.io/probe: x\n"])


def test_new_item_and_new_outer_key_each_line_up_with_their_siblings() -> None:
    # Most lists here sit under their key (`- ` at the key's column); `volumes` does not.
    text = """\
spec:
  args:
  - a
  ports:
  - 80
  volumes:
    - name: v
"""
    ops = [
        {"op": "add", "path": "/spec/volumes/-", "value": {"name": "w"}},
        {"op": "add", "path": "/status", "value": {"phase": "Pending"}},
    ]
    result = patch(text, ops)
    assert result == text + "    - name: w\nstatus:\n  phase: Pending\n"


def test_new_item_then_new_key_beside_its_list_in_a_mixed_file() -> None:
    # Lists at their key's column (`- 1`), except `drop`: ruamel renders `- ALL` in the
    # column of `drop:`, and a new key beside `drop:` must not move with `- ALL`.
    text = """\
spec:
  a:
  - 1
  b:
  - 2
  capabilities:
    drop:
      - ALL
"""
    ops: list[dict[str, Any]] = [
        {"op": "add", "path": "/spec/capabilities/drop/-", "value": "NET_RAW"},
        {"op": "add", "path": "/spec/capabilities/add", "value": ["NET_ADMIN"]},
    ]
    result = patch(text, ops)
    assert result == text + "      - NET_RAW\n    add:\n      - NET_ADMIN\n"


def test_a_new_first_item_lines_up_with_the_items_below_it() -> None:
    # `env` (and most lists) are indented under their key, `volumeMounts` is not.
    text = """\
spec:
  env:
    - name: A
    - name: B
  volumeMounts:
  - name: data
"""
    ops = [{"op": "add", "path": "/spec/volumeMounts/0", "value": {"name": "tmp"}}]
    result = patch(text, ops)
    assert changes(text, result) == ([], ["  - name: tmp\n"])
    assert result.index("- name: tmp") < result.index("- name: data")


# --- flow style ----------------------------------------------------------------------------------

FLOW = """\
spec:
  podSelector: {}
  selector: {app: web, tier: front}
  ports: [{port: 80, protocol: TCP}]
  policyTypes: [Ingress]
"""


def test_flow_collections_stay_flow() -> None:
    ops: list[dict[str, Any]] = [
        {"op": "add", "path": "/spec/selector/zone", "value": "a"},
        {"op": "add", "path": "/spec/ports/-", "value": {"port": 53}},
        {"op": "add", "path": "/spec/policyTypes/-", "value": "Egress"},
    ]
    result = patch(FLOW, ops)
    assert (
        result
        == """\
spec:
  podSelector: {}
  selector: {app: web, tier: front, zone: a}
  ports: [{port: 80, protocol: TCP}, {port: 53}]
  policyTypes: [Ingress, Egress]
"""
    )
    assert len(changes(FLOW, result)[0]) == 3


def test_an_empty_flow_mapping_grows_into_block_style() -> None:
    ops = [{"op": "add", "path": "/spec/podSelector/matchLabels", "value": {"app": "web"}}]
    result = patch(FLOW, ops)
    assert changes(FLOW, result) == (
        ["  podSelector: {}\n"],
        ["  podSelector:\n", "    matchLabels:\n", "      app: web\n"],
    )


def test_a_flow_document_is_patchable() -> None:
    text = "{apiVersion: v1, kind: ConfigMap, metadata: {name: c}}\n"
    result = patch(text, [{"op": "add", "path": "/data", "value": {"a": "b"}}])
    assert result == "{apiVersion: v1, kind: ConfigMap, metadata: {name: c}, data: {a: b}}\n"


# --- anchors and aliases -------------------------------------------------------------------------

ANCHORED = """\
apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: a
  spec:
    template: &template
      metadata:
        labels:
          app: shop
- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: b
  spec:
    template: *template
"""


def test_an_anchored_document_round_trips_and_patches_outside_the_alias() -> None:
    source = parse_text("in.yaml", ANCHORED)
    assert rewrite(source, {0: []}) == ANCHORED
    ops = [{"op": "add", "path": "/items/1/metadata/namespace", "value": "shop"}]
    result = rewrite(source, {0: ops})
    assert changes(ANCHORED, result) == ([], ["    namespace: shop\n"])
    assert "template: &template\n" in result and "template: *template\n" in result


@pytest.mark.parametrize("item", [0, 1])
def test_a_patch_inside_an_aliased_node_is_refused(item: int) -> None:
    source = parse_text("in.yaml", ANCHORED)
    pointer = f"/items/{item}/spec/template/metadata/labels/tier"
    with pytest.raises(WriteBackError, match=r"shared through a YAML anchor &template"):
        rewrite(source, {0: [{"op": "add", "path": pointer, "value": "web"}]})


def test_replacing_an_alias_as_a_whole_is_fine() -> None:
    ops = [{"op": "replace", "path": "/items/1/spec/template", "value": {"metadata": {}}}]
    result = patch(ANCHORED, ops)
    assert changes(ANCHORED, result) == (
        ["    template: *template\n"],
        ["    template:\n", "      metadata: {}\n"],
    )


def test_removing_a_merged_key_is_refused_not_silently_dropped() -> None:
    text = "base: &base\n  a: 1\n  b: 2\nderived:\n  <<: *base\n  c: 3\n"
    source = parse_text("in.yaml", text)
    with pytest.raises(WriteBackError, match="anchor"):
        rewrite(source, {0: [{"op": "remove", "path": "/derived/a"}]})
    # Overriding a merged key in the mapping that merges it is fine.
    result = rewrite(source, {0: [{"op": "replace", "path": "/derived/a", "value": 5}]})
    assert yaml.safe_load(result)["derived"] == {"a": 5, "b": 2, "c": 3}
    assert changes(text, result) == ([], ["  a: 5\n"])


# --- documents: streams and List items -----------------------------------------------------------

STREAM = """\
# Generated by hand.
# Three documents follow.
---
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
# the policy
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: deny
  namespace: shop
spec:
  podSelector: {}
  policyTypes: [Egress]
---   # the service
apiVersion: v1
kind: Service
metadata:
  name: api
"""


def test_only_the_patched_document_of_a_stream_changes() -> None:
    ops = [{"op": "add", "path": "/spec/egress", "value": [DNS_RULE]}]
    result = patch(STREAM, ops, doc=1)
    assert result.startswith(STREAM[: STREAM.index("# the policy")])  # doc 1 and its header
    assert result.endswith(STREAM[STREAM.index("---   # the service") :])  # doc 3
    added = """\
  egress:
  - to:
    - namespaceSelector: {}
    ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
"""
    assert changes(STREAM, result) == ([], lines(added))
    reparsed = parse_text("in.yaml", result)
    assert [d.data["kind"] for d in reparsed.documents] == ["Namespace", "NetworkPolicy", "Service"]


@pytest.mark.parametrize("doc", [0, 2])
def test_first_and_last_documents_of_a_stream(doc: int) -> None:
    result = patch(
        STREAM, [{"op": "add", "path": "/metadata/labels", "value": {"a": "b"}}], doc=doc
    )
    assert changes(STREAM, result) == ([], ["  labels:\n", "    a: b\n"])
    assert result.startswith("# Generated by hand.\n# Three documents follow.\n---\n")


def test_kind_list_items() -> None:
    text = """\
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata:
    name: a
  spec:
    type: LoadBalancer
- apiVersion: v1
  kind: Service
  metadata:
    name: b
  spec:
    type: LoadBalancer
"""
    ops = [{"op": "add", "path": "/items/1/spec/externalTrafficPolicy", "value": "Local"}]
    result = patch(text, ops)
    assert result == text + "    externalTrafficPolicy: Local\n"
    assert changes(text, result) == ([], ["    externalTrafficPolicy: Local\n"])


def test_document_after_an_end_marker() -> None:
    text = "a: 1\n...\n---\nb: 2\n"
    result = patch(text, [{"op": "add", "path": "/c", "value": 3}], doc=1)
    assert result == "a: 1\n...\n---\nb: 2\nc: 3\n"


def test_a_flow_root_on_the_marker_line_keeps_its_marker() -> None:
    text = "a: 1\n--- {b: 2}\n"
    assert (
        patch(text, [{"op": "add", "path": "/c", "value": 3}], doc=1) == "a: 1\n--- {b: 2, c: 3}\n"
    )


def test_big_document_is_patched_through_the_entries_the_ops_reach() -> None:
    rows = "".join(f"    key{number}: value {number}\n" for number in range(400))
    text = f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n{rows}"
    assert writeback._narrow(text.splitlines(), [{"op": "add", "path": "/metadata/x"}])
    ops = [{"op": "add", "path": "/metadata/labels", "value": {"a": "b"}}]
    result = patch(text, ops)
    assert changes(text, result) == ([], ["  labels:\n", "    a: b\n"])
    # A new top-level key needs the last entry: too much of the document to bother narrowing.
    assert writeback._narrow(text.splitlines(), [{"op": "add", "path": "/binaryData"}]) is None
    result = patch(text, [{"op": "add", "path": "/binaryData", "value": {}}])
    assert result == text + "binaryData: {}\n"


# --- JSON ----------------------------------------------------------------------------------------


def test_json_keeps_its_layout() -> None:
    document = {"apiVersion": "v1", "kind": "Service", "spec": {"ports": [{"port": 80}]}}
    text = json.dumps(document, indent=2) + "\n"  # the layout of kubectl's -o json
    ops = [{"op": "add", "path": "/spec/externalTrafficPolicy", "value": "Local"}]
    result = patch(text, ops, path="in.json")
    assert json.loads(result)["spec"]["externalTrafficPolicy"] == "Local"
    assert changes(text, result) == (
        ["    ]\n"],
        ["    ],\n", '    "externalTrafficPolicy": "Local"\n'],
    )


def test_json_with_four_space_indent_crlf_and_no_final_newline() -> None:
    text = (
        '{\r\n    "kind": "Service",\r\n    "spec": {\r\n        "type": "NodePort"\r\n    }\r\n}'
    )
    result = patch(
        text, [{"op": "replace", "path": "/spec/type", "value": "ClusterIP"}], path="in.json"
    )
    assert result == text.replace("NodePort", "ClusterIP")


def test_compact_json() -> None:
    text = '{"kind":"Service","spec":{"ports":[80]}}'
    result = patch(text, [{"op": "add", "path": "/spec/ports/-", "value": 443}], path="in.json")
    assert result == '{"kind":"Service","spec":{"ports":[80,443]}}'


def test_the_callers_ops_are_not_changed() -> None:
    # jsonpatch puts an op's value object itself into its result; a later op appending to it
    # must not reach back into the caller's ops.
    text = "spec:\n  policyTypes:\n  - Ingress\n"
    ops: list[dict[str, Any]] = [
        {"op": "replace", "path": "/spec/policyTypes", "value": ["Ingress"]},
        {"op": "add", "path": "/spec/policyTypes/-", "value": "Egress"},
    ]
    snapshot = json.dumps(ops)
    assert patch(text, ops) == "spec:\n  policyTypes:\n  - Ingress\n  - Egress\n"
    assert json.dumps(ops) == snapshot


def test_two_ops_may_share_one_value_object() -> None:
    empty: dict[str, Any] = {}
    text = "metadata:\n  name: a\nspec:\n  ports:\n  - port: 80\n"
    ops: list[dict[str, Any]] = [
        {"op": "add", "path": "/metadata/labels", "value": empty},
        {"op": "add", "path": "/spec/ports/-", "value": empty},
        {"op": "add", "path": "/metadata/labels/app", "value": "web"},
    ]
    result = patch(text, ops)
    assert yaml.safe_load(result)["spec"]["ports"] == [{"port": 80}, {}]
    assert changes(text, result) == ([], ["  labels:\n", "    app: web\n", "  - {}\n"])


# --- refusals ------------------------------------------------------------------------------------


def test_a_document_that_did_not_parse_is_never_written() -> None:
    source = parse_text("in.yaml", "a: 1\n---\nb: [1\n---\nc: 3\n")
    assert source.documents[1].error is not None
    with pytest.raises(WriteBackError, match=r"document 2 .*did not parse"):
        rewrite(source, {1: [{"op": "add", "path": "/x", "value": 1}]})


def test_a_failed_op_names_the_op_and_the_line() -> None:
    source = parse_text("in.yaml", POLICY)
    with pytest.raises(WriteBackError) as caught:
        rewrite(source, {0: [{"op": "test", "path": "/metadata/name", "value": "api"}]})
    message = str(caught.value)
    assert message == (
        "document 1 (line 5): op 1 (test /metadata/name): test failed: /metadata/name is "
        "'web', not 'api'"
    )
    with pytest.raises(WriteBackError, match=r"op 2 \(add /spec/ingress/0/from\): /spec/ingress"):
        rewrite(
            source,
            {
                0: [
                    {"op": "test", "path": "/kind", "value": "NetworkPolicy"},
                    {"op": "add", "path": "/spec/ingress/0/from", "value": []},
                ]
            },
        )
    assert "\n" not in message


def test_unknown_document() -> None:
    with pytest.raises(WriteBackError, match="no such document"):
        rewrite(parse_text("in.yaml", "a: 1\n"), {3: [{"op": "add", "path": "/b", "value": 1}]})


def test_engine_errors_are_patch_errors() -> None:
    with pytest.raises(PatchError, match=r"op 1 \(remove /a\)"):
        apply_patch({}, [{"op": "remove", "path": "/a"}])


# --- write_atomic --------------------------------------------------------------------------------


def test_write_atomic_keeps_mode_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "policy.yaml"
    target.write_bytes(b"old\r\n")
    os.chmod(target, 0o640)
    write_atomic(str(target), "new\r\nline\u00e9\n")
    assert target.read_bytes() == "new\r\nline\u00e9\n".encode()  # no newline translation
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["policy.yaml"]


def test_write_atomic_failure_leaves_the_original(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "policy.yaml"
    target.write_text("original\n")

    def refuse(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="No space left"):
        write_atomic(str(target), "new\n")
    assert target.read_text() == "original\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["policy.yaml"]


def test_write_atomic_follows_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real.yaml"
    real.write_text("old\n")
    link = tmp_path / "link.yaml"
    link.symlink_to(real)
    write_atomic(str(link), "new\n")
    assert link.is_symlink()
    assert real.read_text() == "new\n"
