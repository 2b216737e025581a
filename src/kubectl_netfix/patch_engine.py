"""RFC 6902 JSON Patch over ruamel.yaml round-trip trees (and plain JSON values).

The write-back needs a patch engine that edits the round-trip tree in place, so that everything
the patch does not touch (comments, key order, quoting, anchors) survives the dump: `jsonpatch`
works on plain dicts and would give us a new, comment-less object. Semantics follow RFC 6902 and
RFC 6901 to the letter, as the public conformance suite checks them:

- pointers are `""` or start with `/`; `~1` is `/` and `~0` is `~` (any other `~` is an error);
- array indices are `0` or a number without leading zeros; `-` means "after the last element" and
  is valid only as the last token of an `add` (or a `move`/`copy` target);
- `add` replaces an existing member, inserts into arrays, never creates missing parents;
- `test` compares JSON values: objects by members (order ignored), arrays by position, numbers
  numerically (1 equals 1.0), and a boolean is never equal to a number;
- members that RFC 6902 does not define (e.g. `"spurious": 1`) are ignored.

Values inserted into a ruamel tree are converted to ruamel nodes styled like their new parent:
block style in a block parent, flow style in a flow parent, and strings that a YAML 1.1 reader
(PyYAML, kubectl's go-yaml) would read as something else (`"on"`, `"1.5"`, `"null"`) quoted.
A new member goes at the end of its mapping; `replace` (and `add` onto an existing member)
keeps the member's position, its comments and the quotes its author chose; `move` carries the
node itself (comments and anchors inside it included); `copy` inserts a fresh, comment-free copy.
Comments ruamel would write in an invalid place after an edit are dropped from the tree (the
write-back's line splice puts the lines that head the next item back where they were).
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from typing import Any

import yaml
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarbool import ScalarBoolean
from ruamel.yaml.scalarstring import (
    DoubleQuotedScalarString,
    FoldedScalarString,
    LiteralScalarString,
    PlainScalarString,
    ScalarString,
    SingleQuotedScalarString,
)
from ruamel.yaml.tokens import CommentToken

__all__ = [
    "PatchError",
    "apply_patch",
    "describe_op",
    "json_equal",
    "needs_quotes",
    "parse_pointer",
    "quoted_by_necessity",
    "to_plain",
]

_ARRAY_INDEX = re.compile(r"0|[1-9][0-9]*")
_OPS = ("add", "remove", "replace", "move", "copy", "test")
_STR_TAG = "tag:yaml.org,2002:str"
# PyYAML's resolver is the YAML 1.1 reader our loader (and kubectl's go-yaml) behaves like.
_resolve_plain: Callable[[type[yaml.Node], str, tuple[bool, bool]], str] = (
    yaml.resolver.Resolver().resolve
)


class PatchError(Exception):
    """An op that cannot be applied; `index` and `op` say which one (when known)."""

    def __init__(self, message: str, index: int | None = None, op: Any = None) -> None:
        super().__init__(message)
        self.problem = message
        self.index = index
        self.op = op

    def __str__(self) -> str:
        if self.index is None:
            return self.problem
        return f"op {self.index + 1} ({describe_op(self.op)}): {self.problem}"


def describe_op(op: Any) -> str:
    """`add /spec/egress/-`, `move /a -> /b`: short enough for a one-line message."""
    if not isinstance(op, Mapping):
        return repr(op)
    name = op.get("op", "?")
    path = op.get("path", "?")
    path = '""' if path == "" else path
    if name in ("move", "copy") and "from" in op:
        return f"{name} {op['from']} -> {path}"
    return f"{name} {path}"


# --- pointers ------------------------------------------------------------------------------------


def parse_pointer(pointer: Any, member: str = "path") -> list[str]:
    """RFC 6901 tokens of `pointer`; PatchError for anything that is not a valid pointer."""
    if not isinstance(pointer, str):
        raise PatchError(f"'{member}' must be a string, got {_json_type(pointer)}")
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise PatchError(f"'{member}' {pointer!r} is not a JSON pointer (must start with '/')")
    tokens = pointer[1:].split("/")
    for token in tokens:
        # RFC 6901: `~` must be followed by 0 or 1; anything else is a malformed pointer.
        if "~" in token and re.search(r"~(?![01])", token):
            raise PatchError(f"'{member}' {pointer!r} has an invalid escape (only ~0 and ~1)")
    return [t.replace("~1", "/").replace("~0", "~") for t in tokens]


def _format_pointer(tokens: Sequence[str]) -> str:
    return "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in tokens)


def _array_index(token: str, length: int, where: Sequence[str], allow_end: bool) -> int:
    """The index `token` names in an array of `length`; `allow_end` admits `-` and `length`."""
    if token == "-":
        if allow_end:
            return length
        raise PatchError(f"{_format_pointer(where)}: '-' names no existing array element")
    if not _ARRAY_INDEX.fullmatch(token):
        raise PatchError(f"{_format_pointer(where)}: {token!r} is not an array index")
    index = int(token)
    limit = length if allow_end else length - 1
    if index > limit:
        raise PatchError(
            f"{_format_pointer(where)}: index {index} is out of range (array has {length} items)"
        )
    return index


def _is_object(node: Any) -> bool:
    return isinstance(node, MutableMapping)


def _is_array(node: Any) -> bool:
    return isinstance(node, list)


def _resolve(root: Any, tokens: Sequence[str]) -> Any:
    """The node at `tokens`; PatchError naming the first token that does not exist."""
    node = root
    for depth, token in enumerate(tokens):
        where = tokens[: depth + 1]
        if _is_object(node):
            if token not in node:
                raise PatchError(f"{_format_pointer(where)} does not exist")
            node = node[token]
        elif _is_array(node):
            node = node[_array_index(token, len(node), where, allow_end=False)]
        else:
            raise PatchError(
                f"{_format_pointer(where)} does not exist "
                f"({_format_pointer(tokens[:depth])} is a {_json_type(node)})"
            )
    return node


# --- values --------------------------------------------------------------------------------------


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool | ScalarBoolean):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if _is_object(value):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


def to_plain(node: Any) -> Any:
    """A ruamel node (or plain value) as plain Python: dict, list, str, int, float, bool, None."""
    if isinstance(node, Mapping):
        return {to_plain(k): to_plain(v) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [to_plain(v) for v in node]
    if isinstance(node, ScalarBoolean):  # an int subclass in ruamel: say what it means
        return bool(node)
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, str):
        return str(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    return node


def json_equal(left: Any, right: Any) -> bool:
    """Equality of JSON values as RFC 6902 `test` defines it (booleans are not numbers)."""
    if isinstance(left, bool | ScalarBoolean) or isinstance(right, bool | ScalarBoolean):
        return (
            isinstance(left, bool | ScalarBoolean)
            and isinstance(right, bool | ScalarBoolean)
            and bool(left) == bool(right)
        )
    if isinstance(left, int | float) and isinstance(right, int | float):
        if isinstance(left, float) and isinstance(right, float) and math.isnan(left):
            return math.isnan(right)
        return left == right
    if isinstance(left, str) or isinstance(right, str):
        return isinstance(left, str) and isinstance(right, str) and str(left) == str(right)
    if left is None or right is None:
        return left is None and right is None
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        if len(left) != len(right):
            return False
        return all(key in right and json_equal(value, right[key]) for key, value in left.items())
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return len(left) == len(right) and all(
            json_equal(a, b) for a, b in zip(left, right, strict=True)
        )
    if isinstance(left, Mapping | list | tuple) or isinstance(right, Mapping | list | tuple):
        return False
    return bool(left == right)


def _is_tree(container: Any) -> bool:
    return isinstance(container, CommentedMap | CommentedSeq)


def _is_flow(container: Any) -> bool:
    return _is_tree(container) and bool(container.fa.flow_style())


def needs_quotes(text: str) -> bool:
    """True when a YAML 1.1 reader would not read `text`, written plain, as this string."""
    return _resolve_plain(yaml.ScalarNode, text, (True, False)) != _STR_TAG


class _NodeFactory:
    """Builds fresh ruamel nodes for values the patch inserts into a round-trip tree."""

    def __init__(self, quote: str) -> None:
        self.quote = quote

    def string(self, text: str) -> str:
        if not needs_quotes(text):
            return text
        quoted: str  # ruamel's scalar string classes are untyped
        if self.quote == "'" and "\n" not in text:
            quoted = SingleQuotedScalarString(text)
        else:
            quoted = DoubleQuotedScalarString(text)
        return quoted

    def node(self, value: Any, flow: bool) -> Any:
        if isinstance(value, Mapping):
            mapping = CommentedMap()
            for key, item in value.items():
                mapping[self.string(key) if isinstance(key, str) else key] = self.node(item, flow)
            _set_style(mapping, flow)
            return mapping
        if isinstance(value, list | tuple):
            sequence = CommentedSeq(self.node(item, flow) for item in value)
            _set_style(sequence, flow)
            return sequence
        if isinstance(value, str):
            return self.string(str(value))
        return to_plain(value)


def _set_style(container: CommentedMap | CommentedSeq, flow: bool) -> None:
    if not container:
        # No style: ruamel writes `[]` / `{}`, and block style once items are added. (Marked
        # block while empty, it writes an inline comment before the `[]`, which then lands on
        # a line of its own: not valid YAML.)
        return
    if flow:
        container.fa.set_flow_style()
    else:
        container.fa.set_block_style()


def _styled_like(old: Any, new: Any) -> Any:
    """A replacing string keeps the quotes the author chose (`"web"` stays quoted).

    Quotes the old string could not do without (`""`, `"80"`, `"on"`) say nothing about the
    author's style: the new string is then quoted only if it needs it. The result is always a
    ruamel string type, because ruamel copies the old string's type onto a plain `str`.
    """
    if not isinstance(new, str) or not isinstance(old, ScalarString):
        return new
    if isinstance(new, ScalarString):
        return new  # already quoted because it must be
    chosen: str
    if isinstance(old, SingleQuotedScalarString | DoubleQuotedScalarString):
        if quoted_by_necessity(str(old)):
            chosen = PlainScalarString(new)
        elif isinstance(old, SingleQuotedScalarString) and "\n" not in new:
            chosen = SingleQuotedScalarString(new)
        else:
            chosen = DoubleQuotedScalarString(new)
    elif isinstance(old, LiteralScalarString | FoldedScalarString) and "\n" in new:
        chosen = type(old)(new)
    else:
        chosen = PlainScalarString(new)
    return chosen


def quoted_by_necessity(text: str) -> bool:
    """True when quotes around `text` say nothing of the author's style: it needs them."""
    return (
        not text
        or needs_quotes(text)
        or text != text.strip()
        or text[0] in "-?:,[]{}#&*!|>'\"%@`"
        or ": " in text
        or " #" in text
        or "\n" in text
    )


