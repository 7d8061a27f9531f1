"""Burstiness estimators against the truth, on the per-tick counts the simulator draws.

Each series is a model of a shipped scenario (the model zoo's 52 ServeGen clients and
groups, servegen-14d's two totals, quickstart) or a suite trace (the four client halves,
scaled as `scaling.py --suite` scales them): its per-tick counts are drawn as the
simulator draws them (`ArrivalTrace.arrivals`, 60 s ticks, a fixed seed) and fed to each
estimator of `agents.slo_capacity`. At every tick after the first `min_samples`, the
learned cv is set against the true one over the same window: the rate-weighted mean of
the trace windows' cv^2 (what the simulator draws with). Per series: the request-weighted
median and 10th / 90th percentiles of learned cv / true cv.

    python benchmarks/dispersion.py [--days 1] [--json]

With --json: the rows, and as `targets` (reported, none asked for by an issue) each
group's request-weighted median of learned / true cv per estimator.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from agents.slo_capacity import dispersion_estimator
from benchmarks.targets import target
from gpusteward.app.scenario import load_scenario
from gpusteward.sim.spec import TraceSpec
from gpusteward.sim.traces import ArrivalTrace, RateTable

ROOT = Path(__file__).resolve().parents[1]
HALVES = ("m-large-even", "m-large-odd", "m-mid-even", "m-mid-odd")
KINDS = ("median-pairs", "variogram")
TICK = 60.0
SEED = 11


@dataclass(frozen=True)
class Series:
    group: str
    name: str
    trace: TraceSpec


def series() -> list[Series]:
    out = [Series("zoo", m.key, m.trace) for m in load_scenario("model-zoo").models]
    base = load_scenario("servegen-14d")
    out += [Series("servegen-14d", m.key, m.trace) for m in base.models]
    out += [Series("quickstart", m.key, m.trace) for m in load_scenario("quickstart").models]
    for half in HALVES:
        model, part = half.rsplit("-", 1)
        path = ROOT / "benchmarks" / "traces" / f"servegen_{model}_{part}_total_rate_10min.csv"
        for m in base.models:  # scaled to the model's peak, as the suite does
            peak = _peak(m.trace) * m.trace.scale
            spec = m.trace.model_copy(update={"file": path, "format": "servegen-total"})
            spec = spec.model_copy(update={"scale": peak / _peak(spec)})
            out.append(Series(half, m.key, spec))
    return out


def _peak(spec: TraceSpec) -> float:
    data = ArrivalTrace(spec).data
    assert isinstance(data, RateTable)
    return float(data.rates.max())


@dataclass(frozen=True)
class Row:
    group: str
    series: str
    requests: float
    ratios: dict[str, list[float]]  # estimator -> learned / true cv at p10, p50, p90


def measure(s: Series, ticks: int) -> Row:
    trace = ArrivalTrace(s.trace)
    data = trace.data
    assert isinstance(data, RateTable)
    rng = np.random.default_rng(SEED)
    estimators = {k: dispersion_estimator(k) for k in KINDS}
    window = estimators[KINDS[0]].window
    means, c2s = np.zeros(ticks), np.zeros(ticks)
    ratios: dict[str, list[float]] = {k: [] for k in KINDS}
    weights: list[float] = []
    for t in range(ticks):
        at = t * TICK
        count = trace.arrivals(at, TICK, rng)
        means[t] = trace.expected(at, TICK)
        i = trace.window_at(at)
        cv = float(data.cvs[i]) if data.cvs is not None and i is not None else None
        c2s[t] = (s.trace.burstiness_cv if cv is None else cv) ** 2
        for e in estimators.values():
            e.observe("m", float(count))
        lo = max(0, t - window)
        mass = float(means[lo : t + 1].sum())
        if t < 40 or mass <= 0:
            continue
        true = math.sqrt(float((means[lo : t + 1] * c2s[lo : t + 1]).sum()) / mass)
        weights.append(means[t])
        for k, e in estimators.items():
            ratios[k].append(e.cv("m") / true if true > 0 else 1.0)
    w = np.array(weights)
    found = {k: _weighted_quantiles(np.array(r), w) for k, r in ratios.items() if r and w.sum() > 0}
    return Row(s.group, s.name, float(means.sum()), found)


def _weighted_quantiles(values: np.ndarray, weights: np.ndarray) -> list[float]:
    order = np.argsort(values)
    cum = np.cumsum(weights[order]) / weights.sum()
    return [round(float(values[order][np.searchsorted(cum, q)]), 3) for q in (0.1, 0.5, 0.9)]


def group_median(rows: list[Row], group: str, kind: str) -> float | None:
    """The median over `group`'s series of each one's median ratio, weighted by requests."""
    found = [(r.ratios[kind][1], r.requests) for r in rows if r.group == group and kind in r.ratios]
    if not found or sum(w for _, w in found) <= 0:
        return None
    values, weights = (np.array(c, dtype=float) for c in zip(*found, strict=True))
    return _weighted_quantiles(values, weights)[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--days", type=float, default=1.0, help="simulated days per series")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    ticks = int(args.days * 86_400 / TICK)
    rows = [measure(s, ticks) for s in series()]
    targets = [
        target(
            f"{group}: request-weighted median of learned / true cv, {kind}",
            value,
            "report (1 = right)",
            True,
        )
        for group in ("zoo", *HALVES)
        for kind in KINDS
        if (value := group_median(rows, group, kind)) is not None
    ]
    if args.json:
        print(
            json.dumps(
                {"benchmark": "dispersion", "rows": [asdict(r) for r in rows], "targets": targets}
            )
        )
        return 0
    heads = " | ".join(f"{k}: p10 / p50 / p90" for k in KINDS)
    print(f"| group | series | requests | {heads} |")
    print("|---|---|---:|" + "---|" * len(KINDS))
    for r in rows:
        cells = " | ".join(" / ".join(f"{v:.2f}" for v in r.ratios.get(k, [])) for k in KINDS)
        print(f"| {r.group} | {r.series} | {r.requests:,.0f} | {cells} |")
    for t in targets:
        print(f"{t['name']}: {t['value']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
