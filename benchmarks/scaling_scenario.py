"""The scenario each planner runs in the scaling benchmark: the base scenario with the
benchmark's cold start and attainment target, the planner under test (the forecast
planner with `--forecast-config`), its policy (`planners_only.yaml` unless told), and
with `--trace` every model's trace replaced by one file, scaled to the model's own mean
rate or (as the suite does) its peak. `scaling.py` runs what this builds."""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from gpusteward.app.scenario import Scenario, load_scenario
from gpusteward.core.errors import InputError
from gpusteward.sim.spec import TraceFormat
from gpusteward.sim.trace_rates import detect_format
from gpusteward.sim.traces import RateTable, load_trace_data


def mean_rate(path: Path, fmt: TraceFormat) -> float:
    data = load_trace_data(path, fmt)
    if isinstance(data, RateTable):
        return float(data.rates.mean())
    return len(data.times) / data.duration_seconds


def peak_rate(path: Path, fmt: TraceFormat, tick: float = 60.0) -> float:
    """The highest rate over the trace's windows. A request trace's windows are the
    daemon's ticks: its arrivals are not averaged over 10 minutes as a rate table's are,
    and Azure's code trace peaks at 2.9x its highest 10-minute rate within a minute, so
    scaled to 10-minute peaks it asked for more than the cluster holds (static peak
    attained 44 %, the oracle 43 %; scaled to its busiest minute, 92 % and 89 %: its
    arrivals within a second, up to 26x its mean, still exceed what any replica count
    serves within m-large's 2 s queueing SLO)."""
    data = load_trace_data(path, fmt)
    if isinstance(data, RateTable):
        return float(data.rates.max())
    bins = np.arange(0.0, data.duration_seconds + tick, tick)
    return float(np.histogram(data.times, bins)[0].max()) / tick


PLANNERS_ONLY = Path(__file__).resolve().parent / "planners_only.yaml"


def _policy(choice: str | None, scenario_policy: str) -> str:
    """planners-only (the default), the scenario's own pack ("default"), or a file."""
    if choice in (None, "planners-only"):
        return str(PLANNERS_ONLY)
    if choice == "default":
        return scenario_policy
    path = Path(choice).resolve()
    if not path.is_file():
        raise SystemExit(
            f"--policy {choice}: no such file. Fix: planners-only, default, or a policy YAML path."
        )
    return str(path)


def prepare_scenario(args: argparse.Namespace, planner: str) -> Scenario:
    base = load_scenario(args.scenario)
    models = []
    for m in base.models:
        update: dict[str, Any] = {
            "cold_start_seconds": float(args.cold_start),
            "slo": m.slo.model_copy(update={"attainment_target": args.attainment}),
        }
        if args.trace:
            path = Path(args.trace).resolve()
            # to the model's own mean rate; to its peak (what the cluster and the replica
            # bounds were sized for) with `scale_to: peak`, as the suite does
            peak = getattr(args, "scale_to", "mean") == "peak"
            rate = partial(peak_rate, tick=base.tick_seconds) if peak else mean_rate
            target = rate(m.trace.file, m.trace.format) * m.trace.scale
            try:
                fmt = args.format or detect_format(path)
                scale = target / max(rate(path, fmt), 1e-9)
            except InputError as e:
                raise InputError(f"--trace {e}") from None
            update["trace"] = m.trace.model_copy(
                update={"file": path, "format": fmt, "scale": scale}
            )
        models.append(m.model_copy(update=update))
    duration = getattr(args, "duration", None) or f"{args.days}d"
    if getattr(args, "warm_start", False):
        models = [_warm(m) for m in models]
    return Scenario.model_validate(
        {
            **base.model_dump(),
            "models": [m.model_dump() for m in models],
            "duration": duration,
            "seed": base.seed if args.seed is None else args.seed,
            "policy": _policy(args.policy, base.policy),
            "planner": {"kind": planner, **(args.forecast_config if planner == "forecast" else {})},
            # Only the forecast planner reads forecasts; the others keep the fast last value.
            "forecaster": {"kind": args.forecaster if planner == "forecast" else "last-value"},
        }
    )


def _warm(m: Any) -> Any:
    """The model starting with the replicas its first 10 minutes need at 70 % of its
    profile's mean throughput (a cluster that was already serving): in a one-hour run a
    cold start from the scenario's replicas would decide the figures, not the planner."""
    data = load_trace_data(m.trace.file, m.trace.format)
    if isinstance(data, RateTable):
        rate = float(data.rates[0]) * m.trace.scale
    else:
        rate = float(np.sum(data.times < 600.0)) / 600.0 * m.trace.scale
    per = float(np.mean(list(m.profile.throughput_rps.values()))) * 0.7
    need = int(np.ceil(rate / per)) if per > 0 else m.replicas
    return m.model_copy(update={"replicas": max(m.min_replicas, min(m.max_replicas, need))})
