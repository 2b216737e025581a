"""kube-proxy-mode: where the configuration is found, the mode decision, the line edit."""

from __future__ import annotations

from typing import Any

import jsonpatch
import pytest
import yaml

from kubectl_netfix.inventory import ClusterFacts, Inventory
from kubectl_netfix.model import (
    Applicability,
    ClusterOrigin,
    FileOrigin,
    Finding,
    KubeObject,
    ObjectRef,
)
from kubectl_netfix.options import RuleOptions
from kubectl_netfix.rules.kube_proxy_mode import KubeProxyMode, proposed_mode, set_mode_line

CONFIG = """apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: {mode}
"""


def obj(body: dict[str, Any], live: bool = False) -> KubeObject:
    meta = body.get("metadata") or {}
    kind = body["kind"]
    namespace = None if kind == "KubeProxyConfiguration" else meta.get("namespace", "default")
    ref = ObjectRef(body["apiVersion"], kind, namespace, meta.get("name", "kube-proxy-config"))
    origin = ClusterOrigin("ctx", "1") if live else FileOrigin("test.yaml", 0, "", 1)
    return KubeObject(body=body, ref=ref, origin=origin)


def config_map(text: str, name: str = "kube-proxy", key: str = "config.conf") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "kube-system"},
        "data": {key: text},
    }


def services(count: int) -> list[dict[str, Any]]:
    return [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"s{n}"}, "spec": {}}
        for n in range(count)
    ]


def run(
    *bodies: dict[str, Any],
    facts: ClusterFacts | None = None,
    **options: Any,
) -> list[Finding]:
    live = facts is not None and facts.live
    inventory = Inventory([obj(b, live) for b in bodies], RuleOptions(**options), facts)
    return list(KubeProxyMode().check(inventory))


def apply_fix(finding: Finding) -> dict[str, Any]:
    assert finding.fix is not None
    (patch,) = finding.fix.patches
    result: dict[str, Any] = jsonpatch.apply_patch(patch.target.body, list(patch.ops))
    return result


# --- the decision ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ['""', "iptables", "null"])
def test_iptables_modes_at_the_threshold(mode: str) -> None:
    (finding,) = run(config_map(CONFIG.format(mode=mode)), service_count=1000)
    assert finding.pointer == "/data/config.conf"
    assert "iptables mode" in finding.message
    assert "1000 Services (--service-count, threshold 1000)" in finding.message


def test_below_threshold_is_clean() -> None:
    assert run(config_map(CONFIG.format(mode="iptables")), service_count=999) == []


def test_service_count_from_the_input_when_no_option() -> None:
    bodies = [config_map(CONFIG.format(mode="iptables")), *services(3)]
    (finding,) = run(*bodies, service_threshold=3)
    assert "3 Services (in the input, threshold 3)" in finding.message
    assert run(*bodies, service_threshold=4) == []


def test_service_count_option_overrides_the_input() -> None:
    bodies = [config_map(CONFIG.format(mode="iptables")), *services(3)]
    assert run(*bodies, service_threshold=3, service_count=2) == []


def test_live_counts_the_cluster() -> None:
    bodies = [config_map(CONFIG.format(mode="iptables")), *services(2)]
    (finding,) = run(*bodies, facts=ClusterFacts(live=True), service_threshold=2)
    assert "(in the cluster, threshold 2)" in finding.message


@pytest.mark.parametrize(
    ("version", "expected"),
    [((1, 34), False), ((1, 35), True), ((1, 36), True), (None, False)],
)
def test_ipvs_deprecated_from_1_35(version: tuple[int, int] | None, expected: bool) -> None:
    findings = run(config_map(CONFIG.format(mode="ipvs")), kube_version=version)
    assert bool(findings) is expected
    if findings:
        assert "deprecated since Kubernetes 1.35" in findings[0].message
        assert apply_fix(findings[0])["data"]["config.conf"].endswith("mode: nftables\n")


def test_ipvs_version_from_the_server() -> None:
    facts = ClusterFacts(live=True, server_version=(1, 35))
    (finding,) = run(config_map(CONFIG.format(mode="ipvs")), facts=facts)
    assert "target version 1.35" in finding.message


@pytest.mark.parametrize("mode", ["nftables", "kernelspace", "ipvs"])
def test_other_modes_are_clean(mode: str) -> None:
    assert run(config_map(CONFIG.format(mode=mode)), service_count=100000) == []


@pytest.mark.parametrize(
    ("flag", "version", "expected"),
    [
        (None, None, "nftables"),
        (None, (1, 33), "nftables"),
        (None, (1, 32), "ipvs"),
        (None, (1, 30), "ipvs"),
        ("ipvs", (1, 35), "ipvs"),
        ("nftables", (1, 29), "nftables"),
    ],
)
def test_proposed_mode(flag: str | None, version: tuple[int, int] | None, expected: str) -> None:
    inventory = Inventory([], RuleOptions(proxy_mode=flag, kube_version=version))
    assert proposed_mode(inventory) == expected


def test_unknown_version_note_says_what_nftables_needs() -> None:
    (finding,) = run(config_map(CONFIG.format(mode="iptables")), service_count=5000)
    assert finding.fix is not None
    assert "1.31 (beta)" in finding.fix.note and "GA from 1.33" in finding.fix.note
    assert "kernel 5.13" in finding.message
    assert "kubectl -n kube-system rollout restart ds/kube-proxy" in finding.message


