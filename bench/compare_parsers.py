"""Compare the fast YAML parsers on PyPI with netfix's loader: speed, same objects, errors.

    pip install rapidyaml deprecation ryaml yaml-rs pyyaml-rs fastyaml-rs   # the candidates
    python bench/compare_parsers.py                 # writes its tables to stdout
    python bench/compare_parsers.py --no-speed      # equivalence only (fast)

The reference is netfix's own loader (kubectl_netfix.loader.parse_text: libyaml through PyYAML,
YAML 1.1 as kubectl reads it, timestamps and sexagesimals kept as strings, duplicate keys
refused). A candidate passes a file when it gives, document by document, objects equal to ours
with the same Python types (True is not 1, 1 is not 1.0, key order kept), and fails where we
report an error. Candidates that are not installed are skipped.

Sections: speed on bench/generate.py's 10k-object stream (CPU, GC paused as the loader does);
every file of ../shared/corpus and tests/fixtures; YAML 1.1 cases kubectl manifests do contain;
how each reports a duplicate key and a syntax error.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import math
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CORPUS = ROOT.parent / "shared" / "corpus"
FIXTURES = ROOT / "tests" / "fixtures"

sys.path.insert(0, str(ROOT / "src"))
from kubectl_netfix.loader import decode, parse_text  # noqa: E402

Loader = Callable[[str, int], list[Any]]  # (text, number of documents we found) -> documents


@dataclass
class Candidate:
    name: str  # as on PyPI
    module: str
    load: Loader | None = None
    version: str = "-"
    note: str = ""


def _yaml_rs(text: str, documents: int) -> list[Any]:
    import yaml_rs

    result = yaml_rs.loads(text, parse_datetime=False)
    # One document comes back bare, several as a list: only the count tells a one-document
    # list from a stream (an ambiguity of the API).
    return [result] if documents <= 1 else list(result)


def _ryaml(text: str, documents: int) -> list[Any]:
    import ryaml

    return list(ryaml.loads_all(text))


def _fastyaml(text: str, documents: int) -> list[Any]:
    import fast_yaml

    return list(fast_yaml.safe_load_all(text))


def _pyyaml_rs(text: str, documents: int) -> list[Any]:
    import pyyaml_rs

    return list(pyyaml_rs.safe_load_all(text))


def _pyyaml_c(text: str, documents: int) -> list[Any]:
    import yaml

    return list(yaml.load_all(text, Loader=yaml.CSafeLoader))


def _ryml(text: str, documents: int) -> list[Any]:
    """rapidyaml gives a tree, not objects: walk it in Python, resolving plain scalars with
    netfix's own YAML 1.1 resolver (the fairest conversion there is)."""
    import ryml

    from kubectl_netfix.loader import _plain_scalar_resolver

    cache, resolve_plain = _plain_scalar_resolver()
    tree = ryml.parse_in_arena(text.encode())
    tree.resolve()  # aliases become copies

    def scalar(data: Any, quoted: bool) -> Any:
        value = bytes(data).decode() if data is not None else ""
        if quoted:
            return value
        found = cache.get(value, cache)
        return resolve_plain(value) if found is cache else found

    def node(index: int) -> Any:
        if tree.is_map(index):
            result: dict[Any, Any] = {}
            child = tree.first_child(index)
            while child != ryml.NONE:
                key = scalar(tree.key(child), tree.is_key_quoted(child))
                result[key] = node(child)
                child = tree.next_sibling(child)
            return result
        if tree.is_seq(index):
            items = []
            child = tree.first_child(index)
            while child != ryml.NONE:
                items.append(node(child))
                child = tree.next_sibling(child)
            return items
        if tree.val_is_null(index):
            return None
        return scalar(tree.val(index), tree.is_val_quoted(index))

    root = tree.root_id()
    if tree.is_stream(root):
        docs = []
        child = tree.first_child(root)
        while child != ryml.NONE:
            docs.append(node(child))
            child = tree.next_sibling(child)
        return docs
    return [node(root)]


CANDIDATES = [
    Candidate("PyYAML (CSafeLoader)", "yaml", _pyyaml_c, note="the baseline parse"),
    Candidate("yaml-rs", "yaml_rs", _yaml_rs),
    Candidate("ryaml", "ryaml", _ryaml),
    Candidate("fastyaml-rs", "fast_yaml", _fastyaml),
    Candidate("pyyaml-rs", "pyyaml_rs", _pyyaml_rs),
    Candidate("rapidyaml", "ryml", _ryml, note="tree + Python walk"),
]


