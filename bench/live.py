"""Live-mode benchmark: `check -A` on a big cluster against `kubectl get -o json` of the same lists.

    python bench/live.py            # up (build/populate once), run, and leave the cluster up
    python bench/live.py up         # only bring the cluster up and populate it
    python bench/live.py run        # only measure (the cluster must be up)
    python bench/live.py down       # delete the cluster

The cluster is `netfix-bench`, a second local control plane beside the e2e one (e2e/cluster.sh
with NETFIX_CLUSTER_NAME=netfix-bench: etcd, kube-apiserver, controller-manager and scheduler
built from source, kwok faking the nodes and kubelets). It is populated, once, with 5k Services,
20k pods, 2k NetworkPolicies and 1k PVCs over 50 namespaces and 40 fake nodes; kwok runs the
pods (status Running, pod IPs), so the pods are as big as a real cluster's minus the kubelet's
container statuses. A few percent of the objects carry the footguns the rules look for.

Measured, best of --repeat runs each, in fresh processes:
  - `kubectl get <the resources netfix reads> -A -o json` (the kubectl built with the cluster,
    same version, chunked 500 per page as kubectl does by default), output to /dev/null;
  - `kubectl netfix check -A -o json`, output to /dev/null, with its peak RSS.
The targets: netfix at most 1.3x kubectl's wall time, peak RSS at most 400 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from run import Run, console_script, machine_header, measure  # noqa: E402  (bench/run.py)

CLUSTER = "netfix-bench"
CACHE = Path(os.environ.get("NETFIX_CACHE", Path.home() / ".cache" / "kubectl-netfix"))
KUBECONFIG = CACHE / f"kubeconfig-local-{CLUSTER}"
CLUSTER_SH = ROOT / "e2e" / "cluster.sh"

NAMESPACES = 50
NODES = 40
SERVICES_PER_NAMESPACE = 100  # 5k
PODS_PER_SERVICE = 4  # 20k
POLICIES_PER_NAMESPACE = 40  # 2k
CLAIMS_PER_NAMESPACE = 20  # 1k
CREATE_WORKERS = 8
# The label on everything created here, and how the population is recognised as complete.
BENCH_LABEL = "bench.netfix.io/population"
POPULATION_VERSION = "1"

# What `check -A` lists (src/kubectl_netfix/cluster.py RESOURCES), for kubectl get.
KUBECTL_RESOURCES = (
    "namespaces,pods,services,configmaps,persistentvolumeclaims,replicationcontrollers,"
    "deployments.apps,replicasets.apps,statefulsets.apps,daemonsets.apps,jobs.batch,"
    "cronjobs.batch,horizontalpodautoscalers.autoscaling,networkpolicies.networking.k8s.io,"
    "ingresses.networking.k8s.io,ingressclasses.networking.k8s.io,"
    "endpointslices.discovery.k8s.io,servicecidrs.networking.k8s.io"
)


def kubectl_binary() -> str:
    found = sorted((CACHE).glob("k8s-*/bin/kubectl"))
    if not found:
        sys.exit("no kubectl built yet: run `bash e2e/cluster.sh build local` first")
    return str(found[-1])


def cluster_sh(*args: str) -> None:
    env = {**os.environ, "NETFIX_CLUSTER_NAME": CLUSTER, "NETFIX_E2E_NODES": "2"}
    subprocess.run(["bash", str(CLUSTER_SH), *args], check=True, env=env)


# --- the population -------------------------------------------------------------------------------


def namespace_name(index: int) -> str:
    return f"team-{index:02d}"


def node_name(index: int) -> str:
    return f"bench-node-{index:02d}"


def nodes() -> Iterator[dict[str, Any]]:
    for index in range(NODES):
        yield {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": node_name(index),
                "labels": {
                    "kubernetes.io/hostname": node_name(index),
                    "topology.kubernetes.io/zone": f"zone-{index % 3}",
                    BENCH_LABEL: POPULATION_VERSION,
                },
                "annotations": {"kwok.x-k8s.io/node": "fake"},
            },
            "spec": {"podCIDR": f"10.245.{index}.0/24", "podCIDRs": [f"10.245.{index}.0/24"]},
            "status": {
                "allocatable": {"cpu": "64", "memory": "256Gi", "pods": "1000"},
                "capacity": {"cpu": "64", "memory": "256Gi", "pods": "1000"},
            },
        }


def namespace_objects(ns: int, rng: random.Random) -> Iterator[dict[str, Any]]:
    """One namespace's Services, pods, NetworkPolicies and PVCs, footguns included."""
    namespace = namespace_name(ns)
    claims = [f"data-{i:02d}" for i in range(CLAIMS_PER_NAMESPACE)]
    for index in range(CLAIMS_PER_NAMESPACE):
        yield {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": claims[index], "namespace": namespace, "labels": _labels("db")},
            "spec": {
                # one in ten shared ReadWriteOnce claims (rwo-shared-volume)
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "10Gi"}},
            },
        }
    for index in range(SERVICES_PER_NAMESPACE):
        app = f"app-{index:03d}"
        selector = {"app.kubernetes.io/name": app}
        if index % 50 == 7:
            selector = {"app.kubernetes.io/name": f"{app}-old"}  # selects nothing
        service: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": app, "namespace": namespace, "labels": _labels(app)},
            "spec": {
                "selector": selector,
                "ports": [
                    {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
                    {"name": "metrics", "port": 9090, "targetPort": 9090, "protocol": "TCP"},
                ],
            },
        }
        if index % 100 == 11:
            service["spec"]["type"] = "LoadBalancer"  # externalTrafficPolicy left Cluster
            service["spec"]["allocateLoadBalancerNodePorts"] = False
        if index % 100 == 13:
            service["spec"]["clusterIP"] = "None"
        yield service
        for replica in range(PODS_PER_SERVICE):
            yield _pod(namespace, app, index, replica, claims, rng)
    for index in range(POLICIES_PER_NAMESPACE):
        app = f"app-{index * 2:03d}"
        egress: list[dict[str, Any]] = [
            {
                "to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "postgres"}}}],
                "ports": [{"protocol": "TCP", "port": 5432}],
            },
        ]
        if index % 10 != 3:  # one in ten blocks DNS (egress-dns)
            egress.append(
                {
                    "to": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                            },
                            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                        }
                    ],
                    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                }
            )
        yield {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": f"{app}-egress", "namespace": namespace, "labels": _labels(app)},
            "spec": {
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": app}},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [
                    {
                        "from": [{"podSelector": {"matchLabels": {"role": "frontend"}}}],
                        "ports": [{"protocol": "TCP", "port": 8080}],
                    }
                ],
                "egress": egress,
            },
        }


