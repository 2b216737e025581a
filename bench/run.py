"""Benchmarks for file mode and start-up, each target printed as a ratio measured in one run.

    python bench/run.py                       # everything (about 10 minutes on 2 cores)
    python bench/run.py table --sizes 1000 10000
    python bench/run.py selectors fix startup

Sections:
  table      `check` against a bare PyYAML C-loader parse of the same bytes (fresh processes),
             for 1k, 10k and 50k objects of bench/generate.py's realistic stream, and how the
             time per object scales against linear.
  selectors  2k NetworkPolicies and 20k pod templates in ONE namespace: selector matching
             through the inventory's label index against a naive scan of every template.
  fix        `fix --write` on a copy of ../shared/corpus against `check` on the same files, and
             how many documents the text fast path wrote and how many went through ruamel.yaml.
  startup    `kubectl-netfix version` and `check -f small.yaml` wall time (hyperfine when it is
             installed), and the `python -X importtime` top entries of `check`.

Every figure is the best of --repeat runs: on a shared machine the minimum is the figure least
disturbed by other work. CPU is user+system of the child process, wall is elapsed time; ratios
are given for both. Inputs go to bench/out/ (not checked in).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
CORPUS = ROOT.parent / "shared" / "corpus"
PYTHON = sys.executable

BARE_PARSE = (
    "import sys, yaml\n"
    "data = open(sys.argv[1], 'rb').read()\n"
    "list(yaml.load_all(data, Loader=yaml.CSafeLoader))\n"
)
SMALL_YAML = """\
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  selector:
    app: web
  ports:
  - port: 80
    targetPort: http
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports:
        - name: http
          containerPort: 8080
"""


@dataclass
class Run:
    wall: float  # seconds
    cpu: float  # user + system seconds of the child
    rss_mb: float  # peak resident set


def measure(command: Sequence[str], repeat: int, env: dict[str, str] | None = None) -> Run:
    """Best wall, best CPU and lowest peak RSS of `repeat` runs of `command`."""
    best = Run(float("inf"), float("inf"), float("inf"))
    for _ in range(repeat):
        start = time.perf_counter()
        process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
        )
        _pid, _status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        best.wall = min(best.wall, wall)
        best.cpu = min(best.cpu, usage.ru_utime + usage.ru_stime)
        best.rss_mb = min(best.rss_mb, usage.ru_maxrss / 1024)
    return best


def netfix(*args: str) -> list[str]:
    return [PYTHON, "-m", "kubectl_netfix", *args]


def ensure_input(name: str, *generator_args: str) -> Path:
    """Generate bench/out/NAME once per generator version (the file name carries its mtime)."""
    OUT.mkdir(exist_ok=True)
    stamp = int((HERE / "generate.py").stat().st_mtime)
    path = OUT / f"{name}-{stamp}.yaml"
    if not path.exists():
        for stale in OUT.glob(f"{name}-*.yaml"):
            stale.unlink()
        print(f"  generating {path.name} ...", file=sys.stderr, flush=True)
        with path.open("w") as handle:
            subprocess.run(
                [PYTHON, str(HERE / "generate.py"), *generator_args], stdout=handle, check=True
            )
    return path


def small_file() -> Path:
    OUT.mkdir(exist_ok=True)
    path = OUT / "small.yaml"
    if not path.exists() or path.read_text() != SMALL_YAML:
        path.write_text(SMALL_YAML)
    return path


# --- table and scaling ---------------------------------------------------------------------------


def section_table(sizes: Sequence[int], repeat: int) -> None:
    print(f"## check vs a bare C-loader parse (best of {repeat}, fresh processes)\n")
    empty = OUT / "empty.yaml"
    OUT.mkdir(exist_ok=True)
    empty.write_text("")
    start_up = measure(netfix("check", "-f", str(empty), "--fail-on=none"), repeat)
    bare_start_up = measure([PYTHON, "-c", BARE_PARSE, str(empty)], repeat)
    rows = []
    for count in sizes:
        path = ensure_input(f"apps-{count}", str(count))
        size_mb = path.stat().st_size / 1e6
        times = max(1, repeat if count <= 10000 else repeat - 1)
        bare = measure([PYTHON, "-c", BARE_PARSE, str(path)], times)
        check = measure(netfix("check", "-f", str(path), "--fail-on=none"), times)
        rows.append((count, size_mb, bare, check))
    print(
        "| objects | MB | C parse s | check s | ratio | ratio (wall) | MB/s | µs/object "
        "| check peak RSS MB |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for count, size_mb, bare, check in rows:
        print(
            f"| {count} | {size_mb:.1f} | {bare.cpu:.2f} | {check.cpu:.2f} "
            f"| {check.cpu / bare.cpu:.2f} | {check.wall / bare.wall:.2f} "
            f"| {size_mb / check.cpu:.1f} | {1e6 * check.cpu / count:.0f} | {check.rss_mb:.0f} |"
        )
    print(
        f"\n(s = CPU seconds, user+system; MB/s and µs/object from `check` CPU time; "
        f"`check` of an empty file, the fixed start-up cost: {start_up.cpu * 1000:.0f} ms CPU)"
    )
    if len(rows) > 1:
        base_count, _mb, base_bare, base = rows[0]
        base_rate = (base.cpu - start_up.cpu) / base_count
        base_bare_rate = (base_bare.cpu - bare_start_up.cpu) / base_count
        print(f"\nscaling: time per object relative to {base_count} objects (1.00 = linear)")
        print(
            "| objects | check per object | without start-up | bare parse, without start-up "
            "| check relative to the bare parse's own scaling |"
        )
        print("|---:|---:|---:|---:|---:|")
        for count, _mb, bare, check in rows:
            raw = (check.cpu / count) / (base.cpu / base_count)
            net = ((check.cpu - start_up.cpu) / count) / base_rate
            bare_net = ((bare.cpu - bare_start_up.cpu) / count) / base_bare_rate
            print(f"| {count} | {raw:.2f} | {net:.2f} | {bare_net:.2f} | {net / bare_net:.2f} |")
    print()


# --- selectors -----------------------------------------------------------------------------------

SELECTOR_PROBE = """
import gc, json, sys, time
from kubectl_netfix import label_selectors
from kubectl_netfix.files import load_files
from kubectl_netfix.inventory import Inventory

