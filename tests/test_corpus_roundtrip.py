"""The write-back on real-world manifests (../shared/corpus: public projects' files, verbatim).

For every YAML/JSON file of the corpus:

- it loads, and the files that are not valid YAML (templated ones) give one-line InputErrors
  with a line number, never an exception; a document that did not parse is never rewritten;
- every document that parsed round-trips byte-identical with no patch, and with a patch that
  goes through ruamel but changes nothing;
- a real patch (an annotation added to each document in turn) changes only lines inside that
  document, removes no line where the add needs none, and adds exactly the new entry, indented
  like its siblings.

Everything happens in memory: the corpus is never written.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonpatch
import pytest

from kubectl_netfix.loader import Document, InputError, SourceFile, parse_text, read_source
from kubectl_netfix.writeback import WriteBackError, original_text, rewrite

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
SUFFIXES = (".yaml", ".yml", ".json")
# Templates (Jinja / shell placeholders) that are not YAML: the loader must say so, per line.
NOT_YAML = {
    "canonical__microk8s/microk8s-resources/actions/ingress.yaml",
    "poseidon__terraform-render-bootstrap/resources/kube-proxy/kube-proxy.yaml",
}
PROBE_KEY = "netfix.io/probe"
PROBE_VALUE = "checked"


def _corpus_files() -> list[str]:
    if not CORPUS.is_dir():
        return []
    return sorted(
        str(path.relative_to(CORPUS))
        for path in CORPUS.rglob("*")
        if path.is_file() and path.suffix in SUFFIXES  # SOURCE.md, LICENSE: not manifests
    )


FILES = _corpus_files()


def test_corpus_is_present() -> None:
    assert CORPUS.is_dir(), f"missing {CORPUS}"
    assert len(FILES) >= 50
    assert set(FILES) >= NOT_YAML


def _load(name: str) -> SourceFile:
    return read_source(str(CORPUS / name))


def _patchable(source: SourceFile) -> list[Document]:
    return [d for d in source.documents if d.error is None and isinstance(d.data, dict)]


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


@pytest.mark.parametrize("name", FILES)
def test_loads_with_one_line_errors_only(name: str) -> None:
    source = _load(name)
    if name not in NOT_YAML:
        assert source.errors == []
        return
    assert source.errors, "a templated file must be reported"
    for error in source.errors:
        assert isinstance(error, InputError)
        assert error.line is not None
        assert "\n" not in str(error) and str(error).startswith(f"{source.path}:{error.line}: ")
    for doc in source.documents:
        if doc.error is not None:
            with pytest.raises(WriteBackError, match="did not parse"):
                rewrite(source, {doc.index: [{"op": "add", "path": "/x", "value": 1}]})


def _same_value_op(data: dict[str, Any]) -> list[dict[str, Any]]:
    """A replace of the first scalar top-level member with its own value: a no-op patch."""
    for key, value in data.items():
        if isinstance(key, str) and isinstance(value, str | int | float | bool):
            return [{"op": "replace", "path": "/" + _escape(key), "value": value}]
    return []


@pytest.mark.parametrize("name", FILES)
def test_round_trip_without_change_is_byte_identical(name: str) -> None:
    source = _load(name)
    text = original_text(source)
    for doc in _patchable(source):
        assert rewrite(source, {doc.index: []}) == text
        ops = _same_value_op(doc.data)
        if ops:
            assert rewrite(source, {doc.index: ops}) == text, f"document {doc.index + 1}"


@dataclass
class Probe:
    ops: list[dict[str, Any]]
    sibling_line: int  # 1-based line of an existing key the new entry must line up with
    added: int  # lines a pure add needs: the new entry (and its parent key if that is new)


def _probe(source: SourceFile, doc: Document) -> Probe:
    """A patch adding the probe annotation (or, without metadata, a top-level key)."""
    data = doc.data
    metadata = data.get("metadata")
    if not isinstance(metadata, dict):
        first = _escape(next(iter(data)))
        ops: list[dict[str, Any]] = [{"op": "add", "path": "/netfixProbe", "value": PROBE_VALUE}]
        return Probe(ops, source.line_of(doc.index, "/" + first), 1)
    annotations = metadata.get("annotations")
    if isinstance(annotations, dict) and annotations:
        first = _escape(next(iter(annotations)))
        ops = [
            # Guarded, as fixes are: the annotations must be what the rule saw.
            {"op": "test", "path": "/metadata/annotations", "value": annotations},
            {
                "op": "add",
                "path": "/metadata/annotations/" + _escape(PROBE_KEY),
                "value": PROBE_VALUE,
            },
        ]
        return Probe(ops, source.line_of(doc.index, "/metadata/annotations/" + first), 1)
    first = "/metadata/" + _escape(next(iter(metadata))) if metadata else "/metadata"
    op = "replace" if "annotations" in metadata else "add"
    ops = [{"op": op, "path": "/metadata/annotations", "value": {PROBE_KEY: PROBE_VALUE}}]
    return Probe(ops, source.line_of(doc.index, first), 2)


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


@pytest.mark.parametrize("name", FILES)
def test_a_patch_changes_only_the_lines_it_needs(name: str) -> None:
    source = _load(name)
    old_lines = source.text.splitlines(keepends=True)
    for doc in _patchable(source):
        probe = _probe(source, doc)
        where = f"document {doc.index + 1}"
        new_text = rewrite(source, {doc.index: probe.ops}).removeprefix("\ufeff")
        new_lines = new_text.splitlines(keepends=True)

        # The other documents, and everything around this one, are byte-identical.
        tail = len(old_lines) - doc.end_line
        assert new_lines[: doc.first_line] == old_lines[: doc.first_line], where
        assert new_lines[len(new_lines) - tail :] == old_lines[doc.end_line :], where
        old_region = old_lines[doc.first_line : doc.end_line]
        new_region = new_lines[doc.first_line : len(new_lines) - tail]

        removed: list[str] = []
        added: list[str] = []
        matcher = difflib.SequenceMatcher(None, old_region, new_region, autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag != "equal":
                removed += old_region[i1:i2]
                added += new_region[j1:j2]

        assert sum(PROBE_VALUE in line for line in added) == 1, (where, added)
        if source.is_json:
            # The member before the new one gains its comma (or an empty `{}` opens up).
            assert len(removed) <= 1, (where, removed)
        elif removed:
            # Only a one-line flow mapping (`metadata: {...}`) has to be rewritten to grow.
            assert len(removed) == 1 and "{" in removed[0], (where, removed)
        else:
            # A pure add: exactly the new entry, lined up with the keys beside it.
            assert len(added) == probe.added, (where, added)
            sibling = old_lines[probe.sibling_line - 1]
            assert _indent(added[0]) == _indent(sibling), (where, added, sibling)
            if probe.added == 2:
                assert len(_indent(added[1])) > len(_indent(added[0])), (where, added)

        # The document's new text reads, on its own, as exactly the patched object.
        reread = parse_text(source.path, "".join(new_region))
        assert [d.data for d in reread.documents if d.data is not None] == [
            jsonpatch.apply_patch(doc.data, probe.ops)
        ], where


@pytest.mark.parametrize("name", FILES)
def test_patching_every_document_at_once(name: str) -> None:
    """One rewrite with ops for every document; the whole file must read back as patched."""
    source = _load(name)
    probes = {doc.index: _probe(source, doc) for doc in _patchable(source)}
    if not probes:
        return
    new_text = rewrite(source, {index: probe.ops for index, probe in probes.items()})
    reparsed = parse_text(source.path, new_text.removeprefix("\ufeff"), source.has_bom)
    assert len(reparsed.documents) == len(source.documents)
    for old, new in zip(source.documents, reparsed.documents, strict=True):
        assert (new.error is None) == (old.error is None), f"document {old.index + 1}"
        want = old.data
        if old.index in probes:
            want = jsonpatch.apply_patch(old.data, probes[old.index].ops)
        assert new.data == want, f"document {old.index + 1}"
    # Exactly one new entry per document (the per-document test checks the lines around it).
    assert new_text.count(PROBE_VALUE) - source.text.count(PROBE_VALUE) == len(probes)
