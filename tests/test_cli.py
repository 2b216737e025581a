"""The command line, end to end: through cleo's CommandTester and through `cli.main`.

Findings come from fake rules registered only for these tests (see `fake_rules`), so the CLI's
behaviour is pinned independently of the real rules' evolving semantics; a few tests at the end
run the real rules when they are registered.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from cleo.testers.command_tester import CommandTester

from kubectl_netfix import __version__, cli
from kubectl_netfix.inventory import Inventory
from kubectl_netfix.model import Applicability, Finding, Fix, Fixability, Severity
from kubectl_netfix.rules import ALL_RULES, rule_by_id
from kubectl_netfix.rules.base import Rule, single_patch_fix

FIXTURES = Path(__file__).parent / "fixtures" / "cli"
LABEL = "netfix-test"
POINTER = f"/metadata/labels/{LABEL}"
ANSI = "\x1b["


# --- fake rules ----------------------------------------------------------------------------------


class _LabelRule(Rule):
    """Flags ConfigMaps whose `netfix-test` label has one value (test-only rule).

    What it does
    Looks at one label.

    Why is this bad?
    It is a test.

    Example
    labels: {netfix-test: bad}

    Fix
    Replace the value with `good`.

    Fix safety
    Depends on the subclass.

    References
    - https://example.invalid/netfix-test
    """

    kinds = ("ConfigMap",)
    flagged_value: str
    applicability: Applicability | None

    def check(self, inventory: Inventory) -> Iterator[Finding]:
        for obj in inventory.of_kind("ConfigMap"):
            value = obj.labels.get(LABEL)
            if value != self.flagged_value:
                continue
            fix: Fix | None = None
            if self.applicability is Applicability.MANUAL:
                fix = Fix("Ask the owner", Applicability.MANUAL, note="nothing to patch")
            elif self.applicability is not None:
                fix = single_patch_fix(
                    "Set netfix-test to good",
                    self.applicability,
                    obj,
                    [
                        {"op": "test", "path": POINTER, "value": value},
                        {"op": "replace", "path": POINTER, "value": "good"},
                    ],
                )
            yield self.finding(obj, POINTER, f"label {LABEL} is {value!r} <not good>", fix=fix)


class FakeWarning(_LabelRule):
    __doc__ = _LabelRule.__doc__
    id = "fake-warning"
    summary = "netfix-test is bad"
    default_severity = Severity.WARNING
    fixable = Fixability.ALWAYS
    flagged_value = "bad"
    applicability = Applicability.SAFE


class FakeError(_LabelRule):
    __doc__ = _LabelRule.__doc__
    id = "fake-error"
    summary = "netfix-test is broken"
    default_severity = Severity.ERROR
    fixable = Fixability.ALWAYS
    flagged_value = "broken"
    applicability = Applicability.UNSAFE


class FakeInfo(_LabelRule):
    __doc__ = _LabelRule.__doc__
    id = "fake-info"
    summary = "netfix-test is meh"
    default_severity = Severity.INFO
    fixable = Fixability.NEVER
    flagged_value = "meh"
    applicability = Applicability.MANUAL


FAKE_RULES: list[type[Rule]] = [FakeWarning, FakeError, FakeInfo]


@pytest.fixture
def fake_rules(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """Only the fake rules are registered; the working directory is an empty temp dir (so no
    .netfix.yaml of the checkout applies). Yields the working directory."""
    saved = list(ALL_RULES)
    ALL_RULES[:] = FAKE_RULES  # in place: engine and commands hold the same list object
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("NO_COLOR", raising=False)
    try:
        yield work
    finally:
        ALL_RULES[:] = saved


def copy_fixture(name: str, dest: Path) -> Path:
    source = FIXTURES / name
    target = dest / name
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        shutil.copyfile(source, target)
    return target


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`kubectl-netfix ARGS` through the real entry point, as a shell would run it."""
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def invoke(command: str, args: str) -> tuple[int, str, str]:
    """One command through cleo's CommandTester (bypasses Application._run: a bug raises)."""
    app = cli.NetfixApplication()
    command_tester = CommandTester(app.find(command))
    code = command_tester.execute(args)
    out, err = command_tester.io.fetch_output(), command_tester.io.fetch_error()
    assert "Traceback" not in out + err
    return code, out, err


