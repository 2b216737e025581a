"""dns-ndots: the cluster DNS default ndots:5 makes every external lookup walk the search list."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubectl_netfix.inventory import Inventory
from kubectl_netfix.model import (
    Applicability,
    ClusterOrigin,
    Finding,
    Fix,
    Fixability,
    PatchOp,
    Severity,
)
from kubectl_netfix.rules.base import Rule, set_ops, single_patch_fix
from kubectl_netfix.workloads import PodTemplate, containers

# ndots kubelet writes into resolv.conf for ClusterFirst pods.
CLUSTER_NDOTS = 5
# The resolvers (glibc, musl) cap ndots at 15.
MAX_NDOTS = 15
# Namespaces every cluster has, so `kubernetes.default` reads as service.namespace.
BUILTIN_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})


# A name counts as an external host only when its last label is a top-level domain: every
# two-letter label (country codes) that is not a common file extension, plus these generic ones.
# The list is short on purpose: a name it misses only lowers the finding to info, while a file or
# property name taken for a host would claim evidence that is not there. `internal` is ICANN's
# private-use TLD (`ip-10-0-0-1.ec2.internal`, `metadata.google.internal`): outside the cluster
# domain, so its lookups walk the search list like any other.
GENERIC_TLDS = frozenset(
    {
        "com", "net", "org", "edu", "gov", "mil", "int", "io", "dev", "app", "ai", "cloud",
        "tech", "xyz", "biz", "online", "site", "store", "shop", "software", "systems",
        "solutions", "digital", "global", "internal",
    }
)  # fmt: skip
FILE_EXTENSIONS = frozenset(
    {
        "json", "yaml", "yml", "xml", "toml", "ini", "cfg", "conf", "config", "properties",
        "props", "txt", "log", "md", "rst", "csv", "tsv", "html", "htm", "css", "js", "mjs",
        "cjs", "ts", "tsx", "jsx", "py", "pyc", "rb", "go", "rs", "java", "class", "jar", "war",
        "ear", "kt", "kts", "scala", "groovy", "gradle", "sh", "bash", "zsh", "ps", "bat", "cmd",
        "exe", "dll", "so", "dylib", "cc", "cpp", "hpp", "cs", "php", "pm", "lua", "sql", "db",
        "sqlite", "env", "pem", "crt", "cer", "key", "pub", "jks", "der", "csr", "gz", "tgz",
        "zip", "tar", "xz", "png", "jpg", "jpeg", "gif", "svg", "ico", "pdf", "sock", "pid",
        "lock", "tmp", "bak", "swp", "rpm", "deb", "iso", "img", "bin", "dat", "out", "err",
        "tf", "tfvars", "hcl", "tpl", "tmpl", "erb", "ejs", "hbs", "vue", "wasm", "proto",
        "avro", "parquet", "map", "lst", "dist", "orig", "new", "old",
    }
)  # fmt: skip
# First labels of reverse-DNS identifiers (Java packages and classes, Android ids): with two or
# more dots, `com.example.app` or `io.grpc.netty.shaded` is a code name, not a host.
REVERSE_DNS_ROOTS = frozenset({"com", "org", "net", "io", "java", "javax", "jakarta", "sun"})

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# scheme://[user@]host — the host of a URL (jdbc:postgresql://, amqps://, https://...).
_URL_HOST = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://(?:[^\s/?#@]*@)?([^\s/?#:\[\]\"'<>,;|@]+)")
# A bare dotted name of 1–4 dots, as a whole token: not inside a longer dotted name, a path
# (`/etc/app.conf`), an e-mail address (`ops@example.com`) or an identifier (`MY_x.y`). The
# optional trailing dot marks an absolute name. A name followed by `/` without a scheme is an
# image reference (`docker.io/library/nginx`), a label key (`app.kubernetes.io/name`) or a module
# path (`github.com/org/repo`), not something the pod resolves: skipped.
# A `#` comment (shell scripts in args, YAML, properties and INI files in ConfigMaps): a URL in
# `# see https://github.com/org/repo/issues/1` is not a lookup the workload makes.
_COMMENT = re.compile(r"(?:^|(?<=\s))#.*$", re.MULTILINE)
_BARE_NAME = re.compile(
    rf"(?<![A-Za-z0-9_.@/-])((?:{_LABEL}\.){{1,4}}{_LABEL})(\.?)(?![A-Za-z0-9_/-]|\.[A-Za-z0-9_-])"
)


@dataclass(frozen=True)
class HostEvidence:
    name: str  # as written, without a trailing dot
    where: str  # "env STRIPE_URL of container api"


@dataclass
class Evidence:
    external: list[HostEvidence] = field(default_factory=list)
    # In-cluster names that still rely on the search list (`svc.ns`, `svc.ns.svc`).
    relative_internal: list[HostEvidence] = field(default_factory=list)


class HostClassifier:
    """Decides whether a dotted word is an external host, an in-cluster name, or neither."""

    def __init__(self, cluster_domain: str, namespaces: set[str]) -> None:
        self.cluster_domain = cluster_domain.strip(".").lower() or "cluster.local"
        self.namespaces = {ns.lower() for ns in namespaces} | BUILTIN_NAMESPACES
        # The same env values and ConfigMaps recur across workloads: scan each text once.
        self._seen: dict[str, list[tuple[str, str]]] = {}

    def classify(self, name: str) -> str | None:
        """'external'; 'internal' (an in-cluster name that relies on the search list: `svc.ns`,
        `svc.ns.svc`); 'qualified' (`svc.ns.svc.cluster.local`); None (not a host, or `.local`
        multicast DNS, which the cluster DNS never sees)."""
        lowered = name.lower()
        labels = lowered.split(".")
        if not 2 <= len(labels) <= 5 or not all(re.fullmatch(_LABEL, label) for label in labels):
            return None
        if _is_ip(lowered):
            return None
        domain = self.cluster_domain
        if lowered.endswith(f".{domain}") or lowered.endswith(".cluster.local"):
            return "qualified"  # a full in-cluster name: resolved as is
        if lowered.endswith(".local"):
            return None
        if lowered.endswith(".svc"):
            return "internal"
        if len(labels) == 2 and labels[1] in self.namespaces:
            return "internal"  # service.namespace
        last = labels[-1]
        if not last.isalpha() or last in FILE_EXTENSIONS:
            return None
        if len(labels) >= 3 and labels[0] in REVERSE_DNS_ROOTS:
            return None
        if len(last) == 2 or last in GENERIC_TLDS:
            return "external"
        return None

    def hosts_in(self, text: str) -> list[tuple[str, str]]:
        """(name, class) of every host-like word of `text`; absolute names (`x.com.`) skipped:
        they never walk the search list."""
        if "." not in text:
            return []  # every host this finds has two labels or more
        found = self._seen.get(text)
        if found is None:
            found = self._seen[text] = list(self._scan(text))
        return found

    def _scan(self, text: str) -> Iterator[tuple[str, str]]:
        text = _COMMENT.sub("", text)
        for match in _URL_HOST.finditer(text):
            host = match.group(1)
            if host.endswith("."):
                continue
            kind = self.classify(host)
            if kind is not None:
                yield host, kind
        for match in _BARE_NAME.finditer(text):
            if match.group(2):
                continue
            host = match.group(1)
            kind = self.classify(host)
            if kind is not None:
                yield host, kind


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def parse_ndots(value: Any) -> int | None:
    """The ndots a resolver reads from `options ndots:VALUE`, as glibc's atoi does; None when the
    value has no leading number (the resolver would read 0: not the ndots:5 problem)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return min(value, MAX_NDOTS)
    if not isinstance(value, str):
        return None
    match = re.match(r"\s*\+?(\d+)", value)
    if match is None:
        return None
    return min(int(match.group(1)), MAX_NDOTS)


