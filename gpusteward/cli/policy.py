"""`gpusteward policy ...`: check policy files, run policy test suites, explain a verdict."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table

import policies
from gpusteward.cli.terminal import out
from gpusteward.core.errors import InputError
from gpusteward.core.user_files import read_user_file

if TYPE_CHECKING:
    from gpusteward.core.cluster import ClusterSnapshot
    from gpusteward.core.ports import GuardInputs
    from policies.engine import PolicySet
    from policies.suites import Suite

policy_app = typer.Typer(help="Check, test and explain guardrail policies.", no_args_is_help=True)
# `policies.document.PACKS_DIR / "default.yaml"`, the --policy default `--help` shows, named
# without importing that module (tests/cli/test_startup_imports.py checks that they agree)
DEFAULT_POLICY = Path(policies.__path__[0]) / "packs" / "default.yaml"


def read_policy(path: Path) -> PolicySet:
    from policies.engine import load_policy

    return load_policy(read_user_file(path, "policy file"), str(path))


@policy_app.command("check")
def check(files: Annotated[list[Path], typer.Argument(help="Policy YAML files.")]) -> None:
    """Validate policy files: schema, rule parameters, message placeholders, CEL."""
    for path in files:
        policy = read_policy(path)
        modes = [r.spec.mode for r in policy.rules]
        out.print(
            f"{path}: ok — {policy.document.name}, version {policy.version}, "
            f"{len(modes)} rules ({modes.count('enforce')} enforced, "
            f"{modes.count('warn')} warn, {modes.count('audit')} audit)",
            highlight=False,
        )


def _suites(target: Path) -> list[Path]:
    if target.is_dir():
        found = sorted(target.glob("*.yaml")) + sorted(target.glob("*.yml"))
        if not found:
            raise InputError(
                f"{target}: no .yaml suites in this folder. Fix: point at a suite "
                "file or a folder of them (e.g. policies/packs/tests)."
            )
        return found
    if not target.exists():
        raise InputError(f"{target}: no such suite file or folder. Fix: check the path.")
    return [target]


@policy_app.command("test")
def test(
    target: Annotated[Path, typer.Argument(help="A suite file or a folder of suites.")],
    policy: Annotated[Path | None, typer.Option(help="Policy file (default: the suite's).")] = None,
) -> None:
    """Run policy test suites (fixture + action -> expected verdict), like `gator verify`."""
    from policies.suites import load_suite, run_suite

    failures = total = 0
    for path in _suites(target):
        suite = load_suite(read_user_file(path, "policy test suite"), str(path))
        policy_set = read_policy(policy or _suite_policy(suite, path))
        table = Table(title=f"{path} — {suite.name} against {policy_set.version}")
        for col in ("", "case", "outcome"):
            table.add_column(col)
        for result in run_suite(suite, policy_set, str(path)):
            total += 1
            failures += not result.passed
            mark = "[green]PASS[/green]" if result.passed else "[red]FAIL[/red]"
            table.add_row(mark, escape(result.case), escape(result.detail))
        out.print(table)
    out.print(f"{total - failures} passed, {failures} failed", highlight=False)
    if failures:
        raise typer.Exit(1)


def _suite_policy(suite: Suite, path: Path) -> Path:
    if suite.policy is None:
        return DEFAULT_POLICY
    given = Path(suite.policy)
    return given if given.is_absolute() else path.parent / given


@policy_app.command("explain")
def explain(
    action_file: Annotated[Path, typer.Argument(help="Action JSON ('-' for standard input).")],
    policy: Annotated[Path, typer.Option(help="Policy file.")] = DEFAULT_POLICY,
    fixture: Annotated[
        str | None, typer.Option(help="SUITE.yaml:NAME — judge against a suite fixture.")
    ] = None,
    journal: Annotated[
        Path | None, typer.Option(help="Judge against this journal's last snapshot.")
    ] = None,
) -> None:
    """Print the verdict for one action with every rule's result."""
    from gpusteward.core.actions import Proposal
    from policies.engine import RulePolicyEngine

    policy_set = read_policy(policy)
    snapshot, inputs = _situation(fixture, journal)
    text = (
        sys.stdin.read() if str(action_file) == "-" else read_user_file(action_file, "action file")
    )
    action = _parse_action(text, str(action_file), snapshot)
    engine = RulePolicyEngine(policy_set)
    verdict, results = engine.explain(Proposal(action=action, reason="explain"), snapshot, inputs)
    out.print(
        f"[bold]{verdict.decision.upper()}[/bold] {escape(action.describe())} — "
        f"{escape(verdict.reason)}"
    )
    out.print(
        f"policy {policy_set.version}; snapshot at {snapshot.at:%Y-%m-%d %H:%M %Z}", highlight=False
    )
    table = Table()
    for col in ("rule", "kind", "mode", "effect", "matched", "fired", "message"):
        table.add_column(col)
    for r in results:
        table.add_row(
            r.rule,
            r.kind,
            r.mode,
            r.effect,
            "yes" if r.matched else "-",
            "[bold]yes[/bold]" if r.fired else "-",
            r.error or r.message,
        )
    out.print(table)
    for hit in verdict.shadow:
        out.print(escape(f"shadow ({hit.mode}): [{hit.rule}] {hit.reason}"), highlight=False)


