"""`.netfix.yaml`: rules on and off, severity overrides, and the rule options.

    # .netfix.yaml (found in the working directory or a parent, or named with --config)
    rules:
      dns-ndots: off            # off / false: do not run
      hardcoded-cluster-ip: error  # a severity: run, at that severity
      egress-dns: on
    options:                    # the same names as the command-line flags
      service-cidr: 10.96.0.0/12
      cluster-domain: cluster.local
      kube-version: "1.31"
      ingress-class: [nginx]
    fail-on: warning

Command-line flags win over the file. Every bad key or value is an error naming it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kubectl_netfix.model import Severity
from kubectl_netfix.options import RuleOptions, parse_kube_version

CONFIG_NAME = ".netfix.yaml"


class ConfigError(ValueError):
    """A bad config key or value; the message names where."""


@dataclass
class Config:
    path: str | None = None
    disabled: set[str] = field(default_factory=set)
    enabled: set[str] = field(default_factory=set)
    severity: dict[str, Severity] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    fail_on: str | None = None


def find_config(start: Path) -> Path | None:
    for folder in [start, *start.parents]:
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
    return None


def load_config(path: Path, known_rules: set[str]) -> Config:
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: not UTF-8 text") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{where}{line}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    config = Config(path=where)
    if data is None:
        return config
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping with rules:, options:, fail-on:")
    for key, value in data.items():
        if key == "rules":
            _read_rules(config, value, known_rules, where)
        elif key == "options":
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: options: expected a mapping of option: value")
            for name, option_value in value.items():
                if name not in OPTION_PARSERS:
                    known = ", ".join(sorted(OPTION_PARSERS))
                    raise ConfigError(f"{where}: options.{name}: unknown option (known: {known})")
                config.options[str(name)] = option_value
        elif key == "fail-on":
            config.fail_on = str(value)
        else:
            raise ConfigError(f"{where}: {key}: unknown key (expected rules, options, fail-on)")
    return config


def _read_rules(config: Config, value: Any, known_rules: set[str], where: str) -> None:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: rules: expected a mapping of rule-id: on|off|severity")
    for rule_id, setting in value.items():
        if rule_id not in known_rules:
            raise ConfigError(
                f"{where}: rules.{rule_id}: unknown rule (see `kubectl netfix rules`)"
            )
        if setting is False or setting == "off":
            config.disabled.add(rule_id)
        elif setting is True or setting == "on":
            config.enabled.add(rule_id)
        elif isinstance(setting, str):
            try:
                config.severity[rule_id] = Severity.parse(setting)
            except ValueError:
                raise ConfigError(
                    f"{where}: rules.{rule_id}: expected on, off, error, warning or info, "
                    f"got {setting!r}"
                ) from None
            config.enabled.add(rule_id)
        else:
            raise ConfigError(
                f"{where}: rules.{rule_id}: expected on, off, error, warning or info, "
                f"got {setting!r}"
            )


# --- options: one parser per name, shared by flags and the config file ------------------------


def _text(value: Any) -> str:
    if isinstance(value, bool) or value is None or isinstance(value, list | dict):
        raise ValueError(f"expected a string, got {value!r}")
    return str(value)


def _whole(minimum: int, maximum: int | None = None) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool):
            raise ValueError(f"expected a whole number, got {value!r}")
        try:
            number = int(str(value))
        except ValueError:
            raise ValueError(f"expected a whole number, got {value!r}") from None
        if number < minimum:
            raise ValueError(f"must be at least {minimum}, got {number}")
        if maximum is not None and number > maximum:
            raise ValueError(f"must be at most {maximum}, got {number}")
        return number

    return parse


def _list(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        return [_text(item) for item in value]
    return [part.strip() for part in _text(value).split(",") if part.strip()]


def _cidrs(value: Any) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(part, strict=False) for part in _list(value))


def _labels(value: Any) -> dict[str, str]:
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    labels: dict[str, str] = {}
    for part in _list(value):
        key, sep, label_value = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"expected key=value[,key=value], got {value!r}")
        labels[key.strip()] = label_value.strip()
    return labels


def _ndots(value: Any) -> str:
    number = _whole(0)(value)
    if number > 15:
        raise ValueError("the resolver caps ndots at 15")
    return str(number)


def _proxy_mode(value: Any) -> str:
    mode = _text(value)
    if mode not in ("nftables", "ipvs", "iptables"):
        raise ValueError(f"expected nftables, ipvs or iptables, got {mode!r}")
    return mode


_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(
    r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*"
)


def _namespace(value: Any) -> str:
    name = _text(value)
    if not _DNS_LABEL.fullmatch(name):
        raise ValueError(f"{name!r} is not a valid namespace name (RFC 1123 label)")
    return name


def _domain(value: Any) -> str:
    domain = _text(value).strip(".")
    if len(domain) > 253 or not _DNS_SUBDOMAIN.fullmatch(domain):
        raise ValueError(f"{domain!r} is not a valid DNS domain")
    return domain


# option name (flag without --) -> (RuleOptions attribute, parser)
OPTION_PARSERS: Mapping[str, tuple[str, Callable[[Any], Any]]] = {
    "namespace": ("default_namespace", _namespace),
    "service-cidr": ("service_cidr", _cidrs),
    "cluster-domain": ("cluster_domain", _domain),
    "ndots": ("ndots", _ndots),
    "kube-version": ("kube_version", lambda v: parse_kube_version(_text(v))),
    "service-threshold": ("service_threshold", _whole(1)),
    "service-count": ("service_count", _whole(0)),
    "proxy-mode": ("proxy_mode", _proxy_mode),
    "max-dns-ttl": ("max_dns_ttl", _whole(0)),
    "ingress-class": ("ingress_classes", lambda v: tuple(_list(v))),
    "dns-namespace": ("dns_namespace", _namespace),
    "dns-labels": ("dns_pod_labels", _labels),
    "dns-port": ("dns_port", _whole(1, 65535)),
    "dns-peer-cidr": ("dns_peer_cidrs", lambda v: tuple(str(c) for c in _cidrs(v))),
}


def build_rule_options(values: Mapping[str, tuple[Any, str]]) -> RuleOptions:
    """values: option name -> (raw value, where it came from, e.g. "--ndots" or a file key)."""
    options = RuleOptions()
    for name, (raw, where) in values.items():
        attribute, parse = OPTION_PARSERS[name]
        try:
            setattr(options, attribute, parse(raw))
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    return options
