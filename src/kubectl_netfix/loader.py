"""Read manifest files into KubeObjects, fast, without losing track of where each came from.

Parsing uses PyYAML's C loader (libyaml); ruamel.yaml is only used later, by the write-back, for
the documents a fix touches. Line numbers for findings are computed lazily: a document is
re-composed (nodes with marks) only when a finding in it needs a line.

Every problem with the input becomes an InputError naming the file and line; other documents of
the same stream are still loaded (a syntax error resumes at the next `---`).
"""

from __future__ import annotations

import functools
import gc
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kubectl_netfix.model import FileOrigin, KubeObject, ObjectRef

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
BOM = "\ufeff"
STDIN = "<stdin>"  # the display name of `-f -`
_DOC_START = re.compile(r"^---(?:[ \t]|$)")

# Kinds that have no namespace; everything else defaults to -n / "default" like kubectl apply.
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "Namespace",
        "Node",
        "PersistentVolume",
        "StorageClass",
        "IngressClass",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "PriorityClass",
        "RuntimeClass",
        "CSIDriver",
        "CSINode",
        "VolumeAttachment",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "APIService",
        "ServiceCIDR",
        "IPAddress",
        "GatewayClass",
        "ClusterIssuer",
        "PodSecurityPolicy",
        "KubeProxyConfiguration",
    }
)


