"""The units every other module speaks: objects, where they came from, findings and fixes.

Rules see plain dicts (as YAML or the API server gives them), never YAML nodes or client models.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

JsonObject = dict[str, Any]
PatchOp = dict[str, Any]


class Severity(enum.IntEnum):
    """Ordered so that `severity >= threshold` reads naturally."""

    INFO = 1
    WARNING = 2
    ERROR = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            choices = ", ".join(s.label for s in cls)
            raise ValueError(f"unknown severity {text!r} (choose from {choices})") from None


class Applicability(enum.IntEnum):
    """How freely a fix may be applied, ordered as in ruff: safe < unsafe < manual."""

    SAFE = 1  # applied by --write / --apply
    UNSAFE = 2  # changes behaviour: only with --unsafe-fixes
    MANUAL = 3  # shown, never applied (immutable field, needs a human decision)

    @property
    def label(self) -> str:
        return self.name.lower()


class Fixability(enum.Enum):
    """What a rule promises about fixes, shown by `rules` and `explain`."""

    NEVER = "never"
    SOMETIMES = "sometimes"
    ALWAYS = "always"


@dataclass(frozen=True, order=True)
class ObjectRef:
    api_version: str
    kind: str
    namespace: str | None  # None for cluster-scoped kinds
    name: str

    def __str__(self) -> str:
        if self.namespace:
            return f"{self.kind}/{self.namespace}/{self.name}"
        return f"{self.kind}/{self.name}"

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0] if "/" in self.api_version else ""


@dataclass(frozen=True)
class FileOrigin:
    """Where a file object lives: `pointer_prefix` is `/items/3` for an item of a `kind: List`."""

    path: str  # as the user named it; "-" for stdin
    doc_index: int  # index of the document in the file's YAML stream
    pointer_prefix: str
    line: int  # 1-based line of the object's first key

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True)
class ClusterOrigin:
    context: str
    resource_version: str


Origin = FileOrigin | ClusterOrigin


@dataclass(eq=False)
class KubeObject:
    body: JsonObject
    ref: ObjectRef
    origin: Origin

    @property
    def kind(self) -> str:
        return self.ref.kind

    @property
    def namespace(self) -> str | None:
        return self.ref.namespace

    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def metadata(self) -> JsonObject:
        meta = self.body.get("metadata")
        return meta if isinstance(meta, dict) else {}

    @property
    def labels(self) -> Mapping[str, str]:
        labels = self.metadata.get("labels")
        return labels if isinstance(labels, dict) else {}

    @property
    def annotations(self) -> Mapping[str, str]:
        annotations = self.metadata.get("annotations")
        return annotations if isinstance(annotations, dict) else {}

    @property
    def spec(self) -> JsonObject:
        spec = self.body.get("spec")
        return spec if isinstance(spec, dict) else {}


@dataclass(frozen=True)
class ObjectPatch:
    """An RFC 6902 op list for one target object; pointers are relative to the object."""

    target: KubeObject
    ops: Sequence[PatchOp]


@dataclass(frozen=True)
class Fix:
    title: str  # imperative: "Allow DNS (UDP and TCP 53) to kube-dns"
    applicability: Applicability
    patches: Sequence[ObjectPatch] = ()
    # For manual fixes, and for anything a user must know before applying (e.g. a restart).
    note: str = ""
    # A fix that must create an object carries it here; it is never `safe`.
    creates: Sequence[JsonObject] = ()


@dataclass(frozen=True)
class Finding:
    rule_id: str
    severity: Severity
    obj: KubeObject
    pointer: str  # JSON pointer into obj.body, for the line number
    message: str
    fix: Fix | None = None
    related: Sequence[KubeObject] = field(default=())
