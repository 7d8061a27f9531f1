"""Replay reports: one self-contained HTML page (PNGs inlined as data URIs, and also
written beside it) with load, forecast band and capacity per model, GPU-hours and cost,
SLO attainment over time, every action with its verdict and approver, and the what-if
or regression results. File output only; matplotlib draws off-screen (Agg).
"""

from __future__ import annotations

import base64
import csv
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from runbooks.grading import Grade
from runbooks.replay import RegressionReport
from runbooks.series import RunOutcome
from runbooks.whatif import WhatIfReport

MAX_ACTION_ROWS = 1500  # in the page; every row is in actions.csv
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


@dataclass
class ReportInput:
    title: str
    runs: Sequence[RunOutcome]
    notice: str = ""
    whatif: WhatIfReport | None = None
    regression: RegressionReport | None = None
    grades: Sequence[Grade] = ()
    notes: list[str] = field(default_factory=list)


def write_report(report: ReportInput, out: Path) -> Path:
    """Write `index.html`, the PNGs and `actions.csv` into `out`; returns the page's path."""
    out.mkdir(parents=True, exist_ok=True)
    figures: list[tuple[str, str, Figure]] = []
    keys = sorted({k for run in report.runs for k in run.series.models})
    for key in keys:
        figures.append(
            (f"load_{_slug(key)}.png", f"Load, forecast and capacity: {key}", _load(report, key))
        )
    if any(run.series.at for run in report.runs):
        figures.append(("gpu_hours_cost.png", "GPU-hours and cost", _cost(report)))
        figures.append(("slo_attainment.png", "SLO attainment over time", _slo(report, keys)))
    images = []
    for name, caption, fig in figures:
        path = out / name
        fig.savefig(path, dpi=80)
        plt.close(fig)
        data = base64.b64encode(path.read_bytes()).decode()
        images.append((name, caption, data))
    _write_actions_csv(report, out / "actions.csv")
    page = out / "index.html"
    page.write_text(_html(report, images), encoding="utf-8")
    return page


