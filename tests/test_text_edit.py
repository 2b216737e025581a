"""The write-back's fast path (text_edit) against its ruamel path.

- Differential: every fix the tool proposes on ../shared/corpus and on tests/fixtures (recorded
  from `fix` previews, safe and unsafe), one document at a time: the text the fast path writes
  is byte-identical to what the ruamel path writes for the same ops, and every such document
  of the corpus takes the fast path (the `fix --write` performance target relies on it).
- The shapes the fast path takes, compared with the ruamel path on small texts.
- The shapes it declines: `edit_body` says None, and the write-back still writes the patch,
  through ruamel.
- A fast-path text that does not verify is never written: the ruamel path's is.

tests/test_writeback.py runs each of its hand-written expectations on both paths as well.
The corpus is only read.
"""

from __future__ import annotations

import contextlib
import difflib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonpatch
import pytest
from rule_contract import all_cases

from kubectl_netfix import cli, writeback
from kubectl_netfix.loader import SourceFile, parse_text
from kubectl_netfix.text_edit import TextEdit, edit_body

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
FIXTURES = Path(__file__).parent / "fixtures"


@dataclass(frozen=True)
class Proposal:
    source: SourceFile
    index: int  # the document
    ops: list[dict[str, Any]]

    def __str__(self) -> str:
        return f"{self.source.path} document {self.index + 1}: {self.ops}"


class RuamelCalls:
    """Counts the write-back's ruamel round trips (its `_candidate_edits`)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original = writeback._candidate_edits

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(writeback, "_candidate_edits", counted)


@pytest.fixture
def ruamel_calls(monkeypatch: pytest.MonkeyPatch) -> RuamelCalls:
    return RuamelCalls(monkeypatch)


def _fix_previews() -> Iterator[list[str]]:
    """The `fix` command lines whose proposals the differential test compares."""
    for unsafe in ([], ["--unsafe-fixes"]):
        yield ["fix", "-f", str(CORPUS), "-R", *unsafe]
    for case in all_cases():  # as the rule contract runs them (fixed.yaml comes from these)
        yield ["fix", "-f", str(case.input), "--rule", case.rule_id, "--unsafe-fixes", *case.args]
    yield ["fix", "-f", str(FIXTURES), "-R", "--unsafe-fixes"]


@pytest.fixture(scope="module")
def proposals() -> list[Proposal]:
    """Every (document, ops) the tool hands to the write-back in those previews."""
    assert CORPUS.is_dir(), f"missing {CORPUS}"
    seen: dict[tuple[str, int, str], Proposal] = {}
    original = writeback.rewrite

    def recording(source: SourceFile, ops_by_doc: Any, **kwargs: Any) -> str:
        for index, ops in ops_by_doc.items():
            key = (source.path, index, repr(ops))
            seen.setdefault(key, Proposal(source, index, [dict(op) for op in ops]))
        return original(source, ops_by_doc, **kwargs)

    with pytest.MonkeyPatch.context() as patcher:
        patcher.setattr(writeback, "rewrite", recording)
        for argv in _fix_previews():
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = cli.main(argv)
            assert code in (0, 2), (argv, err.getvalue()[-2000:])  # 2: the templated files
    return list(seen.values())


def _rewrite(proposal: Proposal, fast_path: bool) -> str:
    try:
        return writeback.rewrite(
            proposal.source, {proposal.index: proposal.ops}, fast_path=fast_path
        )
    except writeback.WriteBackError as exc:
        return f"WriteBackError: {exc}"


def test_every_proposed_fix_is_written_alike_by_both_paths(
    proposals: list[Proposal], ruamel_calls: RuamelCalls
) -> None:
    yaml_proposals = [p for p in proposals if not p.source.is_json]
    corpus = [p for p in yaml_proposals if Path(p.source.path).is_relative_to(CORPUS)]
    assert len(corpus) >= 50 and len(yaml_proposals) - len(corpus) >= 100  # the inputs are there
    differences: list[str] = []
    declined: list[Proposal] = []
    for proposal in yaml_proposals:
        before = ruamel_calls.count
        fast = _rewrite(proposal, fast_path=True)
        if ruamel_calls.count != before:
            declined.append(proposal)
            continue  # ruamel wrote it: the same code as below
        slow = _rewrite(proposal, fast_path=False)
        if fast != slow:
            diff = difflib.unified_diff(
                slow.splitlines(keepends=True), fast.splitlines(keepends=True), "ruamel", "text"
            )
            differences.append(f"{proposal}\n{''.join(diff)}")
    assert not differences, "\n".join(differences[:5])
    # The shapes the rules propose for these real files are all the fast path's.
    in_corpus = {id(p) for p in corpus}
    assert not [str(p) for p in declined if id(p) in in_corpus]
    assert len(declined) < len(yaml_proposals) / 5, [str(p) for p in declined]


# --- the shapes it takes -------------------------------------------------------------------------


def _both(text: str, ops: list[dict[str, Any]], calls: RuamelCalls) -> str:
    """The fast path's text (asserting it took the case), checked against the ruamel path's."""
    source = parse_text("in.yaml", text)
    assert not source.errors
    before = calls.count
    fast = writeback.rewrite(source, {0: ops})
    assert calls.count == before, "the fast path declined"
    assert writeback.rewrite(source, {0: ops}, fast_path=False) == fast
    return fast


SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: web   # the web tier
  labels:
    app: web
    # the team that owns it
    team: shop
spec:
  type: LoadBalancer
  ports:
  - name: http
    port: 80
  # end of ports
"""


