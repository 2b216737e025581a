"""File mode: read every named input, keep going past bad ones, and resolve line numbers."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from kubectl_netfix.loader import InputError, SourceFile, expand_paths, objects_of, read_source
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


def load_files(paths: Sequence[str], recursive: bool, default_namespace: str) -> FileSet:
    fileset = FileSet()
    seen: set[str] = set()
    for path in expand_paths(paths, recursive):
        # A file named twice (or also found under a named directory) is read once.
        identity = path if path == "-" else os.path.realpath(path)
        if identity in seen:
            continue
        seen.add(identity)
        try:
            source = read_source(path)
        except InputError as exc:
            fileset.errors.append(exc)
            continue
        fileset.sources[source.path] = source
        fileset.errors.extend(source.errors)
        fileset.objects.extend(objects_of(source, default_namespace))
    return fileset
