"""Write fixes back into manifest files, changing nothing but the lines a patch needs.

How a YAML document is rewritten (only documents that have ops are touched at all):

0. Its text region is split into a *header* (the comments, blank lines, `...`, directives and
   `---` before its content: never touched) and a *body*. The fast path (text_edit) tries the
   ops first, straight on the body's lines: the common shapes (a scalar replaced on its own
   `key: value` line, a key added to a block mapping, an item appended to a block sequence, a
   key removed), written exactly as steps 1-3 would write them, without ruamel.yaml (20 ms a
   document). Its text is verified as in step 4; anything it declines (flow style, anchors,
   block scalars, ... : its docstring lists them), or a text that does not verify, goes on to
   step 1.
1. ruamel.yaml loads the body as a round-trip tree (reading scalars as YAML 1.1, like PyYAML
   and kubectl).
   For a big document only the top-level entries the ops reach are loaded (a 20k-line CRD
   costs ruamel seconds), falling back to the whole body if that part does not work out.
2. The ops are applied to that tree by our own RFC 6902 engine (patch_engine), and the tree is
   dumped twice: B, the unpatched tree, and P, the patched one, both with the file's own
   indentation and sequence style. B is not the original text O: ruamel drops `--- # comment`
   lines, joins multi-line flow collections, writes `~` as `null`, indents every list alike. So
   the splice is three-way: the B→P line diff says what the patch changed, an O↔B alignment
   says where those B lines are in O. New lines next to lines O indents differently from B are
   re-indented to match their neighbours; a change that falls where O and B differ otherwise is
   widened to the whole differing region (replaced by ruamel's rendering of it).
3. Small placement rules make the result read as a human would have written it: a new key or
   item goes before the comment block that heads the next one, a removed key takes its own head
   comment with it and leaves the next key's comment in place, an edited line keeps the spaces
   before its inline comment (unless that comment is aligned with its neighbours').
4. Every candidate text is verified: the document's new text must parse, the way the loader
   parses (loader.read_documents: libyaml, duplicate keys refused), to exactly
   `jsonpatch.apply_patch` of the original object. If the tidiest candidate does not verify,
   plainer ones are tried; if none does, WriteBackError: never a wrong file. (Documents are
   independent: each starts at its `---`, so verifying each rewritten region verifies the
   file.)

The untouched-bytes guarantee for YAML: every line outside the edited spans is byte-identical
(comments, quotes, blank lines, `---`, trailing whitespace, CRLF endings, the BOM), and every
document without ops is byte-identical. An edited span is the lines the patch changes, plus,
only on the ruamel path and where ruamel cannot render the file's own spelling of the lines
next to the change, the region it renders differently (typically: a flow collection written
over several lines is patched, and becomes one line, losing any comment inside it). New lines
use the file's line ending, indentation, sequence style and quote character. Refused, with a
one-line WriteBackError and nothing written: a document that did not parse, an op that fails,
a patch inside an anchored node that an alias or merge key reuses (it would change every use
of the anchor), and anything ruamel cannot render so that it verifies.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import io
import json
import math
import os
import re
import stat
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import jsonpatch
import yaml
from ruamel.yaml import YAML
from ruamel.yaml.anchor import Anchor
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.representer import RoundTripRepresenter
from ruamel.yaml.resolver import VersionedResolver

from kubectl_netfix.loader import (
    BOM,
    Document,
    SourceFile,
    gc_paused,
    read_documents,  # the loader's own reading (duplicate keys refused): verify with the same
    reject_duplicate_keys,
    split_lines,
)
from kubectl_netfix.patch_engine import (
    PatchError,
    apply_patch,
    describe_op,
    parse_pointer,
)
from kubectl_netfix.text_edit import comment_start, edit_body, has_shared_nodes

__all__ = ["WriteBackError", "original_text", "rewrite", "write_atomic"]

_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_BARE_MARKER = re.compile(r"---(?:[ \t]+#.*)?[ \t]*")  # `---` with at most a comment
_END_MARKER = re.compile(r"\.\.\.(?:[ \t]+#.*)?[ \t]*")
_KEY_ONLY = re.compile(
    r"(?P<indent> *)(?P<dashes>(?:-[ ]+)*)(?P<key>[^\s#\-][^#]*?|-\S[^#]*?):(?:[ \t]+#.*)?[ \t]*"
)
_BLOCK_SCALAR = re.compile(r".*(?::|^ *-|^)[ \t]+[|>][0-9+-]*[ \t]*(?:#.*)?")
_ANCHOR_OR_MERGE = re.compile(r"(?:^|[\s\[{,])[&*][^\s,\[\]{}]+|<<\s*:")
_DASH = re.compile(r"(?P<indent> *)-(?:[ ]|$)")


class WriteBackError(Exception):
    """A document that cannot be rewritten safely; the message is one line."""


def original_text(source: SourceFile) -> str:
    """The file's text exactly as read (the BOM, if it had one, restored)."""
    return (BOM if source.has_bom else "") + source.text


