"""headless-dns-ttl: the Corefile reader, the effective TTL, the line edit, the JVM check."""

from __future__ import annotations

from typing import Any

import jsonpatch
import pytest

from kubectl_netfix.inventory import Inventory
from kubectl_netfix.model import (
    Applicability,
    FileOrigin,
    Finding,
    KubeObject,
    ObjectRef,
    Severity,
)
from kubectl_netfix.options import RuleOptions
from kubectl_netfix.rules.headless_dns_ttl import (
    HeadlessDnsTtl,
    corefile_ttl,
    headless_statefulset_services,
    jvm_ttl_setting,
    parse_corefile,
    set_kubernetes_ttl,
    tokenize,
)

KUBEADM = """.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30 {
       disable success cluster.local
       disable denial cluster.local
    }
    loop
    reload
    loadbalance
}
"""


def obj(body: dict[str, Any]) -> KubeObject:
    meta = body.setdefault("metadata", {})
    ref = ObjectRef(
        body.get("apiVersion", "v1"), body["kind"], meta.get("namespace", "default"), meta["name"]
    )
    return KubeObject(body=body, ref=ref, origin=FileOrigin("test.yaml", 0, "", 1))


def coredns(corefile: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "coredns", "namespace": "kube-system"},
        "data": {"Corefile": corefile},
    }


def headless(name: str = "db", selector: dict[str, str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"clusterIP": "None", "ports": [{"port": 5432}]}
    if selector is not None:
        spec["selector"] = selector
    return {"kind": "Service", "metadata": {"name": name, "namespace": "data"}, "spec": spec}


def statefulset(
    name: str = "db",
    service: str = "db",
    containers: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": "data"},
        "spec": {
            "serviceName": service,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": containers or [{"name": "db", "image": "postgres:16"}]},
            },
        },
    }


def run(*bodies: dict[str, Any], **options: Any) -> list[Finding]:
    inventory = Inventory([obj(b) for b in bodies], RuleOptions(**options))
    return list(HeadlessDnsTtl().check(inventory))


# --- reading the Corefile ------------------------------------------------------------------------


def test_tokenizer_comments_and_quotes() -> None:
    tokens = tokenize('kubernetes "a b" # ttl 30\n  # ttl 40\nttl 5#x\nlog "{"')
    assert [t.text for t in tokens] == ["kubernetes", "a b", "ttl", "5#x", "log", "{"]
    assert tokens[-1].quoted and not tokens[-1].is_brace("{")


def test_parse_nested_blocks() -> None:
    (block,) = parse_corefile(KUBEADM) or []
    assert [k.text for k in block.keys] == [".:53"]
    kubernetes = block.directive("kubernetes")
    assert kubernetes is not None
    assert [a.text for a in kubernetes.args] == ["cluster.local", "in-addr.arpa", "ip6.arpa"]
    assert [c.name.text for c in kubernetes.children] == ["pods", "fallthrough", "ttl"]


@pytest.mark.parametrize("text", ["", ".:53 {\n", "}\n", ".:53\nerrors\n", "{ errors }"])
def test_unparsable_shapes(text: str) -> None:
    assert not parse_corefile(text)


def test_kubeadm_cache_disabled_for_the_cluster_domain() -> None:
    found = corefile_ttl(KUBEADM, "cluster.local", 53)
    assert found is not None
    assert found.kubernetes_ttl == 30
    assert not found.cache_applies
    assert found.effective() == 30