def test_add_a_block_mapping_to_the_end_of_a_mapping(ruamel_calls: RuamelCalls) -> None:
    value = {"options": [{"name": "ndots", "value": "2"}], "searches": []}
    result = _both(
        SERVICE, [{"op": "add", "path": "/spec/dnsConfig", "value": value}], ruamel_calls
    )
    added = '  dnsConfig:\n    options:\n    - name: ndots\n      value: "2"\n    searches: []\n'
    # Before the comment at the key's indent: it heads what would come next.
    assert result == SERVICE.replace("  # end of ports\n", added + "  # end of ports\n")


def test_append_an_item_and_replace_a_value(ruamel_calls: RuamelCalls) -> None:
    ops: list[dict[str, Any]] = [
        {"op": "test", "path": "/metadata/name", "value": "web"},
        {"op": "replace", "path": "/metadata/name", "value": "web-2"},
        {"op": "add", "path": "/spec/ports/-", "value": {"name": "dns", "port": 53}},
        {"op": "add", "path": "/spec/externalTrafficPolicy", "value": "Local"},
    ]
    result = _both(SERVICE, ops, ruamel_calls)
    assert result == SERVICE.replace("name: web   #", "name: web-2   #").replace(
        "    port: 80\n",
        "    port: 80\n  - name: dns\n    port: 53\n  externalTrafficPolicy: Local\n",
    )


def test_remove_a_key_with_its_head_comment(ruamel_calls: RuamelCalls) -> None:
    result = _both(SERVICE, [{"op": "remove", "path": "/metadata/labels/team"}], ruamel_calls)
    assert result == SERVICE.replace("    # the team that owns it\n    team: shop\n", "")


@pytest.mark.parametrize(
    "value",
    [
        "web",
        "53",
        "yes",
        "on",
        "0644",
        "1.5",
        "null",
        "",
        "2024-01-01",
        "1:20",
        "a b",
        True,
        False,
        None,
        0,
        53,
        "http://10.0.0.1:80/x",
        "kubernetes.io/hostname",
    ],
)
@pytest.mark.parametrize("quote", ['"', "'"])
def test_new_scalars_are_written_as_ruamel_writes_them(
    value: Any, quote: str, ruamel_calls: RuamelCalls
) -> None:
    # The file's quote character is the one its values use most.
    text = f"data:\n  a: {quote}x{quote}\n"
    result = _both(text, [{"op": "add", "path": "/data/b", "value": value}], ruamel_calls)
    reread = parse_text("in.yaml", result).documents[0].data["data"]["b"]
    assert reread == value and type(reread) is type(value)


@pytest.mark.parametrize("old", ["web", "'web'", '"web"', "'80'", '""', "80", "true", ""])
@pytest.mark.parametrize("new", ["api", "8080", 8080, "off", False])
def test_replaced_scalars_are_quoted_as_ruamel_quotes_them(
    old: str, new: Any, ruamel_calls: RuamelCalls
) -> None:
    # The author's quotes stay, unless the old value needed them; a value that needs quotes
    # gets the file's.
    text = f"data:\n  a: {old}  # note\n  b: other\n"
    result = _both(text, [{"op": "replace", "path": "/data/a", "value": new}], ruamel_calls)
    assert result.endswith("  # note\n  b: other\n")


