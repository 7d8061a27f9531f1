"""What the forecast-aware planner learns from each tick and keeps per deployment.

`DeploymentMemory` holds it (small; written into the daemon's checkpoint as data); the
functions update it: `score_past` scores each forecast when its target arrives and
measures the load's volatility and state, `spend_budget` is the error-budget controller
(misses against the SLO's budget move the headroom quantile, then a margin over the live
load), `outage_demand` the demand during and just after a stretch of no traffic,
`note_losses` whether ready replicas were lost. `agents.forecast_aware` explains why each
exists and how the planner uses it. Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
from array import array
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from agents.forecast_config import ForecastPlannerConfig
from agents.load_stats import volatility
from gpusteward.core.cluster import ModelDeployment, ReplicaPhase, ServingMetrics


@dataclass
class DeploymentMemory:
    """Per deployment: forecasts awaiting their actual, recent errors, last change."""

    pending: deque[tuple[datetime, float, int, float]] = field(default_factory=deque)
    observed: deque[tuple[datetime, float]] = field(default_factory=deque)
    errors: deque[tuple[datetime, float, int]] = field(default_factory=deque)
    smoothed: deque[tuple[datetime, float]] = field(default_factory=deque)
    state: int = 0  # which drop bucket the load is in now
    sigma: float = 1.0  # the load's recent volatility (1.0 while it is not measured)
    levels_from: datetime | None = None  # the level history restarts here (an outage)
    drop: float = 0.0  # log(load / its recent peak)
    last_change: datetime | None = None
    quantile_shift: float = 0.0  # the SLO feedback's correction to the quantile
    margin: float = 0.0  # the SLO feedback's margin over the live load
    typical_requests: float = 0.0  # requests per tick, a slow moving mean
    zero_since: datetime | None = None  # no traffic since
    level_before: float = 0.0  # the load before the current stretch of no traffic
    resume_until: datetime | None = None
    resume_level: float = 0.0
    # Per minute of the phase period: recent log rises of the load there, in 1/1000.
    phase: dict[int, array[int]] = field(default_factory=dict)
    phase_base: int | None = None  # replicas when a phase pre-warm began
    drain_base: int | None = None  # replicas when a scale-up to drain a queue began
    feedback_ticks: int = 0  # ticks the error-budget controller has seen requests in
    mean_requests: float = 0.0  # requests per tick, a running mean over the first day
    ready: int = 0  # ready replicas at the last tick
    desired: int = 0  # desired replicas at the last tick (0: not seen yet)
    loss_until: datetime | None = None  # ready replicas were lost; the queue-ahead floor


def quantile_level(
    cfg: ForecastPlannerConfig, d: ModelDeployment, mem: DeploymentMemory | None = None
) -> float:
    """The headroom quantile: the config's, or from the SLO; plus the controller's shift."""
    if cfg.quantile is not None:
        base = cfg.quantile
    else:
        base = 1 - (1 - d.slo.attainment_target) * cfg.quantile_per_miss
    shift = mem.quantile_shift if mem is not None else 0.0
    return min(cfg.max_quantile, max(cfg.min_quantile, base + shift))


def spend_budget(
    cfg: ForecastPlannerConfig,
    mem: DeploymentMemory,
    d: ModelDeployment,
    m: ServingMetrics,
    interval: float,
) -> None:
    """The error-budget controller: misses raise the quantile, spare budget lowers it;
    past `margin_above_quantile` (or always, acting on the margin) they move the margin."""
    if not cfg.slo_feedback or m.slo_attainment is None:
        return
    done = m.served_rate_rps * interval + m.dropped
    if done <= 0:
        return
    # The controller's scale: a slow mean (about a day of ticks) from the first tick
    # with requests, kept within x0.5-2 of a plain running mean over the first day,
    # so a first tick's trickle (or burst) cannot set it 100 times off for a day.
    if mem.feedback_ticks == 0 and mem.typical_requests > 0:
        mem.feedback_ticks = 1440  # restored from a checkpoint made before the count
        mem.mean_requests = mem.typical_requests
    mem.feedback_ticks += 1
    if mem.typical_requests <= 0:
        mem.typical_requests = done
    mem.typical_requests += (done - mem.typical_requests) / 1440
    mem.mean_requests += (done - mem.mean_requests) * max(1 / 1440, 1 / mem.feedback_ticks)
    scale = min(2 * mem.mean_requests, max(0.5 * mem.mean_requests, mem.typical_requests))
    misses = (1.0 - m.slo_attainment) * done
    budget = (1.0 - d.slo.attainment_target) * cfg.feedback_budget_share
    excess = (misses - budget * done) / scale
    base = quantile_level(cfg, d)  # without the shift
    top, chained = cfg.max_quantile, cfg.margin_above_quantile
    if chained is not None:  # never under a quantile the config names
        top = max(min(top, chained), base)
    at_top = excess > 0 and base + mem.quantile_shift >= top - 1e-9
    if cfg.feedback_acts_on == "margin" or (chained is not None and (mem.margin > 0 or at_top)):
        # The margin takes the misses (past the top), and gives back before the quantile.
        gain = cfg.margin_gain if cfg.feedback_acts_on == "margin" else cfg.chained_margin_gain
        mem.margin = min(cfg.max_feedback_margin, max(0.0, mem.margin + gain * excess))
        return
    # Anti-windup: the shifted quantile stays inside its bounds.
    shift = mem.quantile_shift + cfg.feedback_gain * excess
    mem.quantile_shift = min(top - base, max(cfg.min_quantile - base, shift))


def outage_demand(
    cfg: ForecastPlannerConfig,
    mem: DeploymentMemory,
    at: datetime,
    m: ServingMetrics,
    ahead: float,
    source: str,
) -> tuple[float, str]:
    """Demand during and just after a stretch of no traffic at all."""
    if cfg.outage_after_seconds <= 0:
        return ahead, source
    if m.arrival_rate_rps <= 0 and m.queue_depth == 0:
        if mem.zero_since is None:
            mem.zero_since = at
            earlier = [r for t, r in mem.observed if t < at and r > 0][-10:]
            mem.level_before = sum(earlier) / len(earlier) if earlier else 0.0
        quiet = (at - mem.zero_since).total_seconds()
        if quiet >= cfg.outage_after_seconds:
            return 0.0, f"outage: no traffic for {quiet:.0f} s"
        return ahead, source
    if mem.zero_since is not None:
        quiet = (at - mem.zero_since).total_seconds()
        if quiet >= cfg.outage_after_seconds and mem.level_before > 0:
            mem.resume_until = at + timedelta(seconds=cfg.resume_hold_seconds)
            mem.resume_level = mem.level_before
            restart_levels(mem, at)  # the outage is not the load's volatility
        mem.zero_since = None
    if mem.resume_until is not None:
        if at >= mem.resume_until or m.arrival_rate_rps >= 0.5 * mem.resume_level:
            mem.resume_until = None  # the load is back (or did not come back)
            restart_levels(mem, at)  # nor is the step back from a trickle to it
        elif mem.resume_level > ahead:
            return mem.resume_level, (
                f"resuming after an outage: {mem.resume_level:.2f} req/s before it"
            )
    return ahead, source


def score_past(
    cfg: ForecastPlannerConfig, mem: DeploymentMemory, at: datetime, rate: float, interval: float
) -> None:
    """Log ratio of the observed rate (its mean within `score_smoothing_ticks` ticks of
    the target time) to each forecast made for that time."""
    reach = timedelta(seconds=cfg.score_smoothing_ticks * interval + 1e-3)
    mem.observed.append((at, rate))
    while mem.observed and mem.observed[0][0] < at - 2 * reach - timedelta(hours=1):
        mem.observed.popleft()
    due_by = at + timedelta(seconds=1e-3)
    due = [e for e in mem.pending if e[0] + reach <= due_by]  # in any order
    if due:
        mem.pending = deque(e for e in mem.pending if e[0] + reach > due_by)
    for target, predicted, state, *more in due:
        sigma = more[0] if more else mem.sigma  # a checkpoint from before the scaling
        near = [r for t, r in mem.observed if abs(t - target) <= reach]
        actual = sum(near) / len(near) if near else 0.0
        if predicted > 0 and actual > 0:
            mem.errors.append((at, math.log(actual / predicted) / sigma, state))
    keep = max(cfg.error_window_seconds, cfg.state_error_window_seconds)
    horizon = at - timedelta(seconds=keep)
    while mem.errors and mem.errors[0][0] < horizon:
        mem.errors.popleft()
    # The state: the load (mean of the last 5 ticks) against its recent peak.
    since = mem.levels_from
    last = [r for t, r in list(mem.observed)[-5:] if since is None or t >= since]
    level = sum(last) / len(last) if last else rate
    mem.smoothed.append((at, level))
    while mem.smoothed and mem.smoothed[0][0] <= at - timedelta(seconds=cfg.peak_window_seconds):
        mem.smoothed.popleft()
    peak = max(v for _, v in mem.smoothed)
    mem.sigma = (
        volatility(mem.smoothed, cfg.volatility_lag_seconds, cfg.volatility_floor)
        if cfg.volatility_scaled
        else 1.0  # also when a checkpoint made with scaling on is restored with it off
    )
    mem.drop = math.log(level / peak) if level > 0 and peak > 0 else 0.0
    mem.state = sum(1 for b in cfg.drop_buckets if mem.drop > b)


def unmeasured(m: ServingMetrics) -> bool:
    """Metrics with no traffic, no queue and no capacity: what a cluster reports before an
    interval has been measured (a simulator at its first instant). On a deployment the
    planner has not seen before, that is no information (it scaled 4 replicas down to 2 at
    the start of the quickstart day, whose load needs 10), not a decision to scale down."""
    return m.arrival_rate_rps <= 0 and m.queue_depth == 0 and m.capacity_rps <= 0


def note_losses(mem: DeploymentMemory, d: ModelDeployment, at: datetime) -> bool:
    """Whether ready replicas were lost (fewer ready than last tick, by more than the
    scale-down since) within the last cold start: a node preempted, a GPU failed."""
    ready = d.count(ReplicaPhase.READY)
    if mem.desired and mem.ready - ready > max(0, mem.desired - d.replicas):
        mem.loss_until = at + timedelta(seconds=d.cold_start_seconds)
    mem.ready, mem.desired = ready, d.replicas
    return mem.loss_until is not None and at < mem.loss_until


def restart_levels(mem: DeploymentMemory, at: datetime) -> None:
    """Forget the level history (recent peak, volatility) before `at`."""
    mem.smoothed.clear()
    mem.levels_from = at