def set_stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))


def json_out(text: str) -> dict[str, object]:
    document = json.loads(text)
    assert isinstance(document, dict)
    return document


def findings_of(text: str) -> list[tuple[str, str, int, str]]:
    """(rule, object name, line, file) of each finding of a `-o json` report."""
    report = json_out(text)
    rows = []
    for finding in report["findings"]:  # type: ignore[attr-defined]
        obj = finding["object"]
        rows.append((finding["rule"], obj["name"], obj["line"], obj["file"]))
    return rows


# --- version, rules, explain ---------------------------------------------------------------------


def test_version_through_tester_and_main(capsys: pytest.CaptureFixture[str]) -> None:
    assert invoke("version", "") == (0, f"kubectl-netfix {__version__}\n", "")
    code, out, _ = run(capsys, "version")
    assert (code, out) == (0, f"kubectl-netfix {__version__}\n")


def test_rules_table(fake_rules: Path) -> None:
    code, out, err = invoke("rules", "")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "SEVERITY", "FIXABLE", "SUMMARY"]
    rows = [line.split(None, 3) for line in lines[1:]]
    assert rows == [
        ["fake-warning", "warning", "always", "netfix-test is bad"],
        ["fake-error", "error", "always", "netfix-test is broken"],
        ["fake-info", "info", "never", "netfix-test is meh"],
    ]
    # Columns line up: every SUMMARY starts at the same offset.
    offsets = {line.index(row[3]) for line, row in zip(lines[1:], rows, strict=True)}
    assert len(offsets) == 1


def test_rules_json(fake_rules: Path) -> None:
    code, out, _ = invoke("rules", "-o json")
    assert code == 0
    assert json.loads(out)[0] == {
        "id": "fake-warning",
        "severity": "warning",
        "fixable": "always",
        "summary": "netfix-test is bad",
    }


def test_explain_known_rule(fake_rules: Path) -> None:
    code, out, _ = invoke("explain", "fake-warning")
    assert code == 0
    assert out.startswith("fake-warning — netfix-test is bad\n")
    assert "severity: warning" in out and "fixable: always" in out
    for heading in ("What it does", "Why is this bad?", "Fix safety", "References"):
        assert f"\n{heading}\n" in out


def test_explain_unknown_rule_suggests_and_exits_2(
    fake_rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "explain", "fake-warnin")
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [
        "error: unknown rule 'fake-warnin' (did you mean fake-warning?); see `kubectl netfix rules`"
    ]
    code, _, err = run(capsys, "explain", "zzz")
    assert code == 2 and "did you mean" not in err


def test_unknown_command_and_option_are_usage_errors(
    fake_rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "chekc")
    assert code == 2 and err.startswith("error: ")
    code, _, err = run(capsys, "check", "--no-such-flag")
    assert code == 2 and err.startswith("error: ")


# --- check: inputs -------------------------------------------------------------------------------


def test_check_file_text_output(fake_rules: Path) -> None:
    path = FIXTURES / "tree" / "a.yaml"
    code, out, err = invoke("check", f"-f {path}")
    assert code == 1 and err == ""
    assert out.splitlines() == [
        f"{path}:6: warning fake-warning label netfix-test is 'bad' <not good>",
        "  fix (safe fix): Set netfix-test to good",
        "1 finding (1 warning); 1 with a fix.",
    ]