class InputError(Exception):
    """A problem with one input, reported as one line: `path:line: message`."""

    def __init__(self, path: str, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.line = line
        self.message = message

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


class _DuplicateKeyError(yaml.MarkedYAMLError):
    pass


class StrictLoader(_BaseLoader):  # type: ignore[misc,valid-type]
    """The C loader, refusing duplicate mapping keys (kubectl refuses them too)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        # Fast path: compare the raw key scalars (C strings, no construction); only a repeat
        # there can be a duplicate, and only then are the keys constructed to be sure.
        raw_keys = [
            key_node.value for key_node, _ in node.value if type(key_node) is yaml.ScalarNode
        ]
        if len(set(raw_keys)) != len(raw_keys) or len(raw_keys) != len(node.value):
            self._refuse_duplicates(node)
        return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return]

    def _refuse_duplicates(self, node: yaml.MappingNode) -> None:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:  # unhashable key: the base constructor reports it
                return
            if duplicate:
                raise _DuplicateKeyError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {key!r}",
                    key_node.start_mark,
                )
            seen.add(key)


def _timestamp_as_text(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> str:
    return str(loader.construct_scalar(node))


def _int_unless_sexagesimal(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    if ":" in str(node.value):
        return str(loader.construct_scalar(node))
    return loader.construct_yaml_int(node)


def _float_unless_sexagesimal(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    if ":" in str(node.value):
        return str(loader.construct_scalar(node))
    return loader.construct_yaml_float(node)


# kubectl (sigs.k8s.io/yaml, go-yaml v2) keeps an unquoted 2024-01-01 and a YAML 1.1
# sexagesimal 1:20 as strings; so must we, or a selector value would stop matching its label
# and a report could not be serialised.
StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)
StrictLoader.add_constructor("tag:yaml.org,2002:int", _int_unless_sexagesimal)
StrictLoader.add_constructor("tag:yaml.org,2002:float", _float_unless_sexagesimal)


@dataclass
class Document:
    index: int
    first_line: int  # 0-based, inclusive: the document's text region in the file
    end_line: int  # 0-based, exclusive
    data: Any
    error: InputError | None = None
    # (offset of the line the document's own text starts on, that line, offset where its root
    # node ends): what line numbers are computed from, without splitting the file into lines.
    span: tuple[int, int, int] | None = field(default=None, repr=False, compare=False)


@dataclass
class SourceFile:
    """One input file (or stdin) as text plus its parsed documents."""

    path: str
    text: str  # decoded, without the BOM
    has_bom: bool = False
    is_json: bool = False
    documents: list[Document] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)
    _lines: list[str] | None = field(default=None, repr=False)
    _line_cache: dict[tuple[int, str], int] = field(default_factory=dict, repr=False)

    @property
    def lines(self) -> list[str]:
        # Cached: every finding's line number reads it, and a split costs the whole file.
        if self._lines is None:
            self._lines = split_lines(self.text)
        return self._lines

    def document_text(self, doc: Document) -> str:
        return "".join(self.lines[doc.first_line : doc.end_line])

    def line_of(self, doc_index: int, pointer: str) -> int:
        """1-based line of the node at `pointer` (or its nearest existing ancestor)."""
        line = self._line_cache.get((doc_index, pointer))
        if line is None:
            self.resolve_lines(doc_index, (pointer,))
            line = self._line_cache[(doc_index, pointer)]
        return line

    def resolve_lines(self, doc_index: int, pointers: Iterable[str]) -> None:
        """Find the lines of several pointers of one document in one walk (then cached)."""
        cache = self._line_cache
        wanted = [p for p in dict.fromkeys(pointers) if (doc_index, p) not in cache]
        if not wanted:
            return
        doc = self.documents[doc_index]
        if self.is_json:
            for pointer in wanted:
                cache[(doc_index, pointer)] = _json_line_of(self.text, doc, pointer)
            return
        if doc.span is not None:
            start, base, end = doc.span
            text = self.text[start:end]
        else:
            text, base = self.document_text(doc), doc.first_line
        for pointer, line in _lines_in_yaml(text, wanted).items():
            cache[(doc_index, pointer)] = base + line + 1


def _lines_in_yaml(text: str, pointers: list[str]) -> dict[str, int]:
    """0-based lines within `text` of the nodes at `pointers` (nearest ancestor if missing):
    exactly what _line_in_yaml gives for each, from one walk over the document's events."""
    walk = _TrieWalk(pointers)
    parser: Any = _BaseLoader(text)
    try:
        event = parser.get_event()
        while type(event) not in _NODE_EVENTS:
            if event is None or type(event) is yaml.StreamEndEvent:
                return dict.fromkeys(pointers, 0)  # no node at all
            event = parser.get_event()
        walk.lines[id(walk.trie)] = _mark_line(event, 0)
        walk.node(parser, event, walk.trie)
    except _WalkDone:
        pass
    except (_Unusual, yaml.YAMLError):
        # An alias on the way, or tokens such as "1" and "01": the one-pointer walk knows.
        return {pointer: _line_in_yaml(text, pointer) for pointer in pointers}
    finally:
        parser.dispose()
    return walk.result(pointers)


class _Unusual(Exception):
    pass


class _WalkDone(Exception):
    pass


_NODE_EVENTS = (yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent, yaml.AliasEvent)
_COLLECTION_START = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_COLLECTION_END = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


class _TrieWalk:
    """The pointers as a trie of tokens; each trie node gets the line of the node it reaches."""

    def __init__(self, pointers: list[str]) -> None:
        self.trie: dict[str, Any] = {}
        self.pending = 0  # trie nodes (below the root) not reached yet
        for pointer in pointers:
            node = self.trie
            for token in split_pointer(pointer):
                child = node.get(token)
                if child is None:
                    child = node[token] = {}
                    self.pending += 1
                node = child
        self.lines: dict[int, int] = {}  # id(trie node) -> line

    def reached(self, trie: dict[str, Any], event: Any) -> None:
        self.lines[id(trie)] = _mark_line(event, 0)
        self.pending -= 1

    def node(self, parser: Any, event: Any, trie: dict[str, Any]) -> None:
        """Consume the node `event` starts, recording the lines of the trie's children in it."""
        kind = type(event)
        if not trie:
            if not self.pending:
                raise _WalkDone
            if kind in _COLLECTION_START:
                _skip_events(parser)
            return
        if kind is yaml.AliasEvent:
            raise _Unusual
        get_event = parser.get_event
        if kind is yaml.MappingStartEvent:
            while True:
                key = get_event()
                key_kind = type(key)
                if key_kind is yaml.MappingEndEvent:
                    return
                child = trie.get(key.value) if key_kind is yaml.ScalarEvent else None
                if child is not None and id(child) not in self.lines:  # the first such key
                    self.reached(child, key)
                    self.node(parser, get_event(), child)
                    continue
                if key_kind in _COLLECTION_START:
                    _skip_events(parser)  # a complex key
                if type(get_event()) in _COLLECTION_START:  # its value
                    _skip_events(parser)
        elif kind is yaml.SequenceStartEvent:
            by_index: dict[int, dict[str, Any]] = {}
            for token, child in trie.items():
                if token.isdigit():
                    if int(token) in by_index:
                        raise _Unusual
                    by_index[int(token)] = child
            number = 0
            while True:
                item = get_event()
                if type(item) is yaml.SequenceEndEvent:
                    return
                child = by_index.get(number)
                if child is not None:
                    self.reached(child, item)
                    self.node(parser, item, child)
                elif type(item) in _COLLECTION_START:
                    _skip_events(parser)
                number += 1

    def result(self, pointers: list[str]) -> dict[str, int]:
        result: dict[str, int] = {}
        for pointer in pointers:
            node, line = self.trie, self.lines[id(self.trie)]
            for token in split_pointer(pointer):
                node = node[token]
                found = self.lines.get(id(node))
                if found is None:
                    break
                line = found
            result[pointer] = line
        return result


def _skip_events(parser: Any) -> None:
    """Consume the rest of a collection whose start event was just read."""
    get_event = parser.get_event
    depth = 1
    while depth:
        kind = type(get_event())
        if kind in _COLLECTION_START:
            depth += 1
        elif kind in _COLLECTION_END:
            depth -= 1


def _line_in_yaml(text: str, pointer: str) -> int:
    """0-based line within `text` of the node at `pointer` (nearest ancestor if missing).

    Walks libyaml's parse events rather than composing nodes: events come straight from C,
    while composing runs the Python tag resolver on every scalar (5x the cost, and a report
    with thousands of findings pays it once per finding).
    """
    events = yaml.parse(text, Loader=_BaseLoader)
    try:
        event = next(events)
        while not isinstance(event, yaml.NodeEvent | yaml.CollectionStartEvent):
            event = next(events)
        line = _mark_line(event, 0)
        for token in split_pointer(pointer):
            if isinstance(event, yaml.MappingStartEvent):
                found = None
                while True:
                    key = next(events)
                    if isinstance(key, yaml.MappingEndEvent):
                        break
                    if isinstance(key, yaml.ScalarEvent) and key.value == token:
                        found = key
                        break
                    _skip_node(key, events)  # a complex key
                    _skip_node(next(events), events)  # its value
                if found is None:
                    return line
                line = _mark_line(found, line)
                event = next(events)
            elif isinstance(event, yaml.SequenceStartEvent) and token.isdigit():
                item = next(events)
                for _ in range(int(token)):
                    if isinstance(item, yaml.SequenceEndEvent):
                        return line
                    _skip_node(item, events)
                    item = next(events)
                if isinstance(item, yaml.SequenceEndEvent):
                    return line
                event = item
                line = _mark_line(item, line)
            elif isinstance(event, yaml.AliasEvent):
                # The path goes on inside an anchored node written elsewhere: rare enough to
                # pay for composing, which resolves aliases to their nodes.
                return _line_in_yaml_composed(text, pointer)
            else:
                return line
        return line
    except (yaml.YAMLError, StopIteration):
        return 0


def _line_in_yaml_composed(text: str, pointer: str) -> int:
    try:
        node = yaml.compose(text, Loader=_BaseLoader)
    except yaml.YAMLError:
        return 0
    if node is None:
        return 0
    line: int = node.start_mark.line
    for token in split_pointer(pointer):
        child = None
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.value == token:
                    line = key_node.start_mark.line
                    child = value_node
                    break
        elif isinstance(node, yaml.SequenceNode) and token.isdigit():
            index = int(token)
            if index < len(node.value):
                child = node.value[index]
                line = child.start_mark.line
        if child is None:
            break
        node = child
    return line


def _mark_line(event: yaml.Event, fallback: int) -> int:
    mark = event.start_mark
    return int(mark.line) if mark is not None else fallback


def _skip_node(event: yaml.Event, events: Iterator[yaml.Event]) -> None:
    """Consume the rest of the node that `event` starts."""
    if not isinstance(event, yaml.CollectionStartEvent):
        return
    depth = 1
    while depth:
        following = next(events)
        if isinstance(following, yaml.CollectionStartEvent):
            depth += 1
        elif isinstance(following, yaml.CollectionEndEvent):
            depth -= 1


def _json_line_of(text: str, doc: Document, pointer: str) -> int:
    # JSON is (nearly) YAML: reuse the composer; a JSON file is one document.
    return _line_in_yaml(text, pointer) + 1


# libyaml's line breaks: CRLF, LF, CR, NEL, LS, PS. str.splitlines also splits on \x0b, \x0c,
# \x1c-\x1e, which YAML does not treat as breaks, and that would shift every line number.
_LINE = "[^\r\n\x85\u2028\u2029]*(?:\r\n|[\r\n\x85\u2028\u2029])|[^\r\n\x85\u2028\u2029]+$"


@functools.cache
def _line_pattern() -> re.Pattern[str]:
    return re.compile(_LINE)  # compiled on first use: 4 ms that `check` mostly never needs


# Where str.splitlines breaks a line and libyaml does not: without them, the (three times
# faster) str.splitlines gives exactly the lines below.
_NOT_LINE_BREAKS = re.compile("[\x0b\x0c\x1c\x1d\x1e]")


def split_lines(text: str) -> list[str]:
    """Lines with their endings, split exactly where libyaml counts a new line."""
    if not _NOT_LINE_BREAKS.search(text):
        return text.splitlines(keepends=True)
    return _line_pattern().findall(text)


def split_pointer(pointer: str) -> list[str]:
    if not pointer:
        return []
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer.lstrip("/").split("/")]


