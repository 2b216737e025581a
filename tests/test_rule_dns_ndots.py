"""dns-ndots: the host classifier, the ndots reading, the fix shapes and the messages."""

from __future__ import annotations

from typing import Any

import pytest

from kubectl_netfix.inventory import Inventory
from kubectl_netfix.model import (
    Applicability,
    ClusterOrigin,
    FileOrigin,
    Finding,
    KubeObject,
    ObjectRef,
    Severity,
)
from kubectl_netfix.options import RuleOptions
from kubectl_netfix.rules.dns_ndots import (
    DnsNdots,
    HostClassifier,
    ndots_state,
    parse_ndots,
    uses_cluster_dns,
)


def obj(body: dict[str, Any], live: bool = False) -> KubeObject:
    meta = body.setdefault("metadata", {})
    namespace = meta.get("namespace", "default") if body["kind"] != "Namespace" else None
    ref = ObjectRef(body.get("apiVersion", "v1"), body["kind"], namespace, meta["name"])
    origin = ClusterOrigin("ctx", "1") if live else FileOrigin("test.yaml", 0, "", 1)
    return KubeObject(body=body, ref=ref, origin=origin)


def deployment(name: str = "web", namespace: str = "shop", **pod_spec: Any) -> dict[str, Any]:
    spec = {"containers": [{"name": "app", "image": "acme/app:1"}], **pod_spec}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": spec},
        },
    }


def env(*pairs: tuple[str, str]) -> list[dict[str, Any]]:
    return [
        {"name": "app", "image": "acme/app:1", "env": [{"name": n, "value": v} for n, v in pairs]}
    ]


def run(
    *bodies: dict[str, Any], options: RuleOptions | None = None, live: bool = False
) -> list[Finding]:
    inventory = Inventory([obj(b, live=live) for b in bodies], options)
    return list(DnsNdots().check(inventory))


# --- the host classifier -----------------------------------------------------------------------

CLASSIFIER = HostClassifier("cluster.local", {"shop", "db"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://api.stripe.com/v1", [("api.stripe.com", "external")]),
        ("--endpoint=https://s3.amazonaws.com", [("s3.amazonaws.com", "external")]),
        ("postgres://user:pw@db.example.com:5432/app", [("db.example.com", "external")]),
        ("jdbc:postgresql://pg.example.io:5432/app", [("pg.example.io", "external")]),
        ("smtp.gmail.com:587", [("smtp.gmail.com", "external")]),
        ("host: api.github.com", [("api.github.com", "external")]),
        ("datadoghq.eu", [("datadoghq.eu", "external")]),
        ("metadata.google.internal", [("metadata.google.internal", "external")]),
        ("a.b.c.d.example.com", []),  # 5 dots: beyond ndots:5's reach
        ("redis.shop.svc", [("redis.shop.svc", "internal")]),
        ("postgres.db:5432", [("postgres.db", "internal")]),  # service.namespace
        ("kubernetes.default", [("kubernetes.default", "internal")]),
        ("db.staging", []),  # unknown namespace, not a TLD
        ("redis.shop.svc.cluster.local:6379", [("redis.shop.svc.cluster.local", "qualified")]),
        ("printer.local", []),
        ("api.stripe.com.", []),  # absolute: never walks the search list
        ("app.config.json", []),
        ("logback.xml", []),
        ("main.py", []),
        ("/etc/app/config.yaml", []),
        ("org.apache.kafka.common.serialization.StringSerializer", []),
        ("com.example.app", []),
        ("com.example.search.Main", []),
        ("io.grpc.netty.shaded", []),
        ("1.27.3", []),
        ("v1.2.3-rc.1", []),
        ("10.96.0.10", []),
        ("ops@example.com", []),
        ("app.kubernetes.io/name=web", []),
        ("docker.io/library/nginx:1.25", []),
        ("spring.datasource.url=jdbc:mysql://mysql.db:3306/x", [("mysql.db", "internal")]),
        ("server.port=8080", []),
        ("MY_x.example.com", []),
        ("# see https://github.com/org/repo/issues/1\nexec app", []),  # a shell comment
        ("exec app --join peer # https://github.com/x", []),
        ("curl -s https://api.example.com/#/status", [("api.example.com", "external")]),
    ],
)
def test_hosts_in(text: str, expected: list[tuple[str, str]]) -> None:
    assert CLASSIFIER.hosts_in(text) == expected


