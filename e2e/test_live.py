"""End-to-end: every rule against a real API server, through `kubectl netfix`.

For each of the ten rules: the footgun is created with `kubectl apply`; `check -o json` finds
it (rule, object, severity); `fix --apply --dry-run=server` leaves the server objects as they
were; `fix --apply --yes` fixes them (one result line per object); the server objects then hold
the expected fields; and a second `check` has nothing left to fix. Around that: conflicts
between plan and apply, a read-only user, an unreachable cluster, an unknown context, the
preview's `kubectl patch` commands, `-A`, and Secrets never being read.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    ENV,
    JsonObject,
    Result,
    apply_case,
    finding_on,
    findings,
    get_object,
    is_fixable,
    kubectl,
    kubectl_json,
    netfix,
    netfix_json,
    random_suffix,
    result_lines,
    rollout,
    run,
    wait_until,
)

CASES = Path(__file__).parent / "cases"

Target = tuple[str, str | None, str]  # (kind, namespace, name) as `kubectl get` takes them


def ref(kind: str, namespace: str | None, name: str) -> str:
    """How netfix names an object in its result lines: Kind/namespace/name."""
    return f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"


def server_state(target: Target) -> JsonObject | None:
    """What a fix may change on an object (None: it does not exist)."""
    kind, namespace, name = target
    where = ["-n", namespace] if namespace else []
    result = kubectl("get", kind, name, *where, "-o", "json", ok=False)
    if result.returncode != 0:
        assert "NotFound" in result.stderr, result.describe()
        return None
    body = result.json()
    metadata = body["metadata"]
    return {
        "resourceVersion": metadata["resourceVersion"],
        "labels": metadata.get("labels"),
        "annotations": metadata.get("annotations"),
        "spec": body.get("spec"),
        "data": body.get("data"),
    }


def fix_and_verify(
    scope: Sequence[str],
    rule: str | None,
    targets: Sequence[Target],
    results: dict[str, str],
    *,
    unsafe: bool,
    extra: Sequence[str] = (),
    unchanged: Sequence[Target] = (),
) -> None:
    """`fix --apply --dry-run=server` changes nothing; `fix --apply --yes` prints `results`
    ({"Kind/ns/name": "applied" | "created"}), changes (or creates) `targets` and leaves
    `unchanged` as it was."""
    flags = [*scope, *(["--rule", rule] if rule else []), *extra]
    if unsafe:
        flags.append("--unsafe-fixes")
    watched = [*targets, *unchanged]
    before = {target: server_state(target) for target in watched}

    rehearsal = netfix("fix", *flags, "--apply", "--dry-run=server")
    assert rehearsal.returncode == 0, rehearsal.describe()
    lines = result_lines(rehearsal)
    for shown in results:
        assert lines.get(shown) == "dry-run ok", rehearsal.describe()
    for target in watched:
        assert server_state(target) == before[target], f"--dry-run=server changed {target}"

    applied = netfix("fix", *flags, "--apply", "--yes")
    assert applied.returncode == 0, applied.describe()
    lines = result_lines(applied)
    for shown, word in results.items():
        assert lines.get(shown) == word, applied.describe()
    for target in targets:
        after = server_state(target)
        assert after is not None and after != before[target], f"{target} did not change"
    for target in unchanged:
        assert server_state(target) == before[target], f"{target} changed"


def assert_nothing_to_fix(scope: Sequence[str], rule: str, extra: Sequence[str] = ()) -> JsonObject:
    """A second `check`: no finding of `rule` that `fix --apply --unsafe-fixes` would act on."""
    _, report = netfix_json("check", *scope, *extra)
    left = [f for f in findings(report, rule) if is_fixable(f)]
    assert not left, f"still fixable after the fix: {json.dumps(left, indent=2)}"
    return report


def schedulable_node() -> str:
    """A Ready node that takes ordinary pods (kind's control plane is tainted)."""
    for node in kubectl_json("get", "nodes")["items"]:
        taints = node["spec"].get("taints") or []
        ready = any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in node.get("status", {}).get("conditions", [])
        )
        if ready and not any(t.get("effect") in ("NoSchedule", "NoExecute") for t in taints):
            name: str = node["metadata"]["name"]
            return name
    raise AssertionError("the cluster has no schedulable Ready node")


def running_pods(namespace: str, selector: str) -> list[JsonObject]:
    pods: list[JsonObject] = kubectl_json("get", "pods", "-n", namespace, "-l", selector)["items"]
    return [
        p
        for p in pods
        if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
    ]


def endpoint_slices(namespace: str, service: str) -> list[JsonObject]:
    slices: list[JsonObject] = kubectl_json(
        "get", "endpointslices", "-n", namespace, "-l", f"kubernetes.io/service-name={service}"
    )["items"]
    return slices


def ready_endpoints(namespace: str, service: str) -> int:
    return sum(
        1
        for s in endpoint_slices(namespace, service)
        for e in s.get("endpoints") or []
        if (e.get("conditions") or {}).get("ready")
    )