def available() -> list[Candidate]:
    from importlib import metadata

    found = []
    for candidate in CANDIDATES:
        try:
            importlib.import_module(candidate.module)
        except ImportError as exc:
            print(f"<!-- {candidate.name}: not installed ({exc}) -->")
            continue
        dist = "PyYAML" if candidate.module == "yaml" else candidate.name
        with contextlib.suppress(metadata.PackageNotFoundError):
            candidate.version = metadata.version(dist)
        found.append(candidate)
    return found


# --- ours --------------------------------------------------------------------------------------


def ours(path: str, text: str) -> tuple[list[Any], list[str]]:
    source = parse_text(path, text)
    return [doc.data for doc in source.documents], [str(e) for e in source.errors]


def same(left: Any, right: Any) -> bool:
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return [(type(k), k) for k in left] == [(type(k), k) for k in right] and all(
            same(left[k], right[k]) for k in left
        )
    if isinstance(left, list):
        return len(left) == len(right) and all(same(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, float) and math.isnan(left):
        return math.isnan(right)
    return bool(left == right)


def first_difference(left: Any, right: Any, where: str = "") -> str:
    if type(left) is not type(right):
        return f"{where or '/'}: ours {left!r:.40} vs {right!r:.40}"
    if isinstance(left, dict):
        for key in left:
            if key not in right:
                return f"{where}/{key}: missing"
            if not same(left[key], right[key]):
                return first_difference(left[key], right[key], f"{where}/{key}")
        return f"{where or '/'}: keys {list(left)[:4]} vs {list(right)[:4]}"
    if isinstance(left, list):
        for number, (a, b) in enumerate(zip(left, right, strict=False)):
            if not same(a, b):
                return first_difference(a, b, f"{where}/{number}")
        return f"{where or '/'}: {len(left)} vs {len(right)} items"
    return f"{where or '/'}: ours {left!r:.40} vs {right!r:.40}"


# --- sections ----------------------------------------------------------------------------------


def stream_path() -> Path:
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    path = out / "parsers-10000.yaml"
    if not path.exists():
        with path.open("w") as handle:
            subprocess.run(
                [sys.executable, str(HERE / "generate.py"), "10000"], stdout=handle, check=True
            )
    return path


def best_cpu(function: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            start = time.process_time()
            function()
            best = min(best, time.process_time() - start)
        finally:
            gc.enable()
    return best


def section_speed(candidates: list[Candidate], repeat: int) -> None:
    path = stream_path()
    text = path.read_text()
    size = len(text.encode()) / 1e6
    documents = len(ours(str(path), text)[0])
    print(f"## Speed: {size:.1f} MB, {documents} documents (CPU s, best of {repeat})\n")
    print("| parser | version | s | MB/s | vs PyYAML C loader | same objects here |")
    print("|---|---|---:|---:|---:|---|")
    reference = ours(str(path), text)[0]
    rows: list[tuple[str, str, float, str]] = [
        ("netfix loader (libyaml events)", "-", best_cpu(lambda: ours("x", text), repeat), "yes")
    ]
    for candidate in candidates:
        assert candidate.load is not None
        load = candidate.load
        try:
            result = load(text, documents)
            verdict = "yes" if same(reference, result) else "NO"
            seconds = best_cpu(lambda load=load: load(text, documents), repeat)  # type: ignore[misc]
        except Exception as exc:  # a candidate that cannot read the stream
            rows.append((candidate.name, candidate.version, float("nan"), f"error: {exc}"[:60]))
            continue
        rows.append((candidate.name, candidate.version, seconds, verdict))
    base = next(r[2] for r in rows if r[0].startswith("PyYAML"))
    for name, version, seconds, verdict in rows:
        if math.isnan(seconds):
            print(f"| {name} | {version} | - | - | - | {verdict} |")
            continue
        print(
            f"| {name} | {version} | {seconds:.2f} | {size / seconds:.1f} "
            f"| {base / seconds:.2f}x | {verdict} |"
        )
    print()


def manifest_files() -> list[Path]:
    files = [p for p in sorted(CORPUS.rglob("*")) if p.is_file() and p.name != "SOURCE.md"]
    files += sorted(p for p in FIXTURES.rglob("*") if p.suffix in (".yaml", ".yml", ".json"))
    return files


def section_files(candidates: list[Candidate]) -> None:
    files = manifest_files()
    print(f"## Same objects as netfix's loader: {len(files)} files (corpus and test fixtures)\n")
    print("| parser | same | different | accepted what we reject | rejected what we accept |")
    print("|---|---:|---:|---:|---:|")
    details: dict[str, list[str]] = {}
    for candidate in candidates:
        assert candidate.load is not None
        counts = [0, 0, 0, 0]
        for path in files:
            try:
                text, _bom = decode(str(path), path.read_bytes())
            except Exception:
                continue
            reference, errors = ours(str(path), text)
            try:
                result = candidate.load(text, len(reference))
            except Exception as exc:
                if errors:
                    counts[0] += 1
                else:
                    counts[3] += 1
                    details.setdefault(candidate.name, []).append(
                        f"{path.relative_to(ROOT.parent)}: rejected ({str(exc).splitlines()[0]})"
                    )
                continue
            if errors:
                counts[2] += 1
                details.setdefault(candidate.name, []).append(
                    f"{path.relative_to(ROOT.parent)}: accepted; we say {errors[0]}"
                )
            elif same(reference, result):
                counts[0] += 1
            else:
                counts[1] += 1
                details.setdefault(candidate.name, []).append(
                    f"{path.relative_to(ROOT.parent)}: {first_difference(reference, result)}"
                )
        print(f"| {candidate.name} | {' | '.join(str(c) for c in counts)} |")
    print()
    for name, lines in details.items():
        print(f"{name}:")
        for line in lines[:6]:
            print(f"- {line}")
        if len(lines) > 6:
            print(f"- ... and {len(lines) - 6} more")
        print()


EDGE_CASES = {
    "`defaultMode: 0644` (octal)": "a: 0644\n",
    "`enabled: yes`": "a: yes\n",
    "`on:` as a key": "on: push\n",
    "`1e3` (no dot: a string in 1.1)": "a: 1e3\n",
    "`1_000`": "a: 1_000\n",
    "`0o17` (1.2 octal)": "a: 0o17\n",
    "`2024-01-01` (string, like kubectl)": "a: 2024-01-01\n",
    "`1:20` (sexagesimal, string)": "a: 1:20\n",
    "merge key `<<: *base`": "x: &x {b: 1}\ny:\n  <<: *x\n  c: 2\n",
    "custom tag `!Ref x` (error)": "a: !Ref x\n",
    "duplicate anchor (error)": "a: &x 1\nb: &x 2\n",
    "tab after `:`": "a:\tb\n",
    "big integer": "a: 123456789012345678901234567890\n",
}


def section_edges(candidates: list[Candidate]) -> None:
    print("## YAML 1.1 as kubectl reads it: cases real manifests contain\n")
    names = [c.name for c in candidates]
    print("| case | netfix | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for label, text in EDGE_CASES.items():
        reference, errors = ours("case.yaml", text)
        shown = "error" if errors else repr(reference[0]).replace("|", "\\|")
        cells = []
        for candidate in candidates:
            assert candidate.load is not None
            try:
                result = candidate.load(text, len(reference))
            except Exception:
                cells.append("same" if errors else "error")
                continue
            if errors:
                cells.append(f"accepts: {result[0]!r:.24}".replace("|", "\\|"))
            else:
                verdict = "same" if same(reference, result) else f"{result[0]!r:.24}"
                cells.append(verdict.replace("|", "\\|"))
        print(f"| {label} | {shown} | " + " | ".join(cells) + " |")
    print()


ERROR_CASES = {
    "duplicate key (line 3)": "a: 1\nb:\n  c: 1\n  c: 2\n",
    "syntax error (line 3)": "a: 1\nb: [1,\nc: 2\n",
}


def section_errors(candidates: list[Candidate]) -> None:
    print("## Errors: does it fail, and does the message name the line?\n")
    print("| parser | " + " | ".join(ERROR_CASES) + " |")
    print("|---|" + "---|" * len(ERROR_CASES))
    for candidate in candidates:
        assert candidate.load is not None
        cells = []
        for text in ERROR_CASES.values():
            try:
                candidate.load(text, 1)
            except Exception as exc:
                message = str(exc).replace("\n", " ")
                line = re.search(r"line (\d+)", message)
                cells.append(f"error, line {line.group(1)}" if line else "error, no line")
            else:
                cells.append("**accepted**")
        print(f"| {candidate.name} | " + " | ".join(cells) + " |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    candidates = available()
    print()
    if not args.no_speed:
        section_speed(candidates, args.repeat)
    others = [c for c in candidates if c.module != "yaml"]
    section_files(others)
    section_edges(others)
    section_errors(others)


if __name__ == "__main__":
    main()
