"""Live mode: read what the rules need from the current kube context into plain dicts.

The official client provides config (kubeconfig, contexts, auth plugins) and transport; lists
are fetched as raw JSON (`_preload_content=False`, paginated with limit/continue) and parsed
with the GC paused, never into the generated models, which cost many times the parse.
Only this module and apply.py import the client, and only when a command needs the cluster.
Secrets are never read.
"""

from __future__ import annotations

import gc
import ipaddress
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from kubectl_netfix.inventory import ClusterFacts, Inventory
from kubectl_netfix.loader import CLUSTER_SCOPED_KINDS, gc_paused
from kubectl_netfix.model import ClusterOrigin, JsonObject, KubeObject, ObjectRef
from kubectl_netfix.options import RuleOptions, parse_kube_version

PAGE_SIZE = 500
LIST_WORKERS = 4


@dataclass(frozen=True)
class Resource:
    kind: str
    group_version: str  # "v1", "apps/v1"
    plural: str

    @property
    def namespaced(self) -> bool:
        return self.kind not in CLUSTER_SCOPED_KINDS

    @property
    def api_prefix(self) -> str:
        return "/api/v1" if self.group_version == "v1" else f"/apis/{self.group_version}"

    def collection_path(self, namespace: str | None) -> str:
        if self.namespaced and namespace:
            return f"{self.api_prefix}/namespaces/{namespace}/{self.plural}"
        return f"{self.api_prefix}/{self.plural}"

    def object_path(self, namespace: str | None, name: str) -> str:
        return f"{self.collection_path(namespace if self.namespaced else None)}/{name}"

    @property
    def display(self) -> str:
        group = self.group_version.rpartition("/")[0]
        return f"{self.plural}.{group}" if group else self.plural


# What the rules read. Never Secrets.
RESOURCES: tuple[Resource, ...] = (
    Resource("Namespace", "v1", "namespaces"),
    Resource("Pod", "v1", "pods"),
    Resource("Service", "v1", "services"),
    Resource("ConfigMap", "v1", "configmaps"),
    Resource("PersistentVolumeClaim", "v1", "persistentvolumeclaims"),
    Resource("ReplicationController", "v1", "replicationcontrollers"),
    Resource("Deployment", "apps/v1", "deployments"),
    Resource("ReplicaSet", "apps/v1", "replicasets"),
    Resource("StatefulSet", "apps/v1", "statefulsets"),
    Resource("DaemonSet", "apps/v1", "daemonsets"),
    Resource("Job", "batch/v1", "jobs"),
    Resource("CronJob", "batch/v1", "cronjobs"),
    Resource("HorizontalPodAutoscaler", "autoscaling/v2", "horizontalpodautoscalers"),
    Resource("NetworkPolicy", "networking.k8s.io/v1", "networkpolicies"),
    Resource("Ingress", "networking.k8s.io/v1", "ingresses"),
    Resource("IngressClass", "networking.k8s.io/v1", "ingressclasses"),
    Resource("EndpointSlice", "discovery.k8s.io/v1", "endpointslices"),
    Resource("ServiceCIDR", "networking.k8s.io/v1", "servicecidrs"),
)
RESOURCE_BY_KIND = {resource.kind: resource for resource in RESOURCES}

# Objects the rules need from kube-system even when -n names another namespace.
SYSTEM_NAMESPACE = "kube-system"

# Status fields rules read; the rest of status (and managedFields) is dropped page by page.
_KEEP_STATUS = {
    "Pod": ("phase", "podIP", "podIPs"),
    "Ingress": ("loadBalancer",),
    "Service": ("loadBalancer",),
    "PersistentVolumeClaim": ("phase", "accessModes"),
}


class ClusterError(Exception):
    """The cluster cannot be used at all (no config, unreachable, unauthorized): exit 2."""


@dataclass
class ClusterRead:
    inventory: Inventory
    context: str
    warnings: list[str] = field(default_factory=list)


def api_error_message(exc: Exception) -> str:
    """The server's own message from an ApiException body, else the exception text."""
    body = getattr(exc, "body", None)
    if body:
        try:
            data = json.loads(body)
            if isinstance(data, dict) and data.get("message"):
                return str(data["message"])
        except (ValueError, TypeError):
            pass
    reason = getattr(exc, "reason", None)
    return str(reason or exc).strip().splitlines()[0] if str(reason or exc).strip() else repr(exc)


