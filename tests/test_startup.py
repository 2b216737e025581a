"""What start-up imports: file mode never loads the cluster client (an import-graph check,
read from `python -X importtime`; no test here times anything)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SMALL = """\
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
  - port: 80
"""


def imported_modules(*args: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "kubectl_netfix", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode in (0, 1), result.stderr[-2000:]
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "kubectl_netfix.cli" in modules, "no importtime output"
    return modules


def roots(modules: set[str]) -> set[str]:
    return {module.split(".")[0] for module in modules}


@pytest.fixture
def small_file(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(SMALL)
    return path


def test_check_on_files_never_imports_the_cluster_client(small_file: Path) -> None:
    modules = imported_modules("check", "-f", str(small_file))
    assert "kubectl_netfix.rules" in modules  # the check did run
    assert not roots(modules) & {"kubernetes", "urllib3"}
    assert "kubectl_netfix.cluster" not in modules


def test_check_on_files_leaves_the_fix_machinery_alone(small_file: Path) -> None:
    modules = imported_modules("check", "-f", str(small_file))
    assert not roots(modules) & {"ruamel", "jsonpatch", "jsonpointer"}
    assert not modules & {"kubectl_netfix.writeback", "kubectl_netfix.patch_engine"}


def test_version_imports_neither_yaml_nor_the_rules() -> None:
    modules = imported_modules("version")
    assert not roots(modules) & {"kubernetes", "urllib3", "yaml", "ruamel", "jsonpatch"}
    assert not modules & {"kubectl_netfix.loader", "kubectl_netfix.rules"}