def _set_member(mapping: Any, key: str, node: Any) -> None:
    """Replace an existing member's value in place (its position and comments stay)."""
    old = mapping[key]
    if isinstance(mapping, CommentedMap) and isinstance(node, CommentedMap | CommentedSeq):
        if isinstance(old, Mapping | list):
            # The comment above the old collection's first item went with that collection;
            # left on the key, ruamel writes it into the new one (`key: -` and worse).
            slots = mapping.ca.items.get(key)
            if slots and len(slots) > 3:
                slots[3] = None
        else:
            _keep_only_inline_comment(mapping, key)
    mapping[key] = _styled_like(old, node)


def _keep_only_inline_comment(mapping: CommentedMap, key: str) -> None:
    """Trim the comment after a scalar value that a collection replaces to its inline part.

    After a scalar, ruamel keeps the inline comment and the comment lines below it in one
    token; after a collection it writes that token between the key and the collection (the
    lines below land inside it: not valid YAML). The inline comment alone is written right.
    The lines below head the next key; the write-back's splice keeps them in place.
    """
    slots = mapping.ca.items.get(key)
    if not slots or len(slots) < 3 or slots[2] is None:
        return
    token = slots[2]
    inline = token.value.split("\n", 1)[0]
    slots[2] = CommentToken(inline + "\n", token.start_mark, None) if inline.strip() else None


