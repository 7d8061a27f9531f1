"""The load what-if as one self-contained HTML page (PNGs inlined as data URIs, and also
written beside it): the answer, each model's load against its capacity and the capacity
that would hold its SLO, SLO attainment over the trailing 10 minutes, GPUs held against
GPUs needed and the cluster's size, free GPUs per pool, and the limits that bind.
File output only; matplotlib draws off-screen (Agg)."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from gpusteward.app.whatif.answer import MISS_WINDOW_SECONDS, WhatIfAnswer, summary_lines
from gpusteward.app.whatif.load import WhatIfRun

_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:1150px;margin:2em auto;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;"
    "text-align:right}td:first-child,th:first-child{text-align:left}"
    ".verdict{font-size:1.1em;padding:.6em;border-left:4px solid #d62728;background:#fbeaea}"
    ".holds{border-color:#2ca02c;background:#eaf6ea}"
)


def _e(x: object) -> str:
    return html.escape(str(x))


def _axes(title: str) -> tuple[Figure, Any]:
    fig, ax = plt.subplots(figsize=(11, 3.4), layout="constrained")
    ax.set_title(title, fontsize=10)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M"))  # type: ignore[no-untyped-call]
    ax.grid(alpha=0.3)
    return fig, ax


def _mark_misses(ax: Any, a: WhatIfAnswer, key: str | None = None) -> None:
    for m in a.misses:
        if key is None or m.key == key:
            ax.axvline(m.at, color="#d62728", ls="--", lw=1)


def _load(run: WhatIfRun, a: WhatIfAnswer, key: str) -> Figure:
    s = run.outcome.series.models[key]
    need = run.needs[key]
    spec = next(m for m in run.scenario.models if m.key == key)
    per = spec.profile.throughput_rps[need.gpu_type]
    fig, ax = _axes(f"{key}: arrivals, capacity of the run, capacity that holds the SLO")
    ax.plot(s.at, s.load_rps, color="#444", lw=0.7, label=f"arrivals at {a.load:g}x (req/s)")
    ax.plot(s.at, s.capacity_rps, color="#1f77b4", drawstyle="steps-post", label="capacity (run)")
    ax.plot(
        need.at,
        [r * per for r in need.replicas],
        color="#2ca02c",
        drawstyle="steps-post",
        label=f"raw capacity of the replicas needed ({need.gpu_type})",
    )
    ax.axvline(a.start, color="#999", lw=0.8)
    _mark_misses(ax, a, key)
    ax.set_ylabel("req/s")
    ax.legend(loc="upper left", fontsize=8)
    return fig


def _attainment(run: WhatIfRun, a: WhatIfAnswer) -> Figure:
    fig, ax = _axes(f"SLO attainment over the trailing {MISS_WINDOW_SECONDS / 60:.0f} minutes")
    n = max(1, round(MISS_WINDOW_SECONDS / run.scenario.tick_seconds))
    facts = run.facts
    for key, target in a.targets.items():
        xs, ys = [], []
        for i in range(n, len(facts)):
            done = facts[i].done.get(key, 0) - facts[i - n].done.get(key, 0)
            if done > 0:
                xs.append(facts[i].at)
                ys.append((facts[i].within.get(key, 0) - facts[i - n].within.get(key, 0)) / done)
        line = ax.plot(xs, ys, lw=0.8, label=key)
        ax.axhline(target, color=line[0].get_color(), ls=":", lw=0.8)
    ax.axvline(a.start, color="#999", lw=0.8)
    _mark_misses(ax, a)
    ax.set_ylim(max(0.0, min(a.targets.values(), default=0.9) - 0.2), 1.005)
    ax.legend(loc="lower left", fontsize=8)
    return fig


def _gpus(run: WhatIfRun, a: WhatIfAnswer) -> Figure:
    fig, ax = _axes("GPUs: held by the run, needed to hold the SLO, in the cluster")
    ax.plot(
        [f.at for f in run.facts],
        [sum(f.gpus.values()) for f in run.facts],
        drawstyle="steps-post",
        label="held by the run",
    )
    needs = list(run.needs.values())
    if needs:
        ax.plot(
            needs[0].at,
            [
                sum(n.replicas[i] * n.gpus_per_replica for n in needs)
                for i in range(len(needs[0].at))
            ],
            drawstyle="steps-post",
            color="#2ca02c",
            label="needed to hold the SLO",
        )
    ax.axhline(sum(a.cluster_gpus_by_type.values()), color="#d62728", lw=0.8, label="cluster")
    if a.oracle is not None:
        ax.axhline(a.oracle.peak_gpus, color="#9467bd", ls=":", label="oracle's peak")
    ax.axvline(a.start, color="#999", lw=0.8)
    ax.legend(loc="upper left", fontsize=8)
    return fig


def _pools(run: WhatIfRun, a: WhatIfAnswer) -> Figure:
    fig, ax = _axes("free healthy GPUs per pool")
    for pool in sorted({p for f in run.facts for p in f.pool_free}):
        ax.plot(
            [f.at for f in run.facts],
            [f.pool_free.get(pool, 0) for f in run.facts],
            drawstyle="steps-post",
            label=pool,
        )
    if a.pool_out is not None:
        ax.axvline(a.pool_out.at, color="#d62728", ls="--", lw=1)
    ax.axvline(a.start, color="#999", lw=0.8)
    ax.legend(loc="upper left", fontsize=8)
    return fig


def _tokens(a: WhatIfAnswer, key: str) -> str:
    k = a.tokens.get(key)
    if k is None or k.ttft_p50_seconds is None or k.ttft_p95_seconds is None:
        return "-"
    usd = k.cost_per_million("output")
    money = f", {usd:,.2f}" if usd is not None else ""
    return _e(f"{k.ttft_p50_seconds:.2f} s / {k.ttft_p95_seconds:.2f} s{money}")


def _tables(a: WhatIfAnswer) -> str:
    misses = {m.key: m for m in a.misses}
    rows = "".join(
        f"<tr><td>{_e(n.key)}</td><td>{a.attainment.get(n.key, 1.0):.2%}</td>"
        f"<td>{a.targets[n.key]:.0%}</td>"
        f"<td>{_e(f'{misses[n.key].at:%m-%d %H:%M}') if n.key in misses else '-'}</td>"
        f"<td>{n.peak_replicas} x {_e(n.gpu_type)}</td><td>{n.max_replicas}</td>"
        f"<td>{n.peak_gpus}</td><td>{n.gpu_hours:,.1f}</td><td>{n.cost_usd:,.2f}</td>"
        f"<td>{_tokens(a, n.key)}</td></tr>"
        for n in a.needs
    )
    models = (
        "<table><tr><th>model</th><th>SLO attained</th><th>target</th><th>first miss</th>"
        "<th>replicas needed (peak)</th><th>max_replicas</th><th>GPUs needed</th>"
        "<th>GPU-hours needed</th><th>USD needed</th>"
        f"<th>TTFT p50 / p95, USD per 1M out (run)</th></tr>{rows}</table>"
    )
    limits = "".join(
        f"<tr><td>{_e(b.kind)}</td><td>{_e(b.limit)}</td><td>{b.count}</td>"
        f"<td>{_e(f'{b.first_at:%m-%d %H:%M}') if b.first_at else '-'}</td>"
        f"<td>{_e(b.example)}</td></tr>"
        for b in a.bindings
    )
    binding = (
        "<table><tr><th>kind</th><th>limit</th><th>times</th><th>first</th><th>example</th></tr>"
        f"{limits}</table>"
        if limits
        else "<p>No limit binds.</p>"
    )
    return f"<h2>Per model</h2>{models}<h2>Limits that bind</h2>{binding}"


def write_whatif_page(run: WhatIfRun, a: WhatIfAnswer, out: Path) -> Path:
    """Write `index.html` and its PNGs into `out`; returns the page's path."""
    out.mkdir(parents=True, exist_ok=True)
    figures = [
        (f"load_{re.sub(r'[^a-z0-9]+', '-', key.lower())}.png", _load(run, a, key))
        for key in sorted(run.needs)
    ]
    figures += [
        ("attainment.png", _attainment(run, a)),
        ("gpus.png", _gpus(run, a)),
        ("pools.png", _pools(run, a)),
    ]
    images = []
    for name, fig in figures:
        path = out / name
        fig.savefig(path, dpi=80)
        plt.close(fig)
        images.append(
            f'<img alt="{_e(name)}" src="data:image/png;base64,'
            f'{base64.b64encode(path.read_bytes()).decode()}">'
        )
    lines = summary_lines(a)
    verdict = f'<p class="verdict{" holds" if a.holds else ""}">{_e(lines[0])}</p>'
    rest = "".join(f"<p>{_e(line)}</p>" for line in lines[1:])
    title = f"What if the load were {a.load:g}x: {a.source}"
    page = out / "index.html"
    page.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{_e(title)}</title>"
        f"<style>{_CSS}</style></head><body><h1>{_e(title)}</h1>"
        "<p><em>Simulated: nothing was executed against a real cluster. The grey line marks "
        "the window's start (the hour before is a warm-up at the same load, not judged); red "
        "dashes mark first SLO misses.</em></p>"
        f"{verdict}{rest}{_tables(a)}<h2>Plots</h2>{''.join(images)}</body></html>",
        encoding="utf-8",
    )
    return page
