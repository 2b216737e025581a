"""The loader's fast paths give exactly what the careful paths give.

- Documents straight from libyaml's parse events (no node graph, memoised scalar resolution)
  against the composing StrictLoader: same objects (types included), same regions, on every
  file of ../shared/corpus, every test fixture, and YAML the fast path must hand over.
- Lines of many pointers from one walk per document against the one-pointer walk.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubectl_netfix.loader import (
    InputError,
    SourceFile,
    _line_in_yaml,
    _load_stream_careful,
    _load_stream_fast,
    decode,
    escape_pointer_token,
    parse_text,
)

TESTS = Path(__file__).resolve().parent
CORPUS = TESTS.parents[1] / "shared" / "corpus"


def manifest_files() -> list[Path]:
    files = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name != "SOURCE.md")
    files += sorted(
        p for p in (TESTS / "fixtures").rglob("*") if p.suffix in (".yaml", ".yml", ".json")
    )
    return files


FILES = manifest_files()


def same(left: Any, right: Any, active: frozenset[int] = frozenset()) -> bool:
    """Equal with the same types all the way down (True is not 1), keys in the same order."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict | list):
        if id(left) in active:  # a recursive anchor: compared once
            return True
        active = active | {id(left)}
    if isinstance(left, dict):
        return [(type(k), k) for k in left] == [(type(k), k) for k in right] and all(
            same(left[k], right[k], active) for k in left
        )
    if isinstance(left, list):
        return len(left) == len(right) and all(
            same(a, b, active) for a, b in zip(left, right, strict=True)
        )
    if isinstance(left, float) and math.isnan(left):
        return math.isnan(right)
    return bool(left == right)


def careful(text: str) -> SourceFile:
    source = SourceFile(path="x.yaml", text=text)
    _load_stream_careful(source)
    return source


def assert_fast_path_agrees(text: str) -> bool:
    """True when the fast path took the text; either way nothing differs from the careful one."""
    documents = _load_stream_fast(text)
    reference = careful(text)
    if documents is None:
        return False
    assert not reference.errors
    assert [(d.index, d.first_line, d.end_line) for d in documents] == [
        (d.index, d.first_line, d.end_line) for d in reference.documents
    ]
    for fast, slow in zip(documents, reference.documents, strict=True):
        assert same(fast.data, slow.data), f"document {fast.index}"
    return True


def test_the_corpus_is_there() -> None:
    assert len(FILES) > 100


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_fast_path_on_real_files(path: Path) -> None:
    try:
        text, _bom = decode(str(path), path.read_bytes())
    except InputError:
        return
    took = assert_fast_path_agrees(text)
    if path.suffix != ".json" and not careful(text).errors:
        assert took, "a well-formed file fell back to the careful path"