fileset = load_files([sys.argv[1]], False, "default")
gc.freeze()
start = time.perf_counter()
inventory = Inventory(fileset.objects)
indexing = time.perf_counter() - start
policies = [o for o in fileset.objects if o.kind == "NetworkPolicy"]
namespace = policies[0].namespace
selectors = [p.body["spec"]["podSelector"] for p in policies]
templates = inventory.pod_templates(namespace)

start = time.perf_counter()
indexed = [inventory.pods_matching(namespace, s) for s in selectors]
index_time = time.perf_counter() - start
# The naive scan on every 20th selector (the whole set takes minutes), scaled up.
step = 20
start = time.perf_counter()
naive = [[t for t in templates if label_selectors.matches(s, t.labels)] for s in selectors[::step]]
naive_time = (time.perf_counter() - start) * len(selectors) / len(selectors[::step])
assert [[id(t) for t in m] for m in indexed[::step]] == [[id(t) for t in m] for m in naive]
print(json.dumps({
    "policies": len(policies), "templates": len(templates), "indexing": indexing,
    "index": index_time, "naive": naive_time, "matches": sum(len(m) for m in indexed),
    "sampled": len(selectors[::step]),
}))
"""


def section_selectors(repeat: int) -> None:
    print("## selector matching: one namespace, 20k pod templates, 2k NetworkPolicies\n")
    path = ensure_input("selectors-20000-2000", "--selectors", "20000", "2000")
    result = json.loads(
        subprocess.run(
            [PYTHON, "-c", SELECTOR_PROBE, str(path)], capture_output=True, text=True, check=True
        ).stdout
    )
    bare = measure([PYTHON, "-c", BARE_PARSE, str(path)], repeat)
    check = measure(netfix("check", "-f", str(path), "--fail-on=none"), repeat)
    print("| | seconds |")
    print("|---|---:|")
    print(f"| label index: build ({result['templates']} templates) | {result['indexing']:.3f} |")
    print(
        f"| label index: match {result['policies']} selectors "
        f"({result['matches']} matches) | {result['index']:.3f} |"
    )
    print(
        f"| naive scan of every template, same selectors (timed on {result['sampled']}, "
        f"scaled) | {result['naive']:.3f} |"
    )
    print(f"| bare C-loader parse of the file (CPU) | {bare.cpu:.2f} |")
    print(f"| `check` of the file (CPU) | {check.cpu:.2f} |")
    print(
        f"\nindex {result['naive'] / max(result['index'], 1e-9):.0f}x faster than the scan "
        f"(same matches); check / bare parse = {check.cpu / bare.cpu:.2f}\n"
    )


# --- fix --write on the corpus -------------------------------------------------------------------

RUAMEL_PROBE = """
import json, sys
from ruamel.yaml.main import YAML
from kubectl_netfix import cli, writeback
from kubectl_netfix.files import load_files