@pytest.mark.parametrize(
    ("kubernetes", "cache", "expected"),
    [
        ("kubernetes cluster.local", "", 5),
        ("kubernetes cluster.local", "cache", 5),
        ("kubernetes cluster.local {\n ttl 0\n}", "cache 30", 5),  # cache MINTTL 5
        ("kubernetes cluster.local {\n ttl 0\n}", "", 0),
        ("kubernetes cluster.local {\n ttl 60\n}", "cache 30", 30),
        ("kubernetes cluster.local {\n ttl 60\n}", "cache 3600", 60),
        ("kubernetes cluster.local {\n ttl 60\n}", "cache {\n success 1000 20\n}", 20),
        ("kubernetes cluster.local", "cache 30 {\n success 1000 30 15\n}", 15),
        ("kubernetes cluster.local", "cache 30 {\n success 1000 30 0\n}", 5),
        ("kubernetes cluster.local {\n ttl 60\n}", "cache 30 example.org", 60),
        ("kubernetes cluster.local {\n ttl 60\n}", "cache 30 {\n disable success\n}", 60),
        ("kubernetes cluster.local {\n ttl 60\n ttl 7\n}", "", 7),
    ],
)
def test_effective_ttl(kubernetes: str, cache: str, expected: int) -> None:
    text = f".:53 {{\n{kubernetes}\n{cache}\n}}\n"
    found = corefile_ttl(text, "cluster.local", 53)
    assert found is not None
    assert found.effective() == expected


@pytest.mark.parametrize(
    "text",
    [
        ".:53 {\n forward . 8.8.8.8\n}\n",  # no kubernetes plugin
        ".:53 {\n kubernetes other.domain\n}\n",  # not for the cluster domain
        ".:53 {\n kubernetes cluster.local {\n ttl abc\n }\n}\n",
        ".:53 {\n kubernetes cluster.local {\n ttl 4000\n }\n}\n",
        "example.org:53 {\n kubernetes cluster.local\n}\n",  # block does not serve it
    ],
)
def test_corefile_that_cannot_tell(text: str) -> None:
    assert corefile_ttl(text, "cluster.local", 53) is None


def test_most_specific_server_block_on_the_dns_port() -> None:
    text = (
        ".:53 {\n kubernetes cluster.local {\n ttl 1\n }\n}\n"
        "cluster.local:53 {\n kubernetes {\n ttl 2\n }\n}\n"
        "cluster.local:5353 {\n kubernetes {\n ttl 3\n }\n}\n"
    )
    assert (corefile_ttl(text, "cluster.local", 53) or pytest.fail()).kubernetes_ttl == 2
    assert (corefile_ttl(text, "cluster.local", 5353) or pytest.fail()).kubernetes_ttl == 3
    assert (corefile_ttl(text, "cluster.local", 1053) or pytest.fail()).kubernetes_ttl == 2


def test_server_block_with_scheme_and_commas() -> None:
    text = "dns://cluster.local:53, in-addr.arpa:53 {\n kubernetes {\n ttl 40\n }\n}\n"
    assert (corefile_ttl(text, "cluster.local", 53) or pytest.fail()).kubernetes_ttl == 40


# --- the line edit -------------------------------------------------------------------------------


def _set(text: str, ttl: int) -> str | None:
    found = corefile_ttl(text, "cluster.local", 53)
    assert found is not None
    return set_kubernetes_ttl(text, found, ttl)


def test_replace_only_the_value() -> None:
    result = _set(KUBEADM, 5)
    assert result == KUBEADM.replace("       ttl 30\n", "       ttl 5\n")


def test_replace_keeps_a_trailing_comment() -> None:
    text = ".:53 {\n  kubernetes cluster.local {\n    ttl 30 # slow\n  }\n}"
    assert _set(text, 5) == ".:53 {\n  kubernetes cluster.local {\n    ttl 5 # slow\n  }\n}"


def test_insert_with_the_block_indentation() -> None:
    text = ".:53 {\n  kubernetes cluster.local {\n      pods insecure\n  }\n}\n"
    assert _set(text, 3) == (
        ".:53 {\n  kubernetes cluster.local {\n      pods insecure\n      ttl 3\n  }\n}\n"
    )


def test_insert_in_an_empty_block() -> None:
    text = (
        ".:53 {\n    health {\n        lameduck 5s\n    }\n    kubernetes cluster.local {\n    }\n}"
    )
    assert _set(text, 3) == (
        ".:53 {\n    health {\n        lameduck 5s\n    }\n    kubernetes cluster.local {\n"
        "        ttl 3\n    }\n}"
    )