# Each falls back (and the careful path reports what is wrong) or must agree exactly.
TRICKY = {
    "octal": "a: 0644\nb: 0o17\nc: 0x1F\nd: 0b101\ne: 1_000\nf: -0\ng: +12\n",
    "bool": "a: yes\nb: On\nc: y\nd: TRUE\ne: off\n",
    "float": "a: 1e3\nb: 1.0e+3\nc: .inf\nd: -.Inf\ne: .NaN\nf: 1.\ng: 1_0.5\n",
    "null": "a:\nb: ~\nc: Null\nd: null\n",
    "strings kept": "a: 2024-01-01\nb: 1:20\nc: 2001-12-14t21:59:43.10-05:00\nd: 1:20:30.5\n",
    "quoted": "a: '0644'\nb: \"yes\"\nc: |\n  x\n  y\nd: >-\n  p\n  q\n",
    "keys": "1: a\n1.5: b\n~: c\non: d\n",
    "anchors": "a: &m {x: 1}\nb: *m\nc: &s hello\nd: *s\ne: &l [1, *s]\nf: *l\n",
    "recursive": "&r [*r]\n",
    "root scalar": "hello\n",
    "root list": "- 1\n- [2, {a: b}]\n",
    "documents": "# x\na: 1\n---\n# y\nb: 2\n...\n---\nc\n--- |\n  text\n",
    "empty documents": "---\n---\n# only a comment\n---\na: 1\n",
    "trailing comments": "a: 1\n# c\n\n",
    "crlf": "a: 1\r\nb:\r\n  - x\r\n",
    "unicode": 'a: é中😀\nb: "\\u2028"\n',
    "merge": "x: &x {b: 1}\ny:\n  <<: *x\n  c: 2\n",
    "tags": "a: !!str 123\nb: !!int '12'\nc: !!binary aGVsbG8=\nd: !!set {x, y}\n",
    "custom tag": "a: !Ref foo\n",
    "value tag": "a: =\n",
    "duplicate": "a: 1\na: 2\n",
    "duplicate nested": "a:\n  b: 1\n  b: 2\n",
    "duplicate quoted": "'a': 1\na: 2\n",
    "equal keys": "1: a\n1.0: b\ntrue: c\n",
    "nan keys": ".nan: 1\n.nan: 2\n",
    "complex key": "? [a, b]\n: 1\n",
    "duplicate anchor": "a: &x 1\nb: &x 2\n",
    "undefined alias": "a: *x\n",
    "syntax error": "a: [1,\nb: 2\n---\nc: 3\n",
    "tab": "a:\tb\n",
}


@pytest.mark.parametrize("name", sorted(TRICKY))
def test_fast_path_on_tricky_yaml(name: str) -> None:
    assert_fast_path_agrees(TRICKY[name])


def test_parse_text_gives_the_careful_errors() -> None:
    source = parse_text("x.yaml", TRICKY["syntax error"])
    assert [e.line for e in source.errors] == [3]
    assert [d.data for d in source.documents] == [None, {"c": 3}]


# --- lines ---------------------------------------------------------------------------------------


def pointers(data: Any, prefix: str = "") -> Iterator[str]:
    yield prefix
    if isinstance(data, dict):
        for key, value in data.items():
            yield from pointers(value, f"{prefix}/{escape_pointer_token(str(key))}")
        yield f"{prefix}/missing/below"
    elif isinstance(data, list):
        for number, value in enumerate(data):
            yield from pointers(value, f"{prefix}/{number}")
        yield f"{prefix}/{len(data)}"
        yield f"{prefix}/-"


YAML_FILES = [p for p in FILES if p.suffix in (".yaml", ".yml", ".sed")]


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: p.name)
def test_lines_of_many_pointers_at_once(path: Path) -> None:
    try:
        text, _bom = decode(str(path), path.read_bytes())
    except InputError:
        return
    source = parse_text(str(path), text)
    rng = random.Random(path.name)
    for doc in source.documents:
        if doc.error is not None:
            continue
        everything = list(pointers(doc.data))[:600]
        region = source.document_text(doc)

        def expected(pointer: str, region: str = region, first: int = doc.first_line) -> int:
            return first + _line_in_yaml(region, pointer) + 1

        subsets = [everything] + [
            rng.sample(everything, min(len(everything), rng.randint(1, 5))) for _ in range(5)
        ]
        for subset in subsets:
            source._line_cache.clear()
            source.resolve_lines(doc.index, subset)
            for pointer in subset:
                assert source.line_of(doc.index, pointer) == expected(pointer), pointer


def test_lines_through_an_alias_use_the_composed_walk() -> None:
    text = "base: &b\n  x:\n    y: 1\nuse: *b\nz: 2\n"
    source = parse_text("x.yaml", text)
    source.resolve_lines(0, ["/use/x/y", "/z", "/base/x"])
    assert source.line_of(0, "/use/x/y") == 3
    assert source.line_of(0, "/z") == 5
    assert source.line_of(0, "/base/x") == 2
