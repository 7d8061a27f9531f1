"""`gpusteward whatif TARGET --load 2x`: what a scenario (or a recorded bundle's cluster)
would do at a multiple of its load over a window: where it breaks, what would hold the
SLO, which pool runs out and which limits bind; a table or JSON, and an HTML page on
request. Simulated: nothing touches a real cluster."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from gpusteward.core.errors import InputError
from gpusteward.logs import configure_logging
from gpusteward.replay_setup import bundle_scenario
from gpusteward.scenario import Scenario, load_scenario
from gpusteward.terminal import out
from gpusteward.whatif_answer import WhatIfAnswer, answer, sizing_error, summary_lines
from gpusteward.whatif_load import (
    DAY,
    LoadQuestion,
    oracle_check,
    parse_load,
    parse_window,
    replicas_of,
    run_whatif,
)
from gpusteward.whatif_page import write_whatif_page
from runbooks.bundle import is_bundle, read_bundle


def _last_day(s: Scenario) -> tuple[float, float]:
    end = s.duration_seconds
    return max(0.0, end - DAY), end


def question(target: str, load: float, window: str | None) -> tuple[LoadQuestion, str | None]:
    """The what-if question for a scenario (default window: its last day) or a bundle
    (default: the day after its last tick, from the replicas it last had); and the
    bundle's policy text, if any."""
    path = Path(target)
    if path.is_file() and is_bundle(path):
        bundle = read_bundle(path)
        scn = bundle_scenario(bundle, str(path))
        last = bundle.ticks[-1] if bundle.ticks else None
        if last is None or last.snapshot is None:
            raise InputError(
                f"{path}: the bundle has no tick with a snapshot, so its cluster's state is "
                "unknown. Fix: export a window with ticks (`gpusteward export`)."
            )
        after = (last.at - scn.start).total_seconds()
        span = parse_window(window, (after, after + DAY))
        replicas = replicas_of(last.snapshot)
        return LoadQuestion(scn, load, span, str(path), replicas), bundle.policy
    scn = load_scenario(target)
    return LoadQuestion(scn, load, parse_window(window, _last_day(scn)), scn.name), None


def whatif_cmd(
    target: Annotated[str, typer.Argument(help="Shipped scenario name, YAML path or bundle.")],
    load: Annotated[str, typer.Option(help="Multiple of the recorded load: 2x, 1.5x, 150%.")],
    window: Annotated[
        str | None,
        typer.Option(
            help="START:END since the scenario's start (e.g. 13d:14d); default: "
            "a scenario's last day, the day after a bundle's last tick."
        ),
    ] = None,
    planner: Annotated[str | None, typer.Option(help="Another planner kind.")] = None,
    policy: Annotated[Path | None, typer.Option(help="Another policy YAML.")] = None,
    check_oracle: Annotated[
        bool,
        typer.Option("--check-oracle", help="Also run the oracle on an unbounded cluster."),
    ] = False,
    report: Annotated[
        Path | None,
        typer.Option(help="Folder to write the HTML page into (index.html and its plots)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """What if the load were N times what was recorded: where would the cluster break?"""
    started = time.perf_counter()
    configure_logging("error", "auto", auto_console=True)
    q, bundle_policy = question(target, parse_load(load), window)
    with tempfile.TemporaryDirectory() as tmp:
        if policy is None and bundle_policy is not None:
            policy = Path(tmp) / "bundle-policy.yaml"
            policy.write_text(bundle_policy)
        run = run_whatif(q, planner=planner, policy=policy)
    result = answer(run, oracle_check(run) if check_oracle else None)
    if report is not None:
        write_whatif_page(run, result, report)
    seconds = time.perf_counter() - started
    if as_json:
        print(json.dumps(to_json(result, seconds)))
        return
    for line in summary_lines(result):
        out.print(line, highlight=False)
    out.print(_table(result))
    if report is not None:
        out.print(f"report: {report / 'index.html'}")
    out.print(f"({seconds:.1f} s)")


def _table(a: WhatIfAnswer) -> Table:
    table = Table(title=f"{a.load:g}x load: per model")
    for col in (
        "model",
        "SLO attained",
        "first miss",
        "needed (peak)",
        "max",
        "GPU-h needed",
        "TTFT p95",
        "USD / 1M out",
    ):
        table.add_column(col, justify="left" if col == "model" else "right")
    misses = {m.key: m for m in a.misses}
    for n in a.needs:
        miss = misses.get(n.key)
        k = a.tokens.get(n.key)
        usd = k.cost_per_million("output") if k else None
        table.add_row(
            n.key,
            f"{a.attainment.get(n.key, 1.0):.2%}",
            f"{miss.at:%m-%d %H:%M}" if miss else "-",
            f"{n.peak_replicas} x {n.gpu_type}",
            str(n.max_replicas),
            f"{n.gpu_hours:,.1f}",
            f"{k.ttft_p95_seconds:.2f} s" if k and k.ttft_p95_seconds is not None else "-",
            f"{usd:,.2f}" if usd is not None else "-",
        )
    return table


def to_json(a: WhatIfAnswer, seconds: float) -> dict[str, object]:
    first = a.first_miss
    return {
        "mode": "whatif-load",
        "source": a.source,
        "load": a.load,
        "start": a.start.isoformat(),
        "end": a.end.isoformat(),
        "planner": a.planner,
        "policy": a.policy,
        "holds": a.holds,
        "first_miss": None
        if first is None
        else {"model": first.key, "at": first.at.isoformat(), "attainment": first.attainment},
        "misses": [{"model": m.key, "at": m.at.isoformat()} for m in a.misses],
        "attainment": a.attainment,
        "gpus_needed": a.peak_gpus_needed,
        "gpus_needed_by_type": a.gpus_needed_by_type,
        "gpus_needed_by_model": {n.key: n.peak_gpus for n in a.needs},
        "gpu_hours_needed": a.gpu_hours_needed,
        "cost_needed_usd": a.cost_needed_usd,
        "run_peak_gpus": a.run_peak_gpus,
        "run_gpu_hours": a.run_gpu_hours,
        "run_cost_usd": a.run_cost_usd,
        "cluster_gpus_by_type": a.cluster_gpus_by_type,
        "pool_out": None
        if a.pool_out is None
        else {
            "pool": a.pool_out.pool,
            "at": a.pool_out.at.isoformat(),
            "waiting": a.pool_out.waiting,
        },
        "pool_min_free": a.pool_min_free,
        "tokens": {k: t.model_dump() for k, t in a.tokens.items()},
        "bindings": [
            {"kind": b.kind, "limit": b.limit, "count": b.count, "example": b.example}
            for b in a.bindings
        ],
        "oracle": None
        if a.oracle is None
        else {
            "peak_gpus": a.oracle.peak_gpus,
            "peak_gpus_by_model": a.oracle.peak_gpus_by_model,
            "attainment": a.oracle.attainment,
            "sizing_error": sizing_error(a),
        },
        "seconds": round(seconds, 2),
    }