def server_minor() -> tuple[int, int]:
    server = kubectl_json("version")["serverVersion"]
    return int(server["major"]), int("".join(ch for ch in server["minor"] if ch.isdigit()))


def set_configmap_key(name: str, key: str, value: str) -> None:
    patch = [
        {"op": "add", "path": f"/data/{key.replace('~', '~0').replace('/', '~1')}", "value": value}
    ]
    kubectl("patch", "configmap", name, "-n", "kube-system", "--type=json", "-p", json.dumps(patch))


# --- the ten rules -------------------------------------------------------------------------------


def test_egress_dns(make_namespace: Callable[[str], str]) -> None:
    ns = make_namespace("egress-dns")
    apply_case(ns, "egress-dns")
    rollout(ns, "deployment/web")

    _, report = netfix_json("check", "-n", ns)
    finding = finding_on(report, "egress-dns", "NetworkPolicy", ns, "web-egress")
    assert finding["severity"] == "warning"
    assert "UDP only" in finding["message"]
    assert finding["fix"]["applicability"] == "safe"

    policy = ("networkpolicy", ns, "web-egress")
    fix_and_verify(
        ["-n", ns],
        "egress-dns",
        [policy],
        {ref("NetworkPolicy", ns, "web-egress"): "applied"},
        unsafe=False,
    )
    egress = get_object("networkpolicy", "web-egress", ns)["spec"]["egress"]
    assert egress[0]["ports"] == [
        {"protocol": "UDP", "port": 53},
        {"protocol": "TCP", "port": 53},
    ]
    assert egress[0]["to"][0]["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}}
    assert egress[1] == {"ports": [{"protocol": "TCP", "port": 443}]}  # untouched
    report = assert_nothing_to_fix(["-n", ns], "egress-dns")
    assert not findings(report, "egress-dns")


def test_service_selector(make_namespace: Callable[[str], str]) -> None:
    ns = make_namespace("service-selector")
    apply_case(ns, "service-selector")
    rollout(ns, "deployment/backend-api")
    # The EndpointSlice controller writes the (empty) slice the message talks about.
    wait_until("the EndpointSlice of Service backend", lambda: endpoint_slices(ns, "backend"))

    _, report = netfix_json("check", "-n", ns)
    finding = finding_on(report, "service-selector", "Service", ns, "backend")
    assert finding["severity"] == "error"
    assert "app=backend" in finding["message"]
    assert "backend-api" in finding["message"]
    assert "EndpointSlices have no endpoints" in finding["message"]
    assert finding["fix"]["applicability"] == "unsafe"

    fix_and_verify(
        ["-n", ns],
        "service-selector",
        [("service", ns, "backend")],
        {ref("Service", ns, "backend"): "applied"},
        unsafe=True,
    )
    assert get_object("service", "backend", ns)["spec"]["selector"] == {"app": "backend-api"}
    wait_until("Service backend to get a ready endpoint", lambda: ready_endpoints(ns, "backend"))
    report = assert_nothing_to_fix(["-n", ns], "service-selector")
    assert not findings(report, "service-selector")


def test_hardcoded_cluster_ip(make_namespace: Callable[[str], str]) -> None:
    ns = make_namespace("cluster-ip")
    apply_case(ns, "hardcoded-cluster-ip-service")
    ip = get_object("service", "db", ns)["spec"]["clusterIP"]
    apply_case(ns, "hardcoded-cluster-ip", DB_IP=ip)
    rollout(ns, "deployment/app")

    _, report = netfix_json("check", "-n", ns)
    hits = [
        f
        for f in findings(report, "hardcoded-cluster-ip")
        if f["object"]["kind"] == "Deployment" and f["object"]["name"] == "app"
    ]
    assert {f["pointer"] for f in hits} == {
        "/spec/template/spec/containers/0/env/0/value",
        "/spec/template/spec/containers/0/env/1/value",
    }, json.dumps(report, indent=2)
    for finding in hits:
        assert finding["severity"] == "warning"
        assert ip in finding["message"] and f"Service {ns}/db" in finding["message"]
        assert finding["fix"]["applicability"] == "safe"

    fix_and_verify(
        ["-n", ns],
        "hardcoded-cluster-ip",
        [("deployment", ns, "app")],
        {ref("Deployment", ns, "app"): "applied"},
        unsafe=False,
    )
    env = get_object("deployment", "app", ns)["spec"]["template"]["spec"]["containers"][0]["env"]
    name = f"db.{ns}.svc.cluster.local"
    assert env == [
        {"name": "DB_HOST", "value": name},
        {"name": "DB_URL", "value": f"postgres://{name}:5432/shop"},
    ]
    report = assert_nothing_to_fix(["-n", ns], "hardcoded-cluster-ip")
    assert not findings(report, "hardcoded-cluster-ip")


def test_hardcoded_cluster_ip_of_another_namespace(make_namespace: Callable[[str], str]) -> None:
    """With -n the Services of other namespaces are not read: their ClusterIPs are still
    flagged, but never as "no Service has it: broken"; -A names the Service and fixes it."""
    ns, other = make_namespace("cluster-ip-app"), make_namespace("cluster-ip-db")
    apply_case(other, "hardcoded-cluster-ip-service")
    ip = get_object("service", "db", other)["spec"]["clusterIP"]
    apply_case(ns, "hardcoded-cluster-ip", DB_IP=ip)

    _, report = netfix_json("check", "-n", ns, "--rule", "hardcoded-cluster-ip")
    for finding in findings(report, "hardcoded-cluster-ip"):
        assert finding["severity"] == "warning", finding
        assert "broken" not in finding["message"] and "-A" in finding["message"], finding
        assert not is_fixable(finding)
    assert findings(report, "hardcoded-cluster-ip")

    _, report = netfix_json("check", "-A", "--rule", "hardcoded-cluster-ip")
    hits = [f for f in findings(report) if f["object"].get("namespace") == ns]
    assert len(hits) == 2
    for finding in hits:
        assert f"Service {other}/db" in finding["message"], finding
        assert finding["fix"]["applicability"] == "safe"


def test_dns_ndots(make_namespace: Callable[[str], str]) -> None:
    ns = make_namespace("dns-ndots")
    apply_case(ns, "dns-ndots")
    rollout(ns, "deployment/fetcher")

    _, report = netfix_json("check", "-n", ns)
    finding = finding_on(report, "dns-ndots", "Deployment", ns, "fetcher")
    assert finding["severity"] == "warning"  # the env names an external host
    assert "api.example.com" in finding["message"]
    assert finding["fix"]["applicability"] == "safe"

    # Without --yes and without a terminal to ask on, --apply refuses and changes nothing.
    before = server_state(("deployment", ns, "fetcher"))
    refused = netfix("fix", "-n", ns, "--apply")
    assert refused.returncode == 2, refused.describe()
    assert "--yes" in refused.stderr
    assert server_state(("deployment", ns, "fetcher")) == before

    fix_and_verify(
        ["-n", ns],
        "dns-ndots",
        [("deployment", ns, "fetcher")],
        {ref("Deployment", ns, "fetcher"): "applied"},
        unsafe=False,
    )
    spec = get_object("deployment", "fetcher", ns)["spec"]["template"]["spec"]
    assert spec["dnsConfig"] == {"options": [{"name": "ndots", "value": "2"}]}
    report = assert_nothing_to_fix(["-n", ns], "dns-ndots")
    assert not [f for f in findings(report, "dns-ndots") if f["object"]["name"] == "fetcher"]


def test_rwo_shared_volume(make_namespace: Callable[[str], str], cleanup: list[list[str]]) -> None:
    ns = make_namespace("rwo")
    node = schedulable_node()
    volume = ns  # unique, and PersistentVolumes are cluster-scoped
    cleanup.append(["delete", "persistentvolume", volume, "--ignore-not-found", "--wait=false"])
    apply_case(ns, "rwo-shared-volume", PV_NAME=volume, NAMESPACE=ns, NODE=node)
    kubectl("wait", "-n", ns, "pvc/data", "--for=jsonpath={.status.phase}=Bound", "--timeout=90s")
    rollout(ns, "deployment/writer")

    def two_running() -> list[JsonObject] | None:
        pods = running_pods(ns, "app=writer")
        return pods if len(pods) == 2 else None

    pods = wait_until("two running writer pods on one node", two_running)
    assert {p["spec"]["nodeName"] for p in pods} == {node}

    _, report = netfix_json("check", "-n", ns)
    finding = finding_on(report, "rwo-shared-volume", "PersistentVolumeClaim", ns, "data")
    # Live-only: two running pods on one node mounting the claim is an error, not a warning.
    assert finding["severity"] == "error"
    for pod in pods:
        assert pod["metadata"]["name"] in finding["message"]
    assert node in finding["message"]
    fix = finding["fix"]
    assert fix["applicability"] == "manual"
    assert not fix["patches"] and not fix["creates"]
    assert "ReadWriteOncePod" in fix["title"] + fix["note"]

    preview = netfix("fix", "-n", ns, "--rule", "rwo-shared-volume", "--unsafe-fixes")
    assert preview.returncode == 0, preview.describe()
    assert "(manual)" in preview.stdout and "ReadWriteOncePod" in preview.stdout
    assert "kubectl patch" not in preview.stdout

    targets: list[Target] = [
        ("persistentvolumeclaim", ns, "data"),
        ("deployment", ns, "writer"),
        ("persistentvolume", None, volume),
    ]
    before = {t: server_state(t) for t in targets}
    for extra in (["--dry-run=server"], ["--yes"]):
        applied = netfix(
            "fix", "-n", ns, "--rule", "rwo-shared-volume", "--unsafe-fixes", "--apply", *extra
        )
        assert applied.returncode == 0, applied.describe()
        assert not result_lines(applied), applied.describe()
        assert "Nothing to apply" in applied.stderr
        assert "manual" in applied.stderr
    assert {t: server_state(t) for t in targets} == before

    report = assert_nothing_to_fix(["-n", ns], "rwo-shared-volume")
    assert finding_on(report, "rwo-shared-volume", "PersistentVolumeClaim", ns, "data")


def test_kube_proxy_mode(
    make_namespace: Callable[[str], str],
    kube_system_configmap: Callable[[str], JsonObject],
) -> None:
    kube_system_configmap("kube-proxy")  # restored after the test
    config = (CASES / "kube-proxy-config.conf").read_text()
    set_configmap_key("kube-proxy", "config.conf", config)
    ns = make_namespace("kube-proxy")
    threshold = ["--service-threshold=1"]  # a test cluster has a handful of Services

    _, report = netfix_json("check", "-n", ns, *threshold)
    finding = finding_on(report, "kube-proxy-mode", "ConfigMap", "kube-system", "kube-proxy")
    assert finding["severity"] == "warning"
    assert "iptables" in finding["message"]
    assert finding["fix"]["applicability"] == "unsafe"
    _, quiet = netfix_json("check", "-n", ns)  # the default threshold is 1000 Services
    assert not findings(quiet, "kube-proxy-mode")
    # -n reads one namespace (and kube-system), but the count is the whole cluster's: with the
    # `kubernetes` Service in `default`, it is above what kube-system alone has.
    in_kube_system = len(kubectl_json("get", "services", "-n", "kube-system")["items"])
    _, counted = netfix_json(
        "check", "-n", ns, "--rule", "kube-proxy-mode", f"--service-threshold={in_kube_system + 1}"
    )
    finding_on(counted, "kube-proxy-mode", "ConfigMap", "kube-system", "kube-proxy")

    configmap: Target = ("configmap", "kube-system", "kube-proxy")
    before = get_object("configmap", "kube-proxy", "kube-system")["data"]
    fix_and_verify(
        ["-n", ns],
        "kube-proxy-mode",
        [configmap],
        {ref("ConfigMap", "kube-system", "kube-proxy"): "applied"},
        unsafe=True,
        extra=threshold,
    )
    expected_mode = "nftables" if server_minor() >= (1, 33) else "ipvs"
    after = get_object("configmap", "kube-proxy", "kube-system")["data"]
    # Only the mode line changed, quotes kept; the other keys are untouched.
    assert after["config.conf"] == config.replace('mode: "iptables"', f'mode: "{expected_mode}"')
    assert {k: v for k, v in after.items() if k != "config.conf"} == {
        k: v for k, v in before.items() if k != "config.conf"
    }
    assert_nothing_to_fix(["-n", ns], "kube-proxy-mode", threshold)


def test_policy_namespace(make_namespace: Callable[[str], str]) -> None:
    policy_ns = make_namespace("policy-home")
    app_ns = make_namespace("policy-app")
    app = f"api-{random_suffix()}"
    apply_case(None, "policy-namespace", POLICY_NS=policy_ns, APP_NS=app_ns, APP=app)
    rollout(app_ns, "deployment/api")

    # The pods are in another namespace: only a run over every namespace can see it.
    _, report = netfix_json("check", "-A", "--rule", "policy-namespace")
    others = [
        f
        for f in findings(report)
        if is_fixable(f) and f["object"].get("namespace") not in (policy_ns, app_ns)
    ]
    if others:
        pytest.fail(
            "refusing to `fix -A --apply` here: the cluster has other policy-namespace fixes "
            f"that the test would apply too: {json.dumps(others, indent=2)}"
        )
    finding = finding_on(report, "policy-namespace", "NetworkPolicy", policy_ns, "api-ingress")
    assert finding["severity"] == "warning"
    assert app_ns in finding["message"]
    fix = finding["fix"]
    assert fix["applicability"] == "unsafe" and not fix["patches"]
    assert [c["metadata"]["namespace"] for c in fix["creates"]] == [app_ns]

    original: Target = ("networkpolicy", policy_ns, "api-ingress")
    copy: Target = ("networkpolicy", app_ns, "api-ingress")
    fix_and_verify(
        ["-A"],
        "policy-namespace",
        [copy],
        {ref("NetworkPolicy", app_ns, "api-ingress"): "created"},
        unsafe=True,
        unchanged=[original],  # never deleted or changed
    )
    created = get_object("networkpolicy", "api-ingress", app_ns)
    source = get_object("networkpolicy", "api-ingress", policy_ns)
    assert created["spec"] == source["spec"]
    assert created["metadata"]["uid"] != source["metadata"]["uid"]
    report = assert_nothing_to_fix(["-A", "--rule", "policy-namespace"], "policy-namespace")
    # The original is still in the wrong namespace: what is left is to delete it by hand.
    left = finding_on(report, "policy-namespace", "NetworkPolicy", policy_ns, "api-ingress")
    assert left["fix"]["applicability"] == "manual"
    assert f"kubectl -n {policy_ns} delete networkpolicy api-ingress" in left["fix"]["note"]


def test_headless_dns_ttl(
    make_namespace: Callable[[str], str],
    kube_system_configmap: Callable[[str], JsonObject],
) -> None:
    kube_system_configmap("coredns")  # restored after the test
    corefile = (CASES / "Corefile").read_text()
    set_configmap_key("coredns", "Corefile", corefile)
    ns = make_namespace("headless")
    apply_case(ns, "headless-dns-ttl")
    rollout(ns, "statefulset/peers")

    _, report = netfix_json("check", "-n", ns)
    finding = finding_on(report, "headless-dns-ttl", "ConfigMap", "kube-system", "coredns")
    assert finding["severity"] == "warning"
    assert "30s" in finding["message"] and f"{ns}/peers" in finding["message"]
    assert finding["fix"]["applicability"] == "unsafe"

    fix_and_verify(
        ["-n", ns],
        "headless-dns-ttl",
        [("configmap", "kube-system", "coredns")],
        {ref("ConfigMap", "kube-system", "coredns"): "applied"},
        unsafe=True,
    )
    after = get_object("configmap", "coredns", "kube-system")["data"]["Corefile"]
    old_lines, new_lines = corefile.splitlines(), after.splitlines()
    changed = [(o, n) for o, n in zip(old_lines, new_lines, strict=True) if o != n]
    assert len(changed) == 1 and changed[0][0] == "       ttl 30", changed
    ttl = re.fullmatch(r"       ttl (\d+)", changed[0][1])
    assert ttl is not None and int(ttl.group(1)) <= 10, changed
    report = assert_nothing_to_fix(["-n", ns], "headless-dns-ttl")
    assert not findings(report, "headless-dns-ttl")


def test_ingress_class(make_namespace: Callable[[str], str], cleanup: list[list[str]]) -> None:
    ns = make_namespace("ingress")
    ingress_class = f"netfix-e2e-{random_suffix()}"
    cleanup.append(["delete", "ingressclass", ingress_class, "--ignore-not-found"])
    apply_case(ns, "ingress-class", CLASS=ingress_class)

    _, report = netfix_json("check", "-n", ns)
    finding = finding_on(report, "ingress-class", "Ingress", ns, "shop")
    assert finding["severity"] == "info"
    assert "deprecated annotation" in finding["message"]
    assert finding["fix"]["applicability"] == "safe"

    fix_and_verify(
        ["-n", ns],
        "ingress-class",
        [("ingress", ns, "shop")],
        {ref("Ingress", ns, "shop"): "applied"},
        unsafe=False,
    )
    ingress = get_object("ingress", "shop", ns)
    assert ingress["spec"]["ingressClassName"] == ingress_class
    annotations = ingress["metadata"].get("annotations") or {}
    assert "kubernetes.io/ingress.class" not in annotations
    # Only the class annotation went: kubectl apply's own annotation is still there.
    assert "kubectl.kubernetes.io/last-applied-configuration" in annotations
    assert ingress["spec"]["rules"][0]["host"] == "shop.example.com"
    report = assert_nothing_to_fix(["-n", ns], "ingress-class")
    # With -n the controller may run in a namespace that was not read: no verdict on it.
    assert not findings(report, "ingress-class")

    # Live-only, over every namespace: the class's controller has no running pod.
    _, report = netfix_json("check", "-A", "--rule", "ingress-class")
    unserved = finding_on(report, "ingress-class", "Ingress", ns, "shop")
    assert unserved["severity"] == "error"
    assert "k8s.io/ingress-nginx" in unserved["message"]
    assert "no running pod" in unserved["message"]
    assert unserved["fix"]["applicability"] == "manual" and not is_fixable(unserved)

    controller_ns = make_namespace("ingress-nginx")
    apply_case(controller_ns, "ingress-controller")
    rollout(controller_ns, "deployment/ingress-nginx-controller")
    for scope in (["-A"], ["-n", ns]):
        _, report = netfix_json("check", *scope, "--rule", "ingress-class")
        assert not [
            f for f in findings(report, "ingress-class") if f["object"].get("namespace") == ns
        ], json.dumps(report, indent=2)


def test_external_traffic_policy(make_namespace: Callable[[str], str]) -> None:
    """Also: two rules' fixes on one Deployment go out as one guarded patch (no --rule)."""
    ns = make_namespace("etp")
    apply_case(ns, "external-traffic-policy")
    rollout(ns, "deployment/edge")

    _, report = netfix_json("check", "-n", ns)
    finding = finding_on(report, "external-traffic-policy", "Service", ns, "edge")
    assert finding["severity"] == "warning"
    assert "client IP" in finding["message"]
    fix = finding["fix"]
    assert fix["applicability"] == "unsafe"
    assert {p["target"]["kind"] for p in fix["patches"]} == {"Service", "Deployment"}
    finding_on(report, "dns-ndots", "Deployment", ns, "edge")

    fix_and_verify(
        ["-n", ns],
        None,
        [("service", ns, "edge"), ("deployment", ns, "edge")],
        {ref("Service", ns, "edge"): "applied", ref("Deployment", ns, "edge"): "applied"},
        unsafe=True,
    )
    assert get_object("service", "edge", ns)["spec"]["externalTrafficPolicy"] == "Local"
    spec = get_object("deployment", "edge", ns)["spec"]["template"]["spec"]
    assert spec["affinity"] == {
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 100,
                    "podAffinityTerm": {
                        "topologyKey": "kubernetes.io/hostname",
                        "labelSelector": {"matchLabels": {"app": "edge"}},
                    },
                }
            ]
        }
    }
    assert spec["dnsConfig"] == {"options": [{"name": "ndots", "value": "2"}]}
    _, report = netfix_json("check", "-n", ns)
    assert not [
        f for f in findings(report) if is_fixable(f) and f["object"].get("namespace") == ns
    ], json.dumps(report, indent=2)