def test_check_directory_without_recursion_reads_only_manifest_files(
    fake_rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = copy_fixture("tree", fake_rules)
    code, out, _ = run(capsys, "check", "-f", "tree", "-o", "json")
    assert code == 1
    files = sorted({row[3] for row in findings_of(out)})
    # Not notes.txt, not .hidden.yaml, not sub/ without -R.
    assert files == [str(Path("tree") / name) for name in ("a.yaml", "b.yml", "c.json")]
    assert tree.is_dir()


def test_check_directory_recursive(fake_rules: Path, capsys: pytest.CaptureFixture[str]) -> None:
    copy_fixture("tree", fake_rules)
    code, out, _ = run(capsys, "check", "-R", "-f", "tree", "-o", "json")
    assert code == 1
    names = sorted(row[1] for row in findings_of(out))
    assert names == ["a", "b", "c", "d"]


def test_check_json_input_has_line_numbers(fake_rules: Path) -> None:
    code, out, _ = invoke("check", f"-f {FIXTURES / 'tree' / 'c.json'} -o json")
    assert code == 1
    assert [row[:3] for row in findings_of(out)] == [("fake-warning", "c", 6)]


def test_check_stdin(
    fake_rules: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    set_stdin(monkeypatch, (FIXTURES / "multi.yaml").read_bytes())
    code, out, err = run(capsys, "check", "-f", "-", "-o", "json")
    assert code == 1, err
    rows = findings_of(out)
    assert {row[3] for row in rows} == {"<stdin>"}
    assert [(row[1], row[2]) for row in rows] == [
        ("first", 9),
        ("item-bad", 31),
        ("typed-list-item", 42),
    ]


def test_check_stdin_through_command_tester(
    fake_rules: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_stdin(monkeypatch, (FIXTURES / "tree" / "a.yaml").read_bytes())
    code, out, _ = invoke("check", "--filename=-")
    assert code == 1
    assert out.startswith("<stdin>:6: warning fake-warning ")


def test_multi_document_list_and_skipped_documents(fake_rules: Path) -> None:
    code, out, err = invoke("check", f"-f {FIXTURES / 'multi.yaml'} -o json")
    assert code == 1 and err == ""
    report = json_out(out)
    assert report["errors"] == []  # empty and non-Kubernetes documents are skipped silently
    findings = report["findings"]
    assert isinstance(findings, list)
    objects = [
        (f["object"]["name"], f["object"]["document"], f["object"]["pointerPrefix"])
        for f in findings
    ]
    # The leading comment and `---` open document 0; the two empty documents still count.
    assert objects == [
        ("first", 0, ""),
        ("item-bad", 4, "/items/1"),
        ("typed-list-item", 5, "/items/0"),
    ]
    assert findings[2]["object"]["namespace"] == "other"
    assert findings[0]["object"]["namespace"] == "default"


def test_namespace_flag_sets_the_default_namespace(fake_rules: Path) -> None:
    code, out, _ = invoke("check", f"-f {FIXTURES / 'multi.yaml'} -n team-a -o json")
    assert code == 1
    namespaces = [f["object"]["namespace"] for f in json_out(out)["findings"]]  # type: ignore[attr-defined]
    assert namespaces == ["team-a", "team-a", "other"]


def test_bom_and_crlf(fake_rules: Path) -> None:
    code, out, err = invoke("check", f"-f {FIXTURES / 'bom-crlf.yaml'}")
    assert code == 1 and err == ""
    assert out.splitlines()[0].startswith(f"{FIXTURES / 'bom-crlf.yaml'}:7: warning fake-warning")
    assert "\r" not in out and "\ufeff" not in out


def test_empty_input_is_no_finding(fake_rules: Path) -> None:
    (fake_rules / "empty.yaml").write_text("")
    (fake_rules / "comments.yaml").write_text("# nothing\n---\n---\n")
    code, out, err = invoke("check", "-f empty.yaml -f comments.yaml")
    assert (code, out, err) == (0, "No findings.\n", "")


# --- check: output formats -----------------------------------------------------------------------


def test_output_json(fake_rules: Path) -> None:
    code, out, _ = invoke("check", f"-f {FIXTURES / 'severities.yaml'} -o json")
    assert code == 1
    report = json_out(out)
    assert report["summary"] == {"error": 1, "warning": 1, "info": 1}
    assert report["tool"] == {"name": "kubectl-netfix", "version": __version__}


def test_output_sarif(fake_rules: Path) -> None:
    code, out, _ = invoke("check", f"-f {FIXTURES / 'severities.yaml'} -o sarif")
    assert code == 1
    log = json_out(out)
    assert log["version"] == "2.1.0"
    results = log["runs"][0]["results"]  # type: ignore[index]
    # In file order, as the findings are.
    assert [(r["ruleId"], r["level"]) for r in results] == [
        ("fake-warning", "warning"),
        ("fake-error", "error"),
        ("fake-info", "note"),
    ]


def test_output_text_is_the_default_and_can_be_named(fake_rules: Path) -> None:
    path = FIXTURES / "tree" / "a.yaml"
    assert invoke("check", f"-f {path}") == invoke("check", f"-f {path} -o text")
    assert invoke("check", f"-f {path}") == invoke("check", f"-f {path} -o TEXT")


def test_invalid_output_format(fake_rules: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "check", "-f", str(FIXTURES / "clean.yaml"), "-o", "yaml")
    assert (code, out) == (2, "")
    assert err.splitlines() == ["error: --output: expected text, json or sarif, got 'yaml'"]


def test_no_colour_when_not_a_tty(fake_rules: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "check", "-f", str(FIXTURES / "severities.yaml"))
    assert code == 1
    assert ANSI not in out + err


def test_colour_on_a_tty_unless_no_color(fake_rules: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli.NetfixCommand, "stdout_is_tty", lambda self: True)
    _, coloured, _ = invoke("check", f"-f {FIXTURES / 'severities.yaml'}")
    assert ANSI in coloured
    monkeypatch.setenv("NO_COLOR", "1")
    _, plain, _ = invoke("check", f"-f {FIXTURES / 'severities.yaml'}")
    assert ANSI not in plain
    assert plain == _strip_ansi(coloured)


def _strip_ansi(text: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", text)


# --- check: rule selection and exit codes --------------------------------------------------------


def test_rule_and_skip(fake_rules: Path) -> None:
    path = FIXTURES / "severities.yaml"
    _, out, _ = invoke("check", f"-f {path} -o json --rule fake-info --rule fake-error")
    assert sorted(row[0] for row in findings_of(out)) == ["fake-error", "fake-info"]
    _, out, _ = invoke("check", f"-f {path} -o json --skip fake-info")
    assert sorted(row[0] for row in findings_of(out)) == ["fake-error", "fake-warning"]


@pytest.mark.parametrize("flag", ["--rule", "--skip"])
def test_unknown_rule_id_is_one_line_exit_2(
    fake_rules: Path, capsys: pytest.CaptureFixture[str], flag: str
) -> None:
    code, out, err = run(capsys, "check", "-f", str(FIXTURES / "clean.yaml"), flag, "<nope>")
    assert (code, out) == (2, "")
    assert err.splitlines() == ["error: unknown rule '<nope>' (see `kubectl netfix rules`)"]


def test_user_text_is_never_read_as_a_style_tag(
    fake_rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # cleo styles <error>, <info>, <b>...: a message quoting user input must print it as typed.
    code, _, err = run(capsys, "explain", "<error>")
    assert code == 2
    assert err == "error: unknown rule '<error>'; see `kubectl netfix rules`\n"
    code, _, err = run(capsys, "check", "-f", "x.yaml", "--rule", "<info>x</info>")
    assert code == 2 and "'<info>x</info>'" in err


@pytest.mark.parametrize(
    ("fail_on", "fixture", "expected"),
    [
        (None, "severities.yaml", 1),
        (None, "clean.yaml", 0),
        ("error", "severities.yaml", 1),
        ("none", "severities.yaml", 0),
        ("NONE", "severities.yaml", 0),
        # Only an info finding: below the default threshold, at or above `info`.
        (None, "info-only", 0),
        ("warning", "info-only", 0),
        ("info", "info-only", 1),
        ("error", "info-only", 0),
        # A warning but no error.
        ("error", "tree/a.yaml", 0),
        ("warning", "tree/a.yaml", 1),
    ],
)
def test_fail_on_exit_codes(
    fake_rules: Path,
    capsys: pytest.CaptureFixture[str],
    fail_on: str | None,
    fixture: str,
    expected: int,
) -> None:
    args = ["check", "-f", str(FIXTURES / fixture)]
    if fixture == "info-only":
        args = ["check", "-f", str(FIXTURES / "severities.yaml"), "--rule", "fake-info"]
    if fail_on is not None:
        args += ["--fail-on", fail_on]
    code, _, _ = run(capsys, *args)
    assert code == expected


def test_invalid_fail_on(fake_rules: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "check", "-f", str(FIXTURES / "clean.yaml"), "--fail-on", "loud")
    assert code == 2
    assert err.splitlines() == [
        "error: --fail-on: expected error, warning, info or none, got 'loud'"
    ]


def test_no_input_and_no_cluster_is_one_line(
    fake_rules: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without -f the live cluster is read: with no kubeconfig that is one line, exit 2.
    monkeypatch.setenv("KUBECONFIG", str(fake_rules / "no-such-kubeconfig"))
    monkeypatch.setenv("HOME", str(fake_rules))
    code, out, err = run(capsys, "check")
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("error: ")


# --- check: bad input ----------------------------------------------------------------------------


def test_invalid_yaml_is_one_line_and_the_rest_is_still_checked(
    fake_rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = copy_fixture("broken.yaml", fake_rules)
    good = copy_fixture("clean.yaml", fake_rules)
    other = fake_rules / "other.yaml"
    shutil.copyfile(FIXTURES / "tree" / "a.yaml", other)
    code, out, err = run(
        capsys, "check", "-f", broken.name, "-f", good.name, "-f", other.name, "-o", "json"
    )
    assert code == 2
    error_lines = err.splitlines()
    assert len(error_lines) == 1
    assert error_lines[0].startswith("error: broken.yaml:13: invalid YAML: ")
    report = json_out(out)
    assert report["errors"] == [error_lines[0].removeprefix("error: ")]
    # The documents before and after the broken one, and the other files, are all checked.
    assert [(row[3], row[1]) for row in findings_of(out)] == [
        ("broken.yaml", "before"),
        ("broken.yaml", "after"),
        ("other.yaml", "a"),
    ]


def test_invalid_yaml_text_output(fake_rules: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "check", "-f", str(FIXTURES / "broken.yaml"))
    assert code == 2
    assert "2 findings (2 warnings)" in out
    assert err.count("\n") == 1 and ":13: invalid YAML" in err


def test_duplicate_key_fails_only_its_document(
    fake_rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "check", "-f", str(FIXTURES / "duplicate.yaml"), "-o", "json")
    assert code == 2
    assert err.splitlines() == [
        f"error: {FIXTURES / 'duplicate.yaml'}:7: invalid YAML: found duplicate key 'netfix-test'"
    ]
    assert [row[1] for row in findings_of(out)] == ["once"]


def test_binary_file(fake_rules: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (fake_rules / "image.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    code, out, err = run(capsys, "check", "-f", "image.yaml", "-f", str(FIXTURES / "tree/a.yaml"))
    assert code == 2
    assert err.splitlines() == ["error: image.yaml: not a text file (binary content)"]
    assert "warning fake-warning" in out  # the other file is still checked


def test_not_utf8(fake_rules: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (fake_rules / "latin1.yaml").write_bytes("name: café\n".encode("latin-1"))
    code, _, err = run(capsys, "check", "-f", "latin1.yaml")
    assert code == 2
    assert err.startswith("error: latin1.yaml: not UTF-8 text")


def test_missing_path(fake_rules: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "check", "-f", "nope.yaml")
    assert code == 2
    assert err.splitlines() == ["error: nope.yaml: no such file or directory"]
    assert out == "No findings.\n"


def test_dangling_symlink(fake_rules: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (fake_rules / "link.yaml").symlink_to(fake_rules / "gone.yaml")
    code, _, err = run(capsys, "check", "-f", "link.yaml")
    assert code == 2
    assert err.splitlines() == ["error: link.yaml: no such file or directory"]


def test_path_through_a_file_is_reported_not_raised(
    fake_rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # ENOTDIR reaches the generic OSError branch, as root too (unlike chmod 000).
    (fake_rules / "plain.yaml").write_text("a: 1\n")
    code, _, err = run(capsys, "check", "-f", "plain.yaml/inner.yaml")
    assert code == 2
    assert err.splitlines() == ["error: plain.yaml/inner.yaml: Not a directory"]


def test_unreadable_file(
    fake_rules: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = fake_rules / "secret.yaml"
    secret.write_text("a: 1\n")
    if os.geteuid() != 0:
        secret.chmod(0)
    else:
        # chmod 000 does not stop root from reading: make the read itself fail the same way.
        real_read_bytes = Path.read_bytes

        def read_bytes(self: Path) -> bytes:
            if self.name == "secret.yaml":
                raise PermissionError(13, "Permission denied", str(self))
            return real_read_bytes(self)

        monkeypatch.setattr(Path, "read_bytes", read_bytes)
    code, _, err = run(capsys, "check", "-f", "secret.yaml", "-f", str(FIXTURES / "clean.yaml"))
    assert code == 2
    assert err.splitlines() == ["error: secret.yaml: permission denied"]


def test_directory_errors_are_per_file(
    fake_rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = copy_fixture("tree", fake_rules)
    (tree / "zz-bad.yaml").write_text("a: [\n")
    code, out, err = run(capsys, "check", "-f", "tree", "-o", "json")
    assert code == 2
    assert len(err.splitlines()) == 1 and "zz-bad.yaml:" in err
    assert len(findings_of(out)) == 3


def test_stdin_named_twice_is_read_once(
    fake_rules: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    set_stdin(monkeypatch, (FIXTURES / "multi.yaml").read_bytes())
    code, out, err = run(capsys, "check", "-f", "-", "-f", "-", "-o", "json")
    assert (code, err) == (1, "")
    assert len(findings_of(out)) == 3


def test_a_file_named_twice_is_checked_once(
    fake_rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy_fixture("tree", fake_rules)
    code, out, _ = run(capsys, "check", "-f", "tree", "-f", "tree/a.yaml", "-o", "json")
    assert code == 1
    assert sorted(row[1] for row in findings_of(out)) == ["a", "b", "c"]


# --- fix -----------------------------------------------------------------------------------------


@pytest.fixture
def writeback_available() -> None:
    pytest.importorskip(
        "kubectl_netfix.writeback", reason="the write-back module is not in this build yet"
    )


def test_fix_preview_is_a_diff_and_writes_nothing(
    fake_rules: Path, writeback_available: None, capsys: pytest.CaptureFixture[str]
) -> None:
    target = copy_fixture("multi.yaml", fake_rules)
    before = target.read_bytes()
    code, out, err = run(capsys, "fix", "-f", "multi.yaml")
    assert code == 0
    assert target.read_bytes() == before
    assert out.startswith("--- a/multi.yaml\n+++ b/multi.yaml\n")
    removed = [line for line in out.splitlines() if line.startswith("-") and line[1:2] != "-"]
    added = [line for line in out.splitlines() if line.startswith("+") and line[1:2] != "+"]
    assert removed == [
        "-    netfix-test: bad",
        "-      netfix-test: bad",
        "-      netfix-test: bad",
    ]
    assert added == [
        "+    netfix-test: good",
        "+      netfix-test: good",
        "+      netfix-test: good",
    ]
    assert "Would fix 3 findings in 1 file." in err


def test_fix_write_changes_only_the_fixed_lines(
    fake_rules: Path, writeback_available: None, capsys: pytest.CaptureFixture[str]
) -> None:
    target = copy_fixture("bom-crlf.yaml", fake_rules)
    before = target.read_bytes()
    code, out, err = run(capsys, "fix", "-f", "bom-crlf.yaml", "--write")
    assert code == 0, err
    assert out == ""
    after = target.read_bytes()
    assert after == before.replace(b"netfix-test: bad", b"netfix-test: good")
    assert "Fixed 1 finding in 1 file." in err
    # Idempotent: nothing left to fix, and check is clean.
    assert run(capsys, "fix", "-f", "bom-crlf.yaml", "--write")[0] == 0
    assert target.read_bytes() == after
    assert run(capsys, "check", "-f", "bom-crlf.yaml")[0] == 0


def test_fix_unsafe_needs_the_flag(
    fake_rules: Path, writeback_available: None, capsys: pytest.CaptureFixture[str]
) -> None:
    target = copy_fixture("severities.yaml", fake_rules)
    code, _, err = run(capsys, "fix", "-f", target.name, "--write")
    assert code == 0
    text = target.read_text()
    assert "netfix-test: broken" in text and "netfix-test: bad" not in text
    assert "1 unsafe fix(es) not applied (use --unsafe-fixes)." in err
    assert "1 manual fix(es)" in err
    code, _, _ = run(capsys, "fix", "-f", target.name, "--write", "--unsafe-fixes")
    assert code == 0
    assert "netfix-test: broken" not in target.read_text()


def test_fix_patch_prints_json_and_writes_nothing(
    fake_rules: Path, writeback_available: None, capsys: pytest.CaptureFixture[str]
) -> None:
    target = copy_fixture("multi.yaml", fake_rules)
    before = target.read_bytes()
    code, out, _ = run(capsys, "fix", "-f", "multi.yaml", "--patch")
    assert code == 0
    assert target.read_bytes() == before
    document = json_out(out)
    patches = document["patches"]
    assert isinstance(patches, list) and len(patches) == 3
    assert patches[1]["target"]["pointerPrefix"] == "/items/1"
    assert patches[1]["ops"] == [
        {"op": "test", "path": POINTER, "value": "bad"},
        {"op": "replace", "path": POINTER, "value": "good"},
    ]
    assert invoke("fix", "-f multi.yaml -o json")[1] == out


def test_fix_stdin_write_goes_to_stdout(
    fake_rules: Path,
    writeback_available: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = (FIXTURES / "multi.yaml").read_bytes()
    set_stdin(monkeypatch, source)
    code, out, err = run(capsys, "fix", "-f", "-", "--write")
    assert code == 0, err
    assert out == source.decode().replace("netfix-test: bad", "netfix-test: good")


def test_fix_stdin_write_passes_a_clean_stream_through(
    fake_rules: Path,
    writeback_available: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = (FIXTURES / "clean.yaml").read_bytes()
    set_stdin(monkeypatch, source)
    code, out, _ = run(capsys, "fix", "-f", "-", "--write")
    assert (code, out) == (0, source.decode())


def test_fix_never_writes_a_file_with_errors(
    fake_rules: Path, writeback_available: None, capsys: pytest.CaptureFixture[str]
) -> None:
    target = copy_fixture("broken.yaml", fake_rules)
    before = target.read_bytes()
    code, _, err = run(capsys, "fix", "-f", "broken.yaml", "--write")
    assert code == 2
    assert target.read_bytes() == before
    assert "broken.yaml: not written" in err


def test_fix_invalid_output(
    fake_rules: Path, writeback_available: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "fix", "-f", str(FIXTURES / "clean.yaml"), "-o", "sarif")
    assert code == 2 and err.startswith("error: --output: expected diff or json")


# --- the real rules, end to end ------------------------------------------------------------------

DEFAULT_DENY = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny
  namespace: shop
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
"""


@pytest.fixture
def real_rules(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NO_COLOR", raising=False)
    return tmp_path


def _needs_rule(rule_id: str) -> None:
    if rule_by_id(rule_id) is None:
        raise AssertionError(f"rule {rule_id} is not registered")


def test_real_egress_dns_on_default_deny(
    real_rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _needs_rule("egress-dns")
    (real_rules / "deny.yaml").write_text(DEFAULT_DENY)
    code, out, err = run(capsys, "check", "-f", "deny.yaml", "--rule", "egress-dns", "-o", "json")
    assert code == 1, err
    report = json_out(out)
    findings = report["findings"]
    assert isinstance(findings, list) and len(findings) == 1
    finding = findings[0]
    assert finding["rule"] == "egress-dns"
    assert finding["object"]["kind"] == "NetworkPolicy"
    assert finding["object"]["file"] == "deny.yaml"
    assert finding["fix"]["applicability"] == "safe"


def test_real_egress_dns_fix_write_then_clean(
    real_rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _needs_rule("egress-dns")
    pytest.importorskip("kubectl_netfix.writeback")
    target = real_rules / "deny.yaml"
    target.write_text(DEFAULT_DENY)
    code, _, err = run(capsys, "fix", "-f", "deny.yaml", "--rule", "egress-dns", "--write")
    assert code == 0, err
    fixed = target.read_text()
    policy, deployment = DEFAULT_DENY.split("---\n")
    assert fixed.endswith("---\n" + deployment)  # the other document is byte-identical
    assert fixed.startswith(policy.rstrip("\n"))  # the policy only grew
    assert "port: 53" in fixed
    code, out, _ = run(capsys, "check", "-f", "deny.yaml", "--rule", "egress-dns")
    assert (code, out) == (0, "No findings.\n")


def test_real_rules_sarif_lists_the_catalogue(
    real_rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ALL_RULES, "no rule registered"
    (real_rules / "deny.yaml").write_text(DEFAULT_DENY)
    code, out, _ = run(capsys, "check", "-f", "deny.yaml", "-o", "sarif", "--fail-on", "none")
    assert code == 0
    rules = json_out(out)["runs"][0]["tool"]["driver"]["rules"]  # type: ignore[index]
    assert [rule["id"] for rule in rules] == [rule.id for rule in ALL_RULES]
