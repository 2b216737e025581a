"""kube-proxy-mode: iptables mode with many Services, or the deprecated ipvs mode."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from kubectl_netfix.inventory import Inventory
from kubectl_netfix.loader import escape_pointer_token, split_lines
from kubectl_netfix.model import (
    Applicability,
    Finding,
    Fix,
    Fixability,
    KubeObject,
    ObjectPatch,
    PatchOp,
    Severity,
)
from kubectl_netfix.rules.base import Rule

# Where clusters keep the kube-proxy configuration: (ConfigMap name in kube-system, data key).
CONFIG_MAPS = (("kube-proxy", "config.conf"), ("kube-proxy-config", "config"))
KUBE_PROXY_NAMESPACE = "kube-system"
CONFIG_KIND = "KubeProxyConfiguration"

NFTABLES_GA = (1, 33)
NFTABLES_BETA = (1, 31)
IPVS_DEPRECATED = (1, 35)
RESTART = "kubectl -n kube-system rollout restart ds/kube-proxy"

_FastLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class ProxyConfig:
    """One kube-proxy configuration found in the inventory."""

    obj: KubeObject
    config: dict[str, Any]
    data_key: str | None = None  # the ConfigMap key holding the YAML; None for a bare document
    text: str = ""  # the embedded YAML text (ConfigMaps only)

    @property
    def pointer(self) -> str:
        if self.data_key is None:
            return "/mode" if "mode" in self.config else ""
        return f"/data/{escape_pointer_token(self.data_key)}"


def proxy_configs(inventory: Inventory) -> Iterator[ProxyConfig]:
    for name, key in CONFIG_MAPS:
        obj = inventory.get("ConfigMap", KUBE_PROXY_NAMESPACE, name)
        if obj is None:
            continue
        data = obj.body.get("data")
        if not isinstance(data, dict):
            continue
        text = data.get(key)
        if not isinstance(text, str):
            continue
        config = _parse_embedded(text)
        if config is not None:
            yield ProxyConfig(obj, config, key, text)
    for obj in inventory.of_kind(CONFIG_KIND):
        yield ProxyConfig(obj, obj.body)


def _parse_embedded(text: str) -> dict[str, Any] | None:
    """The embedded KubeProxyConfiguration, or None when it is not one (or not YAML at all:
    kube-proxy would refuse to start, which is not this rule's finding)."""
    try:
        config = yaml.load(text, Loader=_FastLoader)
    except yaml.YAMLError:
        return None
    if not isinstance(config, dict):
        return None
    kind = config.get("kind")
    if kind is not None and kind != CONFIG_KIND:
        return None
    return config


def target_version(inventory: Inventory) -> tuple[int, int] | None:
    return inventory.options.kube_version or inventory.facts.server_version


def service_count(inventory: Inventory) -> tuple[int, str] | None:
    """The number of Services and where it comes from, for the message; None when unknown
    (live, Services could not be listed)."""
    if inventory.options.service_count is not None:
        return inventory.options.service_count, "--service-count"
    if inventory.facts.service_count is not None:
        return inventory.facts.service_count, "in the cluster"  # live with -n: counted apart
    if inventory.facts.unreadable & {"Service", "services"}:
        return None
    counted = len(inventory.of_kind("Service"))
    return counted, "in the cluster" if inventory.facts.live else "in the input"


def proposed_mode(inventory: Inventory) -> str:
    """--proxy-mode, else nftables where it is GA (or the version is unknown), else ipvs."""
    if inventory.options.proxy_mode:
        return inventory.options.proxy_mode
    version = target_version(inventory)
    if version is None or version >= NFTABLES_GA:
        return "nftables"
    return "ipvs"


def _version_text(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


class KubeProxyMode(Rule):
    """Flags kube-proxy in iptables mode on clusters with many Services, and ipvs mode where
    it is deprecated.

    What it does
    Reads the kube-proxy configuration: the ConfigMap `kube-system/kube-proxy` key
    `config.conf` (kubeadm, kind), the ConfigMap `kube-system/kube-proxy-config` key `config`
    (EKS), or a bare `KubeProxyConfiguration` document. It reports mode `""` or absent (which is
    iptables on Linux) or `iptables` when the cluster has at least `--service-threshold` (default
    1000) Services: live, the cluster's Services; in files, `--service-count` or else the Service
    objects of the input. It also reports mode `ipvs` when the target version
    (`--kube-version`, live: the server's) is 1.35 or later, where ipvs is deprecated.

    Why is this bad?
    In iptables mode a new connection walks the Service rules one by one, and every sync
    rewrites the whole table: with thousands of Services, connection setup latency and
    kube-proxy CPU grow with the Service count and rule updates lag behind endpoint changes.
    The nftables mode (GA in 1.33) dispatches through verdict maps in near-constant time and
    updates incrementally. The ipvs mode solved the same problem earlier, but it is deprecated
    from 1.35 on, with nftables as its successor.

    Example
    ```yaml
    kind: ConfigMap
    metadata: {name: kube-proxy, namespace: kube-system}
    data:
      config.conf: |
        apiVersion: kubeproxy.config.k8s.io/v1alpha1
        kind: KubeProxyConfiguration
        mode: ""          # iptables, with 5000 Services in the cluster
    ```

    Fix
    Changes only the `mode:` line of the embedded configuration (every other line and comment
    of it is kept), as a guarded replace of the ConfigMap key; when there is no `mode:` line,
    it inserts `mode: ...` after the `kind:` line, indented like the other top-level keys. For a
    bare `KubeProxyConfiguration` document it replaces (or adds) `/mode`. The proposed mode is
    `--proxy-mode` when given, else `nftables` when the version is 1.33 or later (or unknown:
    then pass `--kube-version`, nftables needs 1.31 as beta and 1.33 as GA), else `ipvs`. No fix
    is proposed when the proposed mode is the current one.

    Fix safety
    Unsafe: kube-proxy reads its configuration at start only, so the change takes effect after
    `kubectl -n kube-system rollout restart ds/kube-proxy`, node by node. nftables needs Linux
    kernel 5.13 or later on every node (and kube-proxy 1.31+); ipvs needs the ip_vs kernel
    modules. A mode switch leaves the old mode's rules behind until kube-proxy cleans them up at
    start; NodePorts on 127.0.0.1 are not supported by nftables. Managed clusters (EKS add-on,
    GKE, AKS) may overwrite the ConfigMap: change the mode through the provider instead.

    References
    https://kubernetes.io/docs/reference/networking/virtual-ips/#proxy-modes
    https://kubernetes.io/blog/2025/02/28/nftables-kube-proxy/
    https://github.com/kubernetes/enhancements/tree/master/keps/sig-network/3866-nftables-proxy
    https://github.com/kubernetes/enhancements/tree/master/keps/sig-network/5495-deprecate-ipvs-mode-in-kube-proxy
    https://kubernetes.io/docs/reference/config-api/kube-proxy-config.v1alpha1/
    """

    id = "kube-proxy-mode"
    summary = "kube-proxy in iptables mode with many Services, or in deprecated ipvs mode"
    kinds = ("ConfigMap", CONFIG_KIND)
    default_severity = Severity.WARNING
    fixable = Fixability.SOMETIMES

    def check(self, inventory: Inventory) -> Iterator[Finding]:
        for source in proxy_configs(inventory):
            finding = self._check_one(inventory, source)
            if finding is not None:
                yield finding

    def _check_one(self, inventory: Inventory, source: ProxyConfig) -> Finding | None:
        raw_mode = source.config.get("mode")
        if raw_mode is not None and not isinstance(raw_mode, str):
            return None
        mode = (raw_mode or "").strip()
        version = target_version(inventory)
        target = proposed_mode(inventory)
        shown = f"mode: {json.dumps(raw_mode)}" if raw_mode is not None else "no mode set"
        if mode in ("", "iptables"):
            counted = service_count(inventory)
            if counted is None:
                return None
            count, origin = counted
            threshold = inventory.options.service_threshold
            if count < threshold:
                return None
            effective = "iptables"
            problem = (
                f"kube-proxy runs in iptables mode ({shown}) with {count} Services ({origin}, "
                f"threshold {threshold}): each new connection walks the Service rules in order "
                "and each sync rewrites them all"
            )
        elif mode == "ipvs" and version is not None and version >= IPVS_DEPRECATED:
            effective = "ipvs"
            problem = (
                "kube-proxy runs in ipvs mode, deprecated since Kubernetes 1.35 "
                f"(target version {_version_text(version)})"
            )
        else:
            return None
        if target == effective:
            return self.finding(
                source.obj,
                source.pointer,
                f"{problem}; --proxy-mode={target} keeps the current mode, so no change is "
                "proposed",
            )
        message = f"{problem}; switch to {target} and {_restart_text(target)}"
        return self.finding(
            source.obj,
            source.pointer,
            message,
            fix=self._fix(source, target, version),
        )

    def _fix(self, source: ProxyConfig, target: str, version: tuple[int, int] | None) -> Fix | None:
        note = _fix_note(target, version)
        title = f"Set the kube-proxy mode to {target}"
        if source.data_key is None:
            ops: list[PatchOp]
            if "mode" in source.config:
                old = source.config["mode"]
                ops = [
                    {"op": "test", "path": "/mode", "value": old},
                    {"op": "replace", "path": "/mode", "value": target},
                ]
            else:
                ops = [{"op": "add", "path": "/mode", "value": target}]
            return Fix(title, Applicability.UNSAFE, (ObjectPatch(source.obj, ops),), note=note)
        new_text = set_mode_line(source.text, target)
        if new_text is None or new_text == source.text:
            return Fix(
                title,
                Applicability.MANUAL,
                note=f"Set `mode: {target}` in the `{source.data_key}` key by hand "
                "(its YAML could not be edited line by line). " + note,
            )
        pointer = source.pointer
        ops = [
            {"op": "test", "path": pointer, "value": source.text},
            {"op": "replace", "path": pointer, "value": new_text},
        ]
        return Fix(title, Applicability.UNSAFE, (ObjectPatch(source.obj, ops),), note=note)


def _restart_text(target: str) -> str:
    text = f"restart kube-proxy (`{RESTART}`)"
    if target == "nftables":
        text += "; nftables needs Linux kernel 5.13 or later on every node"
    elif target == "ipvs":
        text += "; ipvs needs the ip_vs kernel modules on every node"
    return text


def _fix_note(target: str, version: tuple[int, int] | None) -> str:
    parts = [f"Restart kube-proxy after the change: `{RESTART}`."]
    if target == "nftables":
        parts.append("nftables mode needs Linux kernel 5.13 or later on every node.")
        if version is None:
            parts.append(
                "The Kubernetes version is unknown: nftables mode needs 1.31 (beta) and is GA "
                "from 1.33; for an older cluster pass --kube-version (ipvs is proposed below "
                "1.33) or --proxy-mode=ipvs."
            )
        elif version < NFTABLES_BETA:
            parts.append(
                f"Kubernetes {_version_text(version)} has no nftables mode (beta from 1.31)."
            )
    elif target == "ipvs":
        parts.append("ipvs mode needs the ip_vs kernel modules (and ipset) on every node.")
        if version is not None and version >= NFTABLES_BETA:
            parts.append(
                f"nftables mode is available as beta on {_version_text(version)} and GA from 1.33."
            )
    return " ".join(parts)


def set_mode_line(text: str, target: str) -> str | None:
    """`text` (a KubeProxyConfiguration YAML) with only its top-level `mode:` value changed to
    `target`, or a `mode:` line inserted; None when the text cannot be edited that way."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)  # Python marks count characters
    except yaml.YAMLError:
        return None
    if not isinstance(root, yaml.MappingNode):
        return None
    for key_node, value_node in root.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == "mode":
            return _replace_value(text, value_node, target)
    return _insert_mode(text, root, target)


def _replace_value(text: str, node: yaml.Node, target: str) -> str | None:
    if not isinstance(node, yaml.ScalarNode) or node.style not in (None, '"', "'"):
        return None
    start, end = node.start_mark.index, node.end_mark.index
    if node.style in ('"', "'"):
        return f"{text[:start]}{node.style}{target}{node.style}{text[end:]}"
    if start == end:  # `mode:` with nothing after the colon
        return f"{text[:start]} {target}{text[end:]}"
    return f"{text[:start]}{target}{text[end:]}"


def _insert_mode(text: str, root: yaml.MappingNode, target: str) -> str | None:
    if root.flow_style or not root.value:
        return None
    column: int = root.value[0][0].start_mark.column
    anchor = root.value[-1][1]
    for key_node, value_node in root.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == "kind":
            anchor = value_node
            break
    # The last line of the anchor value: a block collection ends where the next line starts.
    end = anchor.end_mark
    last_line: int = end.line if end.column > 0 else end.line - 1
    lines = split_lines(text)
    position = min(max(last_line + 1, 1), len(lines))
    new_line = " " * column + f"mode: {target}\n"
    if position == len(lines) and not lines[-1].endswith("\n"):
        return text + "\n" + new_line.rstrip("\n")
    return "".join([*lines[:position], new_line, *lines[position:]])
