"""`gpusteward replay SCENARIO`: a simulated run of a scenario (and, with what-if options,
a second one side by side), graded where the scenario is a shipped incident, printed as a
table or JSON, with the HTML report on request. Nothing here touches a real cluster."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

from gpusteward.cli.terminal import out
from gpusteward.core.logs import configure_logging

if TYPE_CHECKING:
    from runbooks.grading import Grade

NOT_REAL = "nothing was executed against a real cluster"


def whatif_label(**swapped: object) -> str:
    """What a what-if run swaps, in the order given, those set only: `policy p.yaml,
    planner oracle`."""
    return ", ".join(f"{what} {value}" for what, value in swapped.items() if value)


def replay_scenario(
    target: str,
    policy: Path | None,
    planner: str | None,
    forecaster: str | None,
    report: Path | None,
    ticks: int | None,
    as_json: bool,
) -> int:
    from gpusteward.app.replay_setup import ScenarioVariant, run_scenario
    from gpusteward.app.scenario import load_scenario
    from runbooks.grading import grade, load_incidents
    from runbooks.report import ReportInput, write_report

    # simulated runs, as `gpusteward run` on the simulator: text log lines even in a pipe
    configure_logging("warning", "auto", auto_console=True)
    scenario = load_scenario(target)
    runs = [run_scenario(scenario, ScenarioVariant(label="as configured"), max_ticks=ticks)]
    if any(x is not None for x in (policy, planner, forecaster)):
        label = whatif_label(policy=policy, planner=planner, forecaster=forecaster)
        runs.append(
            run_scenario(
                scenario,
                ScenarioVariant(
                    label=f"what-if: {label}", planner=planner, forecaster=forecaster, policy=policy
                ),
                max_ticks=ticks,
            )
        )
    handled = load_incidents().get(scenario.name)
    grades: list[Grade] = []
    if handled is not None:
        for run in runs:
            grades += grade(run.label, run.totals, handled)
    if as_json:
        print(
            json.dumps(
                {
                    "mode": "scenario",
                    "scenario": scenario.name,
                    "runs": [
                        {
                            "label": r.label,
                            "planner": r.planner,
                            "policy": r.policy_version,
                            **r.totals.model_dump(),
                            "slo_attainment": r.totals.slo_attainment,
                            "applied": r.series.applied,
                            "decisions": dict(r.series.decisions),
                        }
                        for r in runs
                    ],
                    "grades": [g.model_dump() for g in grades],
                }
            )
        )
    else:
        out.print(f"[bold]{scenario.name}: simulated; {NOT_REAL}[/bold]")
        table = Table(title="outcome side by side" if len(runs) > 1 else "outcome")
        for col in (
            "run",
            "planner",
            "GPU-hours",
            "cost (USD)",
            "SLO attained",
            "dropped",
            "applied",
            "denied",
            "needs approval",
        ):
            table.add_column(col)
        for r in runs:
            t = r.totals
            table.add_row(
                r.label,
                r.planner,
                f"{t.gpu_hours:,.1f}",
                f"{t.cost_usd:,.2f}",
                f"{t.slo_attainment:.2%}",
                f"{t.dropped:,}",
                str(r.series.applied),
                str(r.series.decisions["deny"]),
                str(r.series.decisions["needs_approval"]),
            )
        out.print(table)
        if handled is not None:
            out.print(f"handled means: {handled.description}")
            for g in grades:
                out.print(
                    f"  {g.run}: {g.criterion} {g.value} (target {g.target}): "
                    f"{'[green]handled[/green]' if g.passed else '[red]not handled[/red]'}"
                )
    if report is not None:
        write_report(
            ReportInput(
                title=f"Replay of scenario {scenario.name}",
                runs=runs,
                notice=f"Simulated replay: {NOT_REAL}.",
                grades=grades,
            ),
            report,
        )
    return 0