# --- conflicts: the object changes between plan and apply ----------------------------------------


class Planned:
    """One dns-ndots fix planned in-process against the live Deployment `name`."""

    def __init__(self, namespace: str, name: str) -> None:
        from kubectl_netfix import apply, engine
        from kubectl_netfix.cluster import connect, read_cluster
        from kubectl_netfix.options import RuleOptions

        read = read_cluster(None, None, namespace, False, RuleOptions(), set())
        found = engine.run(read.inventory, engine.select_rules(only=["dns-ndots"]))
        planned = engine.plan(found, unsafe=False)
        keys = [k for k, obj in planned.targets.items() if obj.name == name]
        assert len(keys) == 1, [str(o.ref) for o in planned.targets.values()]
        self.target = planned.targets[keys[0]]
        self.ops = planned.ops_by_object[keys[0]]
        self.rules = apply.findings_by_target(planned.applied)[keys[0]]
        self.replanner = apply.make_replanner(read.inventory, unsafe=False)
        self.replans = 0
        self.client, _ = connect(None, None)

    def replan(self, fresh: Any, rule_id: str) -> Any:
        self.replans += 1
        return self.replanner(fresh, rule_id)

    def apply(self, replan: Callable[[Any, str], Any] | None = None) -> Any:
        from kubectl_netfix import apply

        return apply.apply_patch(
            self.client, self.target, self.ops, False, replan or self.replan, self.rules
        )


