"""`gpusteward run --compare`: the run just made beside the same simulated run with other
planners (the HPA-like baseline, the oracle), in one table.

Each comparison runs the same scenario, policy, seed and first-tick timing on a fresh
simulator with only the planner swapped (`replay_setup.run_scenario`): the same load,
the same faults. Nothing here touches a real cluster.
"""

from __future__ import annotations

from rich.table import Table

from gpusteward.app.replay_setup import ScenarioVariant, planner_config, run_scenario
from gpusteward.app.scenario import Scenario
from gpusteward.cli.terminal import figures_table
from gpusteward.core.cluster import ClusterSnapshot, ModelAccounting, total_accounting
from gpusteward.core.errors import InputError

LABELS = {
    "forecast": "forecast planner (the product's)",
    "reactive": "HPA-like baseline (reactive)",
    "oracle": "oracle (each window's load known in advance)",
}


def compare_kinds(text: str | None, scenario: Scenario) -> list[str]:
    """The planner kinds `--compare` names, each checked before any run starts."""
    kinds = [k.strip() for k in (text or "").split(",") if k.strip()]
    for kind in kinds:
        planner_config(kind, "--compare", own=scenario.planner)
    return kinds


def comparison_table(
    scenario: Scenario,
    last: ClusterSnapshot | None,
    applied: int,
    kinds: list[str],
    ticks: int | None = None,
) -> Table:
    """The run (its planner, GPU-hours, SLO attainment, p95 delay, actions applied), then
    each planner of `kinds` over the same simulated run (its first `ticks` ticks when the
    run was cut short by --ticks)."""
    if last is None or last.accounting is None:
        raise InputError("--compare: the run has no accounting to compare (no tick ran)")
    rows: list[tuple[str, ModelAccounting, int]] = [
        (scenario.planner.kind, total_accounting(last.accounting), applied)
    ]
    for kind in kinds:
        variant = ScenarioVariant(label=kind, planner=kind)
        outcome = run_scenario(scenario, variant, max_ticks=ticks, tick_first=False)
        rows.append((kind, outcome.totals, outcome.series.applied))
    table = figures_table(
        f"{scenario.name}: planners over the same simulated day(s)",
        ("planner", "GPU-hours", "cost (USD)", "SLO attained", "p95 queue delay", "actions"),
    )
    for kind, t, actions in rows:
        table.add_row(
            LABELS.get(kind, kind),
            f"{t.gpu_hours:,.1f}",
            f"{t.cost_usd:,.2f}",
            f"{t.slo_attainment:.2%}",
            f"{t.queue_delay_p95_seconds:.2f} s",
            str(actions),
        )
    return table
