"""Generate realistic manifest streams for the benchmarks (deterministic, seeded).

    python bench/generate.py 10000 > bench/out/10000.yaml            # "apps" mode (default)
    python bench/generate.py --selectors 20000 2000 > bench/out/sel.yaml

apps mode: each "app" is a Deployment (or, one in eight, a StatefulSet), its Service,
ServiceAccount, ConfigMap, and every few apps a NetworkPolicy, a PodDisruptionBudget, an Ingress
or a PersistentVolumeClaim, spread over namespaces the way real clusters are: many small apps,
some big ones. Objects are of the size real ones have (about 2.4 KB on average: workloads with
probes, resources, env, volumes, annotations; config maps with embedded files), written the way
`kubectl get -o yaml` and Helm write them (block style, no anchors), with a realistic share of
footguns (policies without DNS, stale selectors, hard-coded ClusterIPs, external hostnames).

selectors mode: N Deployments and M NetworkPolicies in ONE namespace, for the label index: each
policy selects a handful of the deployments by `app` plus a shared label, some through
matchExpressions.
"""

from __future__ import annotations

import argparse
import random
import sys
from typing import Any

import yaml

_Base: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class Dumper(_Base):  # type: ignore[misc,valid-type]
    """Never `&id001` / `*id001`: tools that write manifests do not share nodes."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


Obj = dict[str, Any]
_UDP_53: Obj = {"protocol": "UDP", "port": 53}
_TCP_53: Obj = {"protocol": "TCP", "port": 53}

_WORDS = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
    "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango",
    "uniform", "victor", "whiskey", "xray", "yankee", "zulu",
]  # fmt: skip


def _hex(rng: random.Random, length: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(length))


def _labels(name: str, tier: str, team: str, version: str) -> dict[str, str]:
    return {
        "app": name,
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/instance": f"{name}-prod",
        "app.kubernetes.io/version": version,
        "app.kubernetes.io/component": tier,
        "app.kubernetes.io/part-of": f"platform-{team}",
        "app.kubernetes.io/managed-by": "Helm",
        "helm.sh/chart": f"{name}-{version}",
        "tier": tier,
        "team": team,
    }


def _env(rng: random.Random, number: int, name: str, namespace: str) -> list[Obj]:
    env: list[Obj] = [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {
            "name": "DB_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": f"{name}-db", "key": "password"}},
        },
        {
            "name": "LOG_LEVEL",
            "valueFrom": {"configMapKeyRef": {"name": f"{name}-config", "key": "log.level"}},
        },
    ]
    for k in range(rng.randint(16, 30)):
        value = rng.choice(
            [
                "true",
                "info",
                "8080",
                "30s",
                f"{name}.{namespace}.svc.cluster.local:8080",
                f"redis-{number % 9}.{namespace}.svc.cluster.local:6379",
                f"postgres://{name}@db-{number % 5}.{namespace}.svc:5432/{name}",
                " ".join(rng.sample(_WORDS, 4)),
            ]
        )
        env.append({"name": f"{name.upper().replace('-', '_')}_SETTING_{k}", "value": value})
    if number % 7 == 0:
        env.append({"name": "UPSTREAM_URL", "value": "https://api.example.com/v2"})
    if number % 11 == 0:
        env.append({"name": "LEGACY_ENDPOINT", "value": f"http://10.96.{number % 250}.10:80"})
    return env


def _probe(path: str, initial: int) -> Obj:
    return {
        "httpGet": {"path": path, "port": "http", "scheme": "HTTP"},
        "initialDelaySeconds": initial,
        "periodSeconds": 10,
        "timeoutSeconds": 2,
        "successThreshold": 1,
        "failureThreshold": 3,
    }


def _container(rng: random.Random, number: int, name: str, namespace: str) -> Obj:
    return {
        "name": name,
        "image": f"registry.example.com/platform/{name}:{rng.randint(1, 40)}.{rng.randint(0, 9)}.0",
        "imagePullPolicy": "IfNotPresent",
        "args": ["--port=8080", "--metrics-port=9090", f"--name={name}", "--log-format=json"],
        "ports": [
            {"name": "http", "containerPort": 8080, "protocol": "TCP"},
            {"name": "metrics", "containerPort": 9090, "protocol": "TCP"},
        ],
        "env": _env(rng, number, name, namespace),
        "envFrom": [{"configMapRef": {"name": f"{name}-config"}}],
        "resources": {
            "requests": {"cpu": rng.choice(["50m", "100m", "250m"]), "memory": "128Mi"},
            "limits": {"cpu": "1", "memory": rng.choice(["256Mi", "512Mi", "1Gi"])},
        },
        "livenessProbe": _probe("/healthz", 15),
        "readinessProbe": _probe("/ready", 5),
        "startupProbe": {
            "tcpSocket": {"port": "http"},
            "periodSeconds": 5,
            "failureThreshold": 30,
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "config", "mountPath": "/etc/app", "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "certs", "mountPath": "/etc/tls", "readOnly": True},
        ],
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }


def _sidecar(rng: random.Random, name: str) -> Obj:
    return {
        "name": "log-shipper",
        "image": f"registry.example.com/infra/fluent-bit:2.{rng.randint(0, 9)}.1",
        "args": ["--config=/fluent-bit/etc/fluent-bit.conf"],
        "env": [
            {"name": "APP", "value": name},
            {"name": "OUTPUT_HOST", "value": "logs.logging.svc.cluster.local"},
        ],
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}},
        "volumeMounts": [{"name": "tmp", "mountPath": "/var/log/app", "readOnly": True}],
    }


def _workload(
    rng: random.Random, number: int, name: str, namespace: str, labels: dict[str, str], pvc: bool
) -> Obj:
    kind = "StatefulSet" if number % 8 == 5 else "Deployment"
    containers = [_container(rng, number, name, namespace)]
    if number % 3 == 0:
        containers.append(_sidecar(rng, name))
    init_containers = [
        {
            "name": "migrate",
            "image": containers[0]["image"],
            "command": ["/app/migrate", "--wait-for-db", f"--database={name}"],
            "env": containers[0]["env"][:6],
            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}},
        }
    ]
    volumes: list[Obj] = [
        {"name": "config", "configMap": {"name": f"{name}-config", "defaultMode": 420}},
        {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
        {"name": "certs", "secret": {"secretName": f"{name}-tls", "defaultMode": 256}},
    ]
    if pvc:
        volumes.append({"name": "data", "persistentVolumeClaim": {"claimName": f"{name}-data"}})
    pod_spec: Obj = {
        "serviceAccountName": name,
        "automountServiceAccountToken": False,
        "securityContext": {"fsGroup": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
        "terminationGracePeriodSeconds": 30,
        "initContainers": init_containers,
        "containers": containers,
        "volumes": volumes,
        "affinity": {
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 100,
                        "podAffinityTerm": {
                            "topologyKey": "kubernetes.io/hostname",
                            "labelSelector": {"matchLabels": {"app": name}},
                        },
                    }
                ]
            }
        },
        "tolerations": [
            {"key": "dedicated", "operator": "Equal", "value": "apps", "effect": "NoSchedule"}
        ],
    }
    if number % 5 == 0:
        pod_spec["dnsConfig"] = {"options": [{"name": "ndots", "value": "2"}]}
    spec: Obj = {
        "replicas": 1 if pvc else rng.choice([1, 2, 3, 5]),
        "revisionHistoryLimit": 5,
        "selector": {"matchLabels": {"app": name}},
    }
    if kind == "StatefulSet":
        spec["serviceName"] = name
        spec["podManagementPolicy"] = "Parallel"
    else:
        spec["strategy"] = {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0},
        }
    spec["template"] = {
        "metadata": {
            "labels": dict(labels),
            "annotations": {
                "checksum/config": _hex(rng, 64),
                "prometheus.io/scrape": "true",
                "prometheus.io/port": "9090",
            },
        },
        "spec": pod_spec,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": dict(labels),
            "annotations": {
                "deployment.kubernetes.io/revision": str(number % 9 + 1),
                "meta.helm.sh/release-name": f"{name}-prod",
                "meta.helm.sh/release-namespace": namespace,
                "example.com/owner": f"{labels['team']}@example.com",
                "example.com/runbook": f"https://runbooks.example.com/{namespace}/{name}",
            },
        },
        "spec": spec,
    }


def _config_map(rng: random.Random, name: str, namespace: str, labels: dict[str, str]) -> Obj:
    data: dict[str, str] = {"log.level": rng.choice(["info", "debug", "warn"])}
    for k in range(rng.randint(3, 8)):
        data[f"feature.{rng.choice(_WORDS)}.{k}"] = rng.choice(["true", "false", "30", "0.5"])
    lines = [f"[{section}]" for section in rng.sample(_WORDS, rng.randint(6, 10))]
    body = []
    for section in lines:
        body.append(section)
        for k in range(rng.randint(5, 10)):
            body.append(f"{rng.choice(_WORDS)}_{k} = {rng.choice(_WORDS)}-{rng.randint(1, 999)}")
    data["app.ini"] = "\n".join(body) + "\n"
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"{name}-config", "namespace": namespace, "labels": dict(labels)},
        "data": data,
    }


def _service(number: int, name: str, namespace: str, labels: dict[str, str]) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": dict(labels),
            "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "9090"},
        },
        "spec": {
            "type": "LoadBalancer" if number % 50 == 0 else "ClusterIP",
            "selector": {"app": name if number % 13 else f"{name}-old"},
            "ports": [
                {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
                {"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"},
            ],
        },
    }


def _extras(number: int, name: str, namespace: str, labels: dict[str, str]) -> list[Obj]:
    objects: list[Obj] = []
    if number % 4 == 0:
        egress: list[Obj] = [
            {
                "to": [{"podSelector": {"matchLabels": {"app": f"db-{number % 5}"}}}],
                "ports": [{"protocol": "TCP", "port": 5432}],
            }
        ]
        if number % 8:  # every other policy forgets DNS, or allows UDP only
            egress.append({"ports": [_UDP_53, _TCP_53]})
        elif number % 16:
            egress.append({"ports": [_UDP_53]})
        objects.append(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": f"{name}-egress", "namespace": namespace},
                "spec": {
                    "podSelector": {"matchLabels": {"app": name}},
                    "policyTypes": ["Egress"],
                    "egress": egress,
                },
            }
        )
    if number % 3 == 1:
        objects.append(
            {
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
                "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": name}}},
            }
        )
    if number % 6 == 2:
        objects.append(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "Ingress",
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"},
                },
                "spec": {
                    "ingressClassName": "nginx",
                    "tls": [{"hosts": [f"{name}.example.com"], "secretName": f"{name}-tls"}],
                    "rules": [
                        {
                            "host": f"{name}.example.com",
                            "http": {
                                "paths": [
                                    {
                                        "path": "/",
                                        "pathType": "Prefix",
                                        "backend": {
                                            "service": {"name": name, "port": {"name": "http"}}
                                        },
                                    }
                                ]
                            },
                        }
                    ],
                },
            }
        )
    return objects


def app(rng: random.Random, number: int, namespace: str) -> list[Obj]:
    name = f"svc-{number}"
    tier = rng.choice(["web", "api", "worker"])
    labels = _labels(name, tier, f"t{number % 17}", f"1.{number % 30}.0")
    pvc = number % 10 == 9
    objects = [
        _workload(rng, number, name, namespace, labels, pvc),
        _service(number, name, namespace, labels),
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": dict(labels),
                "annotations": {
                    "eks.amazonaws.com/role-arn": (
                        f"arn:aws:iam::123456789012:role/{namespace}-{name}"
                    )
                },
            },
        },
        _config_map(rng, name, namespace, labels),
    ]
    if pvc:
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": f"{name}-data", "namespace": namespace},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "storageClassName": "standard",
                    "resources": {"requests": {"storage": "10Gi"}},
                },
            }
        )
    objects.extend(_extras(number, name, namespace, labels))
    return objects


def generate(count: int, seed: int = 7) -> list[Obj]:
    rng = random.Random(seed)
    objects: list[Obj] = []
    number = 0
    while len(objects) < count:
        # Namespaces of 40 apps on average, some much bigger.
        namespace = f"ns-{number // (40 if number % 1000 < 800 else 200)}"
        objects.extend(app(rng, number, namespace))
        number += 1
    return objects[:count]


def generate_selectors(templates: int, policies: int, seed: int = 7) -> list[Obj]:
    """`templates` Deployments and `policies` NetworkPolicies in ONE namespace."""
    rng = random.Random(seed)
    namespace = "crowded"
    objects: list[Obj] = []
    for number in range(templates):
        name = f"app-{number}"
        labels = {
            "app": name,
            "group": f"g{number % (templates // 10 or 1)}",
            "tier": rng.choice(["web", "api", "worker"]),
        }
        objects.append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": {"app": name}},
                    "template": {
                        "metadata": {"labels": dict(labels)},
                        "spec": {
                            "containers": [
                                {
                                    "name": "main",
                                    "image": f"registry.example.com/{name}:1.0",
                                    "ports": [{"containerPort": 8080, "name": "http"}],
                                }
                            ]
                        },
                    },
                },
            }
        )
    for number in range(policies):
        group = f"g{number % (templates // 10 or 1)}"
        selector: Obj
        if number % 3 == 0:
            selector = {"matchLabels": {"group": group}}
        elif number % 3 == 1:
            selector = {
                "matchLabels": {"group": group},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["web", "api"]}],
            }
        else:
            selector = {"matchExpressions": [{"key": "group", "operator": "In", "values": [group]}]}
        egress: list[Obj] = [{"ports": [{"protocol": "TCP", "port": 443}]}]
        if number % 2:
            egress.append({"ports": [_UDP_53, _TCP_53]})
        objects.append(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": f"policy-{number}", "namespace": namespace},
                "spec": {"podSelector": selector, "policyTypes": ["Egress"], "egress": egress},
            }
        )
    return objects


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("count", nargs="?", type=int, default=1000, help="objects (apps mode)")
    parser.add_argument(
        "--selectors",
        nargs=2,
        type=int,
        metavar=("TEMPLATES", "POLICIES"),
        help="selectors mode: this many Deployments and NetworkPolicies in one namespace",
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.selectors:
        objects = generate_selectors(*args.selectors, seed=args.seed)
    else:
        objects = generate(args.count, seed=args.seed)
    yaml.dump_all(objects, sys.stdout, Dumper=Dumper, sort_keys=False, width=100)


if __name__ == "__main__":
    main()