def _slug(key: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", key.lower()).strip("-")


def _axes(title: str) -> tuple[Figure, Any]:  # matplotlib types reject datetimes
    fig, ax = plt.subplots(figsize=(11, 3.6), layout="constrained")
    ax.set_title(title, fontsize=10)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M"))  # type: ignore[no-untyped-call]
    ax.grid(alpha=0.3)
    return fig, ax


def _load(report: ReportInput, key: str) -> Figure:
    fig, ax = _axes(f"{key}: request rate, forecast band (p10-p90 at cold-start lead), capacity")
    for i, run in enumerate(report.runs):
        s = run.series.models.get(key)
        if s is None:
            continue
        colour = COLOURS[i % len(COLOURS)]
        suffix = f" ({run.label})" if len(report.runs) > 1 else ""
        if i == 0:
            ax.plot(s.at, s.load_rps, color="#444", lw=0.7, label="arrivals (req/s)")
        if s.forecast_at:
            ax.plot(
                s.forecast_at, s.p90, color=colour, lw=0.6, ls=":", label=f"forecast p90{suffix}"
            )
            ax.fill_between(
                s.forecast_at,
                s.p10,
                s.p90,
                color=colour,
                alpha=0.15,
                lw=0,
                label=f"forecast p10-p90{suffix}",
            )
        ax.plot(
            s.at,
            s.capacity_rps,
            color=colour,
            lw=1.0,
            drawstyle="steps-post",
            label=f"capacity (req/s){suffix}",
        )
    ax.set_ylabel("req/s")
    ax.legend(loc="upper left", fontsize=8)
    return fig


def _cost(report: ReportInput) -> Figure:
    fig, ax = _axes("cumulative GPU-hours (solid) and cost in USD (dashed)")
    twin = ax.twinx()
    for i, run in enumerate(report.runs):
        colour = COLOURS[i % len(COLOURS)]
        ax.plot(run.series.at, run.series.gpu_hours, color=colour, label=f"GPU-hours ({run.label})")
        twin.plot(
            run.series.at, run.series.cost_usd, color=colour, ls="--", label=f"USD ({run.label})"
        )
    ax.set_ylabel("GPU-hours")
    twin.set_ylabel("USD")
    ax.legend(loc="upper left", fontsize=8)
    return fig


def _slo(report: ReportInput, keys: Sequence[str]) -> Figure:
    fig, ax = _axes("SLO attainment: per interval, 1-hour mean per model; cumulative (thick)")
    for i, run in enumerate(report.runs):
        colour = COLOURS[i % len(COLOURS)]
        ax.plot(
            run.series.at,
            run.series.slo_cumulative,
            color=colour,
            lw=2.0,
            label=f"cumulative ({run.label})",
        )
        for key in keys:
            s = run.series.models.get(key)
            if s is None or not s.at:
                continue
            ax.plot(s.at, _rolling(s.slo, s.at), color=colour, lw=0.6, alpha=0.6)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("share within SLO")
    ax.legend(loc="lower left", fontsize=8)
    return fig


def _rolling(
    values: Sequence[float | None], at: Sequence[object], window_s: float = 3600.0
) -> list[float]:
    if len(at) < 2:
        return [v if v is not None else 1.0 for v in values]
    step = (at[1] - at[0]).total_seconds() or 60.0  # type: ignore[operator]
    n = max(1, int(window_s // step))
    out, total, count, q = [], 0.0, 0, []
    for v in values:
        x = 1.0 if v is None else v
        q.append(x)
        total += x
        count += 1
        if count > n:
            total -= q[-n - 1]
            count -= 1
        out.append(total / count)
    return out


def _write_actions_csv(report: ReportInput, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "run",
                "seq",
                "at",
                "action_id",
                "action",
                "planner",
                "decision",
                "rules",
                "approver",
                "result",
                "reason",
            ]
        )
        for run in report.runs:
            for a in run.series.actions:
                w.writerow(
                    [
                        run.label,
                        a.seq,
                        a.at.isoformat(),
                        a.action_id,
                        a.what,
                        a.planner,
                        a.decision,
                        a.rules,
                        a.approver,
                        a.result,
                        a.reason,
                    ]
                )


# -- the page ---------------------------------------------------------------------------

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px} h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0;font-size:12.5px}
td,th{border:1px solid #ddd;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f4f4f4} td.n{text-align:right;font-variant-numeric:tabular-nums}
.notice{background:#fff7d6;border:1px solid #e8d48a;padding:8px 12px;border-radius:4px}
.deny{color:#b00020} .needs_approval{color:#a65e00} .allow{color:#1b6e20}
.ok{color:#1b6e20;font-weight:600} .bad{color:#b00020;font-weight:600}
figure{margin:12px 0} figcaption{font-size:12px;color:#555} img{max-width:100%}
"""


def _e(x: object) -> str:
    return html.escape(str(x))


def _html(report: ReportInput, images: Sequence[tuple[str, str, str]]) -> str:
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>{_e(report.title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(report.title)}</h1>",
    ]
    if report.notice:
        parts.append(f"<p class=notice id=notice>{_e(report.notice)}</p>")
    for note in report.notes:
        parts.append(f"<p>{_e(note)}</p>")
    parts.append(_outcomes(report))
    if report.grades:
        parts.append(_grades(report))
    if report.regression is not None:
        parts.append(_regression(report.regression))
    if report.whatif is not None:
        parts.append(_whatif(report.whatif))
    parts.append("<h2>Plots</h2>")
    for name, caption, data in images:
        parts.append(
            f'<figure><img alt="{_e(caption)}" data-file="{_e(name)}" '
            f'src="data:image/png;base64,{data}"><figcaption>{_e(caption)} '
            f"({_e(name)})</figcaption></figure>"
        )
    parts.append(_actions(report))
    parts.append("</body></html>")
    return "\n".join(parts)


def _outcomes(report: ReportInput) -> str:
    rows = []
    for run in report.runs:
        t = run.totals
        s = run.series
        rows.append(
            f"<tr><td>{_e(run.label)}</td><td>{_e(run.planner)}</td><td>{_e(run.policy_version)}</td>"
            f"<td class=n>{s.ticks:,}</td><td class=n>{t.gpu_hours:,.1f}</td>"
            f"<td class=n>{t.cost_usd:,.2f}</td><td class=n>{t.slo_attainment:.2%}</td>"
            f"<td class=n>{t.queue_delay_p95_seconds:.2f} s</td><td class=n>{s.applied:,}</td>"
            f"<td class=n>{s.decisions['allow']:,}</td><td class=n>{s.decisions['deny']:,}</td>"
            f"<td class=n>{s.decisions['needs_approval']:,}</td></tr>"
        )
    head = (
        "<tr><th>run</th><th>planner</th><th>policy</th><th>ticks</th><th>GPU-hours</th>"
        "<th>cost (USD)</th><th>SLO attained</th><th>p95 queue delay (max)</th><th>applied</th>"
        "<th>allowed</th><th>denied</th><th>needs approval</th></tr>"
    )
    return f"<h2>Outcome</h2><table id=outcome>{head}{''.join(rows)}</table>"


def _grades(report: ReportInput) -> str:
    rows = "".join(
        f"<tr><td>{_e(g.run)}</td><td>{_e(g.criterion)}</td><td class=n>{_e(g.value)}</td>"
        f"<td>{_e(g.target)}</td><td class={'ok' if g.passed else 'bad'}>"
        f"{'handled' if g.passed else 'not handled'}</td></tr>"
        for g in report.grades
    )
    return (
        "<h2>Incident grade</h2><table id=grades><tr><th>run</th><th>criterion</th>"
        f"<th>value</th><th>target</th><th>result</th></tr>{rows}</table>"
    )


def _regression(r: RegressionReport) -> str:
    status = (
        "<span class=ok>zero differences</span>"
        if r.ok
        else (f"<span class=bad>{len(r.diffs)} difference(s)</span>")
    )
    rows = "".join(
        f"<tr><td class=n>{d.seq}</td><td>{_e(d.at)}</td><td>{_e(d.kind)}</td>"
        f"<td>{_e(d.detail)}</td></tr>"
        for d in r.diffs[:500]
    )
    return (
        f"<h2>Regression replay</h2><p id=regression>{r.compared} tick(s) re-planned and re-judged "
        f"under {_e(r.policy_version)}; {r.llm_ticks} with recorded LLM exchanges "
        f"({r.llm_rounds} rounds): {status}</p>"
        + (
            f"<table><tr><th>seq</th><th>at</th><th>kind</th><th>detail</th></tr>{rows}</table>"
            if rows
            else ""
        )
    )


def _whatif(w: WhatIfReport) -> str:
    rows = "".join(
        f"<tr><td class=n>{c.seq}</td><td>{_e(c.at)}</td><td>{_e(c.action)}</td>"
        f"<td class={_e(c.recorded)}>{_e(c.recorded)}</td>"
        f"<td class={_e(c.whatif)}>{_e(c.whatif)}</td>"
        f"<td>{_e(', '.join(c.rules))}</td><td>{'yes' if c.executed else ''}</td></tr>"
        for c in w.changes[:MAX_ACTION_ROWS]
    )
    counts = ", ".join(
        f"{d}: {w.recorded_counts.get(d, 0)} → {w.whatif_counts.get(d, 0)}"
        for d in ("allow", "needs_approval", "deny")
    )
    return (
        f"<h2>What-if: {_e(w.label)}</h2><p class=notice>{_e(w.notice)}</p>"
        f"<p>policy {_e(w.recorded_policy)} → {_e(w.whatif_policy)}; verdicts {counts}; "
        f"{len(w.changes)} action(s) judged differently</p>"
        "<table id=whatif><tr><th>seq</th><th>at</th><th>action</th><th>recorded</th>"
        f"<th>what-if</th><th>what-if rules</th><th>was executed</th></tr>{rows}</table>"
    )


def _actions(report: ReportInput) -> str:
    out = ["<h2>Actions</h2>"]
    for run in report.runs:
        rows = run.series.actions
        shown = rows[:MAX_ACTION_ROWS]
        body = "".join(
            f"<tr><td class=n>{a.seq}</td><td>{a.at:%Y-%m-%d %H:%M}</td><td>{_e(a.what)}</td>"
            f"<td>{_e(a.planner)}</td><td class={_e(a.decision)}>{_e(a.decision)}</td>"
            f"<td>{_e(a.rules)}</td><td>{_e(a.approver)}</td><td>{_e(a.result)}</td>"
            f"<td>{_e(a.reason[:160])}</td></tr>"
            for a in shown
        )
        more = (
            f"<p>{len(rows) - len(shown):,} more in actions.csv</p>"
            if len(rows) > len(shown)
            else ""
        )
        out.append(
            f"<h3>{_e(run.label)}: {len(rows):,} proposal(s)</h3>"
            "<table class=actions><tr><th>seq</th><th>at (UTC)</th><th>action</th><th>planner</th>"
            "<th>verdict</th><th>rules</th><th>approver</th><th>result</th><th>reason</th></tr>"
            f"{body}</table>{more}"
        )
    return "\n".join(out)