def test_a_new_list_in_its_keys_column_lines_up_with_the_list_beside_it(
    ruamel_calls: RuamelCalls,
) -> None:
    # Lists sit in their key's column, except under `drop`; the new `add` list goes like the
    # one beside it (what the ruamel path's run-by-run re-indentation does).
    text = "spec:\n  a:\n  - 1\n  capabilities:\n    drop:\n      - ALL\n"
    ops = [{"op": "add", "path": "/spec/capabilities/add", "value": ["NET_ADMIN"]}]
    assert _both(text, ops, ruamel_calls) == text + "    add:\n      - NET_ADMIN\n"


def test_removing_then_adding_at_the_same_place_differs_from_ruamel() -> None:
    """The one difference seen (on made-up ops; no rule proposes them): removing a mapping's
    last key and adding a key to it. Applied one by one, the text path removes the key with
    its head comment, as for a remove alone; the ruamel path sees the two as one change and
    keeps the comment above the new key. Both read as the patched object."""
    text = "spec:\n  a: 1\n  # about b\n  b: 2\nnext: 3\n"
    ops: list[dict[str, Any]] = [
        {"op": "remove", "path": "/spec/b"},
        {"op": "add", "path": "/spec/c", "value": 4},
    ]
    source = parse_text("in.yaml", text)
    assert writeback.rewrite(source, {0: ops}) == "spec:\n  a: 1\n  c: 4\nnext: 3\n"
    slow = writeback.rewrite(source, {0: ops}, fast_path=False)
    assert slow == "spec:\n  a: 1\n  # about b\n  c: 4\nnext: 3\n"


# --- the shapes it declines ----------------------------------------------------------------------

DECLINED: dict[str, tuple[str, list[dict[str, Any]]]] = {
    "flow mapping": ("a: {b: 1}\n", [{"op": "add", "path": "/a/c", "value": 2}]),
    "flow sequence": ("a: [1]\n", [{"op": "add", "path": "/a/-", "value": 2}]),
    "alias in the document": (
        "a: &x\n  b: 1\nc: *x\n",
        [{"op": "add", "path": "/d", "value": 1}],
    ),
    "merge key": (
        "a: &x\n  b: 1\nc:\n  <<: *x\n  d: 2\n",
        [{"op": "add", "path": "/c/e", "value": 1}],
    ),
    "anchor on the replaced value": (
        "a:\n  b: &y 1\n  c: 2\n",
        [{"op": "replace", "path": "/a/b", "value": 3}],
    ),
    "tag on the replaced value": (
        "a:\n  b: !!str 1\n  c: 2\n",
        [{"op": "replace", "path": "/a/b", "value": "3"}],
    ),
    "multi-line plain scalar": (
        "a:\n  b: one\n    two\n  c: 2\n",
        [{"op": "replace", "path": "/a/b", "value": "3"}],
    ),
    "block scalar replaced": (
        "a:\n  b: |\n    one\n  c: 2\n",
        [{"op": "replace", "path": "/a/b", "value": "x"}],
    ),
    "keep-chomping block scalar before the new key": (
        "a:\n  b: |+\n    x\n\nc: 1\n",
        [{"op": "add", "path": "/a/d", "value": 3}],
    ),
    "float": ("a:\n  b: 1\n", [{"op": "add", "path": "/a/c", "value": 1.5}]),
    "a list in a list": ("a:\n  b: 1\n", [{"op": "add", "path": "/a/c", "value": [[1]]}]),
    "a string plain text cannot carry": (
        "a:\n  b: 1\n",
        [{"op": "add", "path": "/a/c", "value": "x: y"}],
    ),
    "a string starting with an indicator": (
        "a:\n  b: 1\n",
        [{"op": "add", "path": "/a/c", "value": "-x"}],
    ),
    "non-ASCII": ("a:\n  b: 1\n", [{"op": "add", "path": "/a/c", "value": "caf\u00e9"}]),
    "move": ("a:\n  b: 1\n  c: 2\n", [{"op": "move", "from": "/a/b", "path": "/a/d"}]),
    "copy": ("a:\n  b: 1\n", [{"op": "copy", "from": "/a/b", "path": "/a/c"}]),
    "insert before an item": ("a:\n- 1\n- 2\n", [{"op": "add", "path": "/a/0", "value": 0}]),
    "remove an item": ("a:\n- 1\n- 2\n", [{"op": "remove", "path": "/a/0"}]),
    "remove the only key": ("a:\n  b: 1\nc: 2\n", [{"op": "remove", "path": "/a/b"}]),
    "remove a key on a `- ` line": (
        "a:\n- b: 1\n  c: 2\n",
        [{"op": "remove", "path": "/a/0/b"}],
    ),
    "replace a scalar by a mapping": (
        "a:\n  b: null\n  c: 1\n",
        [{"op": "replace", "path": "/a/b", "value": {"x": 1}}],
    ),
    "the same value spelled otherwise": (
        "a:\n  b: ~\n  c: yes\n",
        [
            {"op": "replace", "path": "/a/b", "value": None},
            {"op": "replace", "path": "/a/c", "value": True},
        ],
    ),
    "replace a mapping": ("a:\n  b: 1\n", [{"op": "replace", "path": "/a", "value": 5}]),
    "replace the document": ("a:\n  b: 1\n", [{"op": "replace", "path": "", "value": {"x": 1}}]),
    "spaces after the colon": (
        "a:\n  b:    1\n  c: 2\n",
        [{"op": "replace", "path": "/a/b", "value": 3}],
    ),
    "a tab after the colon": (
        "a:\n  b:\t1\n  c: 2\n",
        [{"op": "replace", "path": "/a/b", "value": 3}],
    ),
    "a value on the line after its key": (
        "a:\n  b:\n    1\n  c: 2\n",
        [{"op": "replace", "path": "/a/b", "value": 3}],
    ),
    "spaces after the dash": ("a:\n-   1\n", [{"op": "add", "path": "/a/-", "value": 3}]),
    "a complex key": ("a:\n  ? b\n  : 1\n", [{"op": "add", "path": "/a/c", "value": 2}]),
    "a new list before the next item of the enclosing list": (
        "l:\n- a: 1\n  b:\n    - x\n- c: 2\n",
        [{"op": "add", "path": "/l/1/z", "value": ["q"]}],
    ),
}


