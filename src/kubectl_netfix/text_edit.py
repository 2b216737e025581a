"""The write-back's fast path: the common patch shapes, edited straight in a document's text.

Why it exists: the ruamel.yaml round trip (a load and two dumps, pure Python) costs about 20 ms
per document, which made `fix --write` four times the cost of `check` on real manifests, while
nearly every fix has one of a few shapes: a new `dnsConfig:` block in a pod spec, a new key, a
changed value, an annotation removed. Those shapes are done here on the lines themselves, with
positions from PyYAML's (libyaml's) composed nodes, and the result is what the ruamel path
writes for them: the same lines, at the same place, in the same style (writeback's docstring
gives the placement rules this follows; tests/test_text_edit.py compares the two paths on every
fix the tool proposes for the corpus and the fixtures).

Handled, in block-style collections only (ops applied one after the other, the text re-read
between them):

- `replace` (or `add` onto an existing member) of a one-line plain or quoted scalar that
  ends its `key: value` or `- value` line (an inline comment may follow) by a scalar: quoted as
  the ruamel path quotes it (the author's quotes kept unless they were only there because
  the old value needed them; a new value a YAML 1.1 reader would take for something else
  quoted with the file's quote character), the gap before the inline comment kept;
- `add` of a new key to a block mapping, after its last entry (and the comments below that
  entry that are indented deeper than the key), with a scalar, `{}`/`[]`, or a block mapping
  or sequence value written with the file's mapping indent and sequence offset (a list whose
  `- ` sits in its key's column moves like the nearest such list, as the ruamel path's
  run-by-run re-indentation moves it);
- `add` of an item at the end of a block sequence (`/-`, or the index just past the end);
- `remove` of a mapping member that starts its own line, when the mapping keeps a member:
  the member's lines, the comment right above it at its own indent, one of two blank lines;
- `test`: nothing to write (the caller has checked every op against the object already).

Declined (None: the ruamel path does it): a document with aliases or merge keys, or with
line breaks other than `\n`/`\r\n`; flow collections; tags or anchors on a value replaced;
multi-line and block scalars replaced; a scalar replaced by a collection or by the same value
spelled otherwise (`~` by null: ruamel's choice to keep or respell it); a keep-chomping (`|+`)
block scalar where lines go in; new values holding floats, lists in lists, or strings that
plain or simply quoted text cannot carry exactly (`a: b`, `-x`, non-ASCII, quotes); `move` and
`copy`; an insert before an existing item; a removal of an item, or one that empties a mapping
or starts on a `- ` line; a new list in its key's column whose indentation the ruamel path
would take from beyond the mapping; and lines not written the way ruamel writes them
(`key:   value`, `-   item`, a value on the line after its key), whose rewrite is ruamel's.

Nothing here is trusted: the caller verifies that the new text reads as exactly the patched
object, as it does for the ruamel path, and falls back to ruamel when it does not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from kubectl_netfix.loader import StrictLoader, gc_paused, split_pointer
from kubectl_netfix.patch_engine import needs_quotes, quoted_by_necessity

__all__ = ["TextEdit", "comment_start", "edit_body", "has_shared_nodes"]

_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"
# Text that plain and simply quoted YAML both carry as is, and that ruamel writes plain when
# no YAML 1.1 reader would take it for anything but a string: no quotes, escapes, `: `, ` #`,
# flow indicators, leading indicator characters or `...`, surrounding spaces (`http://a:80/x`
# is fine).
_SIMPLE_TEXT = re.compile(
    r"(?!\.\.\.)[A-Za-z0-9_./](?:[A-Za-z0-9_./=+@%~-]|[: ](?=[A-Za-z0-9_./=+@%~-]))*"
)
# Line breaks other than `\n` inside a line's content: libyaml would count lines differently.
_OTHER_BREAKS = re.compile("[\r\x85\u2028\u2029]")
_COMMENT_AFTER = re.compile(r"[ \t]+#")
_KEY_START = re.compile(r" *(?:- )?")


@dataclass(frozen=True)
class TextEdit:
    """Lines [start, end) of the original body replaced by `lines` (contents, no line endings)."""

    start: int
    end: int
    lines: list[str]


class _Decline(Exception):
    """This op is not one the fast path can do with certainty."""


def edit_body(
    contents: Sequence[str],
    ops: Sequence[Mapping[str, Any]],
    *,
    mapping_indent: int,
    sequence_offset: int,
    quote: str,
) -> list[TextEdit] | None:
    """Edits of the document body `contents` (lines without endings) that apply `ops`, or None.

    `ops` must already be known to apply to the document (the write-back checks them first).
    New lines use `mapping_indent`, `sequence_offset` (where a block sequence's `-` sits,
    relative to its parent key) and `quote` (the quote character of new quoted strings).
    """
    text = _Text(list(contents), _Render(mapping_indent, sequence_offset, quote))
    try:
        for op in ops:
            text.apply(op)
    except _Decline:
        return None
    except (LookupError, ValueError, TypeError, AttributeError):
        # A shape this code did not foresee: it costs the ruamel path's time, never a fix.
        # (tests/test_text_edit.py holds the corpus's fixes to the fast path.)
        return None
    return text.edits()


def has_shared_nodes(root: yaml.Node) -> bool:
    """A node reachable by two paths (an alias), or a merge key (`<<`)."""
    seen: set[int] = set()
    stack: list[yaml.Node] = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            return True
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE_TAG:
                    return True
                stack.extend((key_node, value_node))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return False


# --- rendering new values ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Render:
    mapping_indent: int
    sequence_offset: int
    quote: str

    def string(self, text: str) -> str:
        """A new string as the ruamel path writes it (patch_engine's node factory)."""
        if not text:
            return self.quote * 2
        if not _SIMPLE_TEXT.fullmatch(text):
            raise _Decline
        return self.quote + text + self.quote if needs_quotes(text) else text

    def scalar(self, value: Any) -> str:
        if isinstance(value, str):
            return self.string(value)
        if value is None:
            return "null"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):
            return str(value)
        raise _Decline  # floats: ruamel's own spelling (`1.0e-07`) is not worth copying

    def inline(self, value: Any) -> str | None:
        """The value's text on the line of its key or `- `, or None for a block collection."""
        if isinstance(value, Mapping | list):
            if value:
                return None
            return "{}" if isinstance(value, Mapping) else "[]"
        return self.scalar(value)

    def member(self, key: str, value: Any, column: int) -> list[str]:
        """`key: value`, or `key:` and the block below it, the key at `column`."""
        head = " " * column + self.string(key) + ":"
        inline = self.inline(value)
        if inline is not None:
            return [head + " " + inline]
        if isinstance(value, Mapping):
            return [head, *self.mapping(value, column + self.mapping_indent)]
        return [head, *self.sequence(value, column + self.sequence_offset)]

    def mapping(self, value: Mapping[str, Any], column: int) -> list[str]:
        lines: list[str] = []
        for key, item in value.items():
            if not isinstance(key, str):
                raise _Decline
            lines += self.member(key, item, column)
        return lines

    def sequence(self, value: Sequence[Any], column: int) -> list[str]:
        lines: list[str] = []
        for item in value:
            lines += self.item(item, column)
        return lines

    def item(self, value: Any, dash: int) -> list[str]:
        """`- value`, the `-` at column `dash`; a mapping starts on the `- ` line."""
        inline = self.inline(value)
        if inline is not None:
            return [" " * dash + "- " + inline]
        if not isinstance(value, Mapping):
            raise _Decline  # a list in a list: `- - a`
        lines = self.mapping(value, dash + 2)
        return [" " * dash + "- " + lines[0][dash + 2 :], *lines[1:]]