def test_custom_cluster_domain_is_qualified() -> None:
    classifier = HostClassifier("corp.internal", set())
    assert classifier.classify("redis.shop.svc.corp.internal") == "qualified"
    assert classifier.classify("api.corp.internal") == "qualified"


# --- reading the pod spec ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("5", 5), ("2", 2), (" 7", 7), ("5abc", 5), ("+3", 3), ("20", 15), (6, 6), ("five", None),
     ("", None), (None, None), (True, None), ([], None)],
)  # fmt: skip
def test_parse_ndots_reads_like_atoi(value: Any, expected: int | None) -> None:
    assert parse_ndots(value) == expected


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({}, True),
        ({"dnsPolicy": None}, True),
        ({"dnsPolicy": "ClusterFirst"}, True),
        ({"dnsPolicy": "ClusterFirst", "hostNetwork": True}, False),
        ({"dnsPolicy": "ClusterFirstWithHostNet", "hostNetwork": True}, True),
        ({"dnsPolicy": "ClusterFirstWithHostNet"}, True),
        ({"dnsPolicy": "Default"}, False),
        ({"dnsPolicy": "None"}, False),
        ({"dnsPolicy": "Bogus"}, False),
    ],
)
def test_uses_cluster_dns(spec: dict[str, Any], expected: bool) -> None:
    assert uses_cluster_dns(spec) is expected


def test_last_ndots_option_wins() -> None:
    options = [{"name": "ndots", "value": "1"}, {"name": "edns0"}, {"name": "ndots", "value": "6"}]
    state = ndots_state({"dnsConfig": {"options": options}})
    assert (state.ndots, state.ndots_index) == (6, 2)


# --- findings ----------------------------------------------------------------------------------


def test_warning_message_names_the_evidence() -> None:
    body = deployment(containers=env(("STRIPE_URL", "https://api.stripe.com/v1")))
    [finding] = run(body)
    assert finding.severity is Severity.WARNING
    assert finding.pointer == "/spec/template/spec"
    assert finding.message == (
        "Deployment web resolves through the cluster DNS with ndots:5 (no ndots option in "
        "dnsConfig: kubelet's default) and looks up external hosts, e.g. api.stripe.com in env "
        "STRIPE_URL of container app: each lookup of a name with fewer than 5 dots first tries "
        "every search domain (shop.svc.cluster.local, svc.cluster.local, cluster.local, then the "
        "node's), an NXDOMAIN for A and for AAAA each, before the name itself"
    )


def test_more_hosts_are_counted_once_each() -> None:
    body = deployment(
        containers=env(
            ("A", "https://api.stripe.com"), ("B", "api.stripe.com:443"), ("C", "sentry.io"),
            ("D", "https://hooks.slack.com/x"),
        )
    )  # fmt: skip
    [finding] = run(body)
    assert "e.g. api.stripe.com in env A of container app (and 2 more)" in finding.message


def test_info_without_external_hosts() -> None:
    [finding] = run(deployment(containers=env(("REDIS", "redis.shop.svc:6379"))))
    assert finding.severity is Severity.INFO
    assert "no external host shows in its env, args, command or ConfigMaps" in finding.message


def test_pointer_prefers_value_then_dnsconfig_then_policy() -> None:
    explicit = deployment(dnsConfig={"options": [{"name": "ndots", "value": "5"}]})
    config = deployment(dnsConfig={"nameservers": ["1.1.1.1"]})
    policy = deployment(dnsPolicy="ClusterFirst")
    pointers = [run(b)[0].pointer for b in (explicit, config, policy)]
    assert pointers == [
        "/spec/template/spec/dnsConfig/options/0/value",
        "/spec/template/spec/dnsConfig",
        "/spec/template/spec/dnsPolicy",
    ]