def ndots_of(namespace: str, name: str) -> str:
    spec = get_object("deployment", name, namespace)["spec"]["template"]["spec"]
    options = {o["name"]: o.get("value") for o in spec["dnsConfig"]["options"]}
    return str(options["ndots"])


def test_conflict_unrelated_change_is_kept(make_namespace: Callable[[str], str]) -> None:
    from kubectl_netfix.apply import APPLIED

    ns = make_namespace("conflict")
    apply_case(ns, "dns-ndots-guarded", NAME="fetcher")
    rollout(ns, "deployment/fetcher")  # no status write of the controller may interfere
    planned = Planned(ns, "fetcher")
    assert planned.ops[0] == {
        "op": "test",
        "path": "/spec/template/spec/dnsConfig/options/0/value",
        "value": "5",
    }
    kubectl("label", "deployment", "fetcher", "-n", ns, "changed-by=someone-else")

    result = planned.apply()
    assert planned.replans == 1, result  # the stale resourceVersion was caught and re-planned
    assert result.result == APPLIED, result
    labels = get_object("deployment", "fetcher", ns)["metadata"]["labels"]
    assert labels["changed-by"] == "someone-else"
    assert ndots_of(ns, "fetcher") == "2"


def test_conflict_on_the_guarded_field_is_not_overwritten(
    make_namespace: Callable[[str], str],
) -> None:
    from kubectl_netfix.apply import UNCHANGED

    ns = make_namespace("conflict")
    apply_case(ns, "dns-ndots-guarded", NAME="fetcher")
    rollout(ns, "deployment/fetcher")  # no status write of the controller may interfere
    planned = Planned(ns, "fetcher")
    # Someone lowers ndots themselves, to 3, after netfix planned 5 -> 2.
    patch = [
        {"op": "replace", "path": "/spec/template/spec/dnsConfig/options/0/value", "value": "3"}
    ]
    kubectl("patch", "deployment", "fetcher", "-n", ns, "--type=json", "-p", json.dumps(patch))

    result = planned.apply()
    assert planned.replans == 1, result
    assert result.result == UNCHANGED and "no fix needed now" in result.detail, result
    assert ndots_of(ns, "fetcher") == "3"