# --- the text being edited -----------------------------------------------------------------------


def _is_blank(content: str) -> bool:
    return not content.strip()


def _is_comment(content: str) -> bool:
    return content.lstrip().startswith("#")


def _indent(content: str) -> int:
    return len(content) - len(content.lstrip(" "))


def _slides_over(content: str, width: int) -> bool:
    """A line a new or removed entry of indent `width` moves across (writeback's `_tidy`)."""
    return _is_blank(content) or (_is_comment(content) and _indent(content) <= width)


class _Text:
    """The body's lines as edited so far, each remembering the original line it is, if any."""

    def __init__(self, lines: list[str], render: _Render) -> None:
        self.lines = lines
        self.original = list(lines)  # for choices the ruamel path makes on the original text
        self.origin: list[int | None] = list(range(len(lines)))
        self.original_length = len(lines)
        self.render = render
        self._root: yaml.Node | None = None

    # --- reading ---

    def root(self) -> yaml.Node:
        if self._root is None:
            text = "".join(line + "\n" for line in self.lines)
            if _OTHER_BREAKS.search(text):
                raise _Decline
            try:
                with gc_paused():
                    root = yaml.compose(text, Loader=_SafeLoader)
            except yaml.YAMLError:
                raise _Decline from None
            if root is None:
                raise _Decline
            if ("*" in text or "<<" in text) and has_shared_nodes(root):
                raise _Decline  # a change would reach every use of an anchor
            self._root = root
        return self._root

    def _resolve(self, tokens: Sequence[str]) -> yaml.Node:
        node = self.root()
        for token in tokens:
            node = self._child(node, token)[1]
        return node

    @staticmethod
    def _child(node: yaml.Node, token: str) -> tuple[yaml.Node | None, yaml.Node]:
        """(key node or None, value node) of `token` in a block collection."""
        if isinstance(node, yaml.MappingNode) and not node.flow_style:
            for key_node, value_node in node.value:
                if key_node.tag == _STR_TAG and key_node.value == token:
                    return key_node, value_node
        elif (
            isinstance(node, yaml.SequenceNode)
            and not node.flow_style
            and token.isdigit()
            and int(token) < len(node.value)
        ):
            return None, node.value[int(token)]
        raise _Decline

    def _last_line(self, node: yaml.Node) -> int:
        """The last line holding the node's own text (block collections: their last item's)."""
        if isinstance(node, yaml.ScalarNode):
            if node.style in ("|", ">"):
                header = self.lines[node.start_mark.line][node.start_mark.column :]
                if "+" in header.split("#", 1)[0]:
                    raise _Decline  # keep chomping: the blank lines below are the value's
                end = node.end_mark.line - (node.end_mark.column == 0)
                while end > node.start_mark.line and _is_blank(self.lines[end]):
                    end -= 1
                return end
            return int(node.end_mark.line)
        if not isinstance(node, yaml.CollectionNode) or node.flow_style or not node.value:
            return int(node.end_mark.line)
        last = node.value[-1]
        return self._last_line(last[1] if isinstance(node, yaml.MappingNode) else last)

    def _insertion_point(self, after: int, width: int) -> int:
        """Where lines of indent `width` go after line `after`: past the comments and blank
        lines that follow it, then back over those not indented deeper than `width` (they head
        what comes next)."""
        position = after + 1
        while position < len(self.lines) and (
            _is_blank(self.lines[position]) or _is_comment(self.lines[position])
        ):
            position += 1
        while position > after + 1 and _slides_over(self.lines[position - 1], width):
            position -= 1
        return position

    # --- writing ---

    def _splice(self, start: int, end: int, new: list[str]) -> None:
        self.lines[start:end] = new
        self.origin[start:end] = [None] * len(new)
        self._root = None

    def edits(self) -> list[TextEdit]:
        """The edited lines as edits of the original body (untouched lines keep their bytes)."""
        edits: list[TextEdit] = []
        position = 0  # in the original
        pending: list[str] = []
        for line, origin in zip(self.lines, self.origin, strict=True):
            if origin is None:
                pending.append(line)
                continue
            if origin != position or pending:
                edits.append(TextEdit(position, origin, pending))
                pending = []
            position = origin + 1
        if position != self.original_length or pending:
            edits.append(TextEdit(position, self.original_length, pending))
        return edits

    # --- ops ---

    def apply(self, op: Mapping[str, Any]) -> None:
        name = op.get("op")
        if name == "test":
            return
        if name not in ("add", "replace", "remove"):
            raise _Decline
        tokens = split_pointer(op["path"])
        if not tokens:
            raise _Decline
        parent = self._resolve(tokens[:-1])
        token = tokens[-1]
        if isinstance(parent, yaml.MappingNode) and not parent.flow_style:
            existing = next(
                (
                    pair
                    for pair in parent.value
                    if pair[0].tag == _STR_TAG and pair[0].value == token
                ),
                None,
            )
            if name == "remove":
                if existing is None:
                    raise _Decline
                self._remove_member(parent, existing[0], existing[1])
            elif existing is not None:
                self._replace_scalar(existing[1], op["value"], existing[0])
            elif name == "add":
                self._add_member(parent, token, op["value"])
            else:
                raise _Decline
        elif isinstance(parent, yaml.SequenceNode) and not parent.flow_style:
            count = len(parent.value)
            if name == "add" and (token == "-" or token == str(count)):
                self._append_item(parent, op["value"])
            elif name == "replace" and token.isdigit() and int(token) < count:
                self._replace_scalar(parent.value[int(token)], op["value"], None)
            else:
                raise _Decline
        else:
            raise _Decline

    def _replace_scalar(self, old: yaml.Node, value: Any, key: yaml.Node | None) -> None:
        """A one-line scalar that ends its `key: value` / `- value` line gets a new scalar."""
        if not isinstance(old, yaml.ScalarNode) or isinstance(value, Mapping | list):
            raise _Decline
        start, end = old.start_mark, old.end_mark
        if old.style not in ("", None, "'", '"') or start.line != end.line:
            raise _Decline
        number = start.line
        line = self.lines[number]
        raw = line[start.column : end.column]
        if old.style in ("", None):
            # An empty value (`key:`) has no text; anything else is exactly the value (no
            # tag, no anchor).
            if raw != old.value:
                raise _Decline
        elif not (len(raw) >= 2 and raw[0] == raw[-1] == old.style):
            raise _Decline
        before = line[: start.column]
        if key is not None:
            # `key: value`, as ruamel writes it: the key alone before the value, one space.
            if key.start_mark.line != number or _key_prefix(line, key) is None:
                raise _Decline
            expected_before = line[: key.end_mark.column] + (": " if raw else ":")
            if before != expected_before:
                raise _Decline
        elif not re.fullmatch(r" *- ", before):
            raise _Decline
        rest = line[end.column :]
        if rest.strip() and not _COMMENT_AFTER.match(rest):
            raise _Decline
        text = self._styled(old, value)
        if text != raw and _same_scalar(_read(raw), value):
            raise _Decline  # the same value spelled otherwise (`~`, `yes`): ruamel's choice
        code = (before if raw or not before.endswith(":") else before + " ") + text
        if not rest.strip():
            new = code
        else:
            comment = rest.lstrip(" \t")
            gap = rest[: len(rest) - len(comment)]
            column = len(line) - len(comment)
            # The neighbours as they were: the ruamel path decides on the original text, so an
            # earlier op on the next line must not change this one's layout.
            at = self.origin[number]
            lines, here = (self.lines, number) if at is None else (self.original, at)
            neighbours = [lines[n] for n in (here - 1, here + 1) if 0 <= n < len(lines)]
            if any(comment_start(other) == column for other in neighbours):
                # A column of comments: ruamel keeps the column (at least one space before).
                gap = " " * max(1, column - len(code))
            new = code + gap + comment
        if new != line:
            self._splice(number, number + 1, [new])

    def _styled(self, old: yaml.ScalarNode, value: Any) -> str:
        """The new scalar's text, quoted as patch_engine's `_styled_like` has ruamel write it."""
        if not isinstance(value, str) or old.style not in ("'", '"'):
            return self.render.scalar(value)
        rendered = self.render.string(value)
        if rendered != value or quoted_by_necessity(old.value):
            return rendered  # quoted because it must be, or plain: the old quotes said nothing
        return old.style + value + old.style

    def _add_member(self, mapping: yaml.MappingNode, key: str, value: Any) -> None:
        first_key = mapping.value[0][0]
        column = int(first_key.start_mark.column)
        for key_node, _ in mapping.value:
            if _key_prefix(self.lines[key_node.start_mark.line], key_node) is None:
                raise _Decline
        new = self.render.member(key, value, column)
        at = self._insertion_point(self._last_line(mapping), column)
        if isinstance(value, list) and value and self.render.sequence_offset == 0:
            new[1:] = _shifted(new[1:], self._dash_run_shift(mapping, at, column))
        self._splice(at, at, new)

    def _dash_run_shift(self, mapping: yaml.MappingNode, at: int, column: int) -> int:
        """How far the ruamel path moves the `- ` items of a new `key:` list in the key's column.

        It re-indents new lines run by run, and such items are a run of their own: they move
        like the nearest list item above in that column, else like the nearest line left of
        it (writeback's `_Alignment.indent_shift`), as far as ruamel's uniform rendering of
        that line differs from the file's. Where the file writes its lists alike, that is 0;
        `drop:` over `  - ALL` makes it 2. Columns here are relative to the mapping's keys.
        """
        rendered: dict[int, tuple[int, bool, int]] = {}  # line -> ruamel's indent, `- `, content
        self._rendered_columns(mapping, 0, rendered)
        number = at - 1
        while number >= 0 and self.origin[number] is None:
            number -= 1  # lines an earlier op put here: the ruamel path looks above them all
        first = int(mapping.start_mark.line)
        parent: int | None = None
        while number >= first and parent is None:
            if self.origin[number] is None:
                raise _Decline
            entry = rendered.get(number)
            if entry is not None:
                indent, dash, content = entry
                shift = _indent(self.lines[number]) - column - indent
                if dash and indent == 0:
                    return shift  # an item in the same column
                if content < 0 or (not dash and indent == 0):
                    parent = shift
            number -= 1
        if parent is None:
            raise _Decline
        # Below, what follows the mapping is left of it, unless it is the next `- ` item of a
        # list the mapping is an item of: that could count as an item in the same column.
        below = at
        while below < len(self.lines) and (
            self.origin[below] is None
            or _is_blank(self.lines[below])
            or _is_comment(self.lines[below])
        ):
            below += 1
        if below < len(self.lines) and self.lines[below].lstrip(" ").startswith("-"):
            raise _Decline
        return parent

    def _rendered_columns(
        self, mapping: yaml.MappingNode, key: int, out: dict[int, tuple[int, bool, int]]
    ) -> None:
        """Where ruamel writes the lines that start the mapping's keys and items (indent,
        whether it is a `- ` line, where its content starts), keys at column `key`."""
        for key_node, value in mapping.value:
            number = key_node.start_mark.line
            if _key_prefix(self.lines[number], key_node) is None:
                raise _Decline
            if self.lines[number][: key_node.start_mark.column].strip():
                out.setdefault(number, (key - 2, True, key))  # the first key of a `- ` item
            else:
                out.setdefault(number, (key, False, key))
            self._rendered_value(value, key, out)

    def _rendered_value(
        self, value: yaml.Node, key: int, out: dict[int, tuple[int, bool, int]]
    ) -> None:
        if isinstance(value, yaml.MappingNode) and not value.flow_style:
            self._rendered_columns(value, key + self.render.mapping_indent, out)
        elif isinstance(value, yaml.SequenceNode) and not value.flow_style:
            self._rendered_items(value, key + self.render.sequence_offset, out)

    def _rendered_items(
        self, sequence: yaml.SequenceNode, dash: int, out: dict[int, tuple[int, bool, int]]
    ) -> None:
        for item in sequence.value:
            number = item.start_mark.line
            column = item.start_mark.column
            if self.lines[number][column - 2 : column] != "- ":
                raise _Decline  # the item is not on its `- ` line
            out.setdefault(number, (dash, True, dash + 2))
            if isinstance(item, yaml.MappingNode) and not item.flow_style:
                self._rendered_columns(item, dash + 2, out)
            elif isinstance(item, yaml.SequenceNode) and not item.flow_style:
                self._rendered_items(item, dash + 2, out)

    def _append_item(self, sequence: yaml.SequenceNode, value: Any) -> None:
        last = sequence.value[-1]
        line = self.lines[last.start_mark.line]
        dash = last.start_mark.column - 2
        # `- item` as ruamel writes it: the `-` first on its line, one space after it.
        if (
            dash < 0
            or line[dash : dash + 2] != "- "
            or line[:dash].strip()
            or line[dash + 2 : dash + 3] == " "
        ):
            raise _Decline
        new = self.render.item(value, dash)
        at = self._insertion_point(self._last_line(sequence), dash)
        self._splice(at, at, new)

    def _remove_member(self, mapping: yaml.MappingNode, key: yaml.Node, value: yaml.Node) -> None:
        if len(mapping.value) < 2:
            raise _Decline  # ruamel writes `{}` on the parent's line
        first = key.start_mark.line
        line = self.lines[first]
        if _key_prefix(line, key) is None or line[: key.start_mark.column].strip():
            raise _Decline  # on a `- ` line: the next key would have to move up onto it
        width = int(key.start_mark.column)
        end = self._insertion_point(self._last_line(value), width)
        start = first
        while start > 0 and _is_comment(self.lines[start - 1]):
            if _indent(self.lines[start - 1]) != width:
                break
            start -= 1
        if (
            start > 0
            and _is_blank(self.lines[start - 1])
            and end < len(self.lines)
            and _is_blank(self.lines[end])
        ):
            end += 1  # one blank line between the neighbours, not two
        self._splice(start, end, [])


