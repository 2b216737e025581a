#!/usr/bin/env python3
"""Release build: the krew archive, its filled manifest, a wheel and an sdist, all in dist/.

    python3 scripts/build_dist.py [--out DIR]        (or: make dist)

What lands in the output directory, for version X.Y.Z = kubectl_netfix.__version__:

- kubectl_netfix-X.Y.Z.tar.gz, kubectl_netfix-X.Y.Z-py3-none-any.whl: `python -m build` from a
  clean copy of the source tree (sdist first, then the wheel from the sdist);
- kubectl-netfix: an executable zipapp (`#!/usr/bin/env python3`) holding the wheel and its
  runtime dependencies, pure Python only: compiled extension modules are removed, and every
  dependency we ship falls back to its pure-Python code without them (PyYAML, ruamel.yaml,
  rapidfuzz, charset-normalizer). It needs nothing but python3 >= 3.11. On its first run it
  unpacks itself into ~/.cache/kubectl-netfix/zipapp/ (NETFIX_ZIPAPP_CACHE overrides; "off"
  runs from the zip), because Python keeps no bytecode for modules imported from a zip;
- kubectl-netfix_vX.Y.Z.tar.gz: the krew archive, kubectl-netfix (0755) and LICENSE (0644),
  owned by 0:0, with a fixed mtime;
- netfix.yaml: krew/netfix.yaml with {{VERSION}} and {{SHA256}} filled in;
- SHA256SUMS: the sha256 of each file above, in `sha256sum -c` format.

The dependency versions vendored into the zipapp are those installed in the building
environment (the ones the tests ran against) where it has them, resolved from PyPI otherwise.
Timestamps come from SOURCE_DATE_EPOCH, else the last commit's time, so that rebuilding the
same commit with the same dependencies gives the same bytes.
"""

from __future__ import annotations

import argparse
import ast
import gzip
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipapp
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from email.parser import Parser
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "kubectl-netfix"
PACKAGE = "kubectl_netfix"
MIN_PYTHON = (3, 11)

# Distributions that nothing in kubectl-netfix can import, left out of the zipapp with
# everything only they need: the kubernetes client (>= 36) requires aiohttp for its asyncio
# flavour `kubernetes.aio`, which we never use (we list through the synchronous client).
PRUNED_DISTRIBUTIONS = frozenset({"aiohttp"})
# Trees inside kept distributions that are removed for the same reason (paths in the zipapp).
PRUNED_TREES = ("kubernetes/aio",)
# Files that are never needed at run time: compiled extensions (a zip cannot load them, and
# the zipapp must be the same on every platform), bytecode, C sources, stubs, pip's bookkeeping.
STRIPPED_SUFFIXES = (".so", ".pyd", ".dylib", ".pyc", ".pyo", ".c", ".h", ".cpp", ".pyx", ".pxd")
STRIPPED_NAMES = frozenset({"direct_url.json", "INSTALLER", "REQUESTED"})

ZIP_EPOCH_MIN = 315_532_800  # 1980-01-01: the earliest time a zip entry can carry