sources = load_files([sys.argv[1]], True, "default").sources.values()
documents = sum(len(source.documents) for source in sources)
loads = []
regions = []
ruamel_regions = []
original_load = YAML.load
original_region = writeback._rewrite_region
original_candidates = writeback._candidate_edits
def load(self, *args, **kwargs):
    loads.append(1)
    return original_load(self, *args, **kwargs)
def region(source, doc, *args, **kwargs):
    regions.append((source.path, doc.index))
    return original_region(source, doc, *args, **kwargs)
def candidates(source, doc, *args, **kwargs):
    ruamel_regions.append((source.path, doc.index))
    return original_candidates(source, doc, *args, **kwargs)
YAML.load = load
writeback._rewrite_region = region
writeback._candidate_edits = candidates
code = cli.main(["fix", "-f", sys.argv[1], "-R", "--write"])
print(json.dumps({
    "documents": documents, "rewritten": len(set(regions)), "ruamel_loads": len(loads),
    "ruamel": len(set(ruamel_regions)), "files": len({p for p, _ in regions}), "exit": code,
}))
"""


def section_fix(repeat: int) -> None:
    print("## fix --write on a copy of ../shared/corpus vs check on the same files\n")
    if not CORPUS.is_dir():
        print(f"(skipped: no corpus at {CORPUS})\n")
        return
    # Both commands with the package byte-compiled, as an install has it (fix imports modules
    # check never does; without bytecode each would be compiled on every run).
    print(f"(package byte-compiled first: {_compile_package()})\n")
    best_check = best_fix = Run(float("inf"), float("inf"), float("inf"))
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "corpus"
        for _ in range(repeat):
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(CORPUS, copy)
            check = measure(netfix("check", "-f", str(copy), "-R", "--fail-on=none"), 1)
            fix = measure(netfix("fix", "-f", str(copy), "-R", "--write"), 1)
            best_check = Run(min(best_check.wall, check.wall), min(best_check.cpu, check.cpu), 0)
            best_fix = Run(min(best_fix.wall, fix.wall), min(best_fix.cpu, fix.cpu), 0)
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(CORPUS, copy)
        probe = subprocess.run(
            [PYTHON, "-c", RUAMEL_PROBE, str(copy)], capture_output=True, text=True, check=False
        )
    print("| | CPU s | wall s |")
    print("|---|---:|---:|")
    print(f"| check -f corpus -R | {best_check.cpu:.2f} | {best_check.wall:.2f} |")
    print(f"| fix -f corpus -R --write | {best_fix.cpu:.2f} | {best_fix.wall:.2f} |")
    print(
        f"\nfix --write / check = {best_fix.cpu / best_check.cpu:.2f} (CPU), "
        f"{best_fix.wall / best_check.wall:.2f} (wall); target <= 1.5"
    )
    try:
        counts = json.loads(probe.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        print(f"(ruamel probe failed: {probe.stderr.strip()[-300:]})\n")
        return
    fast = counts["rewritten"] - counts["ruamel"]
    print(
        f"fixes touched {counts['rewritten']} of {counts['documents']} documents (in "
        f"{counts['files']} YAML files): {fast} edited in the text directly (text_edit), "
        f"{counts['ruamel']} through ruamel.yaml ({counts['ruamel_loads']} ruamel loads)\n"
    )


# --- start-up ------------------------------------------------------------------------------------


def machine_header() -> str:
    """The HTML comment that heads every printed table: when, where, how busy."""
    return (
        f"<!-- {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, "
        f"load {os.getloadavg()[0]:.1f}, Python {sys.version.split()[0]} -->\n"
    )


def console_script() -> list[str]:
    script = Path(PYTHON).parent / "kubectl-netfix"
    return [str(script)] if script.exists() else netfix()


def _hyperfine(commands: dict[str, list[str]], runs: int) -> dict[str, tuple[float, float]] | None:
    """name -> (mean, min) wall seconds, or None without hyperfine."""
    binary = shutil.which("hyperfine")
    if binary is None:
        return None
    with tempfile.NamedTemporaryFile(suffix=".json") as export:
        argv = [binary, "-N", "--warmup", "3", "--runs", str(runs), "--export-json", export.name]
        for name, command in commands.items():
            argv += ["-n", name, subprocess.list2cmdline(command)]
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        results = json.loads(Path(export.name).read_text())["results"]
    return {r["command"]: (r["mean"], r["min"]) for r in results}


def importtime(command: list[str], runs: int) -> dict[str, tuple[int, int, int]]:
    """module -> (best self µs, best cumulative µs, depth) over `runs` runs."""
    best: dict[str, tuple[int, int, int]] = {}
    for _ in range(runs):
        stderr = subprocess.run(
            [PYTHON, "-X", "importtime", *command], capture_output=True, text=True, check=False
        ).stderr
        for line in stderr.splitlines():
            if not line.startswith("import time:") or "self [us]" in line:
                continue
            own, cumulative, name = line[len("import time:") :].split("|")
            module = name.strip()
            depth = (len(name) - len(name.lstrip()) - 1) // 2
            previous = best.get(module, (10**9, 10**9, depth))
            best[module] = (
                min(previous[0], int(own)),
                min(previous[1], int(cumulative)),
                depth,
            )
    return best


def _compile_package() -> str:
    """Byte-compile the package being measured, as pip does when it installs a wheel (an
    editable install under PYTHONDONTWRITEBYTECODE would recompile every module per run)."""
    where = subprocess.run(
        [
            PYTHON,
            "-c",
            "import kubectl_netfix, os; print(os.path.dirname(kubectl_netfix.__file__))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    subprocess.run([PYTHON, "-m", "compileall", "-q", where], check=True)
    return where


def section_startup(repeat: int) -> None:
    print("## start-up (target: <= 150 ms wall)\n")
    print(f"(package byte-compiled first: {_compile_package()})\n")
    small = small_file()
    script = console_script()
    commands = {
        "python -c pass (the interpreter alone)": [PYTHON, "-c", "pass"],
        "kubectl-netfix version": [*script, "version"],
        "kubectl-netfix check -f small.yaml": [*script, "check", "-f", str(small)],
    }
    runs = max(20, 10 * repeat)
    timed = _hyperfine(commands, runs)
    tool = f"hyperfine, {runs} runs" if timed else f"best of {runs} runs"
    print(f"| command ({tool}) | mean ms | min ms | CPU ms (best) |")
    print("|---|---:|---:|---:|")
    for name, command in commands.items():
        cpu = measure(command, runs).cpu
        if timed:
            mean, least = timed[name]
        else:
            run = measure(command, runs)
            mean, least = run.wall, run.wall
        print(f"| `{name}` | {mean * 1000:.0f} | {least * 1000:.0f} | {cpu * 1000:.0f} |")
    modules = importtime(["-m", "kubectl_netfix", "check", "-f", str(small)], max(5, repeat * 2))
    total = sum(own for own, _cum, _depth in modules.values())
    print(
        f"\n`python -X importtime -m kubectl_netfix check -f small.yaml`: best of "
        f"{max(5, repeat * 2)} runs, {len(modules)} modules, {total / 1000:.0f} ms of imports "
        "(importtime's own overhead included); the biggest top-level ones:\n"
    )
    print("| cumulative ms | self ms | module |")
    print("|---:|---:|---|")
    ranked = sorted(modules.items(), key=lambda item: -item[1][1])
    for module, (own, cumulative, depth) in [m for m in ranked if m[1][2] <= 1][:14]:
        print(f"| {cumulative / 1000:.1f} | {own / 1000:.1f} | {'  ' * depth}{module} |")
    heavy = sorted(m for m in modules if m.split(".")[0] in ("kubernetes", "urllib3", "ruamel"))
    heavy_jsonpatch = sorted(m for m in modules if m.split(".")[0] in ("jsonpatch", "jsonpointer"))
    print(
        "\nfile mode imports the kubernetes client: "
        f"{'YES: ' + ', '.join(heavy[:5]) if heavy else 'no'} "
        f"(nor urllib3, ruamel.yaml; jsonpatch: {'yes' if heavy_jsonpatch else 'no'})\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    known = ["table", "selectors", "fix", "startup"]
    parser.add_argument("sections", nargs="*", help=f"any of {', '.join(known)} (default: all)")
    parser.add_argument("--sizes", nargs="+", type=int, default=[1000, 10000, 50000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    unknown = set(args.sections) - set(known)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    sections = args.sections or known
    print(machine_header())
    if "table" in sections:
        section_table(args.sizes, args.repeat)
    if "selectors" in sections:
        section_selectors(args.repeat)
    if "fix" in sections:
        section_fix(args.repeat)
    if "startup" in sections:
        section_startup(args.repeat)


if __name__ == "__main__":
    main()
