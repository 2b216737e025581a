"""Fixtures and helpers for the end-to-end suite: a real cluster, named by KUBECONFIG.

Every test drives the real CLI through kubectl's plugin dispatch (`kubectl netfix ...` as a
subprocess) and sets up and verifies with `kubectl apply` / `kubectl get -o json`. Objects live
in namespaces named `netfix-e2e-<what>-<random>` that are deleted afterwards; cluster-scoped
objects and kube-system ConfigMaps a test changes are deleted or restored in finalizers.

There is no skipping here: without KUBECONFIG, kubectl, the plugin or a reachable cluster the
whole run stops with one clear message and a non-zero exit status, so CI can never pass an e2e
job that did not run.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import string
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

CASES = Path(__file__).parent / "cases"
# No single command of the suite may hang it: each gets this long.
COMMAND_TIMEOUT = 120.0
# How long to wait for the controller-manager and kwok (pods Running, EndpointSlices filled).
SETTLE_TIMEOUT = 90.0
NAMESPACE_LABEL = "netfix.io/e2e"

JsonObject = dict[str, Any]


# --- running commands ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        try:
            return json.loads(self.stdout)
        except ValueError as exc:
            raise AssertionError(f"{self.describe()}\nstdout is not JSON: {exc}") from None

    def describe(self) -> str:
        return (
            f"$ {' '.join(self.args)}\nexit {self.returncode}\n"
            f"--- stdout\n{self.stdout}--- stderr\n{self.stderr}"
        )


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env["NO_COLOR"] = "1"
    # The plugin kubectl dispatches to should be the one installed for this interpreter (the
    # same code the in-process tests import), and not a pyenv shim's detour to it.
    scripts = sysconfig.get_path("scripts")
    if scripts and Path(scripts, "kubectl-netfix").exists():
        env["PATH"] = os.pathsep.join([scripts, env.get("PATH", "")])
    return env


ENV = _environment()


def run(args: list[str], *, env: dict[str, str] | None = None, stdin: str | None = None) -> Result:
    try:
        completed = subprocess.run(
            args,
            input=stdin,
            capture_output=True,
            text=True,
            env=env or ENV,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"timed out after {COMMAND_TIMEOUT}s: {' '.join(args)}") from exc
    return Result(tuple(args), completed.returncode, completed.stdout, completed.stderr)


def kubectl(*args: str, stdin: str | None = None, ok: bool = True) -> Result:
    result = run(["kubectl", *args], stdin=stdin)
    if ok and result.returncode != 0:
        raise AssertionError(f"kubectl failed:\n{result.describe()}")
    return result


def kubectl_json(*args: str) -> Any:
    return kubectl(*args, "-o", "json").json()


def get_object(kind: str, name: str, namespace: str | None = None) -> JsonObject:
    where = ["-n", namespace] if namespace else []
    body: JsonObject = kubectl_json("get", kind, name, *where)
    return body


def netfix(*args: str, env: dict[str, str] | None = None) -> Result:
    """`kubectl netfix ARGS`: through kubectl's plugin dispatch, as a user runs it."""
    return run(["kubectl", "netfix", *args], env=env)


def netfix_json(*args: str, env: dict[str, str] | None = None) -> tuple[Result, JsonObject]:
    result = netfix(*args, "-o", "json", env=env)
    if result.returncode not in (0, 1):
        raise AssertionError(f"netfix failed:\n{result.describe()}")
    report: JsonObject = result.json()
    return result, report