def connect(kubeconfig: str | None, context: str | None) -> tuple[Any, str]:
    """An ApiClient for the chosen context and that context's name."""
    from kubernetes import config as kube_config
    from kubernetes.config.config_exception import ConfigException

    try:
        contexts, active = kube_config.list_kube_config_contexts(config_file=kubeconfig)
        names = [c["name"] for c in contexts]
        if context is not None and context not in names:
            raise ClusterError(f'context "{context}" not found in the kubeconfig')
        name = context or (active or {}).get("name", "")
        client = kube_config.new_client_from_config(
            config_file=kubeconfig, context=context, persist_config=False
        )
    except ConfigException as exc:
        if "No configuration found" in str(exc) or "Invalid kube-config file" in str(exc):
            where = kubeconfig or "$KUBECONFIG or ~/.kube/config"
            raise ClusterError(
                f"no usable kubeconfig at {where}: name manifests with -f, or point "
                "--kubeconfig / KUBECONFIG at a cluster"
            ) from None
        raise ClusterError(f"cannot load kubeconfig: {exc}") from None
    except OSError as exc:
        raise ClusterError(f"cannot read kubeconfig: {exc.strerror or exc}") from None
    return client, name


def get_json(client: Any, path: str, query: list[tuple[str, Any]] | None = None) -> Any:
    response = client.call_api(
        path,
        "GET",
        query_params=query or [],
        header_params={"Accept": "application/json"},
        auth_settings=["BearerToken"],
        _preload_content=False,
        _return_http_data_only=True,
    )
    with gc_paused():
        return json.loads(response.data)


def _is_unreachable(exc: Exception) -> bool:
    import urllib3

    return isinstance(exc, urllib3.exceptions.HTTPError | OSError)


# Pods are most of a big cluster's bytes, and in Python most of its memory (20 KB a pod): their
# spec fields no rule reads are dropped as the pages arrive (bench/live.py: peak RSS). Only
# Pods: a Pod's spec cannot be patched in place, so no fix is ever planned against the fields
# dropped here; pod templates, which fixes do patch, stay whole. A rule that starts reading one
# of these fields must take it out of these lists (tests/test_cluster_slim.py runs every rule
# fixture's Pods through this and expects the same findings).
_UNREAD_POD_SPEC = (
    "tolerations",
    "securityContext",
    "schedulerName",
    "priority",
    "priorityClassName",
    "preemptionPolicy",
    "terminationGracePeriodSeconds",
    "readinessGates",
    "overhead",
    "enableServiceLinks",
    "imagePullSecrets",
    "serviceAccount",  # the deprecated alias of serviceAccountName
)
_UNREAD_CONTAINER = (
    "resources",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "lifecycle",
    "securityContext",
    "terminationMessagePath",
    "terminationMessagePolicy",
    "imagePullPolicy",
    "volumeMounts",
    "volumeDevices",
    "resizePolicy",
)
_POD_CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
# service-selector asks only whether a slice has endpoints: each keeps its addresses.
_KEEP_ENDPOINT = ("addresses", "conditions")


def _slim(kind: str, item: JsonObject) -> JsonObject:
    """Drop, in place, what no rule reads: managedFields, most of status, Pods' unread spec
    fields, EndpointSlice endpoints' details."""
    metadata = item.get("metadata")
    if isinstance(metadata, dict):
        metadata.pop("managedFields", None)
        # Annotations stay whole, kubectl apply's last-applied copy included: a fix's `test` op
        # on /metadata/annotations is checked by the server against what it really holds.
    status = item.get("status")
    if isinstance(status, dict):
        keep = _KEEP_STATUS.get(kind, ())
        item["status"] = {key: status[key] for key in keep if key in status}
    if kind == "Pod":
        _slim_pod_spec(item.get("spec"))
    elif kind == "EndpointSlice":
        endpoints = item.get("endpoints")
        if isinstance(endpoints, list):
            item["endpoints"] = [
                {key: e[key] for key in _KEEP_ENDPOINT if key in e} if isinstance(e, dict) else e
                for e in endpoints
            ]
    if kind != "ConfigMap":
        # Objects of a kind repeat the same strings (a ReplicaSet's pods their images, env,
        # ports and labels); json.loads gives each its own copy. Sharing them takes a fifth off
        # a pod's memory. ConfigMaps' data is big and seldom repeated: not worth the hashing.
        _share_strings(item.get("spec"))
        _share_strings(item.get("endpoints"))
        if isinstance(metadata, dict):
            _share_strings(metadata.get("labels"))
    return item


def _share_strings(node: Any) -> None:
    """Replace, in place, every string in `node` by its interned copy."""
    if isinstance(node, dict):
        members: Any = node.items()
    elif isinstance(node, list):
        members = enumerate(node)
    else:
        return
    for key, value in members:
        if type(value) is str:
            node[key] = sys.intern(value)  # same size: safe while iterating
        elif isinstance(value, dict | list):
            _share_strings(value)