@dataclass(frozen=True)
class NdotsState:
    """Where the pod spec stands: its effective ndots and the shape the fix starts from."""

    ndots: int | None
    dns_config_present: bool
    dns_config: Any
    options: Any  # dnsConfig.options as found (list when well-formed)
    ndots_index: int | None  # index of the effective (last) ndots entry in options


def ndots_state(spec: Mapping[str, Any]) -> NdotsState:
    dns_config = spec.get("dnsConfig")
    present = "dnsConfig" in spec
    options = dns_config.get("options") if isinstance(dns_config, dict) else None
    index: int | None = None
    ndots: int | None = CLUSTER_NDOTS
    if isinstance(options, list):
        # kubelet merges the options into a map: the last ndots entry wins.
        for number, option in enumerate(options):
            if isinstance(option, dict) and option.get("name") == "ndots":
                index = number
        if index is not None:
            ndots = parse_ndots(options[index].get("value"))
    return NdotsState(ndots, present, dns_config, options, index)


def uses_cluster_dns(spec: Mapping[str, Any]) -> bool:
    """ClusterFirst (the default) on the pod network, or ClusterFirstWithHostNet anywhere; a
    hostNetwork pod with ClusterFirst falls back to the node's resolv.conf (policy Default)."""
    policy = spec.get("dnsPolicy")
    if policy is None or policy == "":
        policy = "ClusterFirst"
    if policy == "ClusterFirstWithHostNet":
        return True
    return policy == "ClusterFirst" and spec.get("hostNetwork") is not True