def _read(text: str) -> Any:
    """A scalar's text as the loader reads it."""
    try:
        return yaml.load(text, Loader=StrictLoader)
    except yaml.YAMLError:
        raise _Decline from None


def _same_scalar(left: Any, right: Any) -> bool:
    return type(left) is type(right) and bool(left == right)


def _shifted(lines: list[str], shift: int) -> list[str]:
    """Lines moved right (or left) by `shift` columns, as writeback's `_reindented` moves them."""
    if shift < 0 and any(_indent(line) < -shift for line in lines):
        return lines
    if shift >= 0:
        return [" " * shift + line for line in lines]
    return [line[-shift:] for line in lines]


def _key_prefix(line: str, key: yaml.Node) -> str | None:
    """The line up to the key's `:`, if it is written as ruamel writes it: a one-line scalar,
    first on its line or after one `- `, and right before its `:`."""
    if not isinstance(key, yaml.ScalarNode) or key.start_mark.line != key.end_mark.line:
        return None
    if key.style not in ("", None, "'", '"'):
        return None
    if not _KEY_START.fullmatch(line[: key.start_mark.column]):
        return None
    if line[key.end_mark.column : key.end_mark.column + 1] != ":":
        return None
    return line[: key.end_mark.column]


def comment_start(line: str) -> int | None:
    """Index of the `#` that starts the line's comment (outside quotes), if it has one."""
    quote = ""
    previous = " "
    index = 0
    while index < len(line):
        char = line[index]
        if quote == "'":
            if char == "'":
                if line[index + 1 : index + 2] == "'":
                    index += 1  # '' is an escaped quote
                else:
                    quote = ""
        elif quote == '"':
            if char == "\\":
                index += 1
            elif char == '"':
                quote = ""
        elif char == "#" and previous in " \t":
            return index
        elif char in "'\"" and previous in " \t[{,:-":
            quote = char
        previous = char
        index += 1
    return None