def test_open_a_block() -> None:
    text = ".:53 {\n    kubernetes cluster.local   # records\n    forward . 1.1.1.1\n}\n"
    assert _set(text, 2) == (
        ".:53 {\n    kubernetes cluster.local {   # records\n        ttl 2\n    }\n"
        "    forward . 1.1.1.1\n}\n"
    )


def test_refuse_a_closing_brace_after_a_directive() -> None:
    text = ".:53 {\n kubernetes cluster.local {\n pods insecure }\n}\n"
    assert _set(text, 3) is None


# --- the findings --------------------------------------------------------------------------------


def test_warning_names_the_services_and_fix_edits_one_line() -> None:
    findings = run(coredns(KUBEADM), headless(), statefulset())
    (finding,) = findings
    assert finding.severity is Severity.WARNING
    assert finding.pointer == "/data/Corefile"
    assert "live 30s (kubernetes ttl 30)" in finding.message
    assert "data/db (StatefulSet db)" in finding.message
    assert finding.fix is not None and finding.fix.applicability is Applicability.UNSAFE
    ops = list(finding.fix.patches[0].ops)
    assert [op["op"] for op in ops] == ["test", "replace"]
    fixed = jsonpatch.apply_patch(finding.obj.body, ops)
    assert run(fixed, headless(), statefulset()) == []


def test_fix_ttl_is_the_lower_of_5_and_the_limit() -> None:
    (finding,) = run(coredns(KUBEADM), headless(), statefulset(), max_dns_ttl=2)
    assert finding.fix is not None
    assert finding.fix.title == "Set ttl 2 in the CoreDNS kubernetes plugin"


def test_manual_when_the_cache_minimum_is_the_cause() -> None:
    text = ".:53 {\n kubernetes cluster.local\n cache 30 {\n success 100 30 20\n }\n}\n"
    (finding,) = run(coredns(text), headless(), statefulset())
    assert finding.fix is not None
    assert finding.fix.applicability is Applicability.MANUAL
    assert "MINTTL" in finding.fix.note


def test_manual_when_the_cache_minimum_stays_above_the_limit() -> None:
    text = ".:53 {\n kubernetes cluster.local {\n ttl 30\n }\n cache 30\n}\n"
    (finding,) = run(coredns(text), headless(), statefulset(), max_dns_ttl=3)
    assert finding.fix is not None and finding.fix.applicability is Applicability.MANUAL


def test_no_headless_statefulset_no_finding() -> None:
    service = headless()
    service["spec"]["clusterIP"] = "10.96.0.10"
    assert run(coredns(KUBEADM), service, statefulset()) == []
    assert run(coredns(KUBEADM), headless(name="other"), statefulset()) == []


def test_dns_namespace_option() -> None:
    body = coredns(KUBEADM)
    body["metadata"]["namespace"] = "dns"
    assert run(body, headless(), statefulset()) == []
    assert len(run(body, headless(), statefulset(), dns_namespace="dns")) == 1


@pytest.mark.parametrize("data", [None, {"Corefile": 5}, {"corefile": KUBEADM}])
def test_corefile_odd_shapes(data: Any) -> None:
    body = coredns("")
    body["data"] = data
    assert run(body, headless(), statefulset()) == []


def test_selector_links_a_service_to_the_statefulset() -> None:
    bodies = [obj(headless("replicas", {"app": "db"})), obj(statefulset(service="governing"))]
    ((service, backing),) = headless_statefulset_services(Inventory(bodies))
    assert service.name == "replicas" and [s.name for s in backing] == ["db"]


# --- the JVM -------------------------------------------------------------------------------------


def kafka(**container: Any) -> dict[str, Any]:
    return statefulset(
        "kafka", "kafka", [{"name": "broker", "image": "apache/kafka:3.7.0", **container}]
    )