class DnsNdots(Rule):
    """
    What it does
    Finds pod specs (every workload kind) that resolve names through the cluster DNS
    (`dnsPolicy: ClusterFirst`, the default, or `ClusterFirstWithHostNet`) with the resolver
    option `ndots:5` that kubelet writes by default: no `ndots` entry in `dnsConfig.options`, or
    one of 5 or more. It is a warning when the workload shows it looks up external hosts (a
    name of 1 to 4 dots, not an IP, not under `.svc`, the cluster domain or `.local`, found in a
    container's env values, args or command, or in the ConfigMaps it reads through `envFrom`,
    `configMapKeyRef` or a configMap volume), info otherwise.

    Why is this bad?
    With `ndots:5`, a name with fewer than five dots is first tried with every search domain:
    `api.stripe.com` becomes `api.stripe.com.shop.svc.cluster.local`,
    `api.stripe.com.svc.cluster.local`, `api.stripe.com.cluster.local` (plus the node's own
    search domains), each asked for A and AAAA and answered NXDOMAIN, before the real name is
    asked. That is 6 or more wasted queries per lookup, latency on every connection, load on
    CoreDNS and conntrack, and on UDP the occasional 5-second timeout per lost packet.

    Example
    ```yaml
    spec:
      template:
        spec:
          containers:
            - name: api
              env:
                - name: STRIPE_URL
                  value: https://api.stripe.com/v1
    ```
    Use instead:
    ```yaml
    spec:
      template:
        spec:
          dnsConfig:
            options:
              - name: ndots
                value: "2"
          containers:
            - name: api
    ```

    Fix
    Sets the ndots option in the pod spec's `dnsConfig` (value `2`, `--ndots` to choose), with
    the fewest operations for the shape found: adds `dnsConfig`, or its `options`, or one
    option, or replaces a value of 5 or more (guarded by a `test`). Pods get the new resolver
    settings when they are re-created (a rollout).

    Fix safety
    Safe in general. With `ndots:2`, a name with at least 2 dots is first sent as is, and only
    then with the search domains: external names resolve on the first try, one-dot in-cluster
    names (`svc.ns`) and full ones (`svc.ns.svc.cluster.local`) are unaffected, while a partial
    name such as `svc.ns.svc` now costs one upstream NXDOMAIN first with glibc and Go. musl
    (Alpine images) never tries the search list for a name with at least ndots dots, so there
    `svc.ns.svc` would stop resolving: when the workload shows such a name, the fix is marked
    unsafe and names it. A trailing dot (`api.stripe.com.`) is the per-call alternative that
    skips the search list without changing the pod. Live Pods and Jobs cannot change their pod
    template: the fix is manual there (change the owner, or re-create).

    References
    https://kubernetes.io/docs/concepts/services-networking/dns-pod-service/#pod-dns-config
    https://kubernetes.io/docs/concepts/services-networking/dns-pod-service/#pod-s-dns-policy
    https://kubernetes.io/docs/tasks/administer-cluster/dns-debugging-resolution/#known-issues
    https://man7.org/linux/man-pages/man5/resolv.conf.5.html
    https://www.kubernetes.dev/resources/keps/504/
    """

    id = "dns-ndots"
    summary = "ndots:5 makes every external lookup walk the search list"
    kinds = (
        "Pod",
        "Deployment",
        "ReplicaSet",
        "StatefulSet",
        "DaemonSet",
        "Job",
        "CronJob",
        "ReplicationController",
        "ConfigMap",
    )
    default_severity = Severity.WARNING
    fixable = Fixability.SOMETIMES  # not when --ndots is itself 5 or more

    def check(self, inventory: Inventory) -> Iterator[Finding]:
        classifier = HostClassifier(inventory.options.cluster_domain, inventory.known_namespaces())
        target = inventory.options.ndots
        for namespace in inventory.namespaces_with_pods():
            for template in inventory.pod_templates(namespace):
                if inventory.controlled_by_known_owner(template.owner):
                    continue
                spec = template.spec
                if not uses_cluster_dns(spec):
                    continue
                state = ndots_state(spec)
                if state.ndots is None or state.ndots < CLUSTER_NDOTS:
                    continue
                evidence = collect_evidence(template, inventory, classifier)
                yield self._finding(template, state, evidence, inventory, target)

    def _finding(
        self,
        template: PodTemplate,
        state: NdotsState,
        evidence: Evidence,
        inventory: Inventory,
        target: str,
    ) -> Finding:
        owner = template.owner
        domain = inventory.options.cluster_domain
        namespace = owner.namespace or inventory.options.default_namespace
        if state.ndots_index is None:
            why = f"ndots:{CLUSTER_NDOTS} (no ndots option in dnsConfig: kubelet's default)"
        else:
            value = state.options[state.ndots_index].get("value")
            why = f'ndots:{state.ndots} (dnsConfig sets ndots "{value}")'
        search = f"{namespace}.svc.{domain}, svc.{domain}, {domain}, then the node's"
        if evidence.external:
            first = evidence.external[0]
            others = len({e.name.lower() for e in evidence.external}) - 1
            more = f" (and {others} more)" if others > 0 else ""
            message = (
                f"{owner.kind} {owner.name} resolves through the cluster DNS with {why} and "
                f"looks up external hosts, e.g. {first.name} in {first.where}{more}: each "
                f"lookup of a name with fewer than {state.ndots} dots first tries every search "
                f"domain ({search}), an NXDOMAIN for A and for AAAA each, before the name itself"
            )
            severity = Severity.WARNING
        else:
            message = (
                f"{owner.kind} {owner.name} resolves through the cluster DNS with {why}: no "
                "external host shows in its env, args, command or ConfigMaps, but any it looks "
                f"up with fewer than {state.ndots} dots first tries every search domain "
                f"({search})"
            )
            severity = Severity.INFO
        return self.finding(
            owner,
            finding_pointer(template, state),
            message,
            severity=severity,
            fix=self._fix(template, state, evidence, target, domain),
        )

    def _fix(
        self,
        template: PodTemplate,
        state: NdotsState,
        evidence: Evidence,
        target: str,
        domain: str,
    ) -> Fix | None:
        wanted = parse_ndots(target)
        if wanted is None or wanted >= CLUSTER_NDOTS:
            return None  # --ndots asks for the value already there
        owner = template.owner
        if isinstance(owner.origin, ClusterOrigin) and owner.kind in ("Pod", "Job"):
            return Fix(
                title=f"Set ndots to {target} in the pod template's dnsConfig",
                applicability=Applicability.MANUAL,
                note=(
                    f"A {owner.kind}'s pod spec cannot be changed in place: set dnsConfig "
                    "options ndots in the workload that creates it, or re-create it."
                ),
            )
        ops = ndots_ops(template.spec_pointer, state, target)
        risky = [e for e in evidence.relative_internal if e.name.count(".") >= wanted]
        if risky:
            first = risky[0]
            full = (
                f"{first.name}.{domain}"
                if first.name.lower().endswith(".svc")
                else f"{first.name}.svc.{domain}"
            )
            note = (
                f"{first.name} (in {first.where}) has {first.name.count('.')} dots: with "
                f"ndots:{target} it is sent as an absolute name, and musl (Alpine images) then "
                f"never tries the search list; write it as {full} first."
            )
            applicability = Applicability.UNSAFE
        else:
            note = (
                f"Names with at least {target} dots are now tried as absolute names first; pods "
                "pick the change up when they are re-created."
            )
            applicability = Applicability.SAFE
        title = (
            f"Lower ndots to {target} in dnsConfig"
            if state.ndots_index is not None
            else f"Set ndots to {target} in dnsConfig"
        )
        return single_patch_fix(title, applicability, owner, ops, note)


