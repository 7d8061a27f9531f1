"""`gpusteward whatif TARGET --load 2x`: what a scenario (or a recorded bundle's cluster)
would do at a multiple of its load over a window: where it breaks, what would hold the
SLO, which pool runs out and which limits bind; a table or JSON, and an HTML page on
request. Simulated: nothing touches a real cluster."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from gpusteward.cli.terminal import figures_table, out
from gpusteward.core.logs import configure_logging

if TYPE_CHECKING:
    from gpusteward.app.whatif.answer import WhatIfAnswer


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
    from gpusteward.app.whatif.answer import answer, summary_lines, to_json
    from gpusteward.app.whatif.load import oracle_check, parse_load, question, run_whatif
    from gpusteward.app.whatif.page import write_whatif_page

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
    table = figures_table(
        f"{a.load:g}x load: per model",
        (
            "model",
            "SLO attained",
            "first miss",
            "needed (peak)",
            "max",
            "GPU-h needed",
            "TTFT p95",
            "USD / 1M out",
        ),
    )
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