def rewrite(
    source: SourceFile,
    ops_by_doc: Mapping[int, Sequence[dict[str, Any]]],
    *,
    fast_path: bool = True,
) -> str:
    """The whole new text of `source` with each document's ops applied (keys: Document.index).

    Pointers are relative to the document root (items of a `kind: List` carry `/items/N`).
    Documents not named, and documents whose op list is empty, keep their bytes. Raises
    WriteBackError for a document that did not parse, an op that fails, a patch that reaches
    into a YAML alias, or a result that would not parse to exactly the patched object.
    `fast_path=False` sends every YAML document through ruamel.yaml (the tests compare the two).

    JSON files are patched as parsed JSON and re-serialised with the file's indentation,
    separators and line endings; the same three-way splice keeps every line whose content the
    patch does not change when the file is formatted like `json.dumps` (kubectl, jq). For other
    layouts (several members per line, unusual spacing) only the lines around a change are
    re-formatted, and if even that cannot be done the whole file is re-serialised (still
    verified to parse to the patched object).
    """
    for index in ops_by_doc:
        if not 0 <= index < len(source.documents):
            raise WriteBackError(f"document {index + 1}: no such document in the file")
        doc = source.documents[index]
        if doc.error is not None:
            raise WriteBackError(
                f"{_where(source, doc)}: the document did not parse ({doc.error.message}); "
                "nothing is written to a file that does not parse"
            )
    work = {index: list(ops) for index, ops in ops_by_doc.items() if ops}
    if not work:
        return original_text(source)
    if source.is_json:
        return (BOM if source.has_bom else "") + _rewrite_json(source, work)
    lines = source.lines
    eol = _file_eol(source.text)
    whole_file = functools.cache(lambda: _indent_samples(map(_content, lines), enough=40))
    expected: dict[int, Any] = {}
    new_regions: dict[int, list[str]] = {}
    for index in sorted(work):
        doc = source.documents[index]
        ops = work[index]
        expected[index] = _expected(source, doc, ops)
        region = lines[doc.first_line : doc.end_line]
        at_eof = doc.end_line >= len(lines)
        new_regions[index] = _rewrite_region(
            source, doc, region, ops, expected[index], _Output(eol, at_eof, whole_file), fast_path
        )
    out: list[str] = []
    position = 0
    for index in sorted(new_regions):
        doc = source.documents[index]
        out.extend(lines[position : doc.first_line])
        out.extend(new_regions[index])
        position = doc.end_line
    out.extend(lines[position:])
    # Each region was verified on its own: a document's meaning depends on its text only, and
    # the regions around it (which start at `---`) are untouched.
    return (BOM if source.has_bom else "") + "".join(out)