def finding_pointer(template: PodTemplate, state: NdotsState) -> str:
    """The ndots value when set, else dnsConfig, else an explicit dnsPolicy, else the spec."""
    spec_pointer = template.spec_pointer
    if state.ndots_index is not None:
        return f"{spec_pointer}/dnsConfig/options/{state.ndots_index}/value"
    if state.dns_config_present:
        return f"{spec_pointer}/dnsConfig"
    if template.spec.get("dnsPolicy"):
        return f"{spec_pointer}/dnsPolicy"
    return spec_pointer


def ndots_ops(spec_pointer: str, state: NdotsState, target: str) -> list[PatchOp]:
    """The fewest ops that make the effective ndots `target`, from the shape found."""
    option = {"name": "ndots", "value": target}
    config_path = f"{spec_pointer}/dnsConfig"
    if not isinstance(state.dns_config, dict):
        return set_ops(
            config_path, state.dns_config_present, state.dns_config, {"options": [option]}
        )
    options_path = f"{config_path}/options"
    if not isinstance(state.options, list):
        present = "options" in state.dns_config
        return set_ops(options_path, present, state.options, [option])
    if state.ndots_index is None:
        return [{"op": "add", "path": f"{options_path}/-", "value": option}]
    entry = state.options[state.ndots_index]
    value_path = f"{options_path}/{state.ndots_index}/value"
    return set_ops(value_path, "value" in entry, entry.get("value"), target)


