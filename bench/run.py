"""Benchmarks: `check` against a bare C-loader parse of the same bytes, side by side.

    python bench/run.py            # 1k, 10k and 50k objects
    python bench/run.py 1000 10000 # chosen sizes

Inputs are generated into bench/out/ (not checked in) by bench/generate.py. Each figure is the
best of --repeat runs, in a fresh process, so import costs count as a user feels them.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"

BARE_PARSE = (
    "import sys, yaml\n"
    "data = open(sys.argv[1], 'rb').read()\n"
    "list(yaml.load_all(data, Loader=yaml.CSafeLoader))\n"
)


def ensure_input(count: int) -> Path:
    OUT.mkdir(exist_ok=True)
    path = OUT / f"{count}.yaml"
    if not path.exists():
        with path.open("w") as handle:
            subprocess.run(
                [sys.executable, str(HERE / "generate.py"), str(count)], stdout=handle, check=True
            )
    return path


def best_of(command: list[str], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("sizes", nargs="*", type=int, default=[1000, 10000, 50000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    rows = []
    for count in args.sizes:
        path = ensure_input(count)
        size_mb = path.stat().st_size / 1e6
        bare = best_of([sys.executable, "-c", BARE_PARSE, str(path)], args.repeat)
        check = best_of(
            [sys.executable, "-m", "kubectl_netfix", "check", "-f", str(path), "--fail-on=none"],
            args.repeat,
        )
        rows.append((count, size_mb, bare, check))

    print(f"{'objects':>8} {'MB':>7} {'C parse s':>10} {'check s':>9} {'ratio':>6} {'MB/s':>6}"
          f" {'us/object':>10}")
    for count, size_mb, bare, check in rows:
        print(
            f"{count:>8} {size_mb:>7.1f} {bare:>10.2f} {check:>9.2f} {check / bare:>6.2f}"
            f" {size_mb / check:>6.1f} {1e6 * check / count:>10.0f}"
        )
    if len(rows) > 1:
        base = rows[0]
        print("\nscaling (check time per object relative to the smallest input):")
        for count, _mb, _bare, check in rows[1:]:
            print(f"  {count:>6}: {(check / count) / (base[3] / base[0]):.2f}x")


if __name__ == "__main__":
    main()