def _labels(app: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": app,
        "app.kubernetes.io/part-of": "shop",
        "app.kubernetes.io/managed-by": "bench",
        BENCH_LABEL: POPULATION_VERSION,
    }


def _pod(
    namespace: str, app: str, index: int, replica: int, claims: list[str], rng: random.Random
) -> dict[str, Any]:
    labels = {**_labels(app), "pod-template-hash": f"{index:05d}abcd", "role": "backend"}
    env = [{"name": f"SETTING_{i}", "value": f"value-{rng.randrange(10**6)}"} for i in range(12)]
    env.append(
        {
            "name": "POD_IP",
            "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}},
        }
    )
    volumes: list[dict[str, Any]] = [
        {"name": "config", "configMap": {"name": f"{app}-config", "defaultMode": 420}},
        {"name": "tmp", "emptyDir": {}},
    ]
    mounts = [
        {"name": "config", "mountPath": "/etc/app", "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    if index % 10 == 5:  # every replica mounts the same RWO claim (rwo-shared-volume)
        volumes.append(
            {"name": "data", "persistentVolumeClaim": {"claimName": claims[index % len(claims)]}}
        )
        mounts.append({"name": "data", "mountPath": "/var/lib/data"})
    probe = {
        "httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP"},
        "periodSeconds": 10,
        "timeoutSeconds": 1,
        "successThreshold": 1,
        "failureThreshold": 3,
    }
    spec: dict[str, Any] = {
        "nodeName": node_name((index * PODS_PER_SERVICE + replica) % NODES),
        "containers": [
            {
                "name": "app",
                "image": f"registry.example.com/shop/{app}:1.{index % 7}.{replica}",
                "ports": [
                    {"name": "http", "containerPort": 8080, "protocol": "TCP"},
                    {"name": "metrics", "containerPort": 9090, "protocol": "TCP"},
                ],
                "env": env,
                "resources": {
                    "requests": {"cpu": "100m", "memory": "128Mi"},
                    "limits": {"cpu": "500m", "memory": "512Mi"},
                },
                "livenessProbe": probe,
                "readinessProbe": probe,
                "volumeMounts": mounts,
            },
            {
                "name": "proxy",
                "image": "registry.example.com/envoy:1.31",
                "args": ["--config-path", "/etc/envoy/envoy.yaml", "--log-level", "info"],
                "ports": [{"name": "admin", "containerPort": 15000, "protocol": "TCP"}],
                "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}},
            },
        ],
        "volumes": volumes,
        "terminationGracePeriodSeconds": 30,
        "enableServiceLinks": False,
    }
    if index % 25 == 9:  # ndots 5 with an external hostname (dns-ndots)
        spec["dnsConfig"] = {"options": [{"name": "ndots", "value": "5"}]}
        env.append({"name": "UPSTREAM_URL", "value": "https://api.stripe.com/v1"})
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{app}-{index:05d}abcd-{replica}x{namespace[-2:]}",
            "namespace": namespace,
            "labels": labels,
            "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "9090"},
        },
        "spec": spec,
    }