def wait_until(what: str, probe: Callable[[], Any], timeout: float = SETTLE_TIMEOUT) -> Any:
    """Poll `probe` until it returns something truthy; fail naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    delay = 0.2
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 1.5, 2.0)


def random_suffix() -> str:
    return secrets.token_hex(3)


# --- manifests -----------------------------------------------------------------------------------


def render_case(name: str, **values: str) -> str:
    """e2e/cases/NAME.yaml with its ${VARS} filled in (a missing one is an error)."""
    text = (CASES / f"{name}.yaml").read_text()
    return string.Template(text).substitute(values)


def apply_case(namespace: str | None, name: str, **values: str) -> Result:
    where = ["-n", namespace] if namespace else []
    return kubectl("apply", *where, "-f", "-", stdin=render_case(name, **values))


def rollout(namespace: str, *workloads: str) -> None:
    """Wait until each Deployment/StatefulSet has its pods Running and its controller is done
    writing its status, so that its resourceVersion holds still while a test compares it."""
    timeout = f"--timeout={int(SETTLE_TIMEOUT)}s"
    for workload in workloads:
        kubectl("rollout", "status", "-n", namespace, workload, timeout)
        if workload.startswith("deployment"):
            kubectl(
                "wait",
                "-n",
                namespace,
                workload,
                "--for=jsonpath={.status.conditions[?(@.type=='Progressing')].reason}"
                "=NewReplicaSetAvailable",
                timeout,
            )


# --- report helpers ------------------------------------------------------------------------------


def findings(report: JsonObject, rule: str | None = None) -> list[JsonObject]:
    found: list[JsonObject] = report["findings"]
    return [f for f in found if rule is None or f["rule"] == rule]


def finding_on(
    report: JsonObject, rule: str, kind: str, namespace: str | None, name: str
) -> JsonObject:
    for finding in findings(report, rule):
        obj = finding["object"]
        if (obj["kind"], obj.get("namespace"), obj["name"]) == (kind, namespace, name):
            return finding
    listed = "\n".join(
        f"  {f['rule']} {f['object']['kind']}/{f['object'].get('namespace')}/{f['object']['name']}"
        for f in findings(report)
    )
    raise AssertionError(f"no {rule} finding on {kind}/{namespace}/{name}; found:\n{listed}")


def is_fixable(finding: JsonObject) -> bool:
    """A finding `fix --apply` would act on (with --unsafe-fixes): not manual, and it patches or
    creates something."""
    fix = finding.get("fix")
    if not fix or fix["applicability"] == "manual":
        return False
    return bool(fix.get("patches") or fix.get("creates"))


def result_lines(result: Result) -> dict[str, str]:
    """`Kind/ns/name: result (detail)` lines of `fix --apply` -> {target: rest}."""
    lines = {}
    for line in result.stdout.splitlines():
        target, sep, rest = line.partition(": ")
        if sep and target.count("/") >= 1 and " " not in target:
            lines[target] = rest
    return lines


# --- fixtures ------------------------------------------------------------------------------------


def _stop(message: str) -> None:
    pytest.exit(f"e2e cannot run: {message}", returncode=1)


@pytest.fixture(scope="session", autouse=True)
def cluster() -> str:
    """The cluster KUBECONFIG names, checked once; the server's version ("1.36")."""
    if not os.environ.get("KUBECONFIG"):
        _stop(
            "KUBECONFIG is not set. Start a cluster and point at it, e.g.\n"
            '  bash e2e/cluster.sh up local && eval "$(bash e2e/cluster.sh env local)"'
        )
    for path in os.environ["KUBECONFIG"].split(os.pathsep):
        if path and not Path(path).is_file():
            _stop(f"KUBECONFIG names {path}, which does not exist (is the cluster up?)")
    if shutil.which("kubectl", path=ENV["PATH"]) is None:
        _stop("kubectl is not on PATH")
    if shutil.which("kubectl-netfix", path=ENV["PATH"]) is None:
        _stop(
            "kubectl-netfix is not on PATH, so `kubectl netfix` cannot dispatch to it: "
            "install the package (pip install -e .) into an environment whose bin/ is on PATH"
        )
    from kubectl_netfix import __version__

    version = netfix("version")
    if version.returncode != 0 or version.stdout.strip() != f"kubectl-netfix {__version__}":
        _stop(
            "`kubectl netfix version` does not run the kubectl-netfix this interpreter "
            f"imports ({__version__}):\n{version.describe()}"
        )
    ready = run(["kubectl", "get", "--raw", "/readyz", "--request-timeout=10s"])
    if ready.returncode != 0:
        _stop(
            f"the cluster of KUBECONFIG={os.environ['KUBECONFIG']} is unreachable or not "
            f"ready:\n{ready.stderr.strip()}\n(local backend: bash e2e/cluster.sh up local)"
        )
    server = kubectl_json("version")["serverVersion"]
    minor = "".join(ch for ch in server["minor"] if ch.isdigit())
    return f"{server['major']}.{minor}"


LOCK_NAME = "netfix-e2e"
LOCK_SECONDS = 1800
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def _lease(holder: str) -> str:
    now = datetime.now(UTC).strftime(TIME_FORMAT)
    return json.dumps(
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": LOCK_NAME, "namespace": "kube-system"},
            "spec": {
                "holderIdentity": holder,
                "leaseDurationSeconds": LOCK_SECONDS,
                "acquireTime": now,
                "renewTime": now,
            },
        }
    )


@pytest.fixture(scope="session", autouse=True)
def exclusive(cluster: str) -> Iterator[None]:
    """One run of this suite per cluster at a time: some tests change kube-system ConfigMaps
    and apply fixes with -A. A Lease in kube-system is the lock; a stale one (a run that was
    killed) expires after LOCK_SECONDS."""
    holder = f"{socket.gethostname()}-{os.getpid()}-{random_suffix()}"
    deadline = time.monotonic() + 900
    said = False
    while kubectl("create", "-f", "-", stdin=_lease(holder), ok=False).returncode != 0:
        current = kubectl("get", "lease", LOCK_NAME, "-n", "kube-system", "-o", "json", ok=False)
        if current.returncode == 0:
            spec = current.json()["spec"]
            renewed = datetime.strptime(spec["renewTime"], TIME_FORMAT).replace(tzinfo=UTC)
            if (datetime.now(UTC) - renewed).total_seconds() > spec["leaseDurationSeconds"]:
                kubectl("delete", "lease", LOCK_NAME, "-n", "kube-system", ok=False)
                continue
            if not said:
                print(f"waiting for another e2e run ({spec['holderIdentity']})", file=sys.stderr)
                said = True
        if time.monotonic() > deadline:
            _stop(f"another e2e run has held Lease kube-system/{LOCK_NAME} for 15 minutes")
        time.sleep(3)
    try:
        yield
    finally:
        current = kubectl("get", "lease", LOCK_NAME, "-n", "kube-system", "-o", "json", ok=False)
        if current.returncode == 0 and current.json()["spec"]["holderIdentity"] == holder:
            kubectl("delete", "lease", LOCK_NAME, "-n", "kube-system", ok=False)