def test_jvm_info_without_ttl_options() -> None:
    (finding,) = run(headless("kafka"), kafka())
    assert finding.severity is Severity.INFO
    assert finding.pointer == "/spec/template/spec/containers/0"
    assert "JVM container broker (apache/kafka:3.7.0)" in finding.message
    assert finding.fix is not None and finding.fix.applicability is Applicability.MANUAL


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ([{"name": "JAVA_TOOL_OPTIONS", "value": "-Dsun.net.inetaddr.ttl=5"}], "set"),
        ([{"name": "JAVA_OPTS", "value": "-Xmx1g -Dsun.net.inetaddr.ttl=10"}], "set"),
        ([{"name": "KAFKA_OPTS", "value": "-Dsun.net.inetaddr.ttl=10"}], "set"),
        ([{"name": "ES_JAVA_OPTS", "value": "-Des.networkaddress.cache.ttl=5"}], "set"),
        ([{"name": "JAVA_TOOL_OPTIONS", "value": "-Dnetworkaddress.cache.ttl=5"}], "ineffective"),
        ([{"name": "JAVA_TOOL_OPTIONS", "value": "-Djava.security.properties=/x"}], "set"),
        ([{"name": "JAVA_TOOL_OPTIONS", "valueFrom": {"secretKeyRef": {}}}], "unknown"),
        ([{"name": "OTHER", "value": "-Dsun.net.inetaddr.ttl=5"}], "missing"),
        ([{"name": "JAVA_TOOL_OPTIONS", "value": "-Xss1m"}], "missing"),
        (None, "missing"),
    ],
)
def test_jvm_ttl_setting(env: Any, expected: str) -> None:
    container: dict[str, Any] = {"name": "c", "image": "openjdk:21"}
    if env is not None:
        container["env"] = env
    assert jvm_ttl_setting(Inventory([]), "data", container) == expected


def test_jvm_ttl_in_args_and_env_from() -> None:
    container: dict[str, Any] = {"image": "java", "args": ["-Dsun.net.inetaddr.ttl=5", "-jar"]}
    assert jvm_ttl_setting(Inventory([]), "data", container) == "set"
    config = {
        "kind": "ConfigMap",
        "metadata": {"name": "jvm", "namespace": "data"},
        "data": {"TOOL_OPTIONS": "-Dsun.net.inetaddr.ttl=5"},
    }
    from_config = {
        "image": "java",
        "envFrom": [{"configMapRef": {"name": "jvm"}, "prefix": "JAVA_"}],
    }
    assert jvm_ttl_setting(Inventory([obj(config)]), "data", from_config) == "set"
    assert jvm_ttl_setting(Inventory([]), "data", from_config) == "unknown"
    from_secret = {"image": "java", "envFrom": [{"secretRef": {"name": "s"}}]}
    assert jvm_ttl_setting(Inventory([]), "data", from_secret) == "unknown"


def test_jvm_detection_by_env() -> None:
    container = {
        "name": "app",
        "image": "acme/app:1",
        "env": [{"name": "JAVA_HOME", "value": "/j"}],
    }
    (finding,) = run(headless("kafka"), statefulset("kafka", "kafka", [container]))
    assert "JVM container app" in finding.message


def test_jvm_default_within_the_limit_is_clean() -> None:
    assert run(headless("kafka"), kafka(), max_dns_ttl=30) == []
    # The ineffective -D form is still worth saying.
    env = [{"name": "JAVA_TOOL_OPTIONS", "value": "-Dnetworkaddress.cache.ttl=5"}]
    (finding,) = run(headless("kafka"), kafka(env=env), max_dns_ttl=30)
    assert "ignores" in finding.message


def test_one_jvm_finding_per_statefulset() -> None:
    containers = [
        {"name": "a", "image": "eclipse-temurin:21"},
        {"name": "b", "image": "openjdk:17"},
    ]
    findings = run(
        headless("zk"), headless("zk-client", {"app": "zk"}), statefulset("zk", "zk", containers)
    )
    (finding,) = findings
    assert "data/zk, data/zk-client" in finding.message
