"""`gpusteward export` and `gpusteward replay` (runbooks: `cli_runbook.py`).

export: a journal's ticks between two times as an incident bundle (secrets redacted).
replay BUNDLE: regression (re-plan and re-judge every tick with the recorded LLM answers;
exit 1 on any difference); with --policy / --planner / --forecaster / --llm-endpoint:
what-if (a diff of proposals and verdicts); with --runbook: that runbook dry-run on a
recorded snapshot; with --rerun SEQ --journal J: re-propose that tick's plan now.
replay SCENARIO: a simulated run (and, with what-if options, a second one side by side),
graded where the scenario is a shipped incident. --report DIR writes the HTML report.
Nothing here executes against a real cluster.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from gpusteward.app.settings import load_settings
from gpusteward.cli.replay_scenario import NOT_REAL, replay_scenario, whatif_label
from gpusteward.cli.runbook import parse_params, print_dry_run, runbook_arg
from gpusteward.cli.terminal import out
from gpusteward.core.errors import InputError, JournalError
from gpusteward.core.user_files import option_time, read_user_file

if TYPE_CHECKING:
    from runbooks.replay import RegressionReport
    from runbooks.whatif import WhatIfReport


def export_cmd(
    output: Annotated[Path, typer.Option("-o", "--output", help="Bundle file to write.")],
    journal: Annotated[Path, typer.Option(help="Journal file (SQLite).")] = Path(
        ".gpusteward/quickstart.db"
    ),
    from_: Annotated[str | None, typer.Option("--from", help="First tick time (ISO).")] = None,
    to: Annotated[str | None, typer.Option("--to", help="Last tick time (ISO).")] = None,
    scenario: Annotated[
        str | None, typer.Option(help="The journal's scenario (default: from the journal).")
    ] = None,
    warmup: Annotated[int, typer.Option(min=0, help="Warm-up ticks before --from.")] = 60,
) -> None:
    """Export the journal's ticks between two times as an incident bundle, secrets redacted."""
    from gpusteward.adapters.journal import SqliteJournal
    from gpusteward.app.parts import scenario_id
    from gpusteward.app.scenario import load_scenario
    from gpusteward.daemon.loop import DaemonConfig
    from runbooks.bundle import build_bundle, write_bundle

    if not journal.exists():
        raise JournalError(f"{journal}: no journal there. Fix: pass --journal with a run's file.")
    settings = load_settings()
    with SqliteJournal(journal) as j:
        recorded = j.scenario_id or ""
        loaded = load_scenario(scenario or recorded.split("@")[0] or "quickstart")
        if recorded and scenario_id(loaded) != recorded:
            raise InputError(
                f"{journal} records scenario {recorded!r}, but {loaded.name} is now "
                f"{scenario_id(loaded)!r}. Fix: pass --scenario with the file the run used."
            )
        secrets = [
            s.get_secret_value()
            for s in (
                settings.slack.bot_token,
                settings.slack.signing_secret,
                settings.slack.app_token,
            )
            if s is not None
        ]
        config = DaemonConfig(interval_seconds=settings.interval_seconds or loaded.tick_seconds)
        bundle = build_bundle(
            j.ticks(),
            start=None if from_ is None else option_time("--from", from_),
            end=None if to is None else option_time("--to", to),
            journal=str(journal),
            interval_seconds=config.interval_seconds,
            history_points=config.history_points,
            recent_actions_seconds=config.recent_actions_seconds,
            warmup_ticks=warmup,
            scenario_id=recorded or None,
            scenario=loaded.model_dump_json(),
            policy=read_user_file(Path(loaded.policy), "policy file"),
            policy_source=loaded.policy,
            secrets=secrets,
        )
    write_bundle(bundle, output)
    out.print(
        f"wrote {output}: {len(bundle.ticks)} tick(s) {bundle.start:%Y-%m-%d %H:%M} .. "
        f"{bundle.end:%Y-%m-%d %H:%M} UTC, {len(bundle.preamble.warmup)} warm-up tick(s), "
        f"{bundle.redactions} secret(s) redacted"
    )


