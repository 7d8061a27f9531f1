"""`gpusteward diagnose`: the early-warning diagnostics' findings, from a scenario run on
the simulator with them on, or from the warnings a run recorded in its journal.

Each warning: when it opened and resolved, its red flag, deployment and severity, what
it saw, the likely cause, and the remedy with the guard's verdict on it. `--why ID`
explains one warning in full (as `/why ID` does in the chat). A scenario with ground
truth (`redflag-*`) also says whether each injected red flag was caught, and the lead
before the SLO was first missed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from gpusteward.cli.terminal import out
from gpusteward.core.errors import InputError, JournalError
from gpusteward.core.logs import configure_logging

if TYPE_CHECKING:
    from gpusteward.app.diagnose_run import Detection
    from gpusteward.core.diagnosis import DiagnosticWarning
    from gpusteward.core.tick import TickRecord


def diagnose(
    scenario: Annotated[
        str | None,
        typer.Argument(help="A scenario (shipped name or YAML) to run with the diagnostics."),
    ] = None,
    journal: Annotated[
        Path | None,
        typer.Option(help="Read the warnings a `gpusteward run` recorded in this journal."),
    ] = None,
    hours: Annotated[
        float | None, typer.Option(min=0.02, help="Run only the first HOURS of the scenario.")
    ] = None,
    why: Annotated[
        str | None, typer.Option("--why", help="Explain one warning (its id or a prefix).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Early warnings: each red flag seen, its evidence, likely cause and remedy."""
    if (scenario is None) == (journal is None):
        raise InputError(
            "diagnose needs a scenario or --journal, not both and not neither. Fix: "
            "`gpusteward diagnose redflag-burst`, or `gpusteward diagnose --journal FILE`"
        )
    labels: list[str] = []
    if journal is not None:
        warnings = _from_journal(journal)
        where = str(journal)
    else:
        from gpusteward.app.diagnose_run import detections, run_diagnosed
        from gpusteward.app.scenario import load_scenario

        assert scenario is not None
        loaded = load_scenario(scenario)
        configure_logging("error", "auto")  # the run's own warnings are not the findings
        ticks = None if hours is None else max(1, int(hours * 3600 / loaded.tick_seconds))
        run = run_diagnosed(loaded, max_ticks=ticks)
        warnings = {
            k: w.model_copy(update={"resolved": True, "at": run.resolved[k]})
            if k in run.resolved
            else w
            for k, w in run.opened.items()
        }
        where = f"{loaded.name} ({run.ticks} ticks)"
        labels = [_label_line(d) for d in detections(loaded.name, loaded, run)]
    if why is not None:
        out.print("\n".join(_find(warnings, why).why_lines()))
        return
    if as_json:
        body = {"warnings": [w.model_dump(mode="json") for w in warnings.values()]}
        print(json.dumps({**body, "ground_truth": labels}, indent=2))
        return
    out.print(_table(list(warnings.values()), where))
    for line in labels:
        out.print(line)


def _from_journal(path: Path) -> dict[str, DiagnosticWarning]:
    from gpusteward.adapters.journal import SqliteJournal

    if not path.exists():
        raise JournalError(
            f"{path}: no journal there. Fix: run `gpusteward run` first, or pass --journal "
            "with the file a run wrote (default .gpusteward/<scenario>.db)."
        )
    with SqliteJournal(path) as j:
        return _warnings_of(j.ticks())


def _warnings_of(records: Iterable[TickRecord]) -> dict[str, DiagnosticWarning]:
    """Each warning's latest recorded state, by id, in the order they opened."""
    found: dict[str, DiagnosticWarning] = {}
    for record in records:
        for w in record.warnings:
            found[w.id] = w
    return found


def _find(warnings: dict[str, DiagnosticWarning], ref: str) -> DiagnosticWarning:
    hits = [w for k, w in warnings.items() if k == ref or k.startswith(ref)]
    if len(hits) != 1:
        known = ", ".join(list(warnings)[:5]) or "none"
        raise InputError(
            f"--why {ref!r}: {len(hits)} warnings match. Fix: give one id (or a unique "
            f"prefix) from the list: {known}"
        )
    return hits[0]


def _table(warnings: list[DiagnosticWarning], where: str) -> Table:
    table = Table(title=f"warnings: {where}")
    for col in ("opened", "resolved", "red flag", "deployment", "sev", "what", "cause", "remedy"):
        table.add_column(col)
    for w in sorted(warnings, key=lambda w: w.opened_at):
        remedy = w.remedy.action.describe() if w.remedy else (w.runbook or "-")
        if w.remedy_verdict is not None:
            remedy += f" ({w.remedy_verdict.decision})"
        table.add_row(
            f"{w.opened_at:%m-%d %H:%M}",
            f"{w.at:%H:%M}" if w.resolved else "open",
            w.flag.value,
            w.deployment,
            w.severity.value,
            w.summary,
            w.cause.value,
            remedy,
        )
    if not warnings:
        table.add_row("-", "-", "no warning", "", "", "", "", "")
    return table


def _label_line(d: Detection) -> str:
    begins = d.begins_s / 60
    if d.detected_s is None:
        return f"ground truth: {d.flag.value} from minute {begins:.0f}: NOT DETECTED"
    lead = "" if d.lead_s is None else f"; lead before the first SLO miss {d.lead_s / 60:+.0f} min"
    return (
        f"ground truth: {d.flag.value} from minute {begins:.0f}: detected at minute "
        f"{d.detected_s / 60:.0f}{lead}"
    )