def escape_pointer_token(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


@contextmanager
def gc_paused() -> Iterator[None]:
    """Bulk parsing allocates millions of containers the cyclic GC would rescan for nothing."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# Byte-order marks of the encodings other than UTF-8 that editors and shells write (PowerShell's
# `>` writes UTF-16 LE): said by name, since the NUL bytes would otherwise read as "binary".
_OTHER_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)


def decode(path: str, raw: bytes) -> tuple[str, bool]:
    for bom, encoding in _OTHER_BOMS:
        if raw.startswith(bom):
            raise InputError(
                path,
                f"{encoding} text: netfix reads UTF-8; convert it first "
                f"(iconv -f {encoding} -t UTF-8)",
            )
    if b"\x00" in raw[:8192]:
        raise InputError(path, "not a text file (binary content)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    if text.startswith(BOM):
        return text[1:], True
    return text, False


def parse_text(path: str, text: str, has_bom: bool = False) -> SourceFile:
    is_json = path.endswith(".json") or text.lstrip()[:1] in ("{", "[")
    source = SourceFile(path=path, text=text, has_bom=has_bom, is_json=is_json)
    with gc_paused():
        if is_json and _parse_json(source):
            return source
        source.is_json = False
        _parse_yaml_stream(source)
    return source


def reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"found duplicate key {key!r}")
        result[key] = value
    return result


def _parse_json(source: SourceFile) -> bool:
    """Parse a JSON file; False means "not JSON after all", so YAML gets a try."""
    try:
        data = json.loads(source.text, object_pairs_hook=reject_duplicate_keys)
    except json.JSONDecodeError:
        if source.path.endswith(".json"):
            # JSON that is not valid JSON may still be YAML (e.g. with comments): let YAML decide.
            return False
        return False
    except ValueError as exc:
        error = InputError(source.path, str(exc), 1)
        source.documents.append(Document(0, 0, len(source.lines), None, error))
        source.errors.append(error)
        return True
    source.documents.append(Document(0, 0, len(source.lines), data))
    return True


def read_documents(text: str) -> list[Any]:
    """The objects of a YAML stream, read exactly as `parse_text` reads them (the fast event
    path, else StrictLoader); yaml.YAMLError when it does not parse. For the write-back's
    check of what it writes."""
    with gc_paused():
        documents = _load_stream_fast(text)
        if documents is not None:
            return [doc.data for doc in documents]
        return list(yaml.load_all(text, Loader=StrictLoader))


def _parse_yaml_stream(source: SourceFile) -> None:
    documents = _load_stream_fast(source.text)
    if documents is not None:
        source.documents.extend(documents)
        return
    _load_stream_careful(source)


class _Fallback(Exception):
    """Something the fast path leaves to the careful one (which reports it exactly)."""


_STR_TAG = "tag:yaml.org,2002:str"
# The constructors the fast path may call on a plain scalar; any other tag (merge `<<`, value
# `=`, ...) falls back to the careful path.
_SIMPLE_TAGS = frozenset(
    "tag:yaml.org,2002:" + name for name in ("null", "bool", "int", "float", "timestamp")
)
# First characters a plain scalar needs to be anything but a string (None: any character).
_IMPLICIT_FIRST = frozenset(StrictLoader.yaml_implicit_resolvers)
_ANY_FIRST = None in _IMPLICIT_FIRST
_MISSING = object()


def _plain_scalar_resolver() -> Any:
    """value -> Python object for an untagged plain scalar: exactly what StrictLoader makes
    of it (the same resolver and constructors), memoised since most values repeat."""
    constructor = StrictLoader("")
    constructor.dispose()
    resolve = constructor.resolve
    constructors = constructor.yaml_constructors
    implicit = (True, False)
    cache: dict[str, Any] = {}

    def resolve_plain(value: str) -> Any:
        if value and not _ANY_FIRST and value[0] not in _IMPLICIT_FIRST:
            result: Any = value
        else:
            tag = resolve(yaml.ScalarNode, value, implicit)
            if tag == _STR_TAG:
                result = value
            elif tag in _SIMPLE_TAGS:
                result = constructors[tag](constructor, yaml.ScalarNode(tag, value))
            else:
                raise _Fallback(tag)
        cache[value] = result
        return result

    return cache, resolve_plain


def _load_stream_fast(text: str) -> list[Document] | None:
    """Documents of a well-formed stream straight from libyaml's parse events, or None.

    The same parser as StrictLoader but no node graph and no generic constructor: a plain
    scalar is resolved once per distinct value. Anything unusual (a tag, a merge key, a
    duplicate or complex key, an error) returns None, and the careful path, which keeps going
    past errors and names them, loads the whole file instead: same objects, same regions.
    """
    parser = _BaseLoader(text)  # libyaml's parser; PyYAML's pure-Python one without it
    cache, resolve_plain = _plain_scalar_resolver()
    cache_get = cache.get
    get_event: Callable[[], Any] = parser.get_event  # events and marks: typed loosely by stubs
    scalar_event, alias_event = yaml.ScalarEvent, yaml.AliasEvent
    mapping_start, sequence_start = yaml.MappingStartEvent, yaml.SequenceStartEvent
    mapping_end, sequence_end = yaml.MappingEndEvent, yaml.SequenceEndEvent
    document_start, stream_end = yaml.DocumentStartEvent, yaml.StreamEndEvent
    documents: list[Document] = []
    region_start = 0
    no_key = _MISSING
    try:
        get_event()  # StreamStartEvent
        while True:
            event = get_event()
            kind = type(event)
            if kind is stream_end:
                break
            if kind is not document_start:
                return None
            doc_start = event.start_mark
            anchors: dict[str, Any] = {}
            stack: list[Any] = []
            container: Any = None  # the dict or list being filled; None at the root
            is_map = False
            key: Any = no_key  # a mapping's key waiting for its value
            root: Any = None
            while True:
                event = get_event()
                kind = type(event)
                if kind is scalar_event:
                    if event.tag is not None:
                        return None
                    value = event.value
                    if event.implicit[0]:
                        value = cache_get(value, no_key)
                        if value is no_key:
                            value = resolve_plain(event.value)
                    if event.anchor is not None:
                        if event.anchor in anchors:
                            return None
                        anchors[event.anchor] = value
                    child: Any = value
                    opened = False
                elif kind is mapping_start or kind is sequence_start:
                    if event.tag is not None:
                        return None
                    child = {} if kind is mapping_start else []
                    if event.anchor is not None:
                        if event.anchor in anchors:
                            return None
                        anchors[event.anchor] = child
                    opened = True
                elif kind is mapping_end or kind is sequence_end:
                    if not stack:
                        root_end = event.end_mark
                        break
                    container, is_map, key = stack.pop()
                    if container is None:
                        root_end = event.end_mark
                        break
                    continue
                elif kind is alias_event:
                    child = anchors.get(event.anchor, no_key)
                    if child is no_key:
                        return None
                    opened = False
                else:
                    return None
                if container is None:
                    root = child
                elif is_map:
                    if key is no_key:
                        if opened or type(child) is dict or type(child) is list:
                            return None  # a complex key: unhashable for PyYAML too
                        if child in container:
                            return None  # a duplicate key
                        key = child
                        continue
                    container[key] = child
                    key = no_key
                else:
                    container.append(child)
                if opened:
                    stack.append((container, is_map, key))
                    container, is_map, key = child, kind is mapping_start, no_key
                elif container is None:
                    root_end = event.end_mark
                    break
            event = get_event()  # DocumentEndEvent
            if type(event) is not yaml.DocumentEndEvent:
                return None
            end_line = root_end.line if root_end.column == 0 else root_end.line + 1
            end_line = max(end_line, region_start + 1)
            span = (doc_start.index - doc_start.column, doc_start.line, root_end.index)
            documents.append(Document(len(documents), region_start, end_line, root, None, span))
            region_start = end_line
        if event.start_mark.index != len(text):  # marks count something else than characters
            for doc in documents:
                doc.span = None
    except (yaml.YAMLError, _Fallback, TypeError):
        return None  # TypeError: a key the careful path must judge (e.g. unhashable)
    finally:
        parser.dispose()
    line_count = _count_lines(text)
    if documents and documents[-1].end_line < line_count:
        documents[-1].end_line = line_count  # trailing comments belong to the last
    return documents


_BREAKS = ("\n", "\r", "\x85", "\u2028", "\u2029")


def _count_lines(text: str) -> int:
    """len(split_lines(text)), without making the list."""
    count = sum(text.count(brk) for brk in _BREAKS) - text.count("\r\n")
    if text and not text.endswith(_BREAKS):
        count += 1
    return count


def _load_stream_careful(source: SourceFile) -> None:
    lines = source.lines
    start_line = 0  # where the current parser's input starts
    while start_line <= len(lines):
        chunk = "".join(lines[start_line:])
        loader = StrictLoader(chunk)
        region_start = start_line
        try:
            while loader.check_node():
                node = loader.get_node()
                end = node.end_mark
                end_line = start_line + (end.line if end.column == 0 else end.line + 1)
                end_line = max(end_line, region_start + 1)
                index = len(source.documents)
                try:
                    data = loader.construct_document(node)
                except yaml.YAMLError as exc:
                    error = _yaml_error(source.path, exc, start_line)
                    source.errors.append(error)
                    source.documents.append(Document(index, region_start, end_line, None, error))
                else:
                    source.documents.append(Document(index, region_start, end_line, data))
                region_start = end_line
            if source.documents and source.documents[-1].end_line < len(lines):
                source.documents[-1].end_line = len(lines)  # trailing comments belong to the last
            return
        except yaml.YAMLError as exc:
            error = _yaml_error(source.path, exc, start_line)
            source.errors.append(error)
            failed_line = (error.line or 1) - 1
            # Not failed_line + 1: an unclosed quote or bracket is reported on the next `---`.
            resume = _next_document_start(lines, max(failed_line, region_start + 1))
            index = len(source.documents)
            source.documents.append(
                Document(
                    index, region_start, resume if resume is not None else len(lines), None, error
                )
            )
            if resume is None:
                return
            start_line = resume
        finally:
            loader.dispose()


def _next_document_start(lines: list[str], from_line: int) -> int | None:
    for number in range(from_line, len(lines)):
        if _DOC_START.match(lines[number]):
            return number
    return None


def _yaml_error(path: str, exc: yaml.YAMLError, line_offset: int) -> InputError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = line_offset + mark.line + 1 if mark is not None else None
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    message = f"invalid YAML: {problem}"
    if context and "duplicate" not in problem:
        message += f" ({context})"
    return InputError(path, message, line)


def is_kube_object(data: Any) -> bool:
    if not isinstance(data, dict):
        return False
    api_version, kind = data.get("apiVersion"), data.get("kind")
    return isinstance(api_version, str) and isinstance(kind, str) and bool(api_version and kind)


def objects_of(source: SourceFile, default_namespace: str) -> Iterator[KubeObject]:
    """KubeObjects of a file: documents and the items of `kind: List` / `*List` documents.

    Documents that are empty or not Kubernetes objects (no apiVersion/kind, or no name) are
    skipped, not errors: Helm and kustomize output often carries such fragments.
    """
    for doc in source.documents:
        if doc.error is not None or not is_kube_object(doc.data):
            continue
        data = doc.data
        kind: str = data["kind"]
        items = data.get("items")
        if kind.endswith("List") and isinstance(items, list):
            for number, item in enumerate(items):
                obj = _make_object(source, doc, item, f"/items/{number}", default_namespace)
                if obj is not None:
                    yield obj
        else:
            obj = _make_object(source, doc, data, "", default_namespace)
            if obj is not None:
                yield obj


def _make_object(
    source: SourceFile, doc: Document, data: Any, prefix: str, default_namespace: str
) -> KubeObject | None:
    if not is_kube_object(data):
        return None
    metadata = data.get("metadata")
    if not isinstance(metadata, dict):
        metadata = {}
    name = metadata.get("name")
    kind = data["kind"]
    if not isinstance(name, str) or not name:
        if kind != "KubeProxyConfiguration":  # config documents carry no name
            return None
        name = "kube-proxy-config"
    namespace: str | None = None
    if kind not in CLUSTER_SCOPED_KINDS:
        declared = metadata.get("namespace")
        namespace = declared if isinstance(declared, str) and declared else default_namespace
    ref = ObjectRef(data["apiVersion"], kind, namespace, name)
    # The document's first line; refined per finding by SourceFile.line_of.
    origin = FileOrigin(source.path, doc.index, prefix, doc.first_line + 1)
    return KubeObject(body=data, ref=ref, origin=origin)


def expand_paths(paths: Iterable[str], recursive: bool) -> Iterator[str | InputError]:
    """Files named on the command line, and manifest files inside named directories.

    A directory that holds no manifest (a forgotten -R, a wrong path) yields an InputError, as
    kubectl refuses it too: a check of nothing must never pass quietly.
    """
    for path in paths:
        if path == "-" or not os.path.isdir(path):
            yield path
            continue
        candidates = Path(path).rglob("*") if recursive else Path(path).iterdir()
        found = sorted(str(p) for p in candidates if p.is_file() and _is_manifest(p))
        if not found:
            where = "" if recursive else " (use -R for its subdirectories)"
            yield InputError(path, f"no .yaml, .yml or .json file in this directory{where}")
        yield from found


def _is_manifest(path: Path) -> bool:
    return path.suffix.lower() in MANIFEST_SUFFIXES and not path.name.startswith(".")


def read_source(path: str) -> SourceFile:
    """Read and parse one path ("-" is stdin); raises InputError when it cannot be read."""
    if path == "-":
        raw = sys.stdin.buffer.read()
        display = STDIN
    else:
        display = path
        try:
            raw = Path(path).read_bytes()
        except FileNotFoundError:
            raise InputError(path, "no such file or directory") from None
        except IsADirectoryError:
            raise InputError(path, "is a directory (use -R to recurse)") from None
        except PermissionError:
            raise InputError(path, "permission denied") from None
        except OSError as exc:
            raise InputError(path, exc.strerror or str(exc)) from None
    text, has_bom = decode(display, raw)
    return parse_text(display, text, has_bom)