def write_atomic(path: str, text: str) -> None:
    """Replace `path` with `text` (UTF-8, bytes exactly as given) in one rename.

    The data goes to a temp file in the same directory (so the rename cannot cross file
    systems), is fsynced, gets the original file's mode (and owner when we may set it), and is
    renamed over the path: a reader sees the old file or the new one, never half of one. On any
    failure the temp file is removed and the original is untouched. A symlink is followed (its
    target is rewritten, the link stays a link).
    """
    target = os.path.realpath(path)
    directory = os.path.dirname(target)
    try:
        info: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        info = None
    fd, temp_path = tempfile.mkstemp(prefix=".netfix-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        if info is not None:
            os.chmod(temp_path, stat.S_IMODE(info.st_mode))
            if hasattr(os, "chown"):
                # Not ours to give away unless we are root: the mode is what matters.
                with contextlib.suppress(OSError):
                    os.chown(temp_path, info.st_uid, info.st_gid)
        else:
            os.chmod(temp_path, 0o666 & ~_umask())  # mkstemp's 0600 is not a new file's mode
        os.replace(temp_path, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_path)
        raise
    _fsync_directory(directory)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_directory(directory: str) -> None:
    # Makes the rename itself durable; not possible everywhere (Windows), and never fatal.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --- messages ------------------------------------------------------------------------------------


def _content_line(source: SourceFile, doc: Document) -> int:
    """1-based line of the document's first content line (past comments and `---`)."""
    lines = source.lines
    for number in range(doc.first_line, min(doc.end_line, len(lines))):
        text = _content(lines[number]).strip()
        if text and not _is_comment(text) and not _is_marker(text):
            return number + 1
    return doc.first_line + 1


def _where(source: SourceFile, doc: Document, pointer: str | None = None) -> str:
    if pointer:
        try:
            line = source.line_of(doc.index, pointer)
        except Exception:  # a line number is a courtesy; never let it mask the real error
            line = _content_line(source, doc)
    else:
        line = _content_line(source, doc)
    return f"document {doc.index + 1} (line {line})"


# --- the expected result -------------------------------------------------------------------------


def _unshared(value: Any, active: frozenset[int] = frozenset()) -> Any:
    """A deep copy in which no two places share an object.

    PyYAML gives an alias the very object of its anchor, and `copy.deepcopy` (inside jsonpatch)
    keeps that sharing, so a patch inside an alias would change every alias in the expected
    result too, just like in ruamel. The patch is meant for one place: unshare first.
    """
    if isinstance(value, dict | list):
        if id(value) in active:
            raise ValueError("recursive YAML alias")
        inner = active | {id(value)}
        if isinstance(value, dict):
            return {key: _unshared(item, inner) for key, item in value.items()}
        return [_unshared(item, inner) for item in value]
    return value


def _expected(source: SourceFile, doc: Document, ops: list[dict[str, Any]]) -> Any:
    """`jsonpatch.apply_patch` on the object as the loader read it: what the file must become."""
    try:
        original = _unshared(doc.data)
    except ValueError as exc:
        raise WriteBackError(f"{_where(source, doc)}: {exc}: cannot patch it") from None
    # Our engine first, on a plain copy: its errors name the op and say what is wrong.
    try:
        apply_patch(_unshared(original), ops)
    except PatchError as exc:
        raise _op_error(source, doc, exc) from None
    try:
        # In place: `original` is our own copy already (jsonpatch would deep-copy it again).
        return jsonpatch.apply_patch(original, _private(ops), in_place=True)
    except Exception as exc:  # jsonpatch raises many types (and plain KeyError, TypeError)
        failed = _failing_op(_unshared(doc.data), ops)
        raise WriteBackError(f"{_where(source, doc)}: {failed}{_first_line(exc)}") from None


def _private(ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ops with values of their own, for jsonpatch.

    jsonpatch puts an op's value object itself into its result: a later op changing it would
    change the caller's op, and two ops given one object (or a value holding one object twice)
    would make one place of the result follow the other.
    """
    return [
        {name: _unshared(value) if name == "value" else value for name, value in op.items()}
        for op in ops
    ]


def _op_error(source: SourceFile, doc: Document, exc: PatchError) -> WriteBackError:
    pointer = exc.op.get("path") if isinstance(exc.op, Mapping) else None
    where = _where(source, doc, pointer if isinstance(pointer, str) else None)
    return WriteBackError(f"{where}: {exc}")


def _failing_op(original: Any, ops: list[dict[str, Any]]) -> str:
    """`op 2 (test /spec/x): ` for the first op jsonpatch refuses (for the error message)."""
    for number in range(len(ops)):
        try:
            jsonpatch.apply_patch(original, _private(ops[: number + 1]))
        except Exception:
            return f"op {number + 1} ({describe_op(ops[number])}): "
    return ""


def _same(left: Any, right: Any) -> bool:
    """Equality that tells `true` from `1` and `1` from `1.0`, as a YAML reader would."""
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return len(left) == len(right) and all(
            _same(a, b) for a, b in zip(left, right, strict=True)
        )
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(_same(v, right[k]) for k, v in left.items())
    if isinstance(left, float) and math.isnan(left):
        return math.isnan(right)
    return bool(left == right)


# --- YAML: one document --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Style:
    mapping: int = 2
    offset: int = 0  # where a block sequence's `-` sits, relative to its parent key
    quote: str = '"'

    @property
    def sequence(self) -> int:
        return self.offset + 2


_Samples = tuple[Counter[int], Counter[int]]  # mapping indents, sequence `-` offsets


@dataclass(frozen=True)
class _Output:
    eol: str  # the file's line ending, for new lines
    at_eof: bool  # the region is the file's last
    whole_file: Callable[[], _Samples]  # indentation samples of the whole file (computed once)


@dataclass
class _Edit:
    start: int  # O-body line range replaced, [start, end)
    end: int
    lines: list[str]  # new line contents, without line endings


def _rewrite_region(
    source: SourceFile,
    doc: Document,
    region: list[str],
    ops: list[dict[str, Any]],
    expected: Any,
    output: _Output,
    fast_path: bool = True,
) -> list[str]:
    contents = [_content(line) for line in region]
    header, own_start = _header_length(contents)
    body = region[header:]
    body_contents = _without_tab_separators(contents[header:], doc.data)
    style = _detect_style(body_contents, output.whole_file)
    header_lines = region[:header]
    no_final_eol = output.at_eof and not region[-1].endswith("\n")
    explicit = _explicit_start(contents[own_start:])
    tried: set[str] = set()

    def verified(edits: list[_Edit]) -> list[str] | None:
        candidate = _fix_line_endings(
            header_lines + _apply_edits(body, edits), output.eol, no_final_eol
        )
        text = "".join(candidate)
        if text in tried:
            return None
        tried.add(text)
        own = candidate[own_start:]
        # A region read alone parses the same with or without its `---`, but in the stream
        # a lost `---` would merge the document into the one before it.
        if _explicit_start([_content(line) for line in own]) != explicit:
            return None
        return candidate if _region_parses_to(own, expected) else None

    if fast_path:
        # The common shapes straight in the text (text_edit); ruamel for the rest, and for
        # anything the text edit got wrong.
        fast = edit_body(
            contents[header:],
            ops,
            mapping_indent=style.mapping,
            sequence_offset=style.offset,
            quote=style.quote,
        )
        if fast is not None:
            result = verified([_Edit(edit.start, edit.end, edit.lines) for edit in fast])
            if result is not None:
                return result

    # A big document is patched through the top-level entries the ops reach only: ruamel
    # takes seconds on a 20k-line CRD. Any trouble there falls back to the whole document.
    narrowed = _narrow(body_contents, ops)
    if narrowed is not None:
        try:
            part = [body_contents[number] for number in narrowed]
            for edits in _candidate_edits(source, doc, part, ops, style):
                mapped = _map_edits(edits, narrowed)
                result = verified(mapped) if mapped is not None else None
                if result is not None:
                    return result
        except WriteBackError:
            pass
    for edits in _candidate_edits(source, doc, body_contents, ops, style):
        result = verified(edits)
        if result is not None:
            return result
    raise WriteBackError(f"{_where(source, doc)}: {_mismatch_reason(body_contents)}")


_TAB_SEPARATOR = re.compile(r"(?<=[:,\-?])\t|\t(?=[ \t]*#)|(?<=[ \t])\t|\t(?=[ \t]*$)")


def _without_tab_separators(contents: list[str], data: Any) -> list[str]:
    """The body as ruamel is given it: tabs that separate tokens become spaces.

    PyYAML (and so the loader) accepts `key:\tvalue` and trailing tabs; ruamel's scanner
    refuses them. Only whitespace is changed, and only if the text still reads as the same
    object: ruamel then sees the document the loader saw. The file's own lines are what the
    splice keeps; this text is only what ruamel reads and what the alignment compares.
    """
    if not any("\t" in text for text in contents):
        return contents
    spaced = [_TAB_SEPARATOR.sub(" ", text) if "\t" in text else text for text in contents]
    return spaced if _region_parses_to([t + "\n" for t in spaced], data) else contents


def _candidate_edits(
    source: SourceFile,
    doc: Document,
    contents: list[str],
    ops: list[dict[str, Any]],
    style: _Style,
) -> Iterator[list[_Edit]]:
    """Edits of `contents` (the document body or a part of it) that apply the ops, best first."""
    yaml_rt = _round_trip_yaml(style)
    try:
        with gc_paused():
            tree = yaml_rt.load("".join(c + "\n" for c in contents))
    except Exception as exc:  # ruamel raises more than its YAMLError on odd input
        raise WriteBackError(
            f"{_where(source, doc)}: ruamel.yaml cannot load the document ({_first_line(exc)})"
        ) from None
    if tree is None:
        raise WriteBackError(f"{_where(source, doc)}: the document is empty")
    if not isinstance(tree, CommentedMap | CommentedSeq):
        raise WriteBackError(f"{_where(source, doc)}: the document is not a mapping or a list")
    _refuse_aliased_targets(source, doc, tree, ops)
    _keep_anchors(tree)
    # Loading a document that starts with `---` resets the version: set it for the dumps here.
    yaml_rt.version = (1, 1)
    keep_marker = bool(contents) and contents[0].startswith("--- ")
    before = _dump(source, doc, yaml_rt, tree, keep_marker)
    try:
        patched = apply_patch(tree, ops, quote=style.quote)
    except PatchError as exc:
        raise _op_error(source, doc, exc) from None
    after = _dump(source, doc, yaml_rt, patched, keep_marker)
    if before == after:
        yield []
        return
    b_lines = before.split("\n")[:-1]
    p_lines = after.split("\n")[:-1]
    o_keys, b_keys = [_key(c) for c in contents], [_key(b) for b in b_lines]
    hunks = [op for op in _opcodes(b_lines, p_lines) if op[0] != "equal"]
    alignments: dict[bool, _Alignment] = {}
    for strategy in _STRATEGIES:
        if strategy.shifts not in alignments:
            alignments[strategy.shifts] = _Alignment(o_keys, b_keys, strategy.shifts)
        edits = _plan(alignments[strategy.shifts], hunks, p_lines, contents, strategy)
        if edits is not None:
            yield edits


_NARROW_MIN_LINES = 150  # below this, ruamel on the whole document costs next to nothing


def _narrow(body: list[str], ops: list[dict[str, Any]]) -> list[int] | None:
    """Body line numbers of the top-level entries the ops reach, or None to use the whole body.

    Only for a block mapping without anchors or aliases (a part could not resolve an alias
    whose anchor is elsewhere). A new top-level key is added after the last entry, so the
    last entry comes along when an op names a key the document does not have.
    """
    if len(body) < _NARROW_MIN_LINES:
        return None
    firsts: set[str] = set()
    for op in ops:
        for member in ("path", "from"):
            if member not in op:
                continue
            try:
                tokens = parse_pointer(op[member])
            except PatchError:
                return None
            if not tokens:
                return None
            firsts.add(tokens[0])
    try:
        with gc_paused():
            root = yaml.compose("".join(c + "\n" for c in body), Loader=_SafeLoader)
    except yaml.YAMLError:
        return None
    if not isinstance(root, yaml.MappingNode) or root.flow_style or has_shared_nodes(root):
        return None
    starts: list[int] = []
    names: dict[str, int] = {}
    for key_node, _value in root.value:
        if not isinstance(key_node, yaml.ScalarNode):
            return None
        line = key_node.start_mark.line
        if starts and line <= starts[-1]:
            return None
        names.setdefault(key_node.value, len(starts))
        starts.append(line)
    if not starts:
        return None
    ends = [*starts[1:], len(body)]
    chosen = {names.get(name, len(starts) - 1) for name in firsts}
    numbers = [n for entry in sorted(chosen) for n in range(starts[entry], ends[entry])]
    return numbers if len(numbers) < len(body) * 0.8 else None


def _map_edits(edits: list[_Edit], numbers: list[int]) -> list[_Edit] | None:
    """Edits of a part (its lines are body lines `numbers`) as edits of the whole body."""
    mapped: list[_Edit] = []
    for edit in edits:
        if edit.start < edit.end:
            start, end = numbers[edit.start], numbers[edit.end - 1] + 1
            if end - start != edit.end - edit.start:
                return None  # spans two entries that are not neighbours in the file
        else:
            start = end = numbers[0] if edit.start == 0 else numbers[edit.start - 1] + 1
        if mapped and start < mapped[-1].end:
            return None
        mapped.append(_Edit(start, end, edit.lines))
    return mapped


def _mismatch_reason(body: list[str] | None) -> str:
    if body is not None and any(_ANCHOR_OR_MERGE.search(line) for line in body):
        return (
            "the rewritten document would not match the patch result: the patch reaches "
            "values shared through YAML anchors/aliases or merge keys (<<); edit it by hand"
        )
    return "could not produce a text that parses to the patched object (not written)"


class _Representer(RoundTripRepresenter):
    """ruamel's round-trip representer, writing null as `null`.

    ruamel writes `key:` for null; manifests say `key: null` (kubectl's own output:
    `creationTimestamp: null`), so the rendering of existing nulls matches the file and new
    nulls look like the file's. A subclass: add_representer on ruamel's class would change
    every ruamel user in the process.
    """


_Representer.add_representer(
    type(None),
    lambda representer, _data: representer.represent_scalar("tag:yaml.org,2002:null", "null"),
)


_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")


def _loader_resolvers() -> dict[Any, list[tuple[str, re.Pattern[str]]]]:
    """PyYAML's implicit resolvers, adjusted the way the loader reads scalars (as kubectl):
    a plain `2024-01-01` and a sexagesimal `1:20` are strings."""
    table: dict[Any, list[tuple[str, re.Pattern[str]]]] = {}
    for first, resolvers in yaml.resolver.Resolver.yaml_implicit_resolvers.items():
        kept: list[tuple[str, re.Pattern[str]]] = []
        for tag, pattern in resolvers:
            if tag == _TIMESTAMP_TAG:
                continue
            if tag in _NUMBER_TAGS:
                pattern = re.compile(r"(?!.*:)" + pattern.pattern, pattern.flags)
            kept.append((tag, pattern))
        table[first] = kept
    return table


class _Yaml11Resolver(VersionedResolver):
    """ruamel resolving plain scalars exactly as the loader does (PyYAML's YAML 1.1 rules, with
    timestamps and sexagesimals kept as strings, as kubectl keeps them).

    By default ruamel reads YAML 1.2, where plain `on` is a string and `1e0` a float; the loader
    reads `true` and the string "1e0". ruamel's own 1.1 rules differ from PyYAML's too (they
    take `y` and `n` for booleans). With the loader's rules the round-trip tree holds the values
    the rules saw (so a `test` op compares the right thing, and `/1e0` finds its key), and
    ruamel quotes a new string wherever a plain one would read as something else.
    """

    _table: ClassVar[dict[Any, list[tuple[str, re.Pattern[str]]]]] = _loader_resolvers()

    @property
    def versioned_resolver(self) -> Any:
        return self._table

    @property
    def processing_version(self) -> Any:
        return (1, 1)  # the constructors' 1.1 rules: `0777` is octal


_YAML11_PROLOGUE = "%YAML 1.1\n"


def _round_trip_yaml(style: _Style) -> YAML:
    yaml_rt = YAML(typ="rt")
    yaml_rt.Resolver = _Yaml11Resolver
    yaml_rt.Representer = _Representer
    yaml_rt.preserve_quotes = True
    yaml_rt.width = 1 << 30  # never re-fold a long line: that would touch untouched lines
    yaml_rt.indent(mapping=style.mapping, sequence=style.sequence, offset=style.offset)
    # `[a, {k: v}]`, not ruamel's default `[a, k: v]` (valid, but nobody writes it).
    yaml_rt.brace_single_entry_mapping_in_flow_sequence = True
    return yaml_rt


def _dump(source: SourceFile, doc: Document, yaml_rt: YAML, tree: Any, keep_marker: bool) -> str:
    """ruamel's rendering of `tree`, without the `%YAML 1.1` and `---` lines it adds.

    Dumping as YAML 1.1 makes ruamel write `0777` and `1.0e-07` the way a 1.1 reader reads
    them; the prologue that comes with it is not part of the document body.
    """
    stream = io.StringIO()
    try:
        yaml_rt.dump(tree, stream)
    except Exception as exc:  # e.g. a value of a type YAML cannot represent
        raise WriteBackError(
            f"{_where(source, doc)}: ruamel.yaml cannot write the document ({_first_line(exc)})"
        ) from None
    text = stream.getvalue().removeprefix(_YAML11_PROLOGUE)
    if text.startswith("---\n"):
        return text[4:]
    # ruamel puts a flow root on the `---` line: keep the marker only if the file has it there.
    if text.startswith("--- ") and not keep_marker:
        return text[4:]
    return text


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _keep_anchors(tree: Any) -> None:
    """Have ruamel write every anchor the file has, even one a patch leaves without alias.

    By default it writes an anchor only while something refers to it, so replacing the one
    alias would also rewrite the line of the anchor, which the patch did not touch.
    """
    seen: set[int] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if hasattr(node, Anchor.attrib) and node.anchor.value:
            node.anchor.always_dump = True
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _shared_containers(tree: Any) -> dict[int, Any]:
    """Containers reachable by more than one path (anchored and aliased, or merged in)."""
    seen: set[int] = set()
    shared: dict[int, Any] = {}
    stack = [tree]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict | list):
            continue
        if id(node) in seen:
            shared[id(node)] = node
            continue
        seen.add(id(node))
        stack.extend(node.values() if isinstance(node, dict) else node)
    return shared


def _refuse_aliased_targets(
    source: SourceFile, doc: Document, tree: Any, ops: list[dict[str, Any]]
) -> None:
    """A change inside a node used through an alias would change every use of its anchor."""
    shared = _shared_containers(tree)
    if not shared:
        return
    for number, op in enumerate(ops):
        if not isinstance(op, Mapping) or op.get("op") == "test":
            continue
        pointers = [op.get("path")]
        if op.get("op") == "move":
            pointers.append(op.get("from"))
        for pointer in pointers:
            try:
                tokens = parse_pointer(pointer)
            except PatchError:
                continue  # the engine reports a malformed op properly
            node = tree
            for depth, token in enumerate(tokens[:-1]):
                node = _child(node, token)
                if node is None:
                    break
                if id(node) in shared:
                    reached = "".join("/" + t for t in tokens[: depth + 1])
                    anchor = node.anchor.value if hasattr(node, Anchor.attrib) else None
                    name = f" &{anchor}" if anchor else ""
                    raise WriteBackError(
                        f"{_where(source, doc, pointer)}: op {number + 1} ({describe_op(op)}): "
                        f"{reached} is shared through a YAML anchor{name} (an alias or merge "
                        "key uses it elsewhere); the change would apply to every use, so it is "
                        "not written: edit it by hand"
                    )


def _child(node: Any, token: str) -> Any:
    if isinstance(node, dict):
        return node.get(token)
    if isinstance(node, list) and re.fullmatch(r"0|[1-9][0-9]*", token):
        index = int(token)
        return node[index] if index < len(node) else None
    return None


def _region_parses_to(region: list[str], expected: Any) -> bool:
    """The region reads, as the loader reads it (duplicate keys refused), as `expected`."""
    try:
        documents = read_documents("".join(region))
    except yaml.YAMLError:
        return False
    return len(documents) == 1 and _same(documents[0], expected)


# --- line helpers --------------------------------------------------------------------------------


def _content(line: str) -> str:
    if line.endswith("\r\n"):
        return line[:-2]
    if line.endswith("\n"):
        return line[:-1]
    return line


def _key(content: str) -> str:
    # Trailing whitespace does not change YAML outside scalars, and ruamel never writes it:
    # ignore it when aligning, so such lines still anchor the alignment (they are kept as is).
    return content.rstrip()


def _file_eol(text: str) -> str:
    crlf = text.count("\r\n")
    return "\r\n" if crlf > text.count("\n") - crlf else "\n"


def _fix_line_endings(lines: list[str], eol: str, no_final_eol: bool) -> list[str]:
    """New lines get the file's line ending; a file that ended without one still does."""
    fixed = [line if line.endswith("\n") else line + eol for line in lines]
    if no_final_eol and fixed:
        fixed[-1] = _content(fixed[-1])
    return fixed


def _indent(content: str) -> int:
    return len(content) - len(content.lstrip(" "))


def _is_blank(content: str) -> bool:
    return not content.strip()


def _is_comment(content: str) -> bool:
    return content.lstrip().startswith("#")


def _is_marker(content: str) -> bool:
    return bool(_BARE_MARKER.fullmatch(content) or _END_MARKER.fullmatch(content)) or (
        content.startswith("%")
    )


def _explicit_start(contents: list[str]) -> bool:
    """The text starts its document with `---` (or a directive, which needs one)."""
    for text in contents:
        if _is_trivia(text):
            continue
        return text.startswith("%") or text == "---" or text.startswith(("--- ", "---\t"))
    return False


def _is_trivia(content: str) -> bool:
    return _is_blank(content) or _is_comment(content)


def _header_length(contents: list[str]) -> tuple[int, int]:
    """Lines before the document's content: comments, blank lines, `...`, directives, `---`.

    ruamel never sees them (it drops a comment above `---` and rewrites `--- # c`), so they are
    never touched, and a patch that replaces the whole document keeps them. Returns the header's
    length and where the document's own text starts (past any `...` that ends the previous
    document: a parser refuses a stream that starts with one).
    """
    position = 0
    own_start = 0
    while position < len(contents):
        text = contents[position]
        if _END_MARKER.fullmatch(text):
            own_start = position + 1
        elif not (_is_trivia(text) or _is_marker(text)):
            break
        position += 1
    return position, own_start


def _detect_style(body: list[str], whole_file: Callable[[], _Samples]) -> _Style:
    """The mapping indent and the `-` offset of block sequences, as this file writes them.

    The document's own lines decide; the rest of the file only fills in what the document
    does not show (a document without any block sequence, say).
    """
    mapping, offset = _indent_samples(body)
    if not mapping or not offset:
        whole_mapping, whole_offset = whole_file()
        mapping = mapping or whole_mapping
        offset = offset or whole_offset
    mapping_indent = mapping.most_common(1)[0][0] if mapping else 2
    sequence_offset = offset.most_common(1)[0][0] if offset else 0
    joined = "\n".join(body)
    double = len(re.findall(r"(?::|-)[ ]+\"", joined))
    single = len(re.findall(r"(?::|-)[ ]+'", joined))
    return _Style(mapping_indent, sequence_offset, "'" if single > double else '"')


def _indent_samples(contents: Iterable[str], enough: int | None = None) -> _Samples:
    """Counts of the mapping indents and `-` offsets the lines show (`enough`: stop early)."""
    mapping: Counter[int] = Counter()
    offset: Counter[int] = Counter()
    parent_key: int | None = None  # column of the key of the previous `key:` line
    scalar_indent: int | None = None  # inside a block scalar deeper than this
    for text in contents:
        if _is_trivia(text):
            continue
        indent = _indent(text)
        if scalar_indent is not None:
            if indent > scalar_indent:
                continue
            scalar_indent = None
        if parent_key is not None and indent >= parent_key:
            if _DASH.match(text):
                offset[indent - parent_key] += 1
            elif indent > parent_key:
                mapping[indent - parent_key] += 1
            if enough is not None and mapping.total() >= enough <= offset.total():
                break
        parent_key = None
        # Cheap tests first: the regexes run on a few lines only (this scans whole files).
        bare = text.rstrip()
        if bare.endswith(":") or "#" in bare:
            match = _KEY_ONLY.fullmatch(text)
            if match:
                parent_key = len(match.group("indent")) + len(match.group("dashes"))
                continue
        if ("|" in bare or ">" in bare) and _BLOCK_SCALAR.fullmatch(text):
            scalar_indent = indent
    return mapping, offset


# --- the three-way splice ------------------------------------------------------------------------

_Opcode = tuple[str, int, int, int, int]


def _opcodes(a: Sequence[str], b: Sequence[str]) -> list[_Opcode]:
    """difflib opcodes, with the common head and tail cut off first (they are most of it)."""
    head = 0
    limit = min(len(a), len(b))
    while head < limit and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < limit - head and a[len(a) - 1 - tail] == b[len(b) - 1 - tail]:
        tail += 1
    middle = difflib.SequenceMatcher(
        None, a[head : len(a) - tail], b[head : len(b) - tail], autojunk=False
    ).get_opcodes()
    result: list[_Opcode] = []
    if head:
        result.append(("equal", 0, head, 0, head))
    for tag, a1, a2, b1, b2 in middle:
        if tag == "equal" and a1 == a2 and b1 == b2:
            continue
        result.append((tag, a1 + head, a2 + head, b1 + head, b2 + head))
    if tail:
        result.append(("equal", len(a) - tail, len(a), len(b) - tail, len(b)))
    return result


class _Alignment:
    """Where the lines of ruamel's rendering B sit in the original text O.

    Segments are difflib opcodes plus `shifted`: lines equal but for their indentation (a
    list written `key:\n  - a` in a file ruamel renders `key:\n- a`, a mapping indented by 4
    in a file indented by 2). Shifted lines map one to one, and new lines next to them are
    re-indented by the same amount, so they line up with their siblings in the file.
    """

    def __init__(self, o_keys: list[str], b_keys: list[str], shifts: bool) -> None:
        self.b_keys = b_keys
        self.opcodes: list[_Opcode] = []
        self.shift: list[int | None] = [None] * len(b_keys)  # O indent - B indent, per B line
        for tag, o1, o2, b1, b2 in _opcodes(o_keys, b_keys):
            if tag == "equal" or not shifts or o1 == o2 or b1 == b2:
                self._add(tag, o1, o2, b1, b2, o_keys)
                continue
            stripped = _opcodes(
                [k.lstrip() for k in o_keys[o1:o2]], [k.lstrip() for k in b_keys[b1:b2]]
            )
            for sub_tag, so1, so2, sb1, sb2 in stripped:
                sub = "shifted" if sub_tag == "equal" else sub_tag
                self._add(sub, o1 + so1, o1 + so2, b1 + sb1, b1 + sb2, o_keys)

    def _add(self, tag: str, o1: int, o2: int, b1: int, b2: int, o_keys: list[str]) -> None:
        self.opcodes.append((tag, o1, o2, b1, b2))
        if tag in ("equal", "shifted"):
            for offset in range(b2 - b1):
                self.shift[b1 + offset] = _indent(o_keys[o1 + offset]) - _indent(
                    self.b_keys[b1 + offset]
                )

    def o_position(self, b: int, after: bool) -> int | None:
        """O position of the boundary before B line `b`; None inside a differing region.

        At a boundary where O has lines B lacks (a dropped `--- # c` or comment), `after`
        chooses the position past those lines, else the one before them.
        """
        candidates: list[int] = []
        for tag, o1, o2, b1, b2 in self.opcodes:
            if tag in ("equal", "shifted"):
                if b1 <= b <= b2:
                    candidates.append(o1 + b - b1)
            elif b1 < b < b2:
                return None
            else:
                if b == b1:
                    candidates.append(o1)
                if b == b2:
                    candidates.append(o2)
        if not candidates:
            return None
        return max(candidates) if after else min(candidates)

    def widen(self, start: int, end: int, adjacent: bool) -> tuple[int, int]:
        """Grow the B range [start, end) to cover every differing region it touches.

        With `adjacent`, a region that only borders the range counts too (new lines right
        after a line ruamel renders differently may depend on how that line is written).
        """
        for tag, _o1, _o2, b1, b2 in self.opcodes:
            if tag in ("equal", "shifted") or b1 == b2:
                continue
            if adjacent:
                touches = b1 <= end and b2 >= start
            elif start < end:
                touches = b1 < end and b2 > start
            else:
                touches = b1 < start < b2
            if touches:
                start, end = min(start, b1), max(end, b2)
        return start, end

    def indent_shift(self, b_start: int, b_end: int, new: list[str]) -> int:
        """How far to move new lines that replace B lines [b_start, b_end) to fit the file.

        The reference is the new lines' sibling (the first replaced line like them, else the
        nearest one above, else below), else their parent: the new lines move the way it
        moved. `- ALL`
        under `drop:` is no sibling of a key beside `drop:`, though both may start in the same
        column: siblings are of the same kind, or a key beside the first key of a `- ` item.
        """
        first = next((line for line in new if not _is_trivia(line)), None)
        if first is None:
            return 0
        width, dash, _ = _columns(first)

        def sibling(key: str) -> bool:
            indent, is_dash, content = _columns(key)
            return (indent == width and is_dash == dash) or (
                not dash and is_dash and content == width
            )

        def outside(key: str) -> bool:
            # Left of the new lines; or, for a new `- ` item, a key in its column: the list's
            # own key (`volumeMounts:` over `- name: x`) above it, or the next key below.
            indent, is_dash, content = _columns(key)
            return content < width or (dash and not is_dash and indent == width)

        for number in range(b_start, b_end):
            key = self.b_keys[number]
            if not _is_trivia(key) and sibling(key):
                return self.shift[number] or 0
        parent_shift = 0
        for number in range(b_start - 1, -1, -1):
            key = self.b_keys[number]
            if _is_trivia(key):
                continue
            if sibling(key):
                return self.shift[number] or 0
            if outside(key):
                parent_shift = self.shift[number] or 0
                break
        # A new first item: its siblings are below it.
        for number in range(b_end, len(self.b_keys)):
            key = self.b_keys[number]
            if _is_trivia(key):
                continue
            if sibling(key):
                return self.shift[number] or 0
            if outside(key):
                break
        return parent_shift


def _columns(content: str) -> tuple[int, bool, int]:
    """Indent, whether the line is a `- ` item, and the column its content starts at."""
    indent = _indent(content)
    match = _DASH.match(content)
    if not match:
        return indent, False, indent
    rest = content[match.end() :]
    return indent, True, len(content) - len(rest.lstrip(" "))


@dataclass
class _Group:
    b_start: int
    b_end: int
    p_start: int
    p_end: int


@dataclass(frozen=True)
class _Strategy:
    shifts: bool  # re-indent new lines next to lines the file indents differently
    tidy: bool  # place insertions/deletions around comments as a person would
    bias_after: bool  # insert after, not before, lines only the file has
    adjacent: bool  # widen to differing regions that merely border a change


_STRATEGIES = (
    _Strategy(shifts=True, tidy=True, bias_after=False, adjacent=False),
    _Strategy(shifts=True, tidy=False, bias_after=False, adjacent=False),
    _Strategy(shifts=False, tidy=True, bias_after=False, adjacent=False),
    _Strategy(shifts=False, tidy=False, bias_after=False, adjacent=False),
    _Strategy(shifts=False, tidy=False, bias_after=True, adjacent=False),
    _Strategy(shifts=False, tidy=False, bias_after=False, adjacent=True),
)


def _plan(
    alignment: _Alignment,
    hunks: list[_Opcode],
    p_lines: list[str],
    body: list[str],
    strategy: _Strategy,
) -> list[_Edit] | None:
    groups: list[_Group] = []
    for _tag, i1, i2, j1, j2 in hunks:
        w1, w2 = alignment.widen(i1, i2, strategy.adjacent)
        group = _Group(w1, w2, j1 - (i1 - w1), j2 + (w2 - i2))
        if groups and (group.b_start < groups[-1].b_end or group.b_start < groups[-1].b_start):
            last = groups[-1]
            last.b_start = min(last.b_start, group.b_start)
            last.p_start = min(last.p_start, group.p_start)
            last.b_end, last.p_end = max(last.b_end, group.b_end), max(last.p_end, group.p_end)
        else:
            groups.append(group)
    edits: list[_Edit] = []
    for group in groups:
        new = p_lines[group.p_start : group.p_end]
        if group.b_start == group.b_end:
            at = alignment.o_position(group.b_start, strategy.bias_after)
            if at is None:
                return None
            start = end = at
        else:
            begin = alignment.o_position(group.b_start, True)
            finish = alignment.o_position(group.b_end, False)
            if begin is None or finish is None or finish < begin:
                return None
            start, end = begin, finish
        if edits and start < edits[-1].end:
            return None
        if strategy.shifts:
            new = _reindented_runs(alignment, group, new)
        edits.append(_Edit(start, end, list(new)))
    if strategy.tidy:
        _tidy(edits, body)
    _keep_comment_gaps(edits, body)
    return edits


def _keep_comment_gaps(edits: list[_Edit], body: list[str]) -> None:
    """A changed line keeps the spaces before its inline comment, as a person would.

    ruamel keeps the comment's column instead (`name: web2  # c` becomes `name: x     # c`);
    that is right only where the comment is aligned with the comments of the lines around it.
    """
    for edit in edits:
        # Lines pair up by position (the comment must match too): `key: 0  # c` may have
        # become `key:  # c` followed by the lines of a list.
        for offset, new in enumerate(edit.lines[: edit.end - edit.start]):
            number = edit.start + offset
            old = body[number]
            old_at = comment_start(old)
            if old_at is None:
                continue
            comment = old[old_at:]
            new_at = len(new) - len(comment)
            if not new.endswith(comment) or new_at < 1 or new[new_at - 1] not in " \t":
                continue
            neighbours = (body[n] for n in (number - 1, number + 1) if 0 <= n < len(body))
            if any(comment_start(line) == old_at for line in neighbours):
                continue  # a column of comments: keep the column
            code = old[:old_at].rstrip(" \t")
            gap = old[len(code) : old_at]
            edit.lines[offset] = new[:new_at].rstrip(" \t") + gap + comment


def _reindented_runs(alignment: _Alignment, group: _Group, new: list[str]) -> list[str]:
    """New lines re-indented run by run, each run being lines that share one parent.

    One group can hold a new list item and, after it, a new key of an outer mapping; each
    moves with its own siblings.
    """
    out: list[str] = []
    run: list[str] = []
    base: tuple[int, bool] | None = None  # the run's first line: indent, and is it a `- ` item
    for line in [*new, None]:
        starts_run = line is None
        if line is not None and not _is_trivia(line) and base is not None:
            indent, dash, _ = _columns(line)
            # Left of the run, or beside it but of the other kind: `- ALL` then `moved:` in
            # a file that writes lists at their key's column.
            starts_run = indent < base[0] or (indent == base[0] and dash != base[1])
        if starts_run and run:
            out += _reindented(run, alignment.indent_shift(group.b_start, group.b_end, run))
            run, base = [], None
        if line is None:
            break
        if base is None and not _is_trivia(line):
            base = _columns(line)[:2]
        run.append(line)
    return out


def _reindented(lines: list[str], shift: int) -> list[str]:
    if shift == 0:
        return lines
    if shift < 0 and any(_indent(line) < -shift for line in lines if line.strip()):
        return lines  # cannot move left of column 0: leave it to verification and fallbacks
    if shift > 0:
        return [" " * shift + line if line.strip() else line for line in lines]
    return [line[-shift:] if line.strip() else line for line in lines]


def _tidy(edits: list[_Edit], body: list[str]) -> None:
    """Place insertions and deletions where a person would, around comments and blank lines.

    ruamel hangs the comment lines between two items on the first item, so its own diff puts a
    new key after the comment that heads the next key, and removing a key drops the comment
    that heads the next one. These moves only cross comment and blank lines, which is
    harmless outside scalars; a candidate where it was not harmless fails verification.
    """
    for number, edit in enumerate(edits):
        lower = edits[number - 1].end if number else 0
        upper = edits[number + 1].start if number + 1 < len(edits) else len(body)
        if edit.start == edit.end and edit.lines:
            first = next((t for t in edit.lines if not _is_trivia(t)), None)
            if first is None:
                continue
            width = _indent(first)
            while edit.start > lower and _slides_over(body[edit.start - 1], width):
                edit.start -= 1
            edit.end = edit.start
        elif edit.start < edit.end:
            removed = body[edit.start : edit.end]
            item = next((t for t in removed if not _is_trivia(t)), None)
            if item is None:
                # Only comments: ruamel lost them (a comment above a list's first item, once
                # an item is inserted before it). They stay, after the new lines.
                if not {_key(t) for t in removed} & {_key(t) for t in edit.lines}:
                    edit.end = edit.start
                continue
            width = _indent(item)
            end = edit.end
            while end > edit.start and _slides_over(body[end - 1], width):
                end -= 1
            kept = {_key(t) for t in body[end : edit.end]}
            if end < edit.end and not kept & {_key(t) for t in edit.lines}:
                edit.end = end  # the next item's head comment stays
            if edit.lines:
                continue
            start = edit.start
            while start > lower and _is_comment(body[start - 1]):
                if _indent(body[start - 1]) != width:
                    break
                start -= 1
            edit.start = start  # the removed item's own head comment goes with it
            if (
                edit.start > lower
                and _is_blank(body[edit.start - 1])
                and edit.end < upper
                and _is_blank(body[edit.end])
            ):
                edit.end += 1  # one blank line between neighbours, not two


def _slides_over(content: str, width: int) -> bool:
    return _is_blank(content) or (_is_comment(content) and _indent(content) <= width)


def _apply_edits(body: list[str], edits: list[_Edit]) -> list[str]:
    out: list[str] = []
    position = 0
    for edit in edits:
        out.extend(body[position : edit.start])
        out.extend(edit.lines)  # no line ending yet: _fix_line_endings adds the file's
        position = edit.end
    out.extend(body[position:])
    return out


# --- JSON ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _JsonStyle:
    indent: str | None
    item_separator: str
    key_separator: str
    ensure_ascii: bool

    def dump(self, value: Any) -> str:
        return json.dumps(
            value,
            indent=self.indent,
            separators=(self.item_separator, self.key_separator),
            ensure_ascii=self.ensure_ascii,
        )


def _json_style(text: str) -> _JsonStyle:
    indent: str | None = None
    for line in split_lines(text)[1:]:
        content = _content(line)
        stripped = content.lstrip(" \t")
        if stripped and len(stripped) < len(content):
            indent = content[: len(content) - len(stripped)]
            break
    key_separator = ": " if re.search(r'"[ \t]*:[ \t]', text) else ":"
    # With an indent, json.dumps ends lines at commas: only a one-line file shows its habit.
    spaced = indent is None and re.search(r",[ \t]", text)
    item_separator = ", " if spaced else ","
    ensure_ascii = text.isascii() and "\\u" in text
    return _JsonStyle(indent, item_separator, key_separator, ensure_ascii)


def _json_parses_to(text: str, expected: Any) -> bool:
    try:
        return _same(json.loads(text, object_pairs_hook=reject_duplicate_keys), expected)
    except ValueError:
        return False


def _rewrite_json(source: SourceFile, work: Mapping[int, list[dict[str, Any]]]) -> str:
    unknown = [index for index in work if index != 0]
    if unknown:
        raise WriteBackError(f"document {unknown[0] + 1}: a JSON file holds one document")
    doc = source.documents[0]
    ops = work[0]
    expected = _expected(source, doc, ops)
    try:
        patched = apply_patch(_unshared(doc.data), ops)
    except PatchError as exc:
        raise _op_error(source, doc, exc) from None
    if not _same(patched, expected):
        raise WriteBackError(f"{_where(source, doc)}: {_mismatch_reason(None)}")
    text = source.text
    style = _json_style(text)
    before, after = style.dump(doc.data), style.dump(patched)
    if before == after:
        return text
    lines = source.lines
    eol = _file_eol(text)
    at_eof_newline = text.endswith("\n")
    contents = [_content(line) for line in lines]
    b_lines, p_lines = before.split("\n"), after.split("\n")
    alignment = _Alignment([_key(c) for c in contents], [_key(b) for b in b_lines], False)
    hunks = [op for op in _opcodes(b_lines, p_lines) if op[0] != "equal"]
    for strategy in _STRATEGIES:
        if strategy.shifts or strategy.tidy:
            continue  # JSON: no comments, and its indentation is json.dumps's own
        edits = _plan(alignment, hunks, p_lines, contents, strategy)
        if edits is None:
            continue
        new_lines = _apply_edits(lines, edits)
        candidate = "".join(_fix_line_endings(new_lines, eol, not at_eof_newline))
        if _json_parses_to(candidate, expected):
            return candidate
    whole = after.replace("\n", eol) + (eol if at_eof_newline else "")
    if _json_parses_to(whole, expected):
        return whole
    raise WriteBackError(f"{_where(source, doc)}: {_mismatch_reason(None)}")