def _fresh_copy(node: Any) -> Any:
    """A deep copy for `copy`: plain values, so no comment or anchor is duplicated."""
    return to_plain(node)


# --- the engine ----------------------------------------------------------------------------------


class _Patcher:
    def __init__(self, root: Any, quote: str) -> None:
        self.root = root
        self.factory = _NodeFactory(quote)

    def _new_value(self, parent: Any, value: Any) -> Any:
        if _is_tree(parent):
            return self.factory.node(value, flow=_is_flow(parent))
        # Plain trees get a private copy: the op's value must not become shared with the doc.
        return copy.deepcopy(to_plain(value))

    def _container(self, tokens: Sequence[str]) -> Any:
        parent = _resolve(self.root, tokens[:-1])
        if not (_is_object(parent) or _is_array(parent)):
            raise PatchError(
                f"{_format_pointer(tokens)}: cannot reach into "
                f"{_format_pointer(tokens[:-1]) or 'the document'}, a {_json_type(parent)}"
            )
        return parent

    def add(self, tokens: Sequence[str], value: Any, *, built: bool = False) -> None:
        if not tokens:
            self.root = value if built else self._new_root(value)
            return
        parent = self._container(tokens)
        node = value if built else self._new_value(parent, value)
        key = tokens[-1]
        if _is_object(parent):
            if key in parent:
                # `add` onto an existing member replaces it in place (position and comments).
                _set_member(parent, key, node)
            else:
                parent[self.factory.string(key) if _is_tree(parent) else key] = node
        else:
            index = _array_index(key, len(parent), tokens, allow_end=True)
            if index == 0 and parent and isinstance(parent, CommentedSeq):
                # The comment above the first item stays with that item (the write-back's
                # splice keeps its line); ruamel would write it above the new first item, and
                # after an empty `{}` there it runs the next item's lines together.
                self._drop_head_comment(tokens[:-1], parent)
            parent.insert(index, node)

    def _new_root(self, value: Any) -> Any:
        if _is_tree(self.root):
            return self.factory.node(value, flow=False)
        return copy.deepcopy(to_plain(value))

    def remove(self, tokens: Sequence[str]) -> Any:
        if not tokens:
            raise PatchError("cannot remove the whole document")
        parent = self._container(tokens)
        key = tokens[-1]
        if _is_object(parent):
            if key not in parent:
                raise PatchError(f"{_format_pointer(tokens)} does not exist")
            if isinstance(parent, CommentedMap):
                # A comment left behind would resurface if the key were ever added again.
                parent.ca.items.pop(key, None)
            removed = parent.pop(key)
        else:
            removed = parent.pop(_array_index(key, len(parent), tokens, allow_end=False))
        if _is_tree(parent) and not parent:
            self._drop_head_comment(tokens[:-1], parent)
        return removed

    def _drop_head_comment(self, tokens: Sequence[str], collection: Any) -> None:
        """Forget the comment above the first item of the collection at `tokens`.

        Called when the patch empties it (the comment was the removed item's, and ruamel
        writes an empty collection that still has one as the comment, then `[]` on a line of
        its own: not valid YAML), and when an item is inserted before the first.
        """
        collection.ca.comment = None
        if not tokens:
            return
        holder = _resolve(self.root, tokens[:-1])
        if isinstance(holder, CommentedMap | CommentedSeq):
            key: Any = tokens[-1] if isinstance(holder, CommentedMap) else int(tokens[-1])
            slots = holder.ca.items.get(key)
            if slots is not None and len(slots) > 3:
                slots[3] = None

    def replace(self, tokens: Sequence[str], value: Any) -> None:
        if not tokens:
            _resolve(self.root, tokens)
            self.root = self._new_root(value)
            return
        parent = self._container(tokens)
        key = tokens[-1]
        node = self._new_value(parent, value)
        if _is_object(parent):
            if key not in parent:
                raise PatchError(f"{_format_pointer(tokens)} does not exist")
            _set_member(parent, key, node)
        else:
            index = _array_index(key, len(parent), tokens, allow_end=False)
            parent[index] = _styled_like(parent[index], node)

    def move(self, source: Sequence[str], target: Sequence[str]) -> None:
        _resolve(self.root, source)
        if list(source) == list(target):
            return
        if list(target[: len(source)]) == list(source):
            raise PatchError(
                f"cannot move {_format_pointer(source)} into its own child "
                f"{_format_pointer(target)}"
            )
        # Check the target's parent before removing anything: a failed op must not half-apply.
        if target:
            self._container(target)
        # The node itself moves (its comments and scalar styles with it).
        self.add(target, self.remove(source), built=True)

    def copy(self, source: Sequence[str], target: Sequence[str]) -> None:
        value = _fresh_copy(_resolve(self.root, source))
        self.add(target, value)

    def test(self, tokens: Sequence[str], value: Any) -> None:
        actual = _resolve(self.root, tokens)
        if not json_equal(actual, value):
            raise PatchError(
                f"test failed: {_format_pointer(tokens) or 'the document'} is "
                f"{_short(to_plain(actual))}, not {_short(value)}"
            )


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _member(op: Mapping[str, Any], name: str) -> Any:
    if name not in op:
        raise PatchError(f"missing '{name}' member")
    return op[name]