@pytest.mark.parametrize(("text", "ops"), list(DECLINED.values()), ids=list(DECLINED))
def test_declined_shapes_go_through_ruamel(
    text: str, ops: list[dict[str, Any]], ruamel_calls: RuamelCalls
) -> None:
    source = parse_text("in.yaml", text)
    assert not source.errors
    body = [line.rstrip("\r\n") for line in source.lines]  # these documents have no header
    style = writeback._detect_style(body, lambda: writeback._indent_samples(body))
    fast = edit_body(
        body,
        ops,
        mapping_indent=style.mapping,
        sequence_offset=style.offset,
        quote=style.quote,
    )
    assert fast is None
    try:
        result = writeback.rewrite(source, {0: ops})
    except writeback.WriteBackError as exc:
        # Only the anchors: a change inside one would change every use of it.
        assert "anchor" in str(exc)
        return
    assert ruamel_calls.count > 0
    reread = parse_text("in.yaml", result).documents[0].data
    assert reread == jsonpatch.apply_patch(source.documents[0].data, ops)


# --- verification --------------------------------------------------------------------------------


def test_a_fast_path_text_that_does_not_verify_is_not_written(
    monkeypatch: pytest.MonkeyPatch, ruamel_calls: RuamelCalls
) -> None:
    ops = [{"op": "add", "path": "/spec/externalTrafficPolicy", "value": "Local"}]
    expected = writeback.rewrite(parse_text("in.yaml", SERVICE), {0: ops}, fast_path=False)

    def wrong(*_args: Any, **_kwargs: Any) -> list[TextEdit]:
        # The right key in the wrong mapping: a text that parses, to the wrong object.
        return [TextEdit(4, 4, ["  externalTrafficPolicy: Local"])]  # under metadata

    monkeypatch.setattr(writeback, "edit_body", wrong)
    before = ruamel_calls.count
    assert writeback.rewrite(parse_text("in.yaml", SERVICE), {0: ops}) == expected
    assert ruamel_calls.count > before


@pytest.mark.parametrize("first", ["a", "b"])
def test_a_column_of_comments_does_not_depend_on_the_order_of_the_ops(
    first: str, ruamel_calls: RuamelCalls
) -> None:
    # The column is judged on the original neighbours, as the ruamel path judges it: an earlier
    # replace on the next line must not decide this line's gap.
    text = "a: 1      # c1\nb: 2      # c2\nc: 3 # c3\n"
    values = {"a": "longvalue", "b": 22}
    ops = [{"op": "replace", "path": f"/{key}", "value": values[key]} for key in (first,)]
    ops += [{"op": "replace", "path": f"/{k}", "value": v} for k, v in values.items() if k != first]
    assert _both(text, ops, ruamel_calls) == "a: longvalue # c1\nb: 22     # c2\nc: 3 # c3\n"
