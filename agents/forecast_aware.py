"""The forecast-aware planner: replicas ready for the load one cold start ahead.

Per deployment, each tick:
1. Forecast demand: the highest point forecast until a replica started now would be
   ready (cold start + one tick), times a headroom: the `quantile` of the recent ratios
   of observed load (its mean over a few ticks, so burst noise is not counted) to what
   was forecast for it at that lead (the forecast's own band until enough have been
   seen). The quantile follows the SLO: 1 - (1 - attainment) x 20, clamped to
   [0.8, 0.99], unless the config names one.
2. Reactive floor: never fewer replicas than the live load (arrivals + queue drain) needs
   at the learned per-replica capacity at SLO, with `floor_headroom`.
3. Scale up at once, by at most x2 or +4 a tick as HPA (one big step would need a
   person's approval; a rise ahead is a pre-warm, and the reason says so); scale down
   only when the target is below the current count by more than `hysteresis`, after
   `min_dwell_seconds` since the last change, and by at most `max_step_down` replicas.
Per-replica capacity at SLO is learned online (`CapacityModel(at_slo=True)`: raw
throughput from observed capacity, burstiness from per-tick arrivals, and the highest
utilisation at which the SLO holds from `agents.slo_capacity`). State is small and pickles.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

import numpy as np
from pydantic import Field

from agents.capacity import CapacityModel, Priors
from agents.scaling import ev, live_demand, scale_proposal
from gpusteward.core.actions import Proposal
from gpusteward.core.cluster import ClusterSnapshot, ModelDeployment, ServingMetrics
from gpusteward.core.load import Forecast
from gpusteward.core.model import Frozen


class ForecastPlannerConfig(Frozen):
    kind: Literal["forecast"] = "forecast"
    quantile: float | None = Field(
        default=None, gt=0.5, lt=1, description="Headroom quantile; default from the SLO."
    )
    quantile_per_miss: float = Field(
        default=20.0,
        gt=0,
        description="Default quantile = 1 - (1 - attainment) x this (0.9 for a 99.5 % SLO): "
        "the headroom covers forecast error only; bursts are in the capacity at SLO.",
    )
    min_error_samples: int = Field(default=60, ge=1, description="Before: the forecast's band.")
    error_window_seconds: float = Field(default=6 * 3600.0, gt=0)
    max_headroom: float = Field(default=2.0, ge=1, description="Cap on the headroom factor.")
    floor_headroom: float = Field(
        default=0.0, ge=0, description="Over the live load (bursts are in the SLO capacity)."
    )
    capacity_at_slo: bool = Field(
        default=True, description="Size for capacity at SLO (False: raw throughput)."
    )
    score_smoothing_ticks: int = Field(
        default=2,
        ge=0,
        description="A forecast is scored against the mean observed rate within this many "
        "ticks of its target time, so the tick-to-tick burst noise (already covered by the "
        "capacity at SLO) is not counted twice as forecast error.",
    )
    hysteresis: float = Field(default=0.15, ge=0, lt=1, description="Share of current replicas.")
    min_dwell_seconds: float = Field(default=600.0, ge=0)
    max_step_down: int = Field(default=2, ge=1)
    max_scale_up_factor: float = Field(
        default=2.0, ge=1, description="Per tick at most x this or + max_scale_up_pods (HPA)."
    )
    max_scale_up_pods: int = Field(default=4, ge=1)


@dataclass
class _Memory:
    """Per deployment: forecasts awaiting their actual, recent errors, last change."""

    pending: deque[tuple[datetime, float]] = field(default_factory=deque)
    observed: deque[tuple[datetime, float]] = field(default_factory=deque)
    errors: deque[tuple[datetime, float]] = field(default_factory=deque)
    last_change: datetime | None = None


class ForecastPlanner:
    name = "forecast"

    def __init__(self, config: ForecastPlannerConfig | None = None, priors: Priors | None = None):
        self.config = config or ForecastPlannerConfig()
        self.capacity = CapacityModel(priors, at_slo=self.config.capacity_at_slo)
        self._memory: dict[str, _Memory] = {}

    def plan(self, snapshot: ClusterSnapshot, forecasts: Mapping[str, Forecast]) -> list[Proposal]:
        self.capacity.observe(snapshot)
        out = []
        for d in snapshot.deployments:
            m = snapshot.metrics.get(d.key)
            if d.retired or m is None:
                continue
            p = self._plan_one(snapshot, d, m, forecasts.get(d.key))
            if p is not None:
                out.append(p)
        return out

    def _plan_one(
        self, snap: ClusterSnapshot, d: ModelDeployment, m: ServingMetrics, f: Forecast | None
    ) -> Proposal | None:
        cfg, mem = self.config, self._memory.setdefault(d.key, _Memory())
        lead = d.cold_start_seconds + snap.interval_seconds
        self._score_past(mem, snap.at, m.arrival_rate_rps, snap.interval_seconds)
        live = live_demand(m, snap.interval_seconds)
        floor = self.capacity.replicas_for(snap, d, live * (1 + cfg.floor_headroom))
        level = self._level(d)
        ahead, headroom, source = self._forecast_demand(mem, f, lead, level, snap.at)
        wanted = self.capacity.replicas_for(snap, d, ahead * headroom) if ahead else 0
        target = max(floor, wanted, d.min_replicas)
        desired, why = self._damped(mem, snap.at, d, target)
        evidence = [
            ev("forecast_peak", ahead, "req/s"),
            ev("headroom", headroom),
            ev("headroom_from", source),
            ev("quantile", level),
            ev("live_demand", live, "req/s"),
            ev("floor_replicas", floor),
            ev("forecast_replicas", wanted),
            ev("capacity_per_replica", self.capacity.mean_per_replica(d.key), "req/s"),
            ev("lead_seconds", lead, "s"),
        ]
        if desired > d.replicas:
            why = (
                f"pre-warm: forecast {ahead:.2f} req/s x{headroom:.2f} within {lead:.0f} s"
                if wanted >= floor and ahead > live
                else f"live load {live:.2f} req/s above capacity"
            )
        p = scale_proposal(self.name, snap.at, d, desired, why, evidence)
        if p is not None:
            mem.last_change = snap.at
        return p

    def _level(self, d: ModelDeployment) -> float:
        if self.config.quantile is not None:
            return self.config.quantile
        return min(
            0.99, max(0.8, 1 - (1 - d.slo.attainment_target) * self.config.quantile_per_miss)
        )

    def _forecast_demand(
        self, mem: _Memory, f: Forecast | None, lead: float, level: float, at: datetime
    ) -> tuple[float, float, str]:
        """(highest point forecast within `lead`, headroom factor, where it came from)."""
        if f is None or not f.points:
            return 0.0, 1.0, "no forecast"
        window = [p for p in f.points if (p.at - f.made_at).total_seconds() <= lead] or [
            f.points[0]
        ]
        peak = max(p.point for p in window)
        at_lead = f.at_or_after(lead) or window[-1]
        mem.pending.append((at_lead.at, at_lead.point))
        cfg = self.config
        if len(mem.errors) >= cfg.min_error_samples:
            ratio = float(np.exp(np.quantile([e for _, e in mem.errors], level)))
            source = f"q{level:.2f} of {len(mem.errors)} recent errors"
        else:
            top = max(window, key=lambda p: p.point)
            ratio = top.p90 / top.point if top.point > 0 else 1.0
            source = "forecast p90 band"
        return peak, min(cfg.max_headroom, max(1.0, ratio)), source

    def _score_past(self, mem: _Memory, at: datetime, rate: float, interval: float) -> None:
        """Log ratio of the observed rate (its mean within `score_smoothing_ticks` ticks of
        the target time) to each forecast made for that time."""
        reach = timedelta(seconds=self.config.score_smoothing_ticks * interval + 1e-3)
        mem.observed.append((at, rate))
        while mem.observed and mem.observed[0][0] < at - 2 * reach - timedelta(hours=1):
            mem.observed.popleft()
        while mem.pending and mem.pending[0][0] + reach <= at + timedelta(seconds=1e-3):
            target, predicted = mem.pending.popleft()
            near = [r for t, r in mem.observed if abs(t - target) <= reach]
            actual = sum(near) / len(near) if near else 0.0
            if predicted > 0 and actual > 0:
                mem.errors.append((at, math.log(actual / predicted)))
        horizon = at - timedelta(seconds=self.config.error_window_seconds)
        while mem.errors and mem.errors[0][0] < horizon:
            mem.errors.popleft()

    def _damped(
        self, mem: _Memory, at: datetime, d: ModelDeployment, target: int
    ) -> tuple[int, str]:
        cfg, current = self.config, d.replicas
        if target >= current:
            limit = max(
                math.ceil(current * cfg.max_scale_up_factor), current + cfg.max_scale_up_pods
            )
            return min(target, limit), "hold"
        if current - target <= max(0, math.floor(current * cfg.hysteresis)):
            return current, "inside the hysteresis band"
        if mem.last_change is not None and (at - mem.last_change).total_seconds() < (
            cfg.min_dwell_seconds
        ):
            return current, "minimum dwell"
        desired = max(target, current - cfg.max_step_down)
        return desired, f"forecast and live load need {target}; stepping down"