# --- creating it ----------------------------------------------------------------------------


def _api() -> tuple[Any, Callable[[str, dict[str, Any]], None]]:
    from kubernetes import config as kube_config

    client = kube_config.new_client_from_config(config_file=str(KUBECONFIG))

    def create(path: str, body: dict[str, Any]) -> None:
        for attempt in range(30):
            try:
                client.call_api(
                    path,
                    "POST",
                    body=body,
                    header_params={"Content-Type": "application/json"},
                    auth_settings=["BearerToken"],
                    _preload_content=False,
                )
                return
            except Exception as exc:
                status = getattr(exc, "status", None)
                if status == 409:  # AlreadyExists: populating is resumable
                    return
                # A namespace's default ServiceAccount appears a moment after the namespace.
                if attempt < 29 and status in (403, 429, 500, 503, None):
                    time.sleep(0.5)
                    continue
                raise

    return client, create


def _collection(obj: dict[str, Any]) -> str:
    plural = {
        "Node": "nodes",
        "Namespace": "namespaces",
        "Service": "services",
        "Pod": "pods",
        "PersistentVolumeClaim": "persistentvolumeclaims",
        "NetworkPolicy": "networkpolicies",
    }[obj["kind"]]
    prefix = "/api/v1" if obj["apiVersion"] == "v1" else f"/apis/{obj['apiVersion']}"
    namespace = obj["metadata"].get("namespace")
    return f"{prefix}/namespaces/{namespace}/{plural}" if namespace else f"{prefix}/{plural}"


def populated(client: Any) -> bool:
    response = client.call_api(
        "/api/v1/configmaps",
        "GET",
        query_params=[("labelSelector", f"{BENCH_LABEL}={POPULATION_VERSION}")],
        auth_settings=["BearerToken"],
        _preload_content=False,
    )
    return bool(json.loads(response.data)["items"])


def populate() -> None:
    client, create = _api()
    if populated(client):
        print("the bench cluster is already populated", file=sys.stderr)
        return
    rng = random.Random(2026)
    start = time.perf_counter()
    with ThreadPoolExecutor(CREATE_WORKERS) as pool:
        list(pool.map(lambda o: create(_collection(o), o), nodes()))
        namespaces = [
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": namespace_name(i),
                    "labels": {BENCH_LABEL: POPULATION_VERSION},
                },
            }
            for i in range(NAMESPACES)
        ]
        list(pool.map(lambda o: create(_collection(o), o), namespaces))
        created = 0
        for ns in range(NAMESPACES):
            batch = list(namespace_objects(ns, rng))
            list(pool.map(lambda o: create(_collection(o), o), batch))
            created += len(batch)
            rate = created / (time.perf_counter() - start)
            print(
                f"\r  populated {ns + 1}/{NAMESPACES} namespaces, {created} objects, {rate:.0f}/s",
                end="",
                file=sys.stderr,
                flush=True,
            )
    print(file=sys.stderr)
    # The marker goes last: a population interrupted half-way is resumed, not taken as done.
    create(
        "/api/v1/namespaces/default/configmaps",
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "bench-population", "labels": {BENCH_LABEL: POPULATION_VERSION}},
            "data": {"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
        },
    )
    print(f"  populated in {time.perf_counter() - start:.0f} s", file=sys.stderr)