# The zipapp's __main__.py; @MIN_PYTHON@, @MIN_TEXT@ and @BUILD_ID@ are filled in by the build.
MAIN_PY = r"""# kubectl-netfix zipapp entry point. Plain syntax, so that an old python3 parses the
# file and prints the message below instead of a SyntaxError.
import os
import sys

if sys.version_info < @MIN_PYTHON@:
    sys.stderr.write(
        "kubectl-netfix needs Python @MIN_TEXT@ or newer; python3 is %d.%d (%s)\n"
        % (sys.version_info[0], sys.version_info[1], sys.executable)
    )
    sys.exit(2)

BUILD_ID = "@BUILD_ID@"


def _unpacked():
    # Python never caches bytecode for modules imported from a zip: each run would compile
    # every module it imports again (the kubernetes client alone takes seconds). So the
    # zipapp unpacks itself once into a cache directory, where bytecode is kept, and runs
    # from there. Where that is impossible it runs from the zip, only slower.
    # NETFIX_ZIPAPP_CACHE: the directory to use, or "off" to always run from the zip.
    root = os.environ.get("NETFIX_ZIPAPP_CACHE")
    if root == "off":
        return None
    if not root:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(base, "kubectl-netfix", "zipapp")
    target = os.path.join(root, BUILD_ID)
    marker = os.path.join(target, ".complete")
    if os.path.exists(marker):
        return target
    import shutil
    import tempfile
    import zipfile

    archive = os.path.dirname(os.path.abspath(__file__))
    try:
        os.makedirs(root, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=".unpack-", dir=root)
    except OSError:
        return None
    try:
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(staging, [n for n in zf.namelist() if n != "__main__.py"])
        with open(os.path.join(staging, ".complete"), "w"):
            pass
        os.rename(staging, target)  # atomic; fails if a concurrent run got there first
        _prune(root, os.path.basename(target))
    except (OSError, zipfile.BadZipFile):
        pass
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target if os.path.exists(marker) else None


def _prune(root, keep):
    # What an upgrade leaves behind (other builds' trees), and the leftovers of runs killed
    # while unpacking.
    import re
    import shutil
    import time

    for name in os.listdir(root):
        path = os.path.join(root, name)
        if name == keep:
            continue
        if re.match(r"^[0-9][0-9.]*-[0-9a-f]{16}$", name) or (
            name.startswith(".unpack-") and os.path.getmtime(path) < time.time() - 3600
        ):
            shutil.rmtree(path, ignore_errors=True)


_cache = _unpacked()
if _cache is not None:
    sys.path.insert(0, _cache)

from kubectl_netfix.cli import main

sys.exit(main())
"""


@dataclass(frozen=True)
class Artifacts:
    version: str
    sdist: Path
    wheel: Path
    zipapp: Path
    archive: Path
    manifest: Path
    sha256: str


def log(message: str) -> None:
    print(f"[build_dist] {message}", file=sys.stderr, flush=True)


def project_version(root: Path = ROOT) -> str:
    """kubectl_netfix.__version__, read without importing the package."""
    init = root / "src" / PACKAGE / "__init__.py"
    for node in ast.parse(init.read_text(encoding="utf-8")).body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            return node.value.value
    raise SystemExit(f"no __version__ = '...' in {init}")


def check_release_version(version: str) -> None:
    # krew requires semver ("v" + MAJOR.MINOR.PATCH); PEP 440 pre-releases (1.0.0rc1) are not,
    # so a release is X.Y.Z, identical in the wheel, the archive name and the manifest.
    if not re.fullmatch(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)", version):
        raise SystemExit(f"__version__ {version!r} is not a release version X.Y.Z")