def test_conflict_twice_is_reported(make_namespace: Callable[[str], str]) -> None:
    from kubectl_netfix.apply import CONFLICT

    ns = make_namespace("conflict")
    apply_case(ns, "dns-ndots-guarded", NAME="fetcher")
    rollout(ns, "deployment/fetcher")  # no status write of the controller may interfere
    planned = Planned(ns, "fetcher")
    kubectl("label", "deployment", "fetcher", "-n", ns, "first=change")

    def replan_while_it_changes_again(fresh: Any, rule_id: str) -> Any:
        kubectl("label", "deployment", "fetcher", "-n", ns, "second=change")
        return planned.replan(fresh, rule_id)

    result = planned.apply(replan_while_it_changes_again)
    assert result.result == CONFLICT and "not overwritten" in result.detail, result
    labels = get_object("deployment", "fetcher", ns)["metadata"]["labels"]
    assert labels["first"] == "change" and labels["second"] == "change"
    assert ndots_of(ns, "fetcher") == "5"  # nothing of the fix went in


# --- RBAC, errors, preview, -A, Secrets ----------------------------------------------------------


def test_readonly_user_is_forbidden(
    make_namespace: Callable[[str], str], readonly_kubeconfig: Path
) -> None:
    reader = {**ENV, "KUBECONFIG": str(readonly_kubeconfig)}
    ns = make_namespace("rbac")
    apply_case(ns, "dns-ndots")
    rollout(ns, "deployment/fetcher")

    checked, report = netfix_json("check", "-n", ns, env=reader)
    assert checked.returncode == 1, checked.describe()  # a warning was found
    finding_on(report, "dns-ndots", "Deployment", ns, "fetcher")
    # `view` may not list cluster-scoped kinds: named in a warning, the run goes on.
    warnings = [line for line in checked.stderr.splitlines() if line.startswith("warning:")]
    assert any("ingressclasses" in w and "forbidden" in w for w in warnings), checked.stderr
    assert "secrets" not in checked.stderr

    deployment: Target = ("deployment", ns, "fetcher")
    before = server_state(deployment)
    denied = netfix("fix", "-n", ns, "--apply", "--yes", env=reader)
    assert denied.returncode == 1, denied.describe()
    line = result_lines(denied)[ref("Deployment", ns, "fetcher")]
    assert line.startswith("forbidden (cannot patch deployments.apps"), denied.describe()
    assert "Traceback" not in denied.stderr
    assert server_state(deployment) == before

    # A fix that creates an object: forbidden too, and nothing is created.
    policy_ns = make_namespace("rbac-policy")
    app_ns = make_namespace("rbac-app")
    app = f"api-{random_suffix()}"
    apply_case(None, "policy-namespace", POLICY_NS=policy_ns, APP_NS=app_ns, APP=app)
    rollout(app_ns, "deployment/api")
    denied = netfix(
        "fix", "-A", "--rule", "policy-namespace", "--unsafe-fixes", "--apply", "--yes", env=reader
    )
    assert denied.returncode == 1, denied.describe()
    line = result_lines(denied)[ref("NetworkPolicy", app_ns, "api-ingress")]
    assert line.startswith("forbidden (cannot create networkpolicies.networking.k8s.io"), line
    assert server_state(("networkpolicy", app_ns, "api-ingress")) is None