def wait_for_pods(client: Any, timeout: float = 900) -> None:
    """Until kwok has started every pod (status, pod IPs): the lists are then full size."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.call_api(
            "/api/v1/pods",
            "GET",
            query_params=[("fieldSelector", "status.phase!=Running"), ("limit", 1)],
            auth_settings=["BearerToken"],
            _preload_content=False,
        )
        page = json.loads(response.data)
        waiting = len(page["items"]) + (page["metadata"].get("remainingItemCount") or 0)
        if not waiting:
            return
        if time.monotonic() > deadline:
            sys.exit(f"{waiting} pods still not Running after {timeout:.0f} s")
        print(
            f"\r  waiting for kwok to run the pods: {waiting} left   ",
            end="",
            file=sys.stderr,
            flush=True,
        )
        time.sleep(5)


def up() -> None:
    cluster_sh("up", "local")
    populate()
    client, _create = _api()
    wait_for_pods(client)
    print(file=sys.stderr)


# --- measuring ------------------------------------------------------------------------------------


def run(repeat: int) -> None:
    env = {**os.environ, "KUBECONFIG": str(KUBECONFIG)}
    kubectl = kubectl_binary()
    get_json = [kubectl, "get", KUBECTL_RESOURCES, "-A", "-o", "json"]
    check = [*console_script(), "check", "-A", "-o", "json", "--fail-on=none"]

    # Interleaved, so both see the same machine load. Times: the best run; netfix's peak RSS:
    # the worst run (the target is a ceiling).
    kubectl_runs: list[Run] = []
    netfix_runs: list[Run] = []
    for _ in range(repeat):
        kubectl_runs.append(measure(get_json, 1, env))
        netfix_runs.append(measure(check, 1, env))
    # Only now read the outputs: Linux carries a process's peak RSS across fork and exec, so a
    # bench process that once held kubectl's 300 MB of JSON would lend its peak to every child.
    listing = subprocess.run(get_json, env=env, capture_output=True, check=True).stdout
    counts: dict[str, int] = {}
    for item in json.loads(listing)["items"]:
        counts[item["kind"]] = counts.get(item["kind"], 0) + 1
    report = json.loads(subprocess.run(check, env=env, capture_output=True, check=True).stdout)
    findings = report.get("findings", [])
    by_rule: dict[str, int] = {}
    for finding in findings:
        by_rule[finding["rule"]] = by_rule.get(finding["rule"], 0) + 1
    best_kubectl = Run(
        min(r.wall for r in kubectl_runs),
        min(r.cpu for r in kubectl_runs),
        min(r.rss_mb for r in kubectl_runs),
    )
    best_netfix = Run(
        min(r.wall for r in netfix_runs),
        min(r.cpu for r in netfix_runs),
        max(r.rss_mb for r in netfix_runs),
    )

    print(machine_header())
    print("## Live: `check -A` against `kubectl get -o json` of the same lists\n")
    objects = ", ".join(f"{n} {k}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    print(f"Cluster: {objects}; {len(listing) / 1e6:.0f} MB of JSON from kubectl.\n")
    print("| command | wall s | CPU s | peak RSS MB |")
    print("|---|---:|---:|---:|")
    print(
        f"| `kubectl get <18 resources> -A -o json` | {best_kubectl.wall:.2f} | "
        f"{best_kubectl.cpu:.2f} | {best_kubectl.rss_mb:.0f} |"
    )
    print(
        f"| `kubectl netfix check -A -o json` | {best_netfix.wall:.2f} | "
        f"{best_netfix.cpu:.2f} | {best_netfix.rss_mb:.0f} |"
    )
    print(
        f"\ncheck / kubectl get = {best_netfix.wall / best_kubectl.wall:.2f} "
        f"(wall; target <= 1.3), peak RSS {best_netfix.rss_mb:.0f} MB "
        "(target <= 400; the highest of the runs)"
    )
    rules = ", ".join(f"{rule} {n}" for rule, n in sorted(by_rule.items()))
    print(f"\nFindings: {len(findings)} ({rules}).\n")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("step", nargs="?", choices=["up", "run", "down"], help="default: up, run")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.step == "down":
        cluster_sh("down", "local")
        return
    if args.step in (None, "up"):
        up()
    if args.step in (None, "run"):
        run(args.repeat)


if __name__ == "__main__":
    main()