def apply_patch(
    document: Any,
    ops: Sequence[Mapping[str, Any]],
    *,
    quote: str = '"',
) -> Any:
    """Apply the RFC 6902 `ops` to `document` in place; return the (possibly new) root.

    `quote` is the quote character for new strings that need quoting in a ruamel tree.
    On error a PatchError names the op; ops before it may already have been applied, so callers
    that need all-or-nothing must patch a copy.
    """
    if isinstance(ops, str | bytes) or not isinstance(ops, Sequence):
        raise PatchError(f"a patch is an array of operations, got {_json_type(ops)}")
    patcher = _Patcher(document, quote)
    for index, op in enumerate(ops):
        try:
            _apply_one(patcher, op)
        except PatchError as exc:
            raise PatchError(exc.problem, index, op) from None
    return patcher.root


def _apply_one(patcher: _Patcher, op: Any) -> None:
    if not isinstance(op, Mapping):
        raise PatchError(f"an operation is an object, got {_json_type(op)}")
    name = _member(op, "op")
    if name not in _OPS:
        raise PatchError(f"unknown op {name!r} (expected one of {', '.join(_OPS)})")
    tokens = parse_pointer(_member(op, "path"))
    if name == "add":
        patcher.add(tokens, _member(op, "value"))
    elif name == "remove":
        patcher.remove(tokens)
    elif name == "replace":
        patcher.replace(tokens, _member(op, "value"))
    elif name == "test":
        patcher.test(tokens, _member(op, "value"))
    else:
        source = parse_pointer(_member(op, "from"), "from")
        if name == "move":
            patcher.move(source, tokens)
        else:
            patcher.copy(source, tokens)