def test_explicit_value_is_quoted_in_the_message() -> None:
    [finding] = run(deployment(dnsConfig={"options": [{"name": "ndots", "value": "7"}]}))
    assert 'ndots:7 (dnsConfig sets ndots "7")' in finding.message


def test_clean_specs() -> None:
    assert run(deployment(dnsConfig={"options": [{"name": "ndots", "value": "2"}]})) == []
    assert run(deployment(dnsConfig={"options": [{"name": "ndots"}]})) == []
    assert run(deployment(dnsPolicy="Default")) == []
    assert run(deployment(dnsPolicy="None")) == []
    assert run(deployment(hostNetwork=True)) == []


# --- fixes -------------------------------------------------------------------------------------

NDOTS = {"name": "ndots", "value": "2"}


@pytest.mark.parametrize(
    ("pod_spec", "ops"),
    [
        ({}, [{"op": "add", "path": "/dnsConfig", "value": {"options": [NDOTS]}}]),
        (
            {"dnsConfig": None},
            [
                {"op": "test", "path": "/dnsConfig", "value": None},
                {"op": "replace", "path": "/dnsConfig", "value": {"options": [NDOTS]}},
            ],
        ),
        (
            {"dnsConfig": {"nameservers": ["1.1.1.1"]}},
            [{"op": "add", "path": "/dnsConfig/options", "value": [NDOTS]}],
        ),
        (
            {"dnsConfig": {"options": None}},
            [
                {"op": "test", "path": "/dnsConfig/options", "value": None},
                {"op": "replace", "path": "/dnsConfig/options", "value": [NDOTS]},
            ],
        ),
        (
            {"dnsConfig": {"options": [{"name": "edns0"}]}},
            [{"op": "add", "path": "/dnsConfig/options/-", "value": NDOTS}],
        ),
        (
            {"dnsConfig": {"options": [{"name": "edns0"}, {"name": "ndots", "value": "5"}]}},
            [
                {"op": "test", "path": "/dnsConfig/options/1/value", "value": "5"},
                {"op": "replace", "path": "/dnsConfig/options/1/value", "value": "2"},
            ],
        ),
    ],
)
def test_fix_shapes(pod_spec: dict[str, Any], ops: list[dict[str, Any]]) -> None:
    [finding] = run(deployment(**pod_spec))
    assert finding.fix is not None
    assert finding.fix.applicability is Applicability.SAFE
    [patch] = finding.fix.patches
    prefix = "/spec/template/spec"
    assert list(patch.ops) == [{**op, "path": prefix + op["path"]} for op in ops]


def test_fix_on_a_cronjob_and_a_pod() -> None:
    cronjob = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "nightly"},
        "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": []}}}}},
    }
    pod = {"kind": "Pod", "metadata": {"name": "debug"}, "spec": {"containers": []}}
    paths = sorted(f.fix.patches[0].ops[0]["path"] for f in run(cronjob, pod) if f.fix)
    assert paths == ["/spec/dnsConfig", "/spec/jobTemplate/spec/template/spec/dnsConfig"]


def test_ndots_option_sets_the_value() -> None:
    [finding] = run(deployment(), options=RuleOptions(ndots="3"))
    assert finding.fix is not None
    assert finding.fix.patches[0].ops[0]["value"] == {"options": [{"name": "ndots", "value": "3"}]}
    assert finding.fix.title == "Set ndots to 3 in dnsConfig"


def test_no_fix_when_the_target_is_not_lower() -> None:
    [finding] = run(deployment(), options=RuleOptions(ndots="5"))
    assert finding.fix is None


def test_partial_service_name_makes_the_fix_unsafe() -> None:
    body = deployment(
        containers=env(("REDIS", "redis.cache.svc"), ("API", "https://x.example.com"))
    )
    [finding] = run(body)
    assert finding.fix is not None
    assert finding.fix.applicability is Applicability.UNSAFE
    assert "write it as redis.cache.svc.cluster.local first" in finding.fix.note