def replay_cmd(
    target: Annotated[str, typer.Argument(help="Incident bundle file, or scenario name / path.")],
    policy: Annotated[Path | None, typer.Option(help="What-if: another policy file.")] = None,
    planner: Annotated[str | None, typer.Option(help="What-if: another planner kind.")] = None,
    forecaster: Annotated[str | None, typer.Option(help="What-if: auto or last-value.")] = None,
    llm_endpoint: Annotated[
        str | None, typer.Option(help="What-if: the LLM planner at this endpoint.")
    ] = None,
    runbook: Annotated[str | None, typer.Option(help="What-if: dry-run this runbook.")] = None,
    param: Annotated[list[str] | None, typer.Option(help="Runbook parameter NAME=VALUE.")] = None,
    at_seq: Annotated[int | None, typer.Option(help="Tick for --runbook / --rerun.")] = None,
    rerun_seq: Annotated[
        int | None,
        typer.Option("--rerun", help="Re-propose this tick's plan now (needs --journal)."),
    ] = None,
    journal: Annotated[
        Path | None, typer.Option(help="Journal of the cluster for --rerun.")
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="Write the HTML report into this folder.")
    ] = None,
    ticks: Annotated[int | None, typer.Option(min=1, help="Scenario: stop after N ticks.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON summary.")] = False,
) -> None:
    """Replay a bundle (regression / what-if / re-run) or a scenario (graded, side by side)."""
    from runbooks.bundle import is_bundle

    started = time.perf_counter()
    path = Path(target)
    damage = _damaged_bundle(path) if path.is_file() and not is_bundle(path) else None
    if damage is not None:
        raise damage
    if path.is_file() and is_bundle(path):
        code = _replay_bundle(
            path,
            policy,
            planner,
            forecaster,
            llm_endpoint,
            runbook,
            parse_params(param),
            at_seq,
            rerun_seq,
            journal,
            report,
            as_json,
        )
    else:
        code = replay_scenario(target, policy, planner, forecaster, report, ticks, as_json)
    if report is not None:
        out.print(f"report: {report / 'index.html'} ({time.perf_counter() - started:.1f} s)")
    if code:
        raise typer.Exit(code)


_BUNDLE_SUFFIXES = (".bundle", ".gz")


def _damaged_bundle(path: Path) -> InputError | None:
    """The error for a file meant as an incident bundle that `is_bundle` does not take
    (it does not start as gzip does): one named like a bundle, one holding a bundle's JSON,
    or any binary file (a scenario is YAML text). None: a scenario, for `load_scenario`."""
    from runbooks.bundle import BUNDLE_FORMAT

    try:
        with path.open("rb") as f:
            head = f.read(4096)
    except OSError:
        return None  # the scenario reader names the file and the fix
    if BUNDLE_FORMAT.rsplit("/", 1)[0].encode() in head:
        return InputError(
            f"{path}: an incident bundle's JSON without its gzip compression (byte 0 is "
            f"{head[:1].hex()}, not the gzip header 1f 8b). Fix: compress it (gzip -k {path}) "
            f"and replay {path}.gz."
        )
    if path.suffix.lower() not in _BUNDLE_SUFFIXES and b"\0" not in head:
        return None
    what = (
        f"byte 0 is {head[:2].hex(' ')}, not the gzip header 1f 8b that starts every bundle"
        if head
        else "the file is empty"
    )
    return InputError(
        f"{path}: a damaged incident bundle: {what}. Fix: export it again (gpusteward export "
        f"--journal JOURNAL -o {path}), or copy it again as a binary file; to replay a "
        "scenario, give its YAML file."
    )


def _replay_bundle(
    path: Path,
    policy: Path | None,
    planner: str | None,
    forecaster: str | None,
    llm_endpoint: str | None,
    runbook: str | None,
    params: dict[str, str],
    at_seq: int | None,
    rerun_seq: int | None,
    journal: Path | None,
    report: Path | None,
    as_json: bool,
) -> int:
    from gpusteward.app.replay_setup import (
        bundle_policy,
        bundle_scenario,
        forecaster_for,
        policy_file,
        recorded_planner,
        swapped_planner,
    )
    from runbooks.bundle import read_bundle
    from runbooks.replay import regression
    from runbooks.report import ReportInput, write_report
    from runbooks.series import RunOutcome, series_from_records
    from runbooks.whatif import what_if

    bundle = read_bundle(path)
    settings = load_settings()
    where = str(path)
    recorded_policy = bundle_policy(bundle, where)
    if rerun_seq is not None:
        return _rerun(bundle, rerun_seq, journal, where)
    if runbook is not None:
        return _runbook_on_record(bundle, runbook, params, at_seq, policy, where)
    runs = [
        RunOutcome(
            "recorded",
            bundle.journal,
            recorded_policy.version,
            bundle.ticks[0].planner if bundle.ticks else "",
            series_from_records(bundle.ticks),
        )
    ]
    whatif: WhatIfReport | None = None
    result: RegressionReport | None = None
    if any(x is not None for x in (policy, planner, forecaster, llm_endpoint)):
        engine = policy_file(policy) if policy else recorded_policy
        swapped = None
        if planner or llm_endpoint or forecaster:
            swapped = swapped_planner(
                bundle, settings, where, kind=planner, llm_endpoint=llm_endpoint, policy=engine
            )
        label = whatif_label(
            policy=policy, planner=planner, forecaster=forecaster, LLM=llm_endpoint
        )
        whatif = what_if(
            bundle,
            policy=engine,
            planner=swapped,
            forecaster=(
                forecaster_for(forecaster, bundle_scenario(bundle, where).forecaster)
                if forecaster
                else None
            ),
            horizon_seconds=settings.forecast_horizon_seconds,
            label=label,
        )
        _print_whatif(whatif, as_json)
        code = 0
    else:
        result = regression(bundle, recorded_planner(bundle, settings, where), recorded_policy)
        _print_regression(result, as_json)
        code = 0 if result.ok else 1
    if report is not None:
        write_report(
            ReportInput(
                title=f"Replay of {path.name}",
                runs=runs,
                notice=f"{'What-if' if whatif else 'Regression replay'}: {NOT_REAL}.",
                whatif=whatif,
                regression=result,
            ),
            report,
        )
    return code