def _is_api_access_volume(volume: Any) -> bool:
    if not isinstance(volume, dict) or not str(volume.get("name", "")).startswith(
        "kube-api-access-"
    ):
        return False
    sources = (volume.get("projected") or {}).get("sources")
    if not isinstance(sources, list):
        return False
    for source in sources:
        config_map = source.get("configMap") if isinstance(source, dict) else None
        if isinstance(config_map, dict) and config_map.get("name") != "kube-root-ca.crt":
            return False
    return True


def _slim_pod_spec(spec: Any) -> None:
    if not isinstance(spec, dict):
        return
    for key in _UNREAD_POD_SPEC:
        spec.pop(key, None)
    volumes = spec.get("volumes")
    if isinstance(volumes, list):
        # The ServiceAccount admission plugin's kube-api-access-* volume (a token, the
        # kube-root-ca.crt ConfigMap, the namespace) is on nearly every pod and is a fifth of its
        # memory; no rule looks at it.
        spec["volumes"] = [v for v in volumes if not _is_api_access_volume(v)]
    for list_key in _POD_CONTAINER_LISTS:
        for container in spec.get(list_key) or ():
            if isinstance(container, dict):
                for key in _UNREAD_CONTAINER:
                    container.pop(key, None)


def list_resource(client: Any, resource: Resource, namespace: str | None) -> Iterator[JsonObject]:
    token: str | None = None
    while True:
        query: list[tuple[str, Any]] = [("limit", PAGE_SIZE)]
        if token:
            query.append(("continue", token))
        page = get_json(client, resource.collection_path(namespace), query)
        for item in page.get("items") or []:
            item.setdefault("apiVersion", resource.group_version)
            item.setdefault("kind", resource.kind)
            yield _slim(resource.kind, item)
        token = (page.get("metadata") or {}).get("continue")
        if not token:
            return


def count_objects(client: Any, resource: Resource) -> int | None:
    """How many objects of `resource` the whole cluster has, from a one-item page and the
    server's remainingItemCount; None when the server does not say (or denies the list)."""
    try:
        page = get_json(client, resource.collection_path(None), [("limit", 1)])
    except Exception:
        return None
    metadata = page.get("metadata") or {}
    items = len(page.get("items") or [])
    if not metadata.get("continue"):
        return items
    remaining = metadata.get("remainingItemCount")
    return items + remaining if isinstance(remaining, int) else None