def test_service_namespace_name_is_unsafe_only_below_two_dots() -> None:
    body = deployment(containers=env(("DB", "postgres.db:5432")))
    [safe] = run(body, {"kind": "Namespace", "metadata": {"name": "db"}})
    assert safe.fix is not None and safe.fix.applicability is Applicability.SAFE
    [unsafe] = run(
        body, {"kind": "Namespace", "metadata": {"name": "db"}}, options=RuleOptions(ndots="1")
    )
    assert unsafe.fix is not None and unsafe.fix.applicability is Applicability.UNSAFE
    assert "postgres.db.svc.cluster.local" in unsafe.fix.note


def test_live_pod_gets_a_manual_fix_and_owned_pods_are_left_to_their_owner() -> None:
    bare = {
        "kind": "Pod",
        "metadata": {"name": "debug", "namespace": "shop"},
        "spec": {"containers": []},
    }
    owned = {
        "kind": "Pod",
        "metadata": {
            "name": "web-abc",
            "namespace": "shop",
            "ownerReferences": [{"kind": "Deployment", "name": "web", "controller": True}],
        },
        "spec": {"containers": []},
    }
    findings = run(bare, owned, deployment(), live=True)
    by_name = {f.obj.name: f for f in findings}
    assert set(by_name) == {"debug", "web"}
    assert by_name["debug"].fix is not None
    assert by_name["debug"].fix.applicability is Applicability.MANUAL
    assert by_name["web"].fix is not None
    assert by_name["web"].fix.applicability is Applicability.SAFE


# --- evidence from ConfigMaps ------------------------------------------------------------------


def config_map(name: str, namespace: str = "shop", **data: str) -> dict[str, Any]:
    return {"kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace}, "data": data}


def test_config_map_key_ref_reads_only_that_key() -> None:
    containers = [
        {
            "name": "app",
            "env": [
                {"name": "URL", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "url"}}}
            ],
        }
    ]
    cfg = config_map("cfg", url="redis.shop.svc", other="https://api.example.com")
    [finding] = run(deployment(containers=containers), cfg)
    assert finding.severity is Severity.INFO
    cfg = config_map("cfg", url="https://api.example.com")
    [finding] = run(deployment(containers=containers), cfg)
    assert "api.example.com in ConfigMap cfg key url (env URL of container app)" in finding.message


def test_projected_volume_with_items_and_other_namespace() -> None:
    volumes = [
        {
            "name": "settings",
            "projected": {
                "sources": [{"configMap": {"name": "cfg", "items": [{"key": "a", "path": "a"}]}}]
            },
        }
    ]
    body = deployment(volumes=volumes)
    [info] = run(body, config_map("cfg", b="https://api.example.com"))
    assert info.severity is Severity.INFO
    [info] = run(body, config_map("cfg", namespace="other", a="https://api.example.com"))
    assert info.severity is Severity.INFO
    [warning] = run(body, config_map("cfg", a="sentry.io"))
    assert "sentry.io in ConfigMap cfg key a (volume settings)" in warning.message


def test_env_from_config_map() -> None:
    containers = [{"name": "app", "envFrom": [{"configMapRef": {"name": "cfg"}}]}]
    [finding] = run(deployment(containers=containers), config_map("cfg", API="api.example.com:443"))
    assert "api.example.com in ConfigMap cfg key API (envFrom of container app)" in finding.message


def test_wrong_shapes_never_raise() -> None:
    odd = deployment(
        containers=[
            None,
            "text",
            {"name": None, "env": "x", "envFrom": [None, {"configMapRef": None}], "args": None},
            {"name": "b", "env": [None, {"name": "X", "valueFrom": {"configMapKeyRef": "cfg"}}]},
            {"name": "c", "command": [1, None, "https://api.example.com"]},
        ],
        volumes=[None, {"configMap": None}, {"projected": {"sources": [None, {"configMap": 1}]}}],
        dnsConfig={"options": [None, "ndots", {"name": "edns0"}]},
    )
    [finding] = run(
        odd, config_map("cfg"), {"kind": "ConfigMap", "metadata": {"name": "x"}, "data": None}
    )
    assert finding.severity is Severity.WARNING
    assert finding.fix is not None
    assert finding.fix.patches[0].ops == [
        {"op": "add", "path": "/spec/template/spec/dnsConfig/options/-", "value": NDOTS}
    ]
