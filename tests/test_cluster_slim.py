"""Live mode drops what no rule reads as the list pages arrive (cluster._slim: managedFields,
most of status, Pods' unread spec fields, the kube-api-access volume, EndpointSlice details) and
shares repeated strings. The rules must see no difference: every rule fixture and every corpus
folder, checked with each object slimmed the way live mode slims it, gives the same report as
the objects as written.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from conftest import SHARED
from rule_contract import all_cases

from kubectl_netfix import cluster, commands
from kubectl_netfix.cli import main
from kubectl_netfix.inventory import Inventory
from kubectl_netfix.model import KubeObject

CORPUS = SHARED / "corpus"


def _slimmed_inventory(objects: list[KubeObject], *args: Any, **kwargs: Any) -> Inventory:
    slimmed = [
        KubeObject(
            body=cluster._slim(obj.kind, copy.deepcopy(obj.body)), ref=obj.ref, origin=obj.origin
        )
        for obj in objects
    ]
    return Inventory(slimmed, *args, **kwargs)


def _report(capsys: pytest.CaptureFixture[str], args: list[str]) -> dict[str, Any]:
    capsys.readouterr()
    code = main(["check", *args, "-o", "json", "--fail-on", "none"])
    out, err = capsys.readouterr()
    assert code in (0, 2), err
    report: dict[str, Any] = json.loads(out)
    return report


def _same_with_slimmed_objects(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> dict[str, Any]:
    as_written = _report(capsys, args)
    with monkeypatch.context() as patched:
        patched.setattr(commands, "Inventory", _slimmed_inventory)
        slimmed = _report(capsys, args)
    assert slimmed == as_written
    return as_written


@pytest.mark.parametrize("case", all_cases(), ids=lambda c: f"{c.rule_id}/{c.name}")
def test_rule_fixture_same_when_slimmed(
    case: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _same_with_slimmed_objects(capsys, monkeypatch, ["-f", str(case.input), *case.args])


@pytest.mark.parametrize("folder", sorted(p.name for p in CORPUS.iterdir() if p.is_dir()))
def test_corpus_folder_same_when_slimmed(
    folder: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _same_with_slimmed_objects(capsys, monkeypatch, ["-f", str(CORPUS / folder), "-R"])


def _pod(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "managedFields": [{"manager": "kubectl"}]},
        "spec": spec,
        "status": {"phase": "Running", "podIP": "10.0.0.1", "conditions": [{"type": "Ready"}]},
    }


def test_slim_drops_what_no_rule_reads_and_keeps_the_rest() -> None:
    api_access = {
        "name": "kube-api-access-x7k2p",
        "projected": {
            "sources": [
                {"serviceAccountToken": {"path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt"}},
                {"downwardAPI": {"items": []}},
            ]
        },
    }
    claim = {"name": "data", "persistentVolumeClaim": {"claimName": "data"}}
    container = {
        "name": "web",
        "image": "nginx",
        "env": [{"name": "A", "value": "b"}],
        "ports": [{"name": "http", "containerPort": 80}],
        "resources": {"limits": {"cpu": "1"}},
        "livenessProbe": {"httpGet": {"port": 80}},
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
    }
    pod = cluster._slim(
        "Pod",
        _pod(
            containers=[container],
            volumes=[api_access, claim],
            tolerations=[{"operator": "Exists"}],
            affinity={"podAntiAffinity": {}},
            dnsConfig={"options": [{"name": "ndots", "value": "2"}]},
        ),
    )
    assert "managedFields" not in pod["metadata"]
    assert pod["status"] == {"phase": "Running", "podIP": "10.0.0.1"}
    assert pod["spec"] == {
        "containers": [
            {
                "name": "web",
                "image": "nginx",
                "env": [{"name": "A", "value": "b"}],
                "ports": [{"name": "http", "containerPort": 80}],
            }
        ],
        "volumes": [claim],
        "affinity": {"podAntiAffinity": {}},
        "dnsConfig": {"options": [{"name": "ndots", "value": "2"}]},
    }


def test_slim_keeps_a_projected_volume_that_is_not_the_admission_one() -> None:
    own = {
        "name": "kube-api-access-custom",
        "projected": {"sources": [{"configMap": {"name": "app-settings"}}]},
    }
    pod = cluster._slim("Pod", _pod(containers=[], volumes=[own]))
    assert pod["spec"]["volumes"] == [own]


def test_slim_keeps_pod_templates_whole() -> None:
    # Fixes patch templates: nothing under spec.template may go.
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "template": {
                "spec": {
                    "tolerations": [{"operator": "Exists"}],
                    "containers": [{"name": "web", "resources": {"limits": {"cpu": "1"}}}],
                }
            }
        },
    }
    assert cluster._slim("Deployment", copy.deepcopy(deployment)) == deployment


def test_slim_shares_repeated_strings() -> None:
    first = cluster._slim("Pod", json.loads(json.dumps(_pod(containers=[{"image": "nginx:1"}]))))
    second = cluster._slim("Pod", json.loads(json.dumps(_pod(containers=[{"image": "nginx:1"}]))))
    assert first["spec"]["containers"][0]["image"] is second["spec"]["containers"][0]["image"]


def test_endpoint_slices_keep_addresses_and_conditions() -> None:
    endpoint = {
        "addresses": ["10.0.0.1"],
        "conditions": {"ready": True},
        "targetRef": {"kind": "Pod", "name": "web"},
        "nodeName": "node-1",
        "zone": "a",
    }
    body = cluster._slim("EndpointSlice", {"kind": "EndpointSlice", "endpoints": [endpoint]})
    assert body["endpoints"] == [{"addresses": ["10.0.0.1"], "conditions": {"ready": True}}]


def test_the_slim_test_can_fail(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Dropping a field a rule does read (a Pod's dnsConfig) must change some fixture's report.
    monkeypatch.setattr(cluster, "_UNREAD_POD_SPEC", (*cluster._UNREAD_POD_SPEC, "dnsConfig"))
    monkeypatch.setattr(
        cluster, "_UNREAD_CONTAINER", (*cluster._UNREAD_CONTAINER, "env", "args", "command")
    )
    changed = 0
    for case in all_cases():
        if case.rule_id not in ("dns-ndots", "headless-dns-ttl"):
            continue
        try:
            _same_with_slimmed_objects(capsys, monkeypatch, ["-f", str(case.input), *case.args])
        except AssertionError:
            changed += 1
    assert changed > 0
