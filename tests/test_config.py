"""`.netfix.yaml` (rules on/off, severities, options, fail-on) and the ignore annotation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubectl_netfix.cli import main

# A LoadBalancer without externalTrafficPolicy (warning) whose Deployment keeps ndots:5 (info).
MANIFEST = """\
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx}]
"""


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "app.yaml").write_text(MANIFEST)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[tuple[str, str]], str]:
    capsys.readouterr()
    code = main(["check", "-f", "app.yaml", "-o", "json", *args])
    out, err = capsys.readouterr()
    if code == 2:
        return code, [], err
    report = json.loads(out)
    return code, sorted((f["rule"], f["severity"]) for f in report["findings"]), err


def test_without_config(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, found, _ = check(capsys)
    assert found == [("dns-ndots", "info"), ("external-traffic-policy", "warning")]
    assert code == 1


def test_rules_off_and_severity_override(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / ".netfix.yaml").write_text(
        "rules:\n  external-traffic-policy: off\n  dns-ndots: error\n"
    )
    code, found, _ = check(capsys)
    assert found == [("dns-ndots", "error")]
    assert code == 1


def test_config_found_in_a_parent_directory(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (workdir / ".netfix.yaml").write_text("rules:\n  dns-ndots: false\n")
    sub = workdir / "deep" / "er"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    capsys.readouterr()
    code = main(["check", "-f", str(workdir / "app.yaml"), "-o", "json"])
    rules = {f["rule"] for f in json.loads(capsys.readouterr().out)["findings"]}
    assert rules == {"external-traffic-policy"}
    assert code == 1


def test_explicit_rule_flag_wins_over_off(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / ".netfix.yaml").write_text("rules:\n  dns-ndots: off\n")
    _, found, _ = check(capsys, "--rule", "dns-ndots")
    assert found == [("dns-ndots", "info")]


def test_fail_on_from_config_and_flag(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / ".netfix.yaml").write_text("fail-on: error\n")
    code, _, _ = check(capsys)
    assert code == 0
    code, _, _ = check(capsys, "--fail-on", "info")
    assert code == 1


def test_options_from_config_and_flags_win(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / ".netfix.yaml").write_text("options:\n  ndots: 3\n")
    capsys.readouterr()
    main(["fix", "-f", "app.yaml", "--rule", "dns-ndots", "--patch"])
    assert '"value": "3"' in capsys.readouterr().out
    main(["fix", "-f", "app.yaml", "--rule", "dns-ndots", "--patch", "--ndots", "4"])
    assert '"value": "4"' in capsys.readouterr().out


def test_explicit_config_file(
    workdir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "elsewhere.yaml"
    other.write_text("rules:\n  external-traffic-policy: off\n")
    _, found, _ = check(capsys, "--config", str(other))
    assert found == [("dns-ndots", "info")]
    code, _, err = check(capsys, "--config", str(tmp_path / "missing.yaml"))
    assert code == 2 and "missing.yaml" in err


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("rules:\n  no-such-rule: off\n", "rules.no-such-rule: unknown rule"),
        ("rules:\n  dns-ndots: loud\n", "rules.dns-ndots: expected on, off"),
        ("options:\n  ndots: 40\n", "options.ndots: the resolver caps ndots at 15"),
        ("options:\n  service-cidr: 10.0.0.0/33\n", "options.service-cidr"),
        ("options:\n  bogus: 1\n", "options.bogus: unknown option"),
        ("colour: red\n", "colour: unknown key"),
        ("rules: [a]\n", "rules: expected a mapping"),
        ("rules: {a: [\n", "invalid YAML"),
    ],
)
def test_bad_config_names_the_key(
    workdir: Path, capsys: pytest.CaptureFixture[str], text: str, named: str
) -> None:
    (workdir / ".netfix.yaml").write_text(text)
    code, _, err = check(capsys)
    assert code == 2
    assert ".netfix.yaml" in err and named in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("value", "left"),
    [
        ("external-traffic-policy", [("dns-ndots", "info")]),
        ("dns-ndots, external-traffic-policy", []),
        ("all", []),
        ("egress-dns", [("external-traffic-policy", "warning")]),
    ],
)
def test_ignore_annotation(
    workdir: Path, capsys: pytest.CaptureFixture[str], value: str, left: list[tuple[str, str]]
) -> None:
    # The annotation silences the rules it names for the object that carries it (the Service).
    text = MANIFEST.replace(
        "  name: web\n  namespace: shop\nspec:\n  type: LoadBalancer",
        f'  name: web\n  namespace: shop\n  annotations:\n    netfix.io/ignore: "{value}"\n'
        "spec:\n  type: LoadBalancer",
    )
    if value in ("all", "dns-ndots, external-traffic-policy"):
        # ...and on the Deployment too, to silence its finding.
        text = text.replace(
            "kind: Deployment\nmetadata:\n  name: web\n",
            "kind: Deployment\nmetadata:\n  name: web\n"
            f'  annotations:\n    netfix.io/ignore: "{value}"\n',
        )
    (workdir / "app.yaml").write_text(text)
    _, found, _ = check(capsys)
    expected = left if value != "egress-dns" else [("dns-ndots", "info"), *left]
    assert found == sorted(expected)
