"""The `kubectl netfix` command line, built with cleo.

kubectl's habits where they apply: `-f` (repeatable, `-` for stdin), `-R`, `-n`, `-o`.
Exit codes: 0 nothing at or above --fail-on, 1 findings (or failed fixes), 2 usage or input error.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, ClassVar

from cleo.application import Application
from cleo.commands.command import Command
from cleo.exceptions import CleoError
from cleo.helpers import argument, option
from cleo.io.inputs.argv_input import ArgvInput
from cleo.io.inputs.definition import Definition
from cleo.io.inputs.option import Option
from cleo.io.io import IO
from cleo.io.outputs.output import Type as OutputType
from cleo.io.outputs.output import Verbosity

from kubectl_netfix import __version__

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """A bad flag value or input: one line on stderr, exit 2."""


def _source_options() -> list[Option]:
    return [
        option(
            "filename",
            "f",
            "Manifest file, directory, or - for stdin (repeatable). Without -f, the live "
            "cluster of the current kube context is read.",
            flag=False,
            multiple=True,
        ),
        option("recursive", "R", "Process the directories named by -f recursively."),
        option(
            "kubeconfig", None, "Path to the kubeconfig file (default: $KUBECONFIG).", flag=False
        ),
        option("context", None, "The kubeconfig context to use.", flag=False),
        option("all-namespaces", "A", "Read every namespace of the cluster."),
        option(
            "namespace",
            "n",
            "Namespace for objects that declare none (files) / to read (cluster).",
            flag=False,
        ),
        option(
            "rule",
            None,
            "Run only this rule (repeatable; see `kubectl netfix rules`).",
            flag=False,
            multiple=True,
        ),
        option("skip", None, "Do not run this rule (repeatable).", flag=False, multiple=True),
        option(
            "config",
            None,
            "Config file (default: .netfix.yaml in the working directory or a parent).",
            flag=False,
        ),
        *_rule_option_definitions(),
    ]


def _rule_option_definitions() -> list[Option]:
    return [
        option(
            "service-cidr",
            None,
            "Service CIDR(s), comma-separated [default: 10.96.0.0/12].",
            flag=False,
        ),
        option("cluster-domain", None, "Cluster DNS domain [default: cluster.local].", flag=False),
        option("ndots", None, "ndots value the dns-ndots fix sets [default: 2].", flag=False),
        option(
            "kube-version",
            None,
            "Target Kubernetes version for version-gated fixes, e.g. 1.31.",
            flag=False,
        ),
        option(
            "service-threshold",
            None,
            "Services from which iptables kube-proxy is flagged [default: 1000].",
            flag=False,
        ),
        option(
            "service-count",
            None,
            "Number of Services in the cluster, when the files are not all of them.",
            flag=False,
        ),
        option(
            "proxy-mode", None, "kube-proxy mode the fix proposes (nftables or ipvs).", flag=False
        ),
        option(
            "max-dns-ttl", None, "Largest acceptable DNS TTL in seconds [default: 10].", flag=False
        ),
        option(
            "ingress-class",
            None,
            "An IngressClass known to exist (repeatable).",
            flag=False,
            multiple=True,
        ),
        option(
            "dns-namespace",
            None,
            "Namespace of the cluster DNS pods [default: kube-system].",
            flag=False,
        ),
        option(
            "dns-labels",
            None,
            "Labels of the cluster DNS pods, k=v,... [default: k8s-app=kube-dns].",
            flag=False,
        ),
        option("dns-port", None, "Port of the cluster DNS pods [default: 53].", flag=False),
        option(
            "dns-peer-cidr",
            None,
            "CIDR(s) of extra DNS servers (NodeLocal DNSCache, custom), comma-separated.",
            flag=False,
        ),
    ]


class NetfixCommand(Command):
    """Shared plumbing: turn UsageError into one line and exit 2."""

    def handle(self) -> int:
        try:
            return self.run_command()
        except UsageError as exc:
            self.write_err(f"error: {exc}\n")  # raw: user text is no style tag
            return EXIT_USAGE
        except Exception as exc:
            # Imported here, not above: `version` and `rules` never load the YAML machinery.
            from kubectl_netfix.loader import InputError

            if not isinstance(exc, InputError):
                raise
            self.write_err(f"error: {exc}\n")
            return EXIT_USAGE

    def run_command(self) -> int:
        raise NotImplementedError

    def write_out(self, text: str) -> None:
        # Raw: findings and diffs may contain <...> that cleo must not read as style tags.
        self.io.write(text, type=OutputType.RAW)

    def write_err(self, text: str) -> None:
        # Errors and warnings reach stderr even with -q: quiet silences chatter, not failures.
        self.io.write_error(text, verbosity=Verbosity.QUIET, type=OutputType.RAW)

    def stdout_is_tty(self) -> bool:
        stream = getattr(self.io.output, "stream", None)
        return bool(stream is not None and stream.isatty())


class CheckCommand(NetfixCommand):
    name = "check"
    description = "Report networking footguns in manifest files or the live cluster."
    help = (
        "Examples:\n"
        "  kubectl netfix check -f deploy/ -R\n"
        "  helm template . | kubectl netfix check -f -\n"
        "  kubectl netfix check -f app.yaml -o sarif > netfix.sarif\n"
        "\n"
        "Exit status: 0 when nothing at or above --fail-on was found, 1 when something was,\n"
        "2 on a usage or input error (the other inputs are still checked)."
    )
    options: ClassVar[list[Option]] = [
        *_source_options(),
        option("output", "o", "Output format: text, json or sarif.", flag=False, default="text"),
        option(
            "fail-on",
            None,
            "Lowest severity that makes the exit status 1: error, warning, info or none "
            "[default: warning].",
            flag=False,
        ),
    ]

    def run_command(self) -> int:
        from kubectl_netfix.commands import run_check

        return run_check(self)


class FixCommand(NetfixCommand):
    name = "fix"
    description = "Preview the fixes, write them into the files, or apply them to the cluster."
    help = (
        "Files (-f): without --write, shows what would change as a unified diff and changes\n"
        "nothing; --write applies the safe fixes in place, keeping every other byte.\n"
        "Cluster (no -f): shows each fix as a JSON patch and the equivalent `kubectl patch`;\n"
        "--apply sends them (--dry-run=server to rehearse, --yes to skip the prompt).\n"
        "--unsafe-fixes adds the fixes that change behaviour. Manual fixes are only shown.\n"
        "\n"
        "Examples:\n"
        "  kubectl netfix fix -n shop\n"
        "  kubectl netfix fix -n shop --apply --dry-run=server\n"
        "  kubectl netfix fix -A --apply --yes\n"
        "  kubectl netfix fix -f deploy/ -R\n"
        "  kubectl netfix fix -f deploy/ -R --write\n"
        "  kubectl netfix fix -f app.yaml --patch      # the RFC 6902 patches as JSON\n"
        "  helm template . | kubectl netfix fix -f - --write > fixed.yaml"
    )
    options: ClassVar[list[Option]] = [
        *_source_options(),
        option("write", "w", "Write the fixes back into the files (stdin: to stdout)."),
        option("apply", None, "Patch the live objects (asks for confirmation unless --yes)."),
        option(
            "dry-run",
            None,
            "With --apply: 'server' sends the patches with dryRun=All and changes nothing.",
            flag=False,
        ),
        option("yes", "y", "Do not ask for confirmation before --apply."),
        option("unsafe-fixes", None, "Also apply fixes that change behaviour."),
        option("patch", None, "Print the JSON patches instead of a diff (same as -o json)."),
        option("output", "o", "Preview format: diff or json.", flag=False, default="diff"),
    ]

    def run_command(self) -> int:
        from kubectl_netfix.commands import run_fix

        return run_fix(self)


class RulesCommand(NetfixCommand):
    name = "rules"
    description = "List the rules: id, severity, fixable, summary."
    options: ClassVar[list[Option]] = [
        option(
            "output",
            "o",
            "Output format: text, json or markdown (docs/rules.md).",
            flag=False,
            default="text",
        ),
    ]

    def run_command(self) -> int:
        from kubectl_netfix.commands import run_rules

        return run_rules(self)


class ExplainCommand(NetfixCommand):
    name = "explain"
    description = "Show a rule's documentation."
    arguments: ClassVar[list[Any]] = [
        argument("rule", "The rule id, e.g. egress-dns."),
    ]

    def run_command(self) -> int:
        from kubectl_netfix.commands import run_explain

        return run_explain(self)


class VersionCommand(NetfixCommand):
    name = "version"
    description = "Print the version."

    def run_command(self) -> int:
        self.write_out(f"kubectl-netfix {__version__}\n")
        return EXIT_OK


class NetfixApplication(Application):
    def __init__(self) -> None:
        super().__init__("kubectl-netfix", __version__)
        for command in (CheckCommand, FixCommand, RulesCommand, ExplainCommand, VersionCommand):
            self.add(command())

    @property
    def display_name(self) -> str:
        return "kubectl netfix"

    @property
    def _default_definition(self) -> Definition:
        # cleo's own -n (--no-interaction) and -V would shadow kubectl's -n NAMESPACE.
        definition = super()._default_definition
        kept = [o for o in definition.options if o.name not in ("no-interaction", "version")]
        definition.set_options(kept)
        return definition

    def _run(self, io: IO) -> int:
        try:
            return int(super()._run(io))
        except CleoError as exc:
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            io.write_error_line(f"error: {message}", type=OutputType.RAW)
            io.write_error_line("Run `kubectl netfix --help` for usage.")
            return EXIT_USAGE
        except KeyboardInterrupt:
            io.write_error_line("interrupted")
            return 130
        except BrokenPipeError:
            raise  # `| head`: cleo's run() silences stdout and exits 0, as a pipeline expects
        except Exception as exc:  # never a traceback for the user; -vvv shows it
            if io.is_debug():
                raise
            io.write_error_line(
                f"error: internal error: {type(exc).__name__}: {exc}", type=OutputType.RAW
            )
            return EXIT_USAGE


def _stdin_dash(args: list[str]) -> list[str]:
    """cleo reads a lone `-` as an option marker; kubectl users write `-f -` for stdin."""
    result: list[str] = []
    skip_next = False
    for position, arg in enumerate(args):
        if skip_next:
            skip_next = False
            continue
        following = args[position + 1] if position + 1 < len(args) else None
        if arg in ("-f", "--filename") and following == "-":
            result.append("--filename=-")
            skip_next = True
        else:
            result.append(arg)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    app = NetfixApplication()
    app.auto_exits(False)
    given = list(sys.argv[1:] if argv is None else argv)
    if given in (["--help"], ["-h"]):
        given = ["list"]  # cleo would show the help of its `list` command; show the commands
    args = ["kubectl-netfix", *_stdin_dash(given)]
    return int(app.run(ArgvInput(args)))