def test_proxy_mode_equal_to_the_current_mode_gives_no_fix() -> None:
    (finding,) = run(
        config_map(CONFIG.format(mode="ipvs")), kube_version=(1, 35), proxy_mode="ipvs"
    )
    assert finding.fix is None
    (finding,) = run(
        config_map(CONFIG.format(mode='""')), service_count=5000, proxy_mode="iptables"
    )
    assert finding.fix is None


# --- where the configuration is ------------------------------------------------------------------


def test_eks_config_map_and_key() -> None:
    body = config_map(CONFIG.format(mode="iptables"), name="kube-proxy-config", key="config")
    (finding,) = run(body, service_count=5000)
    assert finding.pointer == "/data/config"


def test_wrong_key_or_namespace_is_ignored() -> None:
    assert run(config_map(CONFIG.format(mode="iptables"), key="config"), service_count=5000) == []
    body = config_map(CONFIG.format(mode="iptables"))
    body["metadata"]["namespace"] = "default"
    assert run(body, service_count=5000) == []


@pytest.mark.parametrize(
    "data",
    [None, [], {"config.conf": None}, {"config.conf": 42}, {"config.conf": "mode: [x"}],
)
def test_odd_shapes_are_silent(data: Any) -> None:
    body = config_map("")
    body["data"] = data
    assert run(body, service_count=5000) == []


def test_embedded_document_of_another_kind_is_ignored() -> None:
    text = "apiVersion: v1\nkind: Config\nmode: iptables\n"
    assert run(config_map(text), service_count=5000) == []


def test_bare_document_replace_and_add() -> None:
    bare = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
    }
    (finding,) = run(bare, service_count=5000, kube_version=(1, 33))
    assert finding.pointer == "/mode"
    assert finding.fix is not None
    assert list(finding.fix.patches[0].ops) == [
        {"op": "test", "path": "/mode", "value": "iptables"},
        {"op": "replace", "path": "/mode", "value": "nftables"},
    ]
    del bare["mode"]
    (finding,) = run(bare, service_count=5000, kube_version=(1, 33))
    assert finding.pointer == ""
    assert finding.fix is not None
    assert list(finding.fix.patches[0].ops) == [{"op": "add", "path": "/mode", "value": "nftables"}]


def test_non_string_mode_is_silent() -> None:
    bare = {"apiVersion": "x/v1", "kind": "KubeProxyConfiguration", "mode": 3}
    assert run(bare, service_count=5000) == []


def test_config_map_fix_is_a_guarded_replace_and_idempotent() -> None:
    body = config_map(CONFIG.format(mode='""'))
    (finding,) = run(body, service_count=5000, kube_version=(1, 33))
    assert finding.fix is not None and finding.fix.applicability is Applicability.UNSAFE
    ops = finding.fix.patches[0].ops
    assert [op["op"] for op in ops] == ["test", "replace"]
    assert ops[0]["value"] == body["data"]["config.conf"]
    fixed = apply_fix(finding)
    assert yaml.safe_load(fixed["data"]["config.conf"])["mode"] == "nftables"
    assert run(fixed, service_count=5000, kube_version=(1, 33)) == []


# --- the line edit --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'kind: KubeProxyConfiguration\nmode: ""\n',
            'kind: KubeProxyConfiguration\nmode: "nftables"\n',
        ),
        ("mode: 'iptables'  # old\nx: 1\n", "mode: 'nftables'  # old\nx: 1\n"),
        ("mode:\nx: 1\n", "mode: nftables\nx: 1\n"),
        ("mode:   # empty\n", "mode: nftables   # empty\n"),
        ("mode: ~\n", "mode: nftables\n"),
        (
            "# head\nkind: KubeProxyConfiguration\nx: 1",
            "# head\nkind: KubeProxyConfiguration\nmode: nftables\nx: 1",
        ),
        ("a: 1\nb:\n  c: 2\n", "a: 1\nb:\n  c: 2\nmode: nftables\n"),
        ("a: 1\nb:\n  c: 2", "a: 1\nb:\n  c: 2\nmode: nftables"),
        (
            '{"kind": "KubeProxyConfiguration", "mode": ""}',
            '{"kind": "KubeProxyConfiguration", "mode": "nftables"}',
        ),
    ],
)
def test_set_mode_line(text: str, expected: str) -> None:
    assert set_mode_line(text, "nftables") == expected


def test_nested_mode_keys_are_not_touched() -> None:
    text = "kind: KubeProxyConfiguration\nwinkernel:\n  mode: x\nmode: iptables\n"
    assert set_mode_line(text, "ipvs") == (
        "kind: KubeProxyConfiguration\nwinkernel:\n  mode: x\nmode: ipvs\n"
    )


@pytest.mark.parametrize(
    "text", ["{}", '{"kind": "KubeProxyConfiguration"}', "- a\n", "a: [", "mode: |\n  x\n"]
)
def test_set_mode_line_refuses_what_it_cannot_edit(text: str) -> None:
    assert set_mode_line(text, "nftables") is None


def test_manual_fix_when_the_text_cannot_be_edited() -> None:
    body = config_map('{"kind": "KubeProxyConfiguration"}')
    (finding,) = run(body, service_count=5000)
    assert finding.fix is not None
    assert finding.fix.applicability is Applicability.MANUAL
    assert not finding.fix.patches


def test_live_unreadable_services_make_the_count_unknown() -> None:
    facts = ClusterFacts(live=True, unreadable={"Service"})
    assert run(config_map(CONFIG.format(mode="iptables")), facts=facts, service_threshold=1) == []
    # --service-count still answers.
    (finding,) = run(
        config_map(CONFIG.format(mode="iptables")),
        facts=facts,
        service_threshold=1,
        service_count=1,
    )
    assert "--service-count" in finding.message
