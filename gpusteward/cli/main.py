"""The `gpusteward` command line: run, status, journal, scenarios.

Input errors print one message naming the input, the value and the fix, and exit 2;
they never print a traceback.

Start-up: building the app and any `--help` imports only typer, rich, the settings and
the core types. Every command module imports what it runs (the composition root, the
simulator, the planners, Prophet, the Kubernetes client, the LLM client) inside the
command, so `gpusteward --help` does not pay for them (tests/cli/test_startup_imports.py).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gpusteward.app.settings import environment_variables, load_settings
from gpusteward.cli.activator import activator
from gpusteward.cli.agent import why
from gpusteward.cli.approvals import approvals_command
from gpusteward.cli.cluster import node_agent, run_kubernetes
from gpusteward.cli.diagnose import diagnose
from gpusteward.cli.eval import eval_cmd
from gpusteward.cli.forecast import app as forecast_app
from gpusteward.cli.forecast_ahead import ahead as forecast_ahead
from gpusteward.cli.policy import policy_app
from gpusteward.cli.replay import export_cmd, replay_cmd
from gpusteward.cli.report import (
    actions_line,
    deployments_table,
    shadow_line,
    summary_table,
    tick_line,
)
from gpusteward.cli.report_tokens import tokens_table
from gpusteward.cli.runbook import runbook_app
from gpusteward.cli.terminal import err, out
from gpusteward.cli.whatif import whatif_cmd
from gpusteward.core.errors import GpustewardError, InputError, JournalError, RunFailed
from gpusteward.core.logs import configure_logging

if TYPE_CHECKING:
    from gpusteward.adapters.journal import SqliteJournal
    from gpusteward.app.wiring_sim import SimRun
    from gpusteward.core.cluster import ClusterSnapshot
    from gpusteward.core.tick import TickRecord


def settings_epilog(intro: str) -> str:
    """`intro`, then every GPUSTEWARD_ variable of the settings with what it sets (one
    per line), generated from the Settings model."""
    rows = "\n".join(f"{name}: {escape(what)}" for name, what in environment_variables())
    return f"{intro}\n\n{rows}"


SETTINGS_READERS = ("run", "replay", "export", "why", "eval", "approvals")
READS_SETTINGS = settings_epilog(
    "Environment variables this command reads (a flag on the command line overrides its variable):"
)
READS_NONE = "Environment: this command reads no GPUSTEWARD_ variable."

app = typer.Typer(
    help="gpusteward: keeps GPU inference clusters ahead of their load.",
    epilog=settings_epilog(
        f"Environment variables: {', '.join(SETTINGS_READERS)} read these settings (a flag "
        "overrides its variable); the other commands read none."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _logs_to_stderr() -> None:
    """Every command logs to stderr (stdout carries only its result, e.g. `--json`), warnings
    and errors only; `run` sets its own level and format from its settings."""
    configure_logging("warning", "auto")


app.add_typer(policy_app, name="policy", epilog=READS_NONE)
forecast_app.command("ahead", epilog=READS_NONE)(forecast_ahead)
app.add_typer(forecast_app, name="forecast", epilog=READS_NONE)
app.command("why", epilog=READS_SETTINGS)(why)
app.command("eval", epilog=READS_SETTINGS)(eval_cmd)
app.command("approvals", epilog=READS_SETTINGS)(approvals_command)
app.command("node-agent", epilog=READS_NONE)(node_agent)
app.command("activator", epilog=READS_NONE)(activator)
app.command("export", epilog=READS_SETTINGS)(export_cmd)
app.command("replay", epilog=READS_SETTINGS)(replay_cmd)
app.command("diagnose", epilog=READS_NONE)(diagnose)
app.command("whatif", epilog=READS_NONE)(whatif_cmd)
app.add_typer(runbook_app, name="runbook", epilog=READS_NONE)


def _parse_speed(value: str | None) -> float | None:
    if value is None or value == "max":
        return None
    try:
        speed = float(value)
    except ValueError:
        speed = -1.0
    if speed <= 0:
        raise InputError(
            f"--speed {value!r}: expected 'max' or a positive number of virtual seconds per "
            "real second (e.g. 600 = ten simulated minutes each second)"
        )
    return speed


@app.command(epilog=READS_SETTINGS)
def run(
    scenario: Annotated[
        str | None, typer.Option(help="Shipped scenario name or YAML path.")
    ] = None,
    backend: Annotated[str | None, typer.Option(help="sim (default) or kubernetes.")] = None,
    speed: Annotated[str | None, typer.Option(help="'max' or virtual s per real s.")] = None,
    once: Annotated[bool, typer.Option("--once", help="Run a single tick and exit.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Decide, but change nothing.")] = False,
    journal: Annotated[Path | None, typer.Option(help="Journal file (SQLite).")] = None,
    fresh: Annotated[
        bool,
        typer.Option(
            "--fresh", help="Start over; the old journal is moved aside to <journal>.<time>.bak."
        ),
    ] = False,
    ticks: Annotated[int | None, typer.Option(min=1, help="Stop after this many ticks.")] = None,
    log_level: Annotated[str | None, typer.Option(help="debug, info, warning, error.")] = None,
    planner: Annotated[
        str | None,
        typer.Option(help="Planner kind instead of the scenario's, e.g. forecast (simulator)."),
    ] = None,
    compare: Annotated[
        str | None,
        typer.Option(
            help="After the run, the same simulated run with these planners in one table, "
            "e.g. reactive,oracle."
        ),
    ] = None,
) -> None:
    """Run the daemon: observe, forecast, plan, guard, act, record — on an interval.

    With GPUSTEWARD_CHAT_PEOPLE naming a people file, the approval chat (web, and Slack
    when GPUSTEWARD_SLACK_MODE is set) is served beside it on GPUSTEWARD_CHAT_HOST and
    GPUSTEWARD_CHAT_PORT (http://127.0.0.1:8787/?token=YOUR-TOKEN by default); with
    GPUSTEWARD_METRICS_PORT, its /metrics.
    """
    import asyncio

    from gpusteward.app.replay_setup import planner_config
    from gpusteward.app.scenario import load_scenario
    from gpusteward.app.serving import run_service
    from gpusteward.app.wiring_sim import build_sim_run
    from gpusteward.cli.compare import compare_kinds, comparison_table

    settings = load_settings(
        scenario=scenario,
        backend=backend,
        speed=_parse_speed(speed),
        dry_run=dry_run or None,
        journal=journal,
        log_level=log_level,
    )
    # the simulator's run is finite and prints text progress: its logs stay text in a pipe
    configure_logging(
        settings.log_level, settings.log_format, auto_console=settings.backend != "kubernetes"
    )
    loaded = load_scenario(settings.scenario)
    if settings.backend == "kubernetes":  # planner, forecaster, policy from the scenario
        if planner or compare:
            raise InputError(
                "--planner and --compare run on the simulator. Fix: set the planner in the "
                "scenario's `planner:` block for a Kubernetes run"
            )
        return run_kubernetes(loaded, settings, once=once, ticks=ticks)
    if planner is not None:
        chosen = planner_config(planner, own=loaded.planner)
        loaded = loaded.model_copy(update={"planner": chosen})
    kinds = compare_kinds(compare, loaded)
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[now]}"),
        TimeElapsedColumn(),
        console=err,
        disable=not err.is_terminal,
    )
    task = progress.add_task(loaded.name, total=None, now="")

    def on_tick(record: TickRecord) -> None:
        when = record.at.strftime("%Y-%m-%d %H:%M")
        progress.update(task, advance=1, now=when)
        if not err.is_terminal:  # no bar in a pipe or a log: a line every 10 % instead
            done, total = progress.tasks[0].completed, progress.tasks[0].total or 0
            if total and int(done * 10 // total) != int((done - 1) * 10 // total):
                err.print(
                    f"{loaded.name}: {done / total:.0%} ({int(done)}/{int(total)} ticks, "
                    f"simulated time {when})",
                    highlight=False,
                )

    sim = build_sim_run(loaded, settings, fresh=fresh, max_ticks=ticks, on_tick=on_tick)
    if kinds and (once or sim.complete or sim.resumed_at_seq is not None):
        sim.journal.close()
        raise InputError(
            "--compare compares a whole run from its start, and this one "
            + ("is a single tick" if once else "goes on from a journal")
            + ". Fix: add --fresh, and leave out --once"
        )
    for what, kept in zip(("journal", "approval store"), sim.moved_aside, strict=True):
        if kept is not None:
            err.print(
                f"--fresh: moved the old {what} aside to {kept}", highlight=False, soft_wrap=True
            )
    with sim.journal:
        if sim.complete:
            err.print(
                f"{sim.journal_path}: this run of '{loaded.name}' is already complete; "
                "showing its summary. Use --fresh to start over."
            )
        else:
            done = sim.resumed_at_seq + 1 if sim.resumed_at_seq is not None else 0
            if sim.resumed_at_seq is not None:
                err.print(
                    f"resuming '{loaded.name}' from {sim.journal_path} after tick "
                    f"#{sim.resumed_at_seq} ({sim.clock.now():%Y-%m-%d %H:%M} UTC)"
                )
            if once or ticks is not None:  # progress over the ticks this run is to run
                left = sim.total_ticks - done
                this_run = 1 if once or ticks is None else min(ticks, left)
                progress.update(task, total=this_run, completed=0)
            else:
                progress.update(task, total=sim.total_ticks, completed=done)
            with progress:
                asyncio.run(run_service(sim, settings, once=once, tick_first=once))
            if sim.daemon.interrupted_by is not None:
                err.print(_interrupted_line(sim), highlight=False, soft_wrap=True)
        stats = sim.daemon.stats
        last = stats.last_snapshot or _last_snapshot(sim.journal)
        title = f"{loaded.name}: {loaded.description}" if loaded.description else loaded.name
        out.print(summary_table(last, title))
        if (per_token := tokens_table(last)) is not None:
            out.print(per_token)
        out.print(
            actions_line(stats.decisions, stats.results, len(sim.journal.executed_action_ids()))
        )
        if (shadow := shadow_line(stats.shadow)) is not None:
            out.print(shadow, highlight=False)
        out.print(f"journal: {sim.journal_path} ({sim.journal.count()} ticks)")
        if kinds and sim.daemon.interrupted_by is None:
            applied = len(sim.journal.executed_action_ids())
            err.print(f"comparing: the same run with {', '.join(kinds)} ...", highlight=False)
            out.print(comparison_table(loaded, last, applied, kinds, ticks))
    if (failed := stats.every_tick_failed(sim.journal_path)) is not None:
        raise RunFailed(failed)


def _interrupted_line(sim: SimRun) -> str:
    """After a signal: the last tick recorded, and the command that resumes the run (this
    one without --fresh, which would start over)."""
    again = shlex.join(["gpusteward", *(a for a in sys.argv[1:] if a != "--fresh")])
    last = sim.journal.tail(1)
    where = (
        f"after tick #{last[-1].seq} ({last[-1].at:%Y-%m-%d %H:%M} UTC, simulated)"
        if last
        else "before its first tick"
    )
    return f"interrupted ({sim.daemon.interrupted_by}) {where}; to resume: {again}"


def _last_snapshot(journal: SqliteJournal) -> ClusterSnapshot | None:
    for record in reversed(journal.tail(5)):
        if record.snapshot is not None:
            return record.snapshot
    return None


def _open_journal(path: Path) -> SqliteJournal:
    from gpusteward.adapters.journal import SqliteJournal

    if not path.exists():
        raise JournalError(
            f"{path}: no journal there. Fix: run `gpusteward run` first, or pass "
            "--journal with the file a run wrote (default .gpusteward/<scenario>.db)."
        )
    return SqliteJournal(path)


def _journal_option_default() -> Path:
    from gpusteward.app.wiring_sim import latest_journal

    return latest_journal() or Path(".gpusteward") / "quickstart.db"


@app.command(epilog=READS_NONE)
def status(
    journal: Annotated[Path | None, typer.Option(help="Journal file.")] = None,
) -> None:
    """Show where a run stands: its last tick, deployments, and latest actions."""
    with _open_journal(journal or _journal_option_default()) as j:
        records = j.tail(20)
        if not records:
            out.print("the journal is empty: no tick recorded yet")
            return
        last = records[-1]
        out.print(
            f"{j.count()} ticks recorded; last #{last.seq} at {last.at:%Y-%m-%d %H:%M:%S} "
            f"UTC; planner {last.planner}{' (dry-run)' if last.dry_run else ''}"
        )
        snapshot = _last_snapshot(j)
        if snapshot is not None:
            out.print(deployments_table(snapshot))
            out.print(summary_table(snapshot, "so far"))
            if (per_token := tokens_table(snapshot)) is not None:
                out.print(per_token)
        acted = [r for r in records if r.results or r.errors]
        for record in acted[-5:]:
            out.print(tick_line(record))


@app.command("journal", epilog=READS_NONE)
def journal_cmd(
    tail: Annotated[int, typer.Option(min=1, help="How many ticks, newest last.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON record per line.")] = False,
    journal: Annotated[Path | None, typer.Option(help="Journal file.")] = None,
) -> None:
    """Print the last N ticks of the journal."""
    with _open_journal(journal or _journal_option_default()) as j:
        for record in j.tail(tail):
            print(record.model_dump_json() if as_json else tick_line(record))


@app.command(epilog=READS_NONE)
def scenarios() -> None:
    """List the shipped scenarios."""
    from gpusteward.app.scenario import load_scenario, shipped_scenarios

    for name in shipped_scenarios():
        s = load_scenario(name)
        out.print(f"[bold]{name}[/bold]: {s.description} ({s.duration}, {len(s.models)} model(s))")


def main() -> None:
    try:
        app()
    except (InputError, JournalError) as e:
        _fail(e, 2)
    except GpustewardError as e:
        _fail(e, 1)


def _fail(e: Exception, code: int) -> None:
    err.print("[red]error:[/red] ", end="")
    err.print(str(e), markup=False, highlight=False, soft_wrap=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