def _print_regression(r: RegressionReport, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"mode": "regression", **r.model_dump(mode="json"), "ok": r.ok}))
        return
    out.print(f"regression replay ({NOT_REAL}; no LLM endpoint contacted):")
    out.print(
        f"  {r.compared} tick(s) re-planned and re-judged under {r.policy_version}; "
        f"{r.llm_ticks} with recorded LLM exchanges ({r.llm_rounds} rounds)"
    )
    if r.ok:
        out.print("  [green]zero differences[/green]")
    for d in r.diffs[:50]:
        out.print(f"  #{d.seq} {d.at} {d.kind}: ", end="")
        out.print(d.detail, markup=False, highlight=False)


def _print_whatif(w: WhatIfReport, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"mode": "what-if", **w.model_dump(mode="json")}))
        return
    out.print(f"[bold]{w.notice}[/bold]")
    out.print(f"what-if: {w.label}; policy {w.recorded_policy} -> {w.whatif_policy}")
    table = Table(title=f"{len(w.changes)} action(s) judged differently")
    for col in ("seq", "at", "action", "recorded", "what-if", "rules", "was executed"):
        table.add_column(col)
    for c in w.changes[:200]:
        table.add_row(
            str(c.seq),
            c.at[:16],
            c.action,
            c.recorded,
            c.whatif,
            ", ".join(c.rules),
            "yes" if c.executed else "",
        )
    out.print(table)
    for decision in ("deny", "needs_approval"):
        out.print(f"would have been {decision}: {len(w.became(decision))}")


def _runbook_on_record(
    bundle: object,
    name: str,
    params: dict[str, str],
    at_seq: int | None,
    policy: Path | None,
    where: str,
) -> int:
    from gpusteward.app.replay_setup import bundle_policy, policy_file
    from runbooks.bundle import IncidentBundle
    from runbooks.replay import replay_inputs
    from runbooks.runner import dry_run

    assert isinstance(bundle, IncidentBundle)
    recorded = [t.seq for t in bundle.ticks if t.snapshot is not None]
    if not recorded:
        raise InputError(
            f"{where}: no tick in it recorded a snapshot, so no runbook can run on one. Fix: "
            "export a stretch of the journal where ticks ran (`gpusteward journal` lists them)."
        )
    first, last = recorded[0], recorded[-1]
    if at_seq is not None and not first <= at_seq <= last:
        raise InputError(
            f"--at-seq {at_seq}: {where} records ticks #{first} to #{last}. Fix: a tick from "
            f"{first} to {last}, or leave --at-seq out for the first."
        )
    engine = policy_file(policy) if policy else bundle_policy(bundle, where)
    for record, inputs in replay_inputs(bundle):
        if (
            inputs is None
            or record.snapshot is None
            or (at_seq is not None and record.seq < at_seq)
        ):
            continue
        out.print(
            f"runbook {name} dry-run on recorded tick #{record.seq} ({record.at:%Y-%m-%d %H:%M} "
            f"UTC); {NOT_REAL}"
        )
        print_dry_run(dry_run(runbook_arg(name), params, record.snapshot, inputs, engine))
        return 0
    raise InputError(f"{where}: no recorded snapshot at or after tick {at_seq}")


def _rerun(bundle: object, seq: int, journal: Path | None, where: str) -> int:
    from gpusteward.app.replay_setup import bundle_scenario
    from gpusteward.app.wiring_sim import build_sim_run
    from gpusteward.core.ports import GuardInputs
    from runbooks.bundle import IncidentBundle
    from runbooks.rerun import rerun

    assert isinstance(bundle, IncidentBundle)
    if journal is None:
        raise InputError(
            "--rerun needs --journal: the simulated cluster's journal to re-propose on"
        )
    record = next((t for t in bundle.ticks if t.seq == seq), None)
    if record is None:
        raise InputError(f"{where}: no tick #{seq}. Fix: a seq from `gpusteward journal`.")
    scenario = bundle_scenario(bundle, where)
    settings = load_settings(journal=journal)
    sim = build_sim_run(scenario, settings)
    with sim.journal:
        snapshot = sim.cluster.snapshot()
        daemon = sim.daemon
        load = {k: daemon.history.series(k) for k in daemon.history.tracked()}
        forecasts = {
            k: daemon.forecaster.forecast(s, daemon.config.forecast_horizon_seconds)
            for k, s in load.items()
        }
        inputs = GuardInputs(forecasts=forecasts, load=load, recent=tuple(daemon.recent))
        assert sim.approvals is not None
        outcomes = rerun(record.proposals, snapshot, inputs, daemon.policy, sim.approvals)
        sim.approvals.close()
    out.print(f"re-run of tick #{seq}'s plan on {journal} at {snapshot.at:%Y-%m-%d %H:%M} UTC:")
    for o in outcomes:
        out.print(
            f"  {o.action}: {o.status}" + (f" (request {o.request_id})" if o.request_id else "")
        )
        out.print(f"    {o.reason}", markup=False, highlight=False)
    return 0


# -- runbooks ------------------------------------------------------------------------------