def _parse_action(text: str, source: str, snapshot: ClusterSnapshot):  # type: ignore[no-untyped-def]
    import json

    from gpusteward.core.actions import ACTION_ADAPTER

    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(
            f"{source}:{e.lineno}: not valid JSON ({e.msg}). Fix the syntax."
        ) from None
    if isinstance(data, dict):
        data.setdefault("issued_at", snapshot.at.isoformat())
    try:
        return ACTION_ADAPTER.validate_python(data)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()
        )
        raise InputError(
            f"{source}: not a valid action ({problems}). Fix: e.g. "
            '{"kind": "scale", "deployment": "serving/chat", "replicas": 4}'
        ) from None


def _situation(fixture: str | None, journal: Path | None) -> tuple[ClusterSnapshot, GuardInputs]:
    from gpusteward.adapters.journal import SqliteJournal
    from gpusteward.core.ports import GuardInputs
    from gpusteward.daemon.loop import DaemonConfig
    from gpusteward.daemon.resume import history_from_journal, recent_from_journal
    from policies.suites import build_snapshot, load_suite

    if fixture is not None:
        file, _, name = fixture.rpartition(":")
        if not file or not name:
            raise InputError(f"--fixture {fixture!r}: expected SUITE.yaml:NAME")
        suite = load_suite(read_user_file(Path(file), "policy test suite"), file)
        if name not in suite.fixtures:
            raise InputError(
                f"--fixture {fixture!r}: no fixture {name!r} in {file}. Fix: use "
                f"one of {', '.join(sorted(suite.fixtures))}."
            )
        return build_snapshot(suite.fixtures[name])
    path = journal or _latest_journal()
    with SqliteJournal(path) as j:
        records = [r for r in j.tail(5) if r.snapshot is not None]
        if not records:
            raise InputError(
                f"{path}: no snapshot recorded yet. Fix: run a tick first, or "
                "use --fixture SUITE.yaml:NAME."
            )
        last = records[-1]
        assert last.snapshot is not None
        config = DaemonConfig(interval_seconds=last.snapshot.interval_seconds)
        history = history_from_journal(j, config)
        inputs = GuardInputs(
            forecasts={f.key: f for f in last.forecasts},
            load={k: history.series(k) for k in history.tracked()},
            recent=tuple(recent_from_journal(j, config)),
        )
        return last.snapshot, inputs


def _latest_journal() -> Path:
    from gpusteward.app.wiring_sim import latest_journal

    found = latest_journal()
    if found is None:
        raise InputError(
            "no journal under .gpusteward/. Fix: run `gpusteward run` first, or "
            "pass --journal PATH or --fixture SUITE.yaml:NAME."
        )
    return found