class _Progress:
    """One self-overwriting line on stderr, only on a TTY and only after a moment."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.started = time.monotonic()
        self.enabled = sys.stderr.isatty()
        self.lock = threading.Lock()
        self.shown = False

    def step(self, label: str) -> None:
        with self.lock:
            self.done += 1
            if self.enabled and time.monotonic() - self.started > 0.5:
                sys.stderr.write(f"\rreading cluster: {self.done}/{self.total} {label:<40}")
                sys.stderr.flush()
                self.shown = True

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\r" + " " * 70 + "\r")
            sys.stderr.flush()


def read_cluster(
    kubeconfig: str | None,
    context: str | None,
    namespace: str | None,
    all_namespaces: bool,
    options: RuleOptions,
    options_given: set[str],
    connector: Callable[[str | None, str | None], tuple[Any, str]] = connect,
) -> ClusterRead:
    """Read the cluster into an Inventory; 403s become warnings, unreachable is ClusterError."""
    client, context_name = connector(kubeconfig, context)
    if not all_namespaces and namespace is None:
        namespace = _context_namespace(kubeconfig, context) or "default"
    scope = None if all_namespaces else namespace
    facts = ClusterFacts(live=True, context=context_name)
    if scope is not None:
        facts.namespaces_read = frozenset({scope, SYSTEM_NAMESPACE})
    warnings: list[str] = []
    try:
        version = get_json(client, "/version")
    except Exception as exc:
        if _is_unreachable(exc):
            raise ClusterError(
                f"cannot reach the cluster of context {context_name!r}: {_short(exc)}"
            ) from None
        status = getattr(exc, "status", None)
        if status == 401:
            raise ClusterError(
                f"the cluster of context {context_name!r} refused the credentials (401)"
            ) from None
        raise ClusterError(f"cannot read the server version: {api_error_message(exc)}") from None
    try:
        facts.server_version = parse_kube_version(f"{version['major']}.{version['minor']}")
    except (KeyError, ValueError):
        facts.server_version = None

    jobs: list[tuple[Resource, str | None]] = []
    for resource in RESOURCES:
        if not resource.namespaced:
            jobs.append((resource, None))
            continue
        jobs.append((resource, scope))
        if (
            scope is not None
            and scope != SYSTEM_NAMESPACE
            and resource.kind
            in (
                "Service",
                "ConfigMap",
                "Pod",
                "Deployment",
            )
        ):
            jobs.append((resource, SYSTEM_NAMESPACE))

    progress = _Progress(len(jobs))
    lists: dict[tuple[str, str | None], list[JsonObject]] = {}

    def fetch(job: tuple[Resource, str | None]) -> None:
        resource, job_namespace = job
        try:
            lists[(resource.kind, job_namespace)] = list(
                list_resource(client, resource, job_namespace)
            )
        except Exception as exc:
            status = getattr(exc, "status", None)
            where = f" in namespace {job_namespace}" if job_namespace else ""
            if status == 403:
                facts.unreadable.add(resource.kind)
                warnings.append(
                    f"warning: cannot list {resource.display}{where}: forbidden; "
                    f"rules that need {resource.kind} objects could not fully run"
                )
            elif status == 404:
                facts.unreadable.add(resource.kind)  # API not served by this version
            elif _is_unreachable(exc):
                warnings.append(f"error: lost the cluster while listing {resource.display}")
                facts.unreadable.add(resource.kind)
            else:
                facts.unreadable.add(resource.kind)
                warnings.append(
                    f"warning: cannot list {resource.display}{where}: {api_error_message(exc)}"
                )
        finally:
            progress.step(resource.display)

    # The cyclic GC would rescan every object read so far each time it ran (a big cluster's
    # lists are millions of containers and hold no cycles): paused while reading, and what was
    # read is frozen out of its sight for the rest of the run.
    with gc_paused(), ThreadPoolExecutor(max_workers=LIST_WORKERS) as pool:
        list(pool.map(fetch, jobs))
    gc.freeze()
    progress.close()
    if scope is not None:
        # kube-proxy-mode weighs the cluster's Services, not those of the one namespace.
        facts.service_count = count_objects(client, RESOURCE_BY_KIND["Service"])

    objects: list[KubeObject] = []
    seen: set[tuple[str, str | None, str]] = set()
    for resource in RESOURCES:
        for (kind, _ns), items in lists.items():
            if kind != resource.kind:
                continue
            for item in items:
                obj = _to_object(item, resource, context_name)
                key = (obj.kind, obj.namespace, obj.name)
                if key in seen:
                    continue
                seen.add(key)
                objects.append(obj)

    _apply_cluster_facts(objects, facts, options, options_given)
    inventory = Inventory(objects, options, facts)
    return ClusterRead(inventory, context_name, warnings)


def _short(exc: Exception) -> str:
    text = str(exc)
    if "Connection refused" in text:
        return "connection refused"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "unknown host"
    if "timed out" in text.lower():
        return "timed out"
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _context_namespace(kubeconfig: str | None, context: str | None) -> str | None:
    from kubernetes import config as kube_config

    try:
        contexts, active = kube_config.list_kube_config_contexts(config_file=kubeconfig)
    except Exception:
        return None
    chosen = next((c for c in contexts if c["name"] == context), None) if context else active
    namespace = ((chosen or {}).get("context") or {}).get("namespace")
    return namespace if isinstance(namespace, str) and namespace else None


def _to_object(item: JsonObject, resource: Resource, context: str) -> KubeObject:
    metadata = item.get("metadata") or {}
    namespace = metadata.get("namespace") if resource.namespaced else None
    ref = ObjectRef(item["apiVersion"], resource.kind, namespace, metadata.get("name", ""))
    origin = ClusterOrigin(context, str(metadata.get("resourceVersion", "")))
    return KubeObject(body=item, ref=ref, origin=origin)


def _apply_cluster_facts(
    objects: list[KubeObject], facts: ClusterFacts, options: RuleOptions, given: set[str]
) -> None:
    """What the cluster says overrides the defaults, never what the user set explicitly."""
    if options.kube_version is None and facts.server_version is not None:
        options.kube_version = facts.server_version
    for obj in objects:
        if obj.kind == "Namespace":
            facts.namespace_labels[obj.name] = {str(k): str(v) for k, v in obj.labels.items()}
    dns = next(
        (
            o
            for o in objects
            if o.kind == "Service" and o.name == "kube-dns" and o.namespace == options.dns_namespace
        ),
        None,
    )
    if dns is not None:
        selector = dns.spec.get("selector")
        if isinstance(selector, dict) and selector and "dns-labels" not in given:
            options.dns_pod_labels = {str(k): str(v) for k, v in selector.items()}
        ports = dns.spec.get("ports")
        if isinstance(ports, list) and "dns-port" not in given:
            for port in ports:
                target = port.get("targetPort") if isinstance(port, dict) else None
                if isinstance(target, int):
                    options.dns_port = target
                    break
    cidrs = []
    for obj in objects:
        if obj.kind == "ServiceCIDR":
            for cidr in obj.spec.get("cidrs") or []:
                try:
                    cidrs.append(ipaddress.ip_network(str(cidr), strict=False))
                except ValueError:
                    continue
    if cidrs and "service-cidr" not in given:
        options.service_cidr = tuple(cidrs)
