"""Install the release with krew itself, then run it through kubectl's plugin dispatch.

krew, validate-krew-manifest and kubectl come from scripts/krew-tools.sh, which builds them from
the Go module proxy once per machine into ${NETFIX_CACHE:-~/.cache/kubectl-netfix} (minutes the
first time; CI pre-builds them). Nothing here is skipped: a missing tool is built.

Everything runs offline, in temporary directories: KREW_ROOT and HOME are fresh, the manifest and
archive are local (`krew install --manifest --archive` needs no index), and python3 on PATH is
the running interpreter in isolated mode without site-packages, so the plugin can only work from
what its archive carries.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

import kubectl_netfix

ROOT = Path(__file__).resolve().parent.parent
VERSION = kubectl_netfix.__version__
ARCHIVE = f"kubectl-netfix_v{VERSION}.tar.gz"
TOOLS_TIMEOUT = 3600  # a first kubectl build on a busy 2-core machine

# The same manifest as test_dist: a Service whose selector matches no pod.
BAD_MANIFEST = (ROOT / "tests" / "fixtures" / "release" / "bad-selector.yaml").read_text()


@dataclass(frozen=True)
class Tools:
    krew: Path
    validate: Path
    kubectl: Path


@dataclass(frozen=True)
class Release:
    archive: Path
    manifest: Path


@pytest.fixture(scope="module")
def tools() -> Tools:
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "krew-tools.sh"), "paths"],
        stdout=subprocess.PIPE,
        text=True,
        timeout=TOOLS_TIMEOUT,
        check=True,
    )
    paths = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    tools = Tools(
        krew=Path(paths["krew"]),
        validate=Path(paths["validate-krew-manifest"]),
        kubectl=Path(paths["kubectl"]),
    )
    for tool in (tools.krew, tools.validate, tools.kubectl):
        assert os.access(tool, os.X_OK), tool
    return tools


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Release:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_dist.py"), "--out", str(out)],
        check=True,
        timeout=900,
    )
    return Release(archive=out / ARCHIVE, manifest=out / "netfix.yaml")


class Sandbox:
    """A fresh HOME and KREW_ROOT, and a PATH of: krew's bin, kubectl and kubectl-krew, an
    isolated python3, /usr/bin:/bin."""

    def __init__(self, base: Path, tools: Tools) -> None:
        self.home = base / "home"
        self.krew_root = base / "krew-root"
        self.home.mkdir()
        bin_dir = base / "bin"
        bin_dir.mkdir()
        (bin_dir / "kubectl").symlink_to(tools.kubectl)
        (bin_dir / "kubectl-krew").symlink_to(tools.krew)
        python3 = bin_dir / "python3"
        python3.write_text(f'#!/bin/sh\nexec "{sys.executable}" -I -S "$@"\n')
        python3.chmod(0o755)
        self.env = {
            "HOME": str(self.home),
            "KREW_ROOT": str(self.krew_root),
            "KREW_NO_UPGRADE_CHECK": "1",
            "KUBECONFIG": str(self.home / "no-kubeconfig"),
            "NO_COLOR": "1",
            "PATH": os.pathsep.join(
                [str(self.krew_root / "bin"), str(bin_dir), "/usr/bin", "/bin"]
            ),
        }

    def run(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(args),
            env=self.env,
            cwd=cwd or self.home,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def install(self, manifest: Path, archive: Path) -> subprocess.CompletedProcess[str]:
        return self.run(
            "kubectl", "krew", "install", f"--manifest={manifest}", f"--archive={archive}"
        )


def test_manifest_passes_krews_own_validation(tools: Tools, release: Release) -> None:
    result = subprocess.run(
        [str(tools.validate), "-manifest", str(release.manifest), "-skip-install"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "structural validation OK" in result.stderr
    assert "no overlapping spec.platform[].selector" in result.stderr


def test_validation_rejects_the_unfilled_template(tools: Tools, tmp_path: Path) -> None:
    """The validator does validate: the checked-in template is not a publishable manifest."""
    manifest = tmp_path / "netfix.yaml"
    manifest.write_text((ROOT / "krew" / "netfix.yaml").read_text())
    result = subprocess.run(
        [str(tools.validate), "-manifest", str(manifest), "-skip-install"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "version" in result.stderr or "sha256" in result.stderr


def test_krew_install_then_kubectl_netfix(
    tools: Tools, release: Release, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    box = Sandbox(tmp_path, tools)
    installed = box.install(release.manifest, release.archive)
    assert installed.returncode == 0, installed.stderr
    assert "Installed plugin: netfix" in installed.stderr
    assert "python3" in installed.stderr  # the caveats are shown

    store = box.krew_root / "store" / "netfix" / f"v{VERSION}"
    assert sorted(p.name for p in store.iterdir()) == ["LICENSE", "kubectl-netfix"]
    assert (store / "kubectl-netfix").stat().st_mode & 0o777 == 0o755
    link = box.krew_root / "bin" / "kubectl-netfix"
    assert link.is_symlink() and link.resolve() == (store / "kubectl-netfix").resolve()
    assert (box.krew_root / "receipts" / "netfix.yaml").is_file()
    assert not (box.krew_root / "index" / "default").exists()  # installed with no index
    # `krew list` and `krew uninstall` want a plugin index; a user has the git clone that
    # `krew update` makes of krew-index on GitHub, which this machine cannot reach: stand in an
    # empty git repository.
    index = box.krew_root / "index" / "default"
    (index / "plugins").mkdir(parents=True)
    subprocess.run(["git", "init", "--quiet", str(index)], check=True)
    listed = box.run("kubectl", "krew", "list")
    assert "netfix" in listed.stdout, listed.stderr
    plugins = box.run("kubectl", "plugin", "list")
    assert str(link) in plugins.stdout, plugins.stdout + plugins.stderr

    # kubectl finds kubectl-netfix on PATH and runs it; the zipapp finds the isolated python3.
    timings = []
    for _ in range(6):
        started = time.perf_counter()
        version = box.run("kubectl", "netfix", "version")
        timings.append(time.perf_counter() - started)
        assert version.returncode == 0, version.stderr
        assert version.stdout.strip() == f"kubectl-netfix {VERSION}"
    with capsys.disabled():
        print(
            f"\n[test_krew] `kubectl netfix version` through kubectl: first run (unpacks) "
            f"{timings[0]:.2f}s, then median {statistics.median(timings[1:]):.2f}s"
        )

    manifest = tmp_path / "bad.yaml"
    manifest.write_text(BAD_MANIFEST)
    check = box.run("kubectl", "netfix", "check", "-f", str(manifest), "-o", "json")
    assert check.returncode == 1, check.stderr
    rules = {f["rule"] for f in json.loads(check.stdout)["findings"]}
    assert "service-selector" in rules
    text = box.run("kubectl", "netfix", "check", "-f", str(manifest), "--rule", "service-selector")
    assert text.returncode == 1
    assert f"{manifest}:" in text.stdout and "service-selector" in text.stdout

    uninstalled = box.run("kubectl", "krew", "uninstall", "netfix")
    assert uninstalled.returncode == 0, uninstalled.stderr
    assert not link.exists() and not link.is_symlink()
    assert box.run("kubectl", "netfix", "version").returncode != 0


def test_krew_refuses_an_archive_with_the_wrong_sha256(
    tools: Tools, release: Release, tmp_path: Path
) -> None:
    good = hashlib.sha256(release.archive.read_bytes()).hexdigest()
    wrong = hashlib.sha256(b"not the release archive").hexdigest()
    manifest = tmp_path / "wrong" / "netfix.yaml"
    manifest.parent.mkdir()
    text = release.manifest.read_text()
    assert text.count(good) == 4
    manifest.write_text(text.replace(good, wrong))

    box = Sandbox(tmp_path, tools)
    result = box.install(manifest, release.archive)
    assert result.returncode != 0
    assert "checksum does not match" in result.stderr, result.stderr
    assert not (box.krew_root / "receipts" / "netfix.yaml").exists()
    assert not (box.krew_root / "store" / "netfix").exists()
    link = box.krew_root / "bin" / "kubectl-netfix"
    assert not link.exists() and not link.is_symlink()
    assert box.run("kubectl", "netfix", "version").returncode != 0