@pytest.fixture
def cleanup() -> Iterator[list[list[str]]]:
    """Append `kubectl` argument lists (e.g. ["delete", "pv", NAME]); run after the test,
    last in first out, whatever the test did."""
    actions: list[list[str]] = []
    yield actions
    errors = []
    for action in reversed(actions):
        result = kubectl(*action, ok=False)
        if result.returncode != 0 and "NotFound" not in result.stderr:
            errors.append(result.describe())
    if errors:
        print("cleanup problems:\n" + "\n".join(errors), file=sys.stderr)


@pytest.fixture
def make_namespace(cleanup: list[list[str]]) -> Callable[[str], str]:
    """make_namespace("egress-dns") -> a new namespace netfix-e2e-egress-dns-<random>."""

    def create(what: str) -> str:
        name = f"netfix-e2e-{what}-{random_suffix()}"[:63]
        kubectl("create", "namespace", name)
        cleanup.append(["delete", "namespace", name, "--wait=false", "--ignore-not-found"])
        kubectl("label", "namespace", name, f"{NAMESPACE_LABEL}=true")
        # Pods need the namespace's default ServiceAccount (the controller makes it).
        wait_until(
            f"ServiceAccount {name}/default",
            lambda: (
                kubectl("get", "serviceaccount", "default", "-n", name, ok=False).returncode == 0
            ),
        )
        return name

    return create


@pytest.fixture
def kube_system_configmap() -> Iterator[Callable[[str], JsonObject]]:
    """kube_system_configmap("coredns") -> the ConfigMap as it is now; its `data` is put back
    after the test, whatever the test did to it."""
    saved: dict[str, JsonObject] = {}

    def save(name: str) -> JsonObject:
        body = get_object("configmap", name, "kube-system")
        saved.setdefault(name, body.get("data") or {})
        return body

    yield save
    for name, data in saved.items():
        patch = [{"op": "replace", "path": "/data", "value": data}]
        kubectl(
            "patch", "configmap", name, "-n", "kube-system", "--type=json", "-p", json.dumps(patch)
        )


@pytest.fixture(scope="session")
def readonly_kubeconfig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A kubeconfig for a ServiceAccount bound to the built-in `view` ClusterRole: it may read
    most namespaced kinds, not Secrets, nodes or cluster-scoped kinds, and write nothing."""
    suffix = random_suffix()
    namespace = f"netfix-e2e-rbac-{suffix}"
    binding = f"netfix-e2e-view-{suffix}"
    kubectl("create", "namespace", namespace)
    try:
        kubectl("label", "namespace", namespace, f"{NAMESPACE_LABEL}=true")
        wait_until(
            "the reader's namespace to get its default ServiceAccount",
            lambda: kubectl("get", "sa", "default", "-n", namespace, ok=False).returncode == 0,
        )
        kubectl("create", "serviceaccount", "reader", "-n", namespace)
        kubectl(
            "create",
            "clusterrolebinding",
            binding,
            "--clusterrole=view",
            f"--serviceaccount={namespace}:reader",
        )
        token = kubectl("create", "token", "reader", "-n", namespace, "--duration=1h")
        current = kubectl_json("config", "view", "--raw", "--minify", "--flatten")
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": current["clusters"],
            "users": [{"name": "reader", "user": {"token": token.stdout.strip()}}],
            "contexts": [
                {
                    "name": "reader",
                    "context": {
                        "cluster": current["clusters"][0]["name"],
                        "user": "reader",
                        "namespace": "default",
                    },
                }
            ],
            "current-context": "reader",
        }
        path = tmp_path_factory.mktemp("rbac") / "kubeconfig-readonly"
        path.write_text(json.dumps(config))
        path.chmod(0o600)
        reader_env = {**ENV, "KUBECONFIG": str(path)}
        wait_until(
            "the view ClusterRoleBinding to take effect",
            lambda: (
                run(
                    ["kubectl", "auth", "can-i", "list", "pods", "-A"], env=reader_env
                ).stdout.strip()
                == "yes"
            ),
        )
        yield path
    finally:
        kubectl("delete", "clusterrolebinding", binding, "--ignore-not-found")
        kubectl("delete", "namespace", namespace, "--wait=false", "--ignore-not-found")