def one_error_line(result: Result) -> str:
    assert result.returncode == 2, result.describe()
    assert "Traceback" not in result.stderr + result.stdout, result.describe()
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.describe()
    assert not result.stdout.strip(), result.describe()
    return lines[0]


def test_unreachable_cluster(tmp_path: Path) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "nowhere", "cluster": {"server": "https://127.0.0.1:1"}},
        ],
        "users": [{"name": "nobody", "user": {"token": "not-a-token"}}],
        "contexts": [{"name": "nowhere", "context": {"cluster": "nowhere", "user": "nobody"}}],
        "current-context": "nowhere",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(config))
    for args in (["check"], ["check", "-A", "-o", "json"], ["fix", "--apply", "--yes"]):
        line = one_error_line(netfix(*args, "--kubeconfig", str(path)))
        assert "cannot reach the cluster" in line and "nowhere" in line, line


def test_unknown_context() -> None:
    for args in (["check"], ["fix", "--apply", "--yes"]):
        line = one_error_line(netfix(*args, "--context", "netfix-e2e-no-such-context"))
        assert 'context "netfix-e2e-no-such-context" not found' in line, line


def test_preview_command_does_what_apply_does(make_namespace: Callable[[str], str]) -> None:
    ns = make_namespace("preview")
    for name in ("by-hand", "by-netfix"):
        apply_case(ns, "dns-ndots-guarded", NAME=name)
    rollout(ns, "deployment/by-hand", "deployment/by-netfix")
    by_hand: Target = ("deployment", ns, "by-hand")
    by_netfix: Target = ("deployment", ns, "by-netfix")
    before = {t: server_state(t) for t in (by_hand, by_netfix)}

    preview = netfix("fix", "-n", ns, "--rule", "dns-ndots")
    assert preview.returncode == 0, preview.describe()
    assert {t: server_state(t) for t in (by_hand, by_netfix)} == before  # a preview writes nothing
    lines = preview.stdout.splitlines()
    prefix = f"kubectl patch deployments.apps by-hand -n {ns} --type=json -p "
    (index,) = [i for i, line in enumerate(lines) if line.startswith(prefix)]
    command = lines[index]
    shown_patch = json.loads(lines[index - 1])  # the JSON patch is printed above its command
    words = shlex.split(command)
    assert json.loads(words[words.index("-p") + 1]) == shown_patch
    assert shown_patch == [
        {"op": "test", "path": "/spec/template/spec/dnsConfig/options/0/value", "value": "5"},
        {"op": "replace", "path": "/spec/template/spec/dnsConfig/options/0/value", "value": "2"},
    ]
    # -o json gives the same ops behind the resourceVersion guard that --apply sends.
    as_json = netfix("fix", "-n", ns, "--rule", "dns-ndots", "-o", "json")
    (entry,) = [e for e in as_json.json()["fixes"] if e["object"].endswith("/by-hand")]
    (patch,) = entry["patches"]
    assert patch["command"] == command
    assert patch["ops"][0] == {
        "op": "test",
        "path": "/metadata/resourceVersion",
        "value": before[by_hand]["resourceVersion"],  # type: ignore[index]
    }
    assert patch["ops"][1:] == shown_patch

    # The printed command, run by a shell as a user would paste it ...
    pasted = run(["bash", "-c", command])
    assert pasted.returncode == 0, pasted.describe()
    # ... has the effect `fix --apply` has on the identical copy.
    applied = netfix("fix", "-n", ns, "--rule", "dns-ndots", "--apply", "--yes")
    assert result_lines(applied) == {ref("Deployment", ns, "by-netfix"): "applied"}, (
        applied.describe()
    )
    hand = get_object("deployment", "by-hand", ns)["spec"]["template"]["spec"]
    tool = get_object("deployment", "by-netfix", ns)["spec"]["template"]["spec"]
    assert (
        hand["dnsConfig"]
        == tool["dnsConfig"]
        == {"options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}
    )
    assert {k: v for k, v in hand.items()} == {k: v for k, v in tool.items()}


def test_all_namespaces(make_namespace: Callable[[str], str]) -> None:
    first, second = make_namespace("all-a"), make_namespace("all-b")
    for ns in (first, second):
        apply_case(ns, "dns-ndots")
    for ns in (first, second):
        rollout(ns, "deployment/fetcher")
    checked, report = netfix_json("check", "-A")
    assert checked.returncode == 1, checked.describe()
    for ns in (first, second):
        finding_on(report, "dns-ndots", "Deployment", ns, "fetcher")
    preview = netfix("fix", "-A", "--rule", "dns-ndots")
    assert preview.returncode == 0, preview.describe()
    for ns in (first, second):
        assert f"kubectl patch deployments.apps fetcher -n {ns} " in preview.stdout
    # -A and -n are different scopes: -n sees only its namespace.
    _, report = netfix_json("check", "-n", first)
    assert {f["object"].get("namespace") for f in findings(report)} <= {first, "kube-system"}


def test_no_secret_is_read(make_namespace: Callable[[str], str], readonly_kubeconfig: Path) -> None:
    from kubectl_netfix.cluster import RESOURCES, connect, read_cluster
    from kubectl_netfix.options import RuleOptions

    assert not [r for r in RESOURCES if r.kind == "Secret" or r.plural == "secrets"]

    ns = make_namespace("secrets")
    canary = f"netfix-e2e-canary-{random_suffix()}"
    kubectl(
        "create", "secret", "generic", "db-credentials", "-n", ns, f"--from-literal=pw={canary}"
    )
    apply_case(ns, "dns-ndots")

    # Every request of a whole-cluster read, as the client sends it.
    requests: list[tuple[str, str]] = []

    def recording_connector(kubeconfig: str | None, context: str | None) -> tuple[Any, str]:
        client, name = connect(kubeconfig, context)
        send = client.call_api

        def call_api(path: str, method: str, *args: Any, **kwargs: Any) -> Any:
            requests.append((method, path))
            return send(path, method, *args, **kwargs)

        client.call_api = call_api
        return client, name

    read = read_cluster(None, None, None, True, RuleOptions(), set(), recording_connector)
    assert requests and all(method == "GET" for method, _ in requests)
    assert not [path for _, path in requests if "secret" in path.lower()], requests
    assert not read.inventory.of_kind("Secret")
    assert read.inventory.get("Deployment", ns, "fetcher") is not None

    for args in (["check", "-A", "-o", "json"], ["fix", "-A", "--unsafe-fixes", "-o", "json"]):
        result = netfix(*args)
        assert result.returncode in (0, 1), result.describe()
        assert canary not in result.stdout + result.stderr
        assert "db-credentials" not in result.stdout + result.stderr
    # The read-only user may not list Secrets: had netfix tried, it would say so.
    reader = {**ENV, "KUBECONFIG": str(readonly_kubeconfig)}
    checked = netfix("check", "-A", env=reader)
    assert checked.returncode in (0, 1), checked.describe()
    assert "secret" not in checked.stderr.lower()
    denied = run(["kubectl", "get", "secrets", "-n", ns], env=reader)
    assert denied.returncode != 0 and "forbidden" in denied.stderr.lower()


def test_rules_all_covered() -> None:
    """Every rule of the registry has its end-to-end test above."""
    from kubectl_netfix.rules import rule_ids

    tested = {
        name[len("test_") :].replace("_", "-") for name in globals() if name.startswith("test_")
    }
    assert set(rule_ids()) <= tested, set(rule_ids()) - tested
