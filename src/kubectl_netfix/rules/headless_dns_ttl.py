"""headless-dns-ttl: stale DNS answers for headless Services in front of StatefulSets."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubectl_netfix.inventory import Inventory
from kubectl_netfix.label_selectors import matches_map
from kubectl_netfix.model import (
    Applicability,
    Finding,
    Fix,
    Fixability,
    JsonObject,
    KubeObject,
    ObjectPatch,
    Severity,
)
from kubectl_netfix.rules.base import Rule
from kubectl_netfix.workloads import pod_template_of

COREDNS_CONFIGMAP = "coredns"
COREFILE_KEY = "Corefile"
COREFILE_POINTER = f"/data/{COREFILE_KEY}"

KUBERNETES_DEFAULT_TTL = 5  # CoreDNS kubernetes plugin
KUBERNETES_MAX_TTL = 3600
CACHE_DEFAULT_MAX_TTL = 3600  # cache plugin, successful answers
CACHE_DEFAULT_MIN_TTL = 5
FIX_TTL = 5  # the kubernetes plugin's own default: what the fix sets (or --max-dns-ttl if lower)
JVM_DEFAULT_TTL = 30  # InetAddressCachePolicy.DEFAULT_POSITIVE without a security manager
MAX_NAMED = 5

JVM_IMAGE_HINTS = (
    "java",
    "openjdk",
    "jdk",
    "temurin",
    "corretto",
    "kafka",
    "zookeeper",
    "cassandra",
    "elasticsearch",
)
JVM_OPTION_VARS = frozenset({"JAVA_TOOL_OPTIONS", "JAVA_OPTS", "JDK_JAVA_OPTIONS"})
_SYSTEM_PROPERTY_FORM = re.compile(r"(?<![\w.])-Dnetworkaddress\.cache\.ttl\b")


# --- the Corefile --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    text: str
    line: int  # 0-based line of the Corefile
    start: int  # column where the token starts
    end: int  # column after the token
    quoted: bool = False

    def is_brace(self, brace: str) -> bool:
        return not self.quoted and self.text == brace


@dataclass
class Directive:
    name: Token
    args: list[Token]
    children: list[Directive] = field(default_factory=list)
    open: Token | None = None  # `{` of its block, if it has one
    close: Token | None = None

    def child(self, name: str) -> list[Directive]:
        return [d for d in self.children if d.name.text == name]


@dataclass
class ServerBlock:
    keys: list[Token]
    directives: list[Directive]

    def directive(self, name: str) -> Directive | None:
        return next((d for d in self.directives if d.name.text == name), None)


def tokenize(text: str) -> list[Token]:
    """Caddyfile tokens: whitespace-separated, `"..."` quoted, `#` starts a comment only at the
    start of a token (so `ttl 30 # was 5` is `ttl 30`, and `# ttl 30` is nothing)."""
    tokens: list[Token] = []
    for number, line in enumerate(text.split("\n")):
        column, length = 0, len(line)
        while column < length:
            char = line[column]
            if char in " \t\r":
                column += 1
                continue
            if char == "#":
                break
            start = column
            if char == '"':
                column += 1
                chars: list[str] = []
                while column < length and line[column] != '"':
                    if line[column] == "\\" and column + 1 < length:
                        column += 1
                    chars.append(line[column])
                    column += 1
                column = min(column + 1, length)
                tokens.append(Token("".join(chars), number, start, column, quoted=True))
                continue
            while column < length and line[column] not in " \t\r":
                column += 1
            tokens.append(Token(line[start:column], number, start, column))
    return tokens


def parse_corefile(text: str) -> list[ServerBlock] | None:
    """Server blocks with their plugins (and the plugins' own blocks); None for shapes this
    parser does not follow (a Corefile without braces, unbalanced braces)."""
    tokens = tokenize(text)
    blocks: list[ServerBlock] = []
    position = 0
    while position < len(tokens):
        keys: list[Token] = []
        while position < len(tokens) and not tokens[position].is_brace("{"):
            if tokens[position].is_brace("}"):
                return None
            keys.append(tokens[position])
            position += 1
        if position >= len(tokens) or not keys:
            return None
        directives, position, closed = _parse_body(tokens, position + 1)
        if not closed:
            return None
        blocks.append(ServerBlock(keys, directives))
    return blocks


def _parse_body(tokens: Sequence[Token], position: int) -> tuple[list[Directive], int, bool]:
    directives: list[Directive] = []
    while position < len(tokens):
        token = tokens[position]
        if token.is_brace("}"):
            return directives, position + 1, True
        position += 1
        args: list[Token] = []
        while (
            position < len(tokens)
            and tokens[position].line == token.line
            and not tokens[position].is_brace("{")
            and not tokens[position].is_brace("}")
        ):
            args.append(tokens[position])
            position += 1
        directive = Directive(token, args)
        if (
            position < len(tokens)
            and tokens[position].is_brace("{")
            and tokens[position].line == token.line
        ):
            directive.open = tokens[position]
            children, position, closed = _parse_body(tokens, position + 1)
            if not closed:
                return directives, position, False
            directive.children = children
            directive.close = tokens[position - 1]
        directives.append(directive)
    return directives, position, False


def _zone_and_port(key: str) -> tuple[str, str | None]:
    key = key.rstrip(",").lower()
    if "://" in key:
        key = key.split("://", 1)[1]
    host, port = key, None
    if ":" in key:
        head, _, tail = key.rpartition(":")
        if tail.isdigit():
            host, port = head, tail
    zone = host.rstrip(".") or "."
    return zone, port


def _covers(zone: str, domain: str) -> bool:
    return zone == "." or domain == zone or domain.endswith("." + zone)


def _zone_depth(zone: str) -> int:
    return 0 if zone == "." else zone.count(".") + 1


@dataclass(frozen=True)
class CorefileTTL:
    """How long CoreDNS lets an answer for the cluster domain live, and why."""

    kubernetes: Directive
    kubernetes_ttl: int
    ttl_token: Token | None  # the value of the last `ttl` line, if any
    cache_applies: bool
    cache_min: int
    cache_max: int

    def effective(self, kubernetes_ttl: int | None = None) -> int:
        ttl = self.kubernetes_ttl if kubernetes_ttl is None else kubernetes_ttl
        if not self.cache_applies:
            return ttl
        return min(max(ttl, self.cache_min), self.cache_max)

    def explain(self) -> str:
        text = f"kubernetes ttl {self.kubernetes_ttl}"
        if self.ttl_token is None:
            text += " by default"
        if self.cache_applies:
            text += f"; cache keeps {self.cache_min}-{self.cache_max}s"
        return text


def corefile_ttl(text: str, domain: str, port: int) -> CorefileTTL | None:
    """The TTL CoreDNS gives `domain` answers, from the server block that serves it; None when
    the Corefile cannot tell (no kubernetes plugin for it, invalid values)."""
    blocks = parse_corefile(text)
    if not blocks:
        return None
    candidates: list[tuple[int, int, ServerBlock, list[str]]] = []
    for block in blocks:
        zones: list[str] = []
        best = -1
        port_matches = False
        for key in block.keys:
            zone, key_port = _zone_and_port(key.text)
            zones.append(zone)
            if _covers(zone, domain):
                best = max(best, _zone_depth(zone))
                port_matches = port_matches or key_port in (None, str(port))
        if best >= 0:
            candidates.append((1 if port_matches else 0, best, block, zones))
    if not candidates:
        return None
    _, _, block, block_zones = max(candidates, key=lambda c: (c[0], c[1]))
    kubernetes = block.directive("kubernetes")
    if kubernetes is None:
        return None
    zones = [_zone_and_port(a.text)[0] for a in kubernetes.args] or block_zones
    if not any(_covers(zone, domain) for zone in zones):
        return None
    kubernetes_ttl, ttl_token = KUBERNETES_DEFAULT_TTL, None
    for line in kubernetes.child("ttl"):
        value = _int(line.args[0].text) if line.args else None
        if value is None or not 0 <= value <= KUBERNETES_MAX_TTL:
            return None  # CoreDNS refuses to start with it: not this rule's finding
        kubernetes_ttl, ttl_token = value, line.args[0]
    cache = _cache_bounds(block.directive("cache"), block_zones, domain)
    if cache is None:
        return CorefileTTL(kubernetes, kubernetes_ttl, ttl_token, False, 0, 0)
    return CorefileTTL(kubernetes, kubernetes_ttl, ttl_token, True, cache[0], cache[1])


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _cache_bounds(
    cache: Directive | None, block_zones: list[str], domain: str
) -> tuple[int, int] | None:
    """(min, max) TTL the cache applies to successful answers for `domain`, or None."""
    if cache is None:
        return None
    args = [a.text for a in cache.args]
    low, high = CACHE_DEFAULT_MIN_TTL, CACHE_DEFAULT_MAX_TTL
    if args and _int(args[0]) is not None:
        high = _int(args[0]) or high
        args = args[1:]
    zones = [_zone_and_port(a)[0] for a in args] or block_zones
    if not any(_covers(zone, domain) for zone in zones):
        return None
    for option in cache.children:
        values = [a.text for a in option.args]
        if option.name.text == "success":
            if len(values) > 1 and _int(values[1]):
                high = _int(values[1]) or high
            if len(values) > 2 and _int(values[2]) is not None:
                low = _int(values[2]) or 0
        elif option.name.text == "disable" and values and values[0] == "success":
            excluded = [_zone_and_port(v)[0] for v in values[1:]]
            if not excluded or any(_covers(zone, domain) for zone in excluded):
                return None
    return low, high


def set_kubernetes_ttl(text: str, found: CorefileTTL, ttl: int) -> str | None:
    """The Corefile with `ttl` set in the kubernetes block, changing only that line (or
    inserting one); None when the block's layout is not one line per directive."""
    lines = text.split("\n")
    if found.ttl_token is not None:
        token = found.ttl_token
        line = lines[token.line]
        lines[token.line] = f"{line[: token.start]}{ttl}{line[token.end :]}"
        return "\n".join(lines)
    kubernetes = found.kubernetes
    indent_step = _indent_step(text)
    own_indent = _indent(lines[kubernetes.name.line])
    if kubernetes.open is not None and kubernetes.close is not None:
        close = kubernetes.close
        if lines[close.line][: close.start].strip():
            return None  # `}` shares its line with a directive
        if kubernetes.children:
            indent = _indent(lines[kubernetes.children[0].name.line])
        else:
            indent = _indent(lines[close.line]) + indent_step
        lines.insert(close.line, f"{indent}ttl {ttl}")
        return "\n".join(lines)
    # No block yet: open one after the plugin's last argument.
    last = kubernetes.args[-1] if kubernetes.args else kubernetes.name
    line = lines[last.line]
    rest = line[last.end :]
    if rest.strip() and not rest.strip().startswith("#"):
        return None
    lines[last.line] = f"{line[: last.end]} {{{rest}"
    lines[last.line + 1 : last.line + 1] = [
        f"{own_indent}{indent_step}ttl {ttl}",
        f"{own_indent}}}",
    ]
    return "\n".join(lines)


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _indent_step(text: str) -> str:
    """The Corefile's own nesting step, from the first plugin block that has a child."""
    blocks = parse_corefile(text) or []
    lines = text.split("\n")
    for block in blocks:
        for directive in block.directives:
            if directive.children:
                outer = _indent(lines[directive.name.line])
                inner = _indent(lines[directive.children[0].name.line])
                if len(inner) > len(outer) and inner.startswith(outer):
                    return inner[len(outer) :]
    return "    "


# --- workloads ------------------------------------------------------------------------------------


def headless_statefulset_services(
    inventory: Inventory,
) -> list[tuple[KubeObject, list[KubeObject]]]:
    """Headless Services and the StatefulSets behind them (serviceName or selector)."""
    by_namespace: dict[str | None, list[KubeObject]] = {}
    for statefulset in inventory.of_kind("StatefulSet"):
        by_namespace.setdefault(statefulset.namespace, []).append(statefulset)
    result: list[tuple[KubeObject, list[KubeObject]]] = []
    for service in inventory.of_kind("Service"):
        spec = service.spec
        if spec.get("clusterIP") != "None" or spec.get("type") == "ExternalName":
            continue
        selector = spec.get("selector")
        backing = []
        for statefulset in by_namespace.get(service.namespace, []):
            if statefulset.spec.get("serviceName") == service.name:
                backing.append(statefulset)
                continue
            template = pod_template_of(statefulset)
            if (
                isinstance(selector, dict)
                and selector
                and template is not None
                and matches_map(selector, template.labels)
            ):
                backing.append(statefulset)
        if backing:
            result.append((service, backing))
    return result


def is_jvm_container(container: Mapping[str, Any]) -> bool:
    image = container.get("image")
    if isinstance(image, str) and any(hint in image.lower() for hint in JVM_IMAGE_HINTS):
        return True
    env = container.get("env")
    return isinstance(env, list) and any(
        isinstance(e, dict) and str(e.get("name", "")).startswith(("JAVA_", "JDK_JAVA_"))
        for e in env
    )


def _is_option_var(name: str) -> bool:
    return name in JVM_OPTION_VARS or name.endswith(("_OPTS", "JAVA_OPTIONS"))


def jvm_ttl_setting(inventory: Inventory, namespace: str | None, container: JsonObject) -> str:
    """'set', 'missing', 'ineffective' (only `-Dnetworkaddress.cache.ttl`, which the JVM
    ignores) or 'unknown' (JVM options come from somewhere the input does not show)."""
    texts: list[str] = []
    unknown = False
    env = container.get("env")
    for entry in env if isinstance(env, list) else []:
        if not isinstance(entry, dict) or not _is_option_var(str(entry.get("name", ""))):
            continue
        if isinstance(entry.get("value"), str):
            texts.append(entry["value"])
        elif entry.get("valueFrom") is not None:
            unknown = True
    env_from = container.get("envFrom")
    for source in env_from if isinstance(env_from, list) else []:
        if not isinstance(source, dict):
            continue
        reference = source.get("configMapRef")
        config_map = None
        if isinstance(reference, dict) and isinstance(reference.get("name"), str):
            config_map = inventory.get("ConfigMap", namespace, reference["name"])
        if config_map is None:
            unknown = True  # a Secret, or a ConfigMap the input does not have
            continue
        prefix = source.get("prefix") if isinstance(source.get("prefix"), str) else ""
        data = config_map.body.get("data")
        for key, value in (data if isinstance(data, dict) else {}).items():
            if _is_option_var(f"{prefix}{key}") and isinstance(value, str):
                texts.append(value)
    for key in ("command", "args"):
        value = container.get(key)
        if isinstance(value, list):
            texts.extend(v for v in value if isinstance(v, str))
    joined = "\n".join(texts)
    if "sun.net.inetaddr.ttl" in joined or "java.security.properties" in joined:
        return "set"
    if "networkaddress.cache.ttl" in joined:
        remaining = _SYSTEM_PROPERTY_FORM.sub("", joined)
        return "set" if "networkaddress.cache.ttl" in remaining else "ineffective"
    return "unknown" if unknown else "missing"


def _names(objects: Sequence[KubeObject]) -> str:
    shown = [f"{o.namespace}/{o.name}" for o in objects[:MAX_NAMED]]
    if len(objects) > MAX_NAMED:
        shown.append(f"{len(objects) - MAX_NAMED} more")
    return ", ".join(shown)


class HeadlessDnsTtl(Rule):
    """Flags DNS TTLs that keep clients on a StatefulSet pod's old IP after it moves.

    What it does
    Looks at headless Services (`clusterIP: None`) that back StatefulSets (the StatefulSet's
    `serviceName`, or a selector matching its pods). With the CoreDNS Corefile known (the
    ConfigMap `coredns` in the DNS namespace, `kube-system` unless `--dns-namespace`), it works
    out how long an answer for the cluster domain lives: the `kubernetes` plugin's `ttl`
    (default 5 s), clamped by the `cache` plugin when it covers the cluster domain (at most its
    TTL, default 3600 s, or `success CAPACITY TTL`; at least its MINTTL, default 5 s). Above
    `--max-dns-ttl` (default 10 s) it warns on the Corefile and names the affected Services.
    The Corefile is read as CoreDNS reads it: server blocks, nested plugin blocks, `#`
    comments (a `ttl` in a comment counts for nothing), the server block serving the cluster
    domain on the DNS port.

    It also reports (info) JVM containers (java, openjdk, temurin, corretto, kafka, zookeeper,
    cassandra, elasticsearch images, or `JAVA_*` variables) of those StatefulSets when no
    `sun.net.inetaddr.ttl` or `networkaddress.cache.ttl` setting appears in `JAVA_TOOL_OPTIONS`,
    `JAVA_OPTS`, `JDK_JAVA_OPTIONS`, `*_OPTS` variables, or the command: the JVM caches
    successful lookups itself, 30 s by default, whatever the DNS TTL (only when that exceeds
    `--max-dns-ttl`). `-Dnetworkaddress.cache.ttl=N` alone is reported too: it is a security
    property, and the JVM does not read it from system properties (`-D`); the `-D` form is
    `sun.net.inetaddr.ttl`. Options it cannot see (from a Secret, or a ConfigMap not in the
    input) keep it silent.

    Why is this bad?
    A StatefulSet pod keeps its name when it is rescheduled but gets a new IP. Clients that
    cached the old answer keep connecting to the old IP (timeouts, or another pod that got the
    IP) until the TTL runs out: with `ttl 30` (the kubeadm default) for half a minute, with a
    JVM's own cache for 30 s more.

    Example
    ```yaml
    data:
      Corefile: |
        .:53 {
            kubernetes cluster.local in-addr.arpa ip6.arpa {
               ttl 30
            }
            cache 30
        }
    ```

    Fix
    Sets `ttl N` in the `kubernetes` block, N = 5 (the plugin's default) or `--max-dns-ttl`
    when lower, changing only that line of the Corefile (or inserting a `ttl` line with the
    block's indentation, or opening a block when the plugin has none). When the cache's MINTTL
    alone keeps answers above the limit, lowering `ttl` cannot help: the fix is manual. The JVM
    finding is manual: add `-Dsun.net.inetaddr.ttl=5` to `JAVA_TOOL_OPTIONS` (or set
    `networkaddress.cache.ttl` in the image's `java.security`).

    Fix safety
    Unsafe: a lower TTL means more queries to CoreDNS (scale it, or use NodeLocal DNSCache).
    CoreDNS reloads the Corefile by itself when the `reload` plugin is on; otherwise restart it.
    Lower TTLs shorten the window, they do not close it: clients that retry with a fresh
    lookup on connection errors are the real cure.

    References
    https://coredns.io/plugins/kubernetes/
    https://coredns.io/plugins/cache/
    https://kubernetes.io/docs/tasks/administer-cluster/dns-custom-nameservers/
    https://kubernetes.io/docs/concepts/workloads/controllers/statefulset/#stable-network-id
    https://docs.oracle.com/en/java/javase/21/docs/api/java.base/java/net/InetAddress.html
    https://docs.oracle.com/en/java/javase/21/docs/api/java.base/java/net/doc-files/net-properties.html
    """

    id = "headless-dns-ttl"
    summary = "DNS answers for headless StatefulSet Services live longer than --max-dns-ttl"
    kinds = ("ConfigMap", "Service", "StatefulSet")
    default_severity = Severity.WARNING
    fixable = Fixability.SOMETIMES

    def check(self, inventory: Inventory) -> Iterator[Finding]:
        services = headless_statefulset_services(inventory)
        if not services:
            return
        corefile = self._corefile_finding(inventory, services)
        if corefile is not None:
            yield corefile
        yield from self._jvm_findings(inventory, services)

    def _corefile_finding(
        self, inventory: Inventory, services: list[tuple[KubeObject, list[KubeObject]]]
    ) -> Finding | None:
        options = inventory.options
        config_map = inventory.get("ConfigMap", options.dns_namespace, COREDNS_CONFIGMAP)
        if config_map is None:
            return None
        data = config_map.body.get("data")
        text = data.get(COREFILE_KEY) if isinstance(data, dict) else None
        if not isinstance(text, str):
            return None
        domain = options.cluster_domain.strip(".").lower()
        found = corefile_ttl(text, domain, options.dns_port)
        if found is None:
            return None
        effective = found.effective()
        limit = options.max_dns_ttl
        if effective <= limit:
            return None
        affected = [
            f"{service.namespace}/{service.name} (StatefulSet "
            f"{', '.join(s.name for s in statefulsets)})"
            for service, statefulsets in services
        ]
        shown = ", ".join(affected[:MAX_NAMED])
        if len(affected) > MAX_NAMED:
            shown += f" and {len(affected) - MAX_NAMED} more"
        message = (
            f"CoreDNS answers for {domain} live {effective}s ({found.explain()}), above "
            f"--max-dns-ttl {limit}s: after a StatefulSet pod is replaced, clients may keep its "
            f"old IP that long; headless Services affected: {shown}"
        )
        return self.finding(
            config_map, COREFILE_POINTER, message, fix=self._fix(config_map, text, found, limit)
        )

    def _fix(self, config_map: KubeObject, text: str, found: CorefileTTL, limit: int) -> Fix:
        ttl = min(FIX_TTL, limit)
        title = f"Set ttl {ttl} in the CoreDNS kubernetes plugin"
        if found.kubernetes_ttl <= ttl or found.effective(ttl) > limit:
            return Fix(
                title="Lower the CoreDNS cache minimum TTL",
                applicability=Applicability.MANUAL,
                note=(
                    f"The cache plugin keeps answers at least {found.cache_min}s: lower MINTTL "
                    "with `success CAPACITY TTL MINTTL` in the cache block (or exclude the "
                    "cluster domain from the cache), together with the kubernetes plugin's ttl."
                ),
            )
        new_text = set_kubernetes_ttl(text, found, ttl)
        if new_text is None:
            return Fix(
                title=title,
                applicability=Applicability.MANUAL,
                note=f"Add `ttl {ttl}` inside the kubernetes block of the Corefile.",
            )
        ops = [
            {"op": "test", "path": COREFILE_POINTER, "value": text},
            {"op": "replace", "path": COREFILE_POINTER, "value": new_text},
        ]
        return Fix(
            title=title,
            applicability=Applicability.UNSAFE,
            patches=(ObjectPatch(config_map, ops),),
            note=(
                "More DNS queries reach CoreDNS; it reloads the Corefile itself with the reload "
                "plugin (else restart it: kubectl -n kube-system rollout restart "
                "deployment/coredns). Clients that re-resolve on connection errors are the real "
                "cure."
            ),
        )

    def _jvm_findings(
        self, inventory: Inventory, services: list[tuple[KubeObject, list[KubeObject]]]
    ) -> Iterator[Finding]:
        limit = inventory.options.max_dns_ttl
        seen: set[int] = set()
        behind: dict[int, list[KubeObject]] = {}
        order: list[KubeObject] = []
        for service, statefulsets in services:
            for statefulset in statefulsets:
                if id(statefulset) not in seen:
                    seen.add(id(statefulset))
                    order.append(statefulset)
                behind.setdefault(id(statefulset), []).append(service)
        for statefulset in order:
            template = pod_template_of(statefulset)
            if template is None:
                continue
            items = template.spec.get("containers")
            for number, container in enumerate(items if isinstance(items, list) else []):
                if not isinstance(container, dict) or not is_jvm_container(container):
                    continue
                setting = jvm_ttl_setting(inventory, statefulset.namespace, container)
                if setting in ("set", "unknown"):
                    continue
                if setting == "missing" and limit >= JVM_DEFAULT_TTL:
                    continue
                yield self._jvm_finding(
                    statefulset,
                    f"{template.spec_pointer}/containers/{number}",
                    container,
                    setting,
                    behind[id(statefulset)],
                )
                break

    def _jvm_finding(
        self,
        statefulset: KubeObject,
        pointer: str,
        container: JsonObject,
        setting: str,
        services: Sequence[KubeObject],
    ) -> Finding:
        name = container.get("name", "?")
        image = container.get("image", "?")
        if setting == "ineffective":
            why = (
                "sets -Dnetworkaddress.cache.ttl, which the JVM ignores (a security property, "
                "not read from -D system properties)"
            )
        else:
            why = (
                "sets neither sun.net.inetaddr.ttl nor networkaddress.cache.ttl in "
                "JAVA_TOOL_OPTIONS or JAVA_OPTS"
            )
        message = (
            f"JVM container {name} ({image}) behind headless Service {_names(services)} {why}: "
            f"the JVM caches successful lookups itself ({JVM_DEFAULT_TTL}s by default), so it "
            "keeps a replaced StatefulSet pod's old IP whatever the DNS TTL"
        )
        fix = Fix(
            title="Cap the JVM DNS cache",
            applicability=Applicability.MANUAL,
            note=(
                "Add -Dsun.net.inetaddr.ttl=5 to JAVA_TOOL_OPTIONS (keep what the image already "
                "sets there), or set networkaddress.cache.ttl=5 in the image's java.security."
            ),
        )
        return self.finding(statefulset, pointer, message, severity=Severity.INFO, fix=fix)