def source_date_epoch(root: Path = ROOT) -> int:
    """SOURCE_DATE_EPOCH, else the last commit's time, never earlier than 1980."""
    value = os.environ.get("SOURCE_DATE_EPOCH")
    if value is None:
        try:
            value = subprocess.run(
                ["git", "-C", str(root), "log", "-1", "--format=%ct"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            value = ""
    return max(int(value) if value else ZIP_EPOCH_MIN, ZIP_EPOCH_MIN)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def run(cmd: list[str], env: dict[str, str] | None = None) -> None:
    """Run a build step quietly; its output is shown only when it fails."""
    log("$ " + " ".join(cmd))
    result = subprocess.run(
        cmd,
        env=None if env is None else {**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.stderr.write(result.stdout)
        raise SystemExit(f"build step failed with exit code {result.returncode}: {cmd[2:4]}")


# ---------------------------------------------------------------------------------------------
# wheel and sdist
# ---------------------------------------------------------------------------------------------

# Not copied for the sdist build: local state at the top of the tree, and generated files.
_COPY_SKIPPED_AT_TOP = frozenset(
    {".git", "dist", "build", ".venv", "venv", ".mypy_cache", ".pytest_cache", ".ruff_cache"}
)
_COPY_SKIPPED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")


def copy_source_tree(root: Path, target: Path) -> None:
    """The files git would see (tracked, or new and not ignored), else all but local state."""
    try:
        listed = subprocess.run(
            [
                "git",
                "-C",
                str(root),
                "ls-files",
                "-z",
                "--cached",
                "--others",
                "--exclude-standard",
            ],
            check=True,
            capture_output=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        listed = None
    if listed is not None:
        for name in sorted(set(listed.decode().split("\0")) - {""}):
            source = root / name
            if source.is_file() and not source.is_symlink():
                (target / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target / name)
        return

    def skipped(directory: str, names: list[str]) -> set[str]:
        at_top = Path(directory) == root
        return set(_COPY_SKIPPED(directory, names)) | {
            n for n in names if at_top and n in _COPY_SKIPPED_AT_TOP
        }

    shutil.copytree(root, target, ignore=skipped, symlinks=True)


def build_python_dists(root: Path, out: Path, work: Path, epoch: int) -> tuple[Path, Path]:
    """sdist, then the wheel built from that sdist (which proves the sdist is complete).

    Built from a copy so that setuptools' egg-info and build/ never touch the work tree.
    """
    try:
        import build  # noqa: F401
    except ImportError:
        raise SystemExit(
            "the release build needs `build` (pip install build, or the project's dev extra)"
        ) from None
    src = work / "src-copy"
    copy_source_tree(root, src)
    normalize_tree(src, epoch)  # the sdist's entries take the files' modes and mtimes
    pydist = work / "pydist"
    # setuptools stamps the wheel's entries with SOURCE_DATE_EPOCH when it is set.
    run(
        [sys.executable, "-m", "build", "--outdir", str(pydist), str(src)],
        env={"SOURCE_DATE_EPOCH": str(epoch)},
    )
    (sdist,) = pydist.glob("*.tar.gz")
    (wheel,) = pydist.glob("*.whl")
    normalize_sdist(sdist, out / sdist.name, epoch)
    return out / sdist.name, Path(shutil.copy2(wheel, out))


def normalize_sdist(source: Path, target: Path, epoch: int) -> None:
    """Rewrite setuptools' sdist with every time (entries' and gzip header's) set to epoch."""
    with tarfile.open(source, "r:gz") as tar:
        members = []
        for member in tar.getmembers():
            content = tar.extractfile(member) if member.isfile() else None
            members.append((member, content.read() if content else None))
    with (
        target.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=epoch, compresslevel=9) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as out,
    ):
        for member, data in members:
            member.mtime = epoch
            member.pax_headers = {}  # setuptools' copies of the times, as floats
            member.uid = member.gid = 0
            member.uname = member.gname = "root"
            out.addfile(member, io.BytesIO(data) if data is not None else None)


# ---------------------------------------------------------------------------------------------
# the zipapp
# ---------------------------------------------------------------------------------------------


def _requirements(requires: Iterable[str]) -> Iterator[Requirement]:
    for line in requires:
        requirement = Requirement(line)
        # Markers are evaluated for the running interpreter and platform, with no extras.
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            yield requirement


def wheel_requires(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as zf:
        (name,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        message = Parser().parsestr(zf.read(name).decode("utf-8"))
    return message.get_all("Requires-Dist") or []


def installed_pins(requires: Iterable[str]) -> dict[str, str]:
    """name -> version of the installed distributions that satisfy `requires`, transitively.

    A requirement the environment does not satisfy is left to pip to resolve.
    """
    pins: dict[str, str] = {}
    pending = list(_requirements(requires))
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in pins:
            continue
        try:
            dist = metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            continue
        if not requirement.specifier.contains(Version(dist.version), prereleases=True):
            continue
        pins[name] = dist.version
        pending.extend(_requirements(dist.requires or []))
    return pins


def _stage_distributions(stage: Path) -> dict[str, tuple[Path, list[str]]]:
    """canonical name -> (dist-info dir, Requires-Dist) for what pip installed into stage."""
    found: dict[str, tuple[Path, list[str]]] = {}
    for info in stage.glob("*.dist-info"):
        message = Parser().parsestr((info / "METADATA").read_text(encoding="utf-8"))
        found[canonicalize_name(message["Name"])] = (info, message.get_all("Requires-Dist") or [])
    return found


def prune_distributions(stage: Path, root_name: str, pruned: frozenset[str]) -> list[str]:
    """Remove the distributions reachable from root_name only through `pruned` ones."""
    dists = _stage_distributions(stage)
    keep: set[str] = set()
    pending = [canonicalize_name(root_name)]
    while pending:
        name = pending.pop()
        if name in keep or name in pruned or name not in dists:
            continue
        keep.add(name)
        pending.extend(canonicalize_name(r.name) for r in _requirements(dists[name][1]))
    removed = sorted(set(dists) - keep)
    for removed_name in removed:
        info = dists[removed_name][0]
        for line in (info / "RECORD").read_text(encoding="utf-8").splitlines():
            relative = line.rsplit(",", 2)[0]
            path = (stage / relative).resolve()
            if path.is_relative_to(stage.resolve()) and path.is_file():
                path.unlink()
        shutil.rmtree(info)
    _remove_empty_dirs(stage)
    return removed


def _remove_empty_dirs(root: Path) -> None:
    for dirpath, _dirnames, _filenames in sorted(os.walk(root), reverse=True):
        path = Path(dirpath)
        if path != root and not any(path.iterdir()):
            path.rmdir()


def strip_stage(stage: Path) -> list[str]:
    """Remove what the zipapp must not or need not carry; return the extension modules removed."""
    shutil.rmtree(stage / "bin", ignore_errors=True)
    for tree in PRUNED_TREES:
        shutil.rmtree(stage / tree, ignore_errors=True)
    extensions: list[str] = []
    for path in sorted(stage.rglob("*")):
        if path.is_dir() and path.name == "__pycache__":
            shutil.rmtree(path)
        elif path.is_file() and (path.suffix in STRIPPED_SUFFIXES or path.name in STRIPPED_NAMES):
            if path.suffix in (".so", ".pyd", ".dylib"):
                extensions.append(path.relative_to(stage).as_posix())
            path.unlink()
    _remove_empty_dirs(stage)
    _rewrite_records(stage)
    return extensions


def _rewrite_records(stage: Path) -> None:
    """Keep each RECORD true to what is left (and free of the paths of this build's temp files,
    which direct_url.json's hash carried)."""
    for record in stage.glob("*.dist-info/RECORD"):
        rows = record.read_text(encoding="utf-8").splitlines()
        kept = [
            row
            for row in rows
            if (stage / row.rsplit(",", 2)[0]).is_file()
            and not row.startswith(f"{record.parent.name}/RECORD,")
        ]
        record.write_text("".join(f"{row}\n" for row in [*kept, f"{record.parent.name}/RECORD,,"]))


def stage_zipapp(wheel: Path, stage: Path, work: Path, version: str) -> None:
    pins = installed_pins(wheel_requires(wheel))
    constraints = work / "constraints.txt"
    constraints.write_text("".join(f"{n}=={v}\n" for n, v in sorted(pins.items())))
    log(f"vendoring with {len(pins)} versions pinned from this environment: {constraints}")
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--root-user-action=ignore",
            "--no-warn-script-location",
            "--no-compile",
            "--target",
            str(stage),
            "--constraint",
            str(constraints),
            str(wheel),
        ]
    )
    removed = prune_distributions(stage, PROJECT, PRUNED_DISTRIBUTIONS)
    log(f"left out (only needed by {', '.join(sorted(PRUNED_DISTRIBUTIONS))}): {removed}")
    extensions = strip_stage(stage)
    log(f"removed {len(extensions)} compiled extension modules: {extensions}")
    main_py = (
        MAIN_PY.replace("@MIN_PYTHON@", repr(MIN_PYTHON))
        .replace("@MIN_TEXT@", ".".join(map(str, MIN_PYTHON)))
        .replace("@BUILD_ID@", build_id(stage, version))
    )
    (stage / "__main__.py").write_text(main_py)


def build_id(stage: Path, version: str) -> str:
    """The version and a digest of the zipapp's contents: its unpack cache directory's name."""
    digest = hashlib.sha256()
    for path in sorted(p for p in stage.rglob("*") if p.is_file()):
        digest.update(path.relative_to(stage).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return f"{version}-{digest.hexdigest()[:16]}"


def normalize_tree(root: Path, epoch: int) -> None:
    """Same modes and mtimes on every build, which zipapp copies into the zip entries."""
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
        os.utime(path, (epoch, epoch))
    os.utime(root, (epoch, epoch))


def write_zipapp(stage: Path, target: Path, epoch: int) -> None:
    normalize_tree(stage, epoch)
    # Sources only, no bytecode: .pyc files are specific to one Python minor version, and the
    # zipapp must run on whichever python3 >= 3.11 the user has.
    zipapp.create_archive(stage, target, interpreter="/usr/bin/env python3", compressed=True)
    target.chmod(0o755)


# ---------------------------------------------------------------------------------------------
# the krew archive and manifest
# ---------------------------------------------------------------------------------------------


def write_archive(members: list[tuple[str, bytes, int]], target: Path, epoch: int) -> None:
    """A .tar.gz of (name, content, mode) whose bytes depend only on its arguments."""
    with (
        target.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=epoch, compresslevel=9) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar,
    ):
        for name, content, mode in members:
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = mode
            info.mtime = epoch
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.type = tarfile.REGTYPE
            tar.addfile(info, io.BytesIO(content))


def archive_name(version: str) -> str:
    return f"{PROJECT}_v{version}.tar.gz"


def fill_manifest(template: str, version: str, sha256: str) -> str:
    """The krew manifest for one release: placeholders filled, the template's header dropped."""
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise ValueError(f"not a lowercase hex sha256: {sha256!r}")
    body = template.split("apiVersion:", 1)
    if len(body) != 2:
        raise ValueError("the manifest template has no apiVersion")
    for placeholder in ("{{VERSION}}", "{{SHA256}}"):
        if placeholder not in body[1]:
            raise ValueError(f"the manifest template lacks {placeholder}")
    filled = body[1].replace("{{VERSION}}", version).replace("{{SHA256}}", sha256)
    leftover = re.search(r"\{\{[^}]*\}\}", filled)
    if leftover:
        raise ValueError(f"unknown placeholder {leftover.group()} in the manifest template")
    header = (
        f"# kubectl-netfix v{version}: generated by scripts/build_dist.py from krew/netfix.yaml;"
        " do not edit.\n"
    )
    return header + "apiVersion:" + filled


def build(out: Path, root: Path = ROOT) -> Artifacts:
    version = project_version(root)
    check_release_version(version)
    if sys.version_info[:2] != MIN_PYTHON:
        # Dependency markers are evaluated for the building interpreter; the oldest supported one
        # gets the most complete set.
        log(f"warning: building with Python {sys.version.split()[0]}, not {MIN_PYTHON}")
    epoch = source_date_epoch(root)
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("kubectl-netfix", "netfix.yaml", "SHA256SUMS"):
        (out / stale).unlink(missing_ok=True)
    for pattern in (f"{PROJECT}_v*.tar.gz", f"{PACKAGE}-*.whl", f"{PACKAGE}-*.tar.gz"):
        for stale_path in out.glob(pattern):
            stale_path.unlink()

    with tempfile.TemporaryDirectory(prefix="netfix-dist-") as tmp:
        work = Path(tmp)
        sdist, wheel = build_python_dists(root, out, work, epoch)
        stage = work / "zipapp"
        stage_zipapp(wheel, stage, work, version)
        zipapp_path = out / PROJECT
        write_zipapp(stage, zipapp_path, epoch)

    archive = out / archive_name(version)
    write_archive(
        [
            (PROJECT, zipapp_path.read_bytes(), 0o755),
            ("LICENSE", (root / "LICENSE").read_bytes(), 0o644),
        ],
        archive,
        epoch,
    )
    sha256 = sha256_file(archive)
    manifest = out / "netfix.yaml"
    template = (root / "krew" / "netfix.yaml").read_text(encoding="utf-8")
    manifest.write_text(fill_manifest(template, version, sha256), encoding="utf-8")
    sums = [sdist, wheel, zipapp_path, archive, manifest]
    (out / "SHA256SUMS").write_text("".join(f"{sha256_file(p)}  {p.name}\n" for p in sums))
    return Artifacts(version, sdist, wheel, zipapp_path, archive, manifest, sha256)


def smoke_test(zipapp_path: Path, version: str) -> None:
    """Run the zipapp isolated (-I: no env vars, no user site; -S: no site-packages at all)."""
    result = subprocess.run(
        [sys.executable, "-I", "-S", str(zipapp_path), "version"],
        env={**os.environ, "NETFIX_ZIPAPP_CACHE": "off"},  # from the zip, leaving ~/.cache be
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 or version not in result.stdout:
        raise SystemExit(
            f"the zipapp does not run isolated: exit {result.returncode}\n"
            f"{result.stdout}{result.stderr}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "dist", help="output directory [default: dist/]"
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    artifacts = build(args.out.resolve())
    smoke_test(artifacts.zipapp, artifacts.version)
    elapsed = time.monotonic() - started
    for path in (artifacts.sdist, artifacts.wheel, artifacts.zipapp, artifacts.archive):
        log(f"{path}  {path.stat().st_size / 1e6:.2f} MB")
    log(f"{artifacts.manifest}  sha256 {artifacts.sha256}")
    log(f"built kubectl-netfix {artifacts.version} in {elapsed:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
