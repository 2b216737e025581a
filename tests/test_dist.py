"""The release build (scripts/build_dist.py): the krew archive, the zipapp in it, the manifest,
the wheel and the sdist.

One build per module (about 20 s); the wheel test also installs into a fresh venv from PyPI,
with the versions of this environment as constraints.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest
import yaml

import kubectl_netfix

ROOT = Path(__file__).resolve().parent.parent
VERSION = kubectl_netfix.__version__
ARCHIVE = f"kubectl-netfix_v{VERSION}.tar.gz"
RELEASE_URL = (
    "https://github.com/kubectl-netfix/kubectl-netfix/releases/download/"
    f"v{VERSION}/kubectl-netfix_v{VERSION}.tar.gz"
)
PLATFORMS = {(o, a) for o in ("linux", "darwin") for a in ("amd64", "arm64")}

# A Service whose selector matches no pod, beside the Deployment it was meant for.
BAD_MANIFEST = (ROOT / "tests" / "fixtures" / "release" / "bad-selector.yaml").read_text()


def load_build_dist() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_dist", ROOT / "scripts" / "build_dist.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("build_dist", module)
    spec.loader.exec_module(module)
    return module


build_dist = load_build_dist()


@dataclass(frozen=True)
class Dist:
    out: Path
    archive: Path
    zipapp: Path
    manifest: Path
    wheel: Path
    sdist: Path


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_dist.py"), "--out", str(out)],
        check=True,
        timeout=900,
    )
    return Dist(
        out=out,
        archive=out / ARCHIVE,
        zipapp=out / "kubectl-netfix",
        manifest=out / "netfix.yaml",
        wheel=out / f"kubectl_netfix-{VERSION}-py3-none-any.whl",
        sdist=out / f"kubectl_netfix-{VERSION}.tar.gz",
    )


def run_isolated(
    args: list[str], cwd: Path, stdin: str | None = None, cache: Path | str = "off"
) -> subprocess.CompletedProcess[str]:
    """The running interpreter in isolated mode, without site: no PYTHONPATH, no user or system
    site-packages, nothing but the standard library and what the zipapp carries.

    `cache` is where the zipapp unpacks itself (NETFIX_ZIPAPP_CACHE); "off" runs it from the zip.
    """
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": "",
        "NO_COLOR": "1",
        "HOME": str(cwd),
        "NETFIX_ZIPAPP_CACHE": str(cache),
    }
    return subprocess.run(
        [sys.executable, "-I", "-S", *args],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------------------
# the archive and the manifest
# ---------------------------------------------------------------------------------------------


def test_archive_members_modes_and_owners(dist: Dist) -> None:
    with tarfile.open(dist.archive, "r:gz") as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == ["kubectl-netfix", "LICENSE"]
        for member in members:
            assert member.isreg()
            assert (member.uid, member.gid) == (0, 0)
            assert member.mtime == members[0].mtime
        assert members[0].mode == 0o755
        assert members[1].mode == 0o644
        zipapp = tar.extractfile("kubectl-netfix")
        license_file = tar.extractfile("LICENSE")
        assert zipapp is not None and license_file is not None
        assert zipapp.read() == dist.zipapp.read_bytes()
        assert license_file.read() == (ROOT / "LICENSE").read_bytes()
    assert (ROOT / "LICENSE").read_text().lstrip().startswith("Apache License")


def test_manifest_is_the_template_with_version_and_archive_sha256(dist: Dist) -> None:
    digest = sha256(dist.archive)
    text = dist.manifest.read_text()
    manifest = yaml.safe_load(text)
    assert manifest["apiVersion"] == "krew.googlecontainertools.github.com/v1alpha2"
    assert manifest["kind"] == "Plugin"
    assert manifest["metadata"]["name"] == "netfix"
    spec = manifest["spec"]
    assert spec["version"] == f"v{VERSION}"
    assert "python3" in spec["caveats"] and "3.11" in spec["caveats"]
    assert spec["shortDescription"] and "\n" not in spec["shortDescription"]
    assert spec["homepage"].startswith("https://")
    seen = set()
    for platform in spec["platforms"]:
        labels = platform["selector"]["matchLabels"]
        seen.add((labels["os"], labels["arch"]))
        assert platform["uri"] == RELEASE_URL
        assert platform["sha256"] == digest  # lowercase hex, the archive's
        assert platform["bin"] == "kubectl-netfix"
        assert platform["files"] == [
            {"from": "kubectl-netfix", "to": "."},
            {"from": "LICENSE", "to": "."},
        ]
    assert seen == PLATFORMS and len(spec["platforms"]) == len(PLATFORMS)
    # Apart from the header comment, exactly the template with its two placeholders filled.
    template = (ROOT / "krew" / "netfix.yaml").read_text()
    expected = template.replace("{{VERSION}}", VERSION).replace("{{SHA256}}", digest)
    assert text.split("apiVersion:", 1)[1] == expected.split("apiVersion:", 1)[1]
    assert (dist.out / "SHA256SUMS").read_text().count(f"{digest}  {ARCHIVE}\n") == 1


def test_checked_in_manifest_is_a_template_never_filled_by_hand() -> None:
    text = (ROOT / "krew" / "netfix.yaml").read_text()
    assert not re.search(r"\b[0-9a-fA-F]{64}\b", text), "a sha256 was written by hand"
    assert not re.search(r"\bv?\d+\.\d+\.\d+\b", text), "a version was written by hand"
    spec = yaml.safe_load(text)["spec"]
    assert spec["version"] == "v{{VERSION}}"
    assert {p["sha256"] for p in spec["platforms"]} == {"{{SHA256}}"}
    assert set(re.findall(r"\{\{[^}]*\}\}", text)) == {"{{VERSION}}", "{{SHA256}}"}


def test_fill_manifest_refuses_bad_input() -> None:
    template = (ROOT / "krew" / "netfix.yaml").read_text()
    good = "ab" * 32
    assert "{{" not in build_dist.fill_manifest(template, "1.2.3", good)
    with pytest.raises(ValueError, match="sha256"):
        build_dist.fill_manifest(template, "1.2.3", good.upper())
    with pytest.raises(ValueError, match="placeholder"):
        build_dist.fill_manifest(template + "# {{DATE}}\n", "1.2.3", good)
    with pytest.raises(ValueError, match="SHA256"):
        build_dist.fill_manifest(template.replace("{{SHA256}}", good), "1.2.3", good)


def test_release_version_must_be_semver() -> None:
    build_dist.check_release_version(VERSION)
    for bad in ("1.0", "1.0.0rc1", "1.0.0.dev1", "01.2.3"):
        with pytest.raises(SystemExit):
            build_dist.check_release_version(bad)


def test_archive_and_zipapp_bytes_depend_only_on_their_inputs(tmp_path: Path) -> None:
    members = [("kubectl-netfix", b"#!/usr/bin/env python3\n", 0o755), ("LICENSE", b"L\n", 0o644)]
    first, second = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    build_dist.write_archive(members, first, 1_700_000_000)
    build_dist.write_archive(members, second, 1_700_000_000)
    assert first.read_bytes() == second.read_bytes()

    zipapps = []
    for name, umask in (("one", 0o022), ("two", 0o077)):
        stage = tmp_path / name
        (stage / "pkg").mkdir(parents=True)
        (stage / "__main__.py").write_text("print('hi')\n")
        (stage / "pkg" / "__init__.py").write_text("")
        (stage / "pkg" / "__init__.py").chmod(0o600 if umask == 0o077 else 0o664)
        target = tmp_path / f"{name}.pyz"
        build_dist.write_zipapp(stage, target, 1_700_000_000)
        zipapps.append(target.read_bytes())
        assert target.stat().st_mode & 0o777 == 0o755
    assert zipapps[0] == zipapps[1]


# ---------------------------------------------------------------------------------------------
# the zipapp
# ---------------------------------------------------------------------------------------------


def zip_names(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as zf:
        return zf.namelist()


def test_zipapp_is_pure_python_and_carries_its_dependencies(dist: Dist) -> None:
    assert dist.zipapp.read_bytes().startswith(b"#!/usr/bin/env python3\n")
    assert os.access(dist.zipapp, os.X_OK)
    names = zip_names(dist.zipapp)
    compiled = [n for n in names if n.endswith((".so", ".pyd", ".dylib", ".pyc"))]
    assert compiled == []
    for required in (
        "__main__.py",
        "kubectl_netfix/cli.py",
        "yaml/__init__.py",
        "ruamel/yaml/main.py",
        "cleo/application.py",
        "rapidfuzz/fuzz_py.py",
        "jsonpatch.py",
        "kubernetes/client/api_client.py",
        "kubernetes/config/kube_config.py",
        "urllib3/__init__.py",
        "certifi/cacert.pem",
    ):
        assert required in names, required
    # The vendored distributions keep their metadata (and so their licences).
    assert any(n.startswith("kubernetes-") and n.endswith(".dist-info/METADATA") for n in names)
    # Left out on purpose: the asyncio kubernetes client and aiohttp, which nothing imports.
    assert not [n for n in names if n.startswith(("kubernetes/aio/", "aiohttp/"))]
    with zipfile.ZipFile(dist.zipapp) as zf:
        compressed = {i.compress_type for i in zf.infolist() if not i.is_dir()}
    assert compressed == {zipfile.ZIP_DEFLATED}


def test_zipapp_runs_version_isolated(dist: Dist, tmp_path: Path) -> None:
    for cache in ("off", tmp_path / "cache"):
        result = run_isolated([str(dist.zipapp), "version"], cwd=tmp_path, cache=cache)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"kubectl-netfix {VERSION}"


def test_zipapp_refuses_a_python_older_than_3_11(dist: Dist, tmp_path: Path) -> None:
    with zipfile.ZipFile(dist.zipapp) as zf:
        main_py = zf.read("__main__.py").decode()
    ast.parse(main_py, feature_version=(3, 6))  # an old python3 gets to print the message
    pretend = "import sys; sys.version_info = (3, 10, 4, 'final', 0); exec(sys.argv[1])"
    result = run_isolated(["-c", pretend, main_py], cwd=tmp_path)
    assert result.returncode == 2
    assert "kubectl-netfix needs Python 3.11 or newer; python3 is 3.10" in result.stderr


def test_zipapp_unpacks_once_and_keeps_bytecode(dist: Dist, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    # What an earlier release and a killed run left behind, and a concurrent unpack in progress.
    (cache / "0.0.1-0123456789abcdef").mkdir(parents=True)
    (cache / "0.0.1-0123456789abcdef" / ".complete").touch()
    (cache / ".unpack-killed").mkdir()
    os.utime(cache / ".unpack-killed", (time.time() - 7200, time.time() - 7200))
    (cache / ".unpack-running").mkdir()
    # Concurrent first runs: one unpacked tree wins, every run works.
    runs = [
        subprocess.Popen(
            [sys.executable, "-I", "-S", str(dist.zipapp), "version"],
            env={"NETFIX_ZIPAPP_CACHE": str(cache), "HOME": str(tmp_path)},
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    for run in runs:
        stdout, _ = run.communicate(timeout=120)
        assert run.returncode == 0 and stdout.strip() == f"kubectl-netfix {VERSION}"
    assert not (cache / "0.0.1-0123456789abcdef").exists()
    assert not (cache / ".unpack-killed").exists()
    (cache / ".unpack-running").rmdir()
    (unpacked,) = cache.iterdir()
    assert re.fullmatch(rf"{re.escape(VERSION)}-[0-9a-f]{{16}}", unpacked.name)
    assert (unpacked / ".complete").is_file()
    assert not (unpacked / "__main__.py").exists()
    assert list((unpacked / "kubectl_netfix" / "__pycache__").glob("cli.*.pyc"))
    listing = sorted(
        p.relative_to(unpacked) for p in unpacked.rglob("*") if "__pycache__" not in p.parts
    )
    assert run_isolated([str(dist.zipapp), "version"], cwd=tmp_path, cache=cache).returncode == 0
    assert [p.name for p in cache.iterdir()] == [unpacked.name]
    assert listing == sorted(
        p.relative_to(unpacked) for p in unpacked.rglob("*") if "__pycache__" not in p.parts
    )
    # The tree is the zipapp's contents, byte for byte.
    with zipfile.ZipFile(dist.zipapp) as zf:
        for info in zf.infolist():
            if not info.is_dir() and info.filename != "__main__.py":
                assert (unpacked / info.filename).read_bytes() == zf.read(info), info.filename


def test_zipapp_runs_from_the_zip_where_it_cannot_unpack(dist: Dist, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    result = run_isolated([str(dist.zipapp), "version"], cwd=tmp_path, cache=blocker / "cache")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"kubectl-netfix {VERSION}"
    # By default it unpacks under $XDG_CACHE_HOME (else ~/.cache)/kubectl-netfix/zipapp.
    env = {"HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    subprocess.run(
        [sys.executable, "-I", "-S", str(dist.zipapp), "version"],
        env=env,
        check=True,
        capture_output=True,
    )
    assert list((tmp_path / "xdg" / "kubectl-netfix" / "zipapp").glob("*/.complete"))


def test_zipapp_check_finds_isolated(dist: Dist, tmp_path: Path) -> None:
    manifest = tmp_path / "bad.yaml"
    manifest.write_text(BAD_MANIFEST)
    args = ["check", "-f", str(manifest), "--rule", "service-selector", "-o", "json"]
    check = run_isolated([str(dist.zipapp), *args], cwd=tmp_path)
    assert check.returncode == 1, check.stderr
    findings = json.loads(check.stdout)["findings"]
    assert [f["rule"] for f in findings] == ["service-selector"]
    assert findings[0]["object"]["name"] == "backend"
    # stdin works too (`-f -`).
    piped = run_isolated([str(dist.zipapp), "check", "-f", "-"], cwd=tmp_path, stdin=BAD_MANIFEST)
    assert piped.returncode == 1 and "service-selector" in piped.stdout


def run_source_tree(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """The same command from the source tree, in this environment (with the C speed-ups)."""
    return subprocess.run(
        [sys.executable, "-m", "kubectl_netfix", *args],
        cwd=cwd,
        env={**os.environ, "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_zipapp_behaves_like_the_source_tree(dist: Dist, tmp_path: Path) -> None:
    """Same exit code, output and written bytes: the pure-Python fallbacks change nothing."""
    (tmp_path / "bad.yaml").write_text(BAD_MANIFEST)
    cache = tmp_path / "cache"
    inputs = [*sorted((ROOT / "examples").glob("*.yaml")), tmp_path / "bad.yaml"]
    commands = (
        ["check", "-o", "json"],
        ["check"],
        ["fix", "--unsafe-fixes"],
        ["fix", "--write", "--unsafe-fixes"],
    )
    for manifest in inputs:
        for command in commands:
            outcomes = []
            for flavour in ("zipapp", "source"):
                work = tmp_path / flavour
                work.mkdir(exist_ok=True)
                copy = work / manifest.name
                copy.write_bytes(manifest.read_bytes())
                args = [*command, "-f", copy.name]
                if flavour == "zipapp":
                    result = run_isolated([str(dist.zipapp), *args], cwd=work, cache=cache)
                else:
                    result = run_source_tree(args, cwd=work)
                outcomes.append((result.returncode, result.stdout, copy.read_bytes()))
            assert outcomes[0] == outcomes[1], (manifest.name, command)


PROBE = """\
import json, sys
zipapp = sys.argv[1]
sys.path.insert(0, zipapp)
import yaml, ruamel.yaml, cleo, rapidfuzz, jsonpatch, charset_normalizer, requests
import kubernetes.client, kubernetes.config, kubernetes.watch, kubernetes.stream
from cleo._utils import find_similar_names
from rapidfuzz import fuzz
from ruamel.yaml import YAML
import io
doc = YAML().load("a: 1  # keep\\n")
doc["a"] = 2
buf = io.StringIO()
YAML().dump(doc, buf)
leaked = sorted(
    name for name, module in list(sys.modules.items())
    if getattr(module, "__file__", None) and "site-packages" in module.__file__
)
print(json.dumps({
    "libyaml": yaml.__with_libyaml__,
    "csafeloader": hasattr(yaml, "CSafeLoader"),
    "yaml_from": yaml.__file__,
    "kubernetes_from": kubernetes.client.__file__,
    "rapidfuzz_impl": fuzz.ratio.__module__,
    "similar": find_similar_names("chek", ["check", "fix", "rules"]),
    "ruamel": buf.getvalue(),
    "charset": charset_normalizer.from_bytes("héllo wörld".encode("latin-1")).best().encoding,
    "leaked": leaked,
}))
"""


def test_dependencies_work_without_their_c_extensions(dist: Dist, tmp_path: Path) -> None:
    result = run_isolated(["-c", PROBE, str(dist.zipapp)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout)
    zipapp = str(dist.zipapp)
    assert probe["libyaml"] is False and probe["csafeloader"] is False
    assert probe["yaml_from"].startswith(zipapp)
    assert probe["kubernetes_from"].startswith(zipapp)
    assert probe["rapidfuzz_impl"].endswith("_py")
    assert probe["similar"] == ["check"]
    assert probe["ruamel"] == "a: 2  # keep\n"
    assert probe["charset"]
    assert probe["leaked"] == []


# ---------------------------------------------------------------------------------------------
# the wheel and the sdist
# ---------------------------------------------------------------------------------------------


def test_sdist_has_the_sources_and_the_license(dist: Dist) -> None:
    with tarfile.open(dist.sdist, "r:gz") as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    assert {"LICENSE", "pyproject.toml", "PKG-INFO", "src/kubectl_netfix/cli.py"} <= names


@pytest.fixture(scope="module")
def venv(dist: Dist, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    constraints = venv / "constraints.txt"
    pins = build_dist.installed_pins(build_dist.wheel_requires(dist.wheel))
    constraints.write_text("".join(f"{n}=={v}\n" for n, v in sorted(pins.items())))
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    subprocess.run(
        [*pip, "install", "--quiet", "--constraint", str(constraints), str(dist.wheel)],
        check=True,
        timeout=900,
    )
    yield venv


def test_wheel_gives_the_same_command(venv: Path, tmp_path: Path) -> None:
    command = venv / "bin" / "kubectl-netfix"
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "NO_COLOR": "1"}
    version = subprocess.run(
        [str(command), "version"], env=env, capture_output=True, text=True, check=False
    )
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"kubectl-netfix {VERSION}"
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import kubectl_netfix as k; print(k.__file__)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.startswith(str(venv)), "the venv must use the wheel, not the source tree"
    manifest = tmp_path / "bad.yaml"
    manifest.write_text(BAD_MANIFEST)
    check = subprocess.run(
        [str(command), "check", "-f", str(manifest)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 1 and "service-selector" in check.stdout, check.stderr
    pip_check = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "check"], capture_output=True, text=True
    )
    assert pip_check.returncode == 0, pip_check.stdout


def test_wheel_metadata(dist: Dist) -> None:
    with zipfile.ZipFile(dist.wheel) as zf:
        names = zf.namelist()
        entry_points = zf.read(f"kubectl_netfix-{VERSION}.dist-info/entry_points.txt").decode()
        metadata = zf.read(f"kubectl_netfix-{VERSION}.dist-info/METADATA").decode()
    assert "kubectl-netfix = kubectl_netfix.cli:main" in entry_points
    assert "Requires-Python: >=3.11" in metadata
    assert any(n.endswith("LICENSE") for n in names)
    assert "kubectl_netfix/py.typed" in names
    assert io.StringIO(metadata).readline().startswith("Metadata-Version:")
