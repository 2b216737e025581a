"""File mode: read every named input, keep going past bad ones, and resolve line numbers."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from kubectl_netfix.loader import (
    InputError,
    SourceFile,
    expand_paths,
    gc_paused,
    objects_of,
    read_source,
)
from kubectl_netfix.model import FileOrigin, KubeObject


@dataclass
class FileSet:
    sources: dict[str, SourceFile] = field(default_factory=dict)
    objects: list[KubeObject] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)

    def line_of(self, obj: KubeObject, pointer: str) -> int | None:
        origin = obj.origin
        if not isinstance(origin, FileOrigin):
            return None
        source = self.sources.get(origin.path)
        if source is None:
            return origin.line
        return source.line_of(origin.doc_index, origin.pointer_prefix + pointer)

    def resolve_lines(self, wanted: Iterable[tuple[KubeObject, str]]) -> None:
        """Find the lines of many (object, pointer) pairs at once: one walk per document,
        however many findings it has; line_of then answers from the cache."""
        by_document: dict[tuple[str, int], list[str]] = {}
        for obj, pointer in wanted:
            origin = obj.origin
            if isinstance(origin, FileOrigin) and origin.path in self.sources:
                key = (origin.path, origin.doc_index)
                by_document.setdefault(key, []).append(origin.pointer_prefix + pointer)
        for (path, doc_index), pointers in by_document.items():
            self.sources[path].resolve_lines(doc_index, pointers)


def load_files(paths: Sequence[str], recursive: bool, default_namespace: str) -> FileSet:
    fileset = FileSet()
    with gc_paused():  # parsing and making the objects: millions of containers, no cycles
        for path in _unique(expand_paths(paths, recursive)):
            if isinstance(path, InputError):
                fileset.errors.append(path)
                continue
            try:
                source = read_source(path)
            except InputError as exc:
                fileset.errors.append(exc)
                continue
            fileset.sources[source.path] = source
            fileset.errors.extend(source.errors)
            fileset.objects.extend(objects_of(source, default_namespace))
    return fileset


def _unique(paths: Iterable[str | InputError]) -> Iterator[str | InputError]:
    seen: set[str] = set()
    for path in paths:
        if isinstance(path, InputError):
            yield path
            continue
        # A file named twice (or also found under a named directory) is read once.
        identity = path if path == "-" else os.path.realpath(path)
        if identity in seen:
            continue
        seen.add(identity)
        yield path