# --- evidence ----------------------------------------------------------------------------------


def collect_evidence(
    template: PodTemplate, inventory: Inventory, classifier: HostClassifier
) -> Evidence:
    evidence = Evidence()
    namespace = template.owner.namespace or inventory.options.default_namespace

    def scan(text: Any, where: str) -> None:
        if not isinstance(text, str):
            return
        for host, kind in classifier.hosts_in(text):
            if kind == "external":
                evidence.external.append(HostEvidence(host, where))
            elif kind == "internal":
                evidence.relative_internal.append(HostEvidence(host, where))

    def config_map_data(name: Any) -> Mapping[str, Any]:
        if not isinstance(name, str):
            return {}
        config_map = inventory.get("ConfigMap", namespace, name)
        if config_map is None:
            return {}
        data = config_map.body.get("data")
        return data if isinstance(data, dict) else {}

    for _pointer, container in containers(template.spec):
        cname = container.get("name") if isinstance(container.get("name"), str) else "?"
        of = f"of container {cname}"
        env = container.get("env")
        for variable in env if isinstance(env, list) else []:
            if not isinstance(variable, dict):
                continue
            var_name = variable.get("name")
            scan(variable.get("value"), f"env {var_name} {of}")
            source = variable.get("valueFrom")
            ref = source.get("configMapKeyRef") if isinstance(source, dict) else None
            if isinstance(ref, dict):
                key = ref.get("key")
                data = config_map_data(ref.get("name"))
                if isinstance(key, str):
                    scan(
                        data.get(key),
                        f"ConfigMap {ref.get('name')} key {key} (env {var_name} {of})",
                    )
        env_from = container.get("envFrom")
        for source in env_from if isinstance(env_from, list) else []:
            ref = source.get("configMapRef") if isinstance(source, dict) else None
            if isinstance(ref, dict):
                for key, value in config_map_data(ref.get("name")).items():
                    scan(value, f"ConfigMap {ref.get('name')} key {key} (envFrom {of})")
        for field_name in ("args", "command"):
            words = container.get(field_name)
            for word in words if isinstance(words, list) else []:
                scan(word, f"{field_name} {of}")

    volumes = template.spec.get("volumes")
    for volume in volumes if isinstance(volumes, list) else []:
        if not isinstance(volume, dict):
            continue
        sources: list[Any] = [volume.get("configMap")]
        projected = volume.get("projected")
        if isinstance(projected, dict) and isinstance(projected.get("sources"), list):
            sources += [s.get("configMap") for s in projected["sources"] if isinstance(s, dict)]
        for source in sources:
            if not isinstance(source, dict):
                continue
            data = config_map_data(source.get("name"))
            items = source.get("items")
            keys = (
                [i.get("key") for i in items if isinstance(i, dict)]
                if isinstance(items, list) and items
                else list(data)
            )
            for key in keys:
                if isinstance(key, str):
                    where = (
                        f"ConfigMap {source.get('name')} key {key} (volume {volume.get('name')})"
                    )
                    scan(data.get(key), where)
    return evidence
