"""The forecast-aware planner: replicas ready for the load one cold start ahead.

Per deployment, each tick:
1. Forecast demand: the highest point forecast until a replica started now would be
   ready (cold start + one tick), times a headroom: the `quantile` of the ratios of
   observed load (its mean over a few ticks, so burst noise is not counted) to what was
   forecast for it at that lead, over the last day (the forecast's own band until
   enough have been seen). The headroom follows the load's volatility
   (`volatility_scaled`): each log ratio is kept divided by the volatility when its
   forecast was made (the RMS of 10-minute log changes of the load over the last
   hour), and the quantile of those is multiplied by the volatility now. Volatility
   clusters: on ServeGen m-large the 90th percentile 10-minute rise is 7 % after the
   calmest third of hours and 30 % after the choppiest, so a calm hour gets little
   headroom and a choppy one (often a drop the load comes back from) gets more. The
   quantile follows the SLO: 1 - (1 - attainment) x 40 (0.8 for 99.5 %) within
   [`min_quantile`, `max_quantile`], unless the config names one. (The older rule, errors
   made at a similar distance below the last hour's peak, is `conditional_headroom`.)
   Recurring ramps (`phase_prewarm`): for every minute of the hour the planner keeps
   the rises of the load seen there over the last week (mean over the 3 ticks from that
   minute against the 5 before). When the minutes within the lead have risen more than
   minutes in general (their 0.9 quantile against the pooled one), the forecast demand
   is raised by the difference, so the replicas are ready when a cron-like client
   starts; if the ramp does not come, the replicas started for it go at once (no
   hysteresis or dwell). On ServeGen m-large a quarter of the hours rise by more than
   22 % at half past, against 5-8 % at the other 10-minute boundaries, and those rises
   held half of the misses.
   The error-budget controller (`slo_feedback`) then spends what the budget has left:
   every tick the quantile moves by `feedback_gain` x (requests that missed the SLO -
   `feedback_budget_share` of the budget's share of the requests) / a typical tick's
   requests, so a model whose pre-warms leave budget unspent runs on a lower quantile
   (fewer GPU-hours) and one that misses gets a higher one. It aims at 90 % of the
   budget: it lags bursts of misses. On servegen-14d (m-large / m-mid, with the band and
   the drain release of 3.) that gives 99.52 % / 99.57 % at 1.19x / 1.18x the oracle
   (benchmarks/RESULTS.md).
   `feedback_acts_on: margin` moves a margin over the live load (the reactive floor)
   instead, by `margin_gain` per typical tick's worth of misses: stronger where the load
   jumps out of calm and every quantile of recent errors is small, dearer elsewhere.
   By default the two are chained (`margin_above_quantile`, 0.95): the quantile moves
   first, and once it is at 0.95 further misses grow the margin (`chained_margin_gain`);
   spare budget takes the margin back before the quantile comes down. On servegen-14d
   the quantile stays under 0.89, so the margin never starts; on a ServeGen client's
   trace, whose misses are jumps out of calm, the quantile sat above 0.95 for 60-70 % of
   the ticks and the misses stayed over budget there.
   Outages: after `outage_after_seconds` with no traffic at all the forecast is set
   aside (the load is observed to be zero; the forecaster treats such stretches as
   collection holes and keeps forecasting the old level); the first traffic after an
   outage pre-warms to the level before it, for `resume_hold_seconds` or until the
   load is back. The level history behind the volatility (and the recent peak)
   restarts then: an outage and the step back from it are not the load's volatility.
2. Reactive floor: never fewer replicas than the live load (arrivals + queue drain) needs
   at the learned per-replica capacity at SLO, with `floor_headroom`. The queue is the
   one replicas started now will find when ready (`drain_ahead`: arrivals against the
   ready and loading replicas over one cold start) for a cold start after ready replicas
   were lost, so a queue that grows while replacements load is drained in one interval
   once they are up.
3. Scale up at once, by at most x2 or +4 a tick as HPA (one big step would need a
   person's approval; a rise ahead is a pre-warm, and the reason says so); scale down
   only when the replicas kept still cover the demand x (1 + `demand_hysteresis`), after
   `min_dwell_seconds` since the last change, and by at most `max_step_down` replicas.
   Replicas started because a queue asked for more than the arrivals and the forecast
   (capacity lost, a jump) go at once when it has drained (`drain_release`), back to the
   count before it (or what the arrivals and forecast wanted then) or the target.
Per-replica capacity at SLO is learned online (`CapacityModel(at_slo=True)`: raw
throughput from observed capacity, burstiness from per-tick arrivals, and the highest
utilisation at which the SLO holds from `agents.slo_capacity`). State is small and pickles.
"""

from __future__ import annotations

import math
from array import array
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from agents.capacity import CapacityModel, Priors
from agents.forecast_config import ForecastPlannerConfig
from agents.load_stats import ramp_factor, record_rise, state_label, volatility
from agents.scaling import ev, live_demand, scale_proposal
from gpusteward.core.actions import Proposal
from gpusteward.core.cluster import ClusterSnapshot, ModelDeployment, ReplicaPhase, ServingMetrics
from gpusteward.core.load import Forecast


@dataclass
class _Memory:
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

    def __setstate__(self, state: dict[str, object]) -> None:
        # A checkpoint from before a field was added gets that field's default.
        self.__dict__.update({**_Memory().__dict__, **state})


class ForecastPlanner:
    name = "forecast"
    # (snapshot time, proposals) of the last call; a class default for checkpoints
    # pickled before it existed
    _last: tuple[datetime, tuple[Proposal, ...]] | None = None

    def __init__(self, config: ForecastPlannerConfig | None = None, priors: Priors | None = None):
        self.config = config or ForecastPlannerConfig()
        self.capacity = CapacityModel(priors, at_slo=self.config.capacity_at_slo)
        self._memory: dict[str, _Memory] = {}

    def plan(self, snapshot: ClusterSnapshot, forecasts: Mapping[str, Forecast]) -> list[Proposal]:
        if self._last is not None:
            at, proposals = self._last
            if snapshot.at == at:  # the same tick again: the same answer, learnt once
                return list(proposals)
            if snapshot.at < at:  # time went back (a restored clock): the per-deployment
                self._memory.clear()  # history no longer lines up; start it over
        self.capacity.observe(snapshot)
        out = []
        for d in snapshot.deployments:
            m = snapshot.metrics.get(d.key)
            if d.retired or m is None:
                continue
            if not self.capacity.knows(d.key):
                continue  # no capacity per replica yet: sizing would be a guess
            if d.key not in self._memory and _unmeasured(m):
                continue  # a first look before any interval was measured: no information
            p = self._plan_one(snapshot, d, m, forecasts.get(d.key))
            if p is not None:
                out.append(p)
        self._last = (snapshot.at, tuple(out))
        return out

    def _plan_one(
        self, snap: ClusterSnapshot, d: ModelDeployment, m: ServingMetrics, f: Forecast | None
    ) -> Proposal | None:
        cfg, mem = self.config, self._memory.setdefault(d.key, _Memory())
        lead = d.cold_start_seconds + snap.interval_seconds
        self._score_past(mem, snap.at, m.arrival_rate_rps, snap.interval_seconds)
        self._feedback(mem, d, m, snap.interval_seconds)
        live = live_demand(m, snap.interval_seconds)
        backlog, lost = 0.0, _note_losses(mem, d, snap.at)
        if cfg.drain_ahead == "always" or (cfg.drain_ahead == "after-loss" and lost):
            # the queue replicas started now will find when ready, drained in one interval
            backlog = self.capacity.backlog_at(snap, d, m, d.cold_start_seconds)
            live = max(live, m.arrival_rate_rps + backlog / max(snap.interval_seconds, 1.0))
        over = 1 + cfg.floor_headroom + mem.margin
        floor = self.capacity.replicas_for(snap, d, live * over)
        level = self._level(d, mem)
        if cfg.near_peak_quantile is not None and mem.drop > cfg.near_peak_drop:
            level = cfg.near_peak_quantile
        if f is not None and f.key != d.key:
            f = None  # filed under this deployment, made for another series
        ahead, headroom, source = self._forecast_demand(
            mem, f, lead, level, snap.at, snap.interval_seconds
        )
        ahead, source = self._outage(mem, snap.at, m, ahead, source)
        wanted = self.capacity.replicas_for(snap, d, ahead * headroom) if ahead else 0
        target = max(floor, wanted, d.min_replicas)
        demand = max(live * over, ahead * headroom)  # what `target` covers
        ramp, minute = self._phase_ramp(mem, snap.at, snap.interval_seconds, lead)
        raised = ahead * headroom * ramp if ramp > 1 else 0.0  # else it is `wanted`
        phased = self.capacity.replicas_for(snap, d, raised) if raised else 0
        if phased > target:  # a ramp recurs within the lead: pre-warm for it
            if mem.phase_base is None:
                mem.phase_base = d.replicas
            target = phased
            desired, why = self._damped(mem, snap, d, target, max(demand, raised))
        elif mem.phase_base is not None and d.replicas > max(target, mem.phase_base):
            # The ramp did not come: the replicas started for it go at once.
            desired, why = max(target, mem.phase_base), "the recurring ramp did not come"
            mem.phase_base = None
        else:
            mem.phase_base = None
            desired, why = self._damped(mem, snap, d, target, demand)
            if cfg.drain_release:  # does the queue ask for more than arrivals and forecast?
                plain = max(wanted, self.capacity.replicas_for(snap, d, m.arrival_rate_rps * over))
                desired, why = self._drain(mem, d, target, plain, floor > plain, desired, why)
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
            ev("load_vs_recent_peak", round(math.exp(mem.drop), 3)),
        ]
        if cfg.drain_ahead != "off":
            evidence.append(ev("queue_when_ready", round(backlog), "requests"))
        if cfg.volatility_scaled:
            evidence.append(ev("volatility", round(mem.sigma, 4)))
        if cfg.slo_feedback and (cfg.feedback_acts_on == "margin" or mem.margin > 0):
            evidence.append(ev("slo_margin", round(mem.margin, 4)))
        if cfg.phase_prewarm:
            evidence.append(ev("recurring_ramp", round(ramp, 4)))
        if desired > d.replicas:
            why = (
                f"pre-warm: forecast {ahead:.2f} req/s x{headroom:.2f} within {lead:.0f} s"
                if wanted >= floor and ahead > live
                else f"live load {live:.2f} req/s above capacity"
            )
            if mem.margin > 0 and floor > wanted:
                why += f" with a {mem.margin:.0%} margin for SLO misses over budget"
            if mem.phase_base is not None and phased > max(floor, wanted):
                period = cfg.phase_period_seconds
                of = "the hour" if period == 3600 else f"each {period / 60:g}-minute period"
                why = (
                    f"pre-warm: the load has often risen at minute {minute} of {of} "
                    f"(x{ramp:.2f} more than at other minutes), within {lead:.0f} s"
                )
            if source.startswith("resuming"):
                why = f"pre-warm: traffic is back after an outage; {source}"
        elif desired < d.replicas and source.startswith("outage"):
            why = source
        p = scale_proposal(self.name, snap.at, d, desired, why, evidence)
        if p is not None:
            mem.last_change = snap.at
        return p

    def _phase_ramp(
        self, mem: _Memory, at: datetime, interval: float, lead: float
    ) -> tuple[float, int]:
        """Record the latest rise, then (factor, minute) of a ramp due within `lead`."""
        cfg = self.config
        if not cfg.phase_prewarm:
            return 1.0, -1
        ticks = cfg.phase_before_ticks, cfg.phase_after_ticks
        window = (cfg.phase_period_seconds, cfg.phase_history_seconds)
        record_rise(mem.phase, mem.observed, interval, ticks, window, since=mem.levels_from)
        limits = (cfg.phase_period_seconds, cfg.phase_quantile, cfg.phase_min_samples)
        return ramp_factor(mem.phase, at, interval, lead, *limits)

    def _level(self, d: ModelDeployment, mem: _Memory | None = None) -> float:
        cfg = self.config
        if cfg.quantile is not None:
            base = cfg.quantile
        else:
            base = 1 - (1 - d.slo.attainment_target) * cfg.quantile_per_miss
        shift = mem.quantile_shift if mem is not None else 0.0
        return min(cfg.max_quantile, max(cfg.min_quantile, base + shift))

    def _feedback(
        self, mem: _Memory, d: ModelDeployment, m: ServingMetrics, interval: float
    ) -> None:
        """The error-budget controller: misses raise the quantile, spare budget lowers it;
        past `margin_above_quantile` (or always, acting on the margin) they move the margin."""
        cfg = self.config
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
        base = self._level(d)  # without the shift
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

    def _outage(
        self, mem: _Memory, at: datetime, m: ServingMetrics, ahead: float, source: str
    ) -> tuple[float, str]:
        """Demand during and just after a stretch of no traffic at all."""
        cfg = self.config
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
                _restart_levels(mem, at)  # the outage is not the load's volatility
            mem.zero_since = None
        if mem.resume_until is not None:
            if at >= mem.resume_until or m.arrival_rate_rps >= 0.5 * mem.resume_level:
                mem.resume_until = None  # the load is back (or did not come back)
                _restart_levels(mem, at)  # nor is the step back from a trickle to it
            elif mem.resume_level > ahead:
                return mem.resume_level, (
                    f"resuming after an outage: {mem.resume_level:.2f} req/s before it"
                )
        return ahead, source

    def _forecast_demand(
        self,
        mem: _Memory,
        f: Forecast | None,
        lead: float,
        level: float,
        at: datetime,
        interval: float,
    ) -> tuple[float, float, str]:
        """(highest point forecast within `lead`, headroom factor, where it came from)."""
        if f is None or not f.points:
            return 0.0, 1.0, "no forecast"
        late = (at - f.made_at).total_seconds()
        if abs(late) > max(2 * interval, 120.0):  # a stale or a future forecast
            return 0.0, 1.0, f"forecast made {late:+.0f} s from now: not used"
        window = [p for p in f.points if (p.at - f.made_at).total_seconds() <= lead] or [
            f.points[0]
        ]
        peak = max(p.point for p in window)
        at_lead = f.at_or_after(lead) or window[-1]
        mem.pending.append((at_lead.at, at_lead.point, mem.state, mem.sigma))
        cfg = self.config
        recent_from = at - timedelta(seconds=cfg.error_window_seconds)
        recent = [e for t, e, _ in mem.errors if t >= recent_from]
        alike = [e for _, e, s in mem.errors if s == mem.state] if cfg.conditional_headroom else []
        scale = mem.sigma  # errors are kept in units of the volatility (1.0 when off)
        scaled = f", scaled by the volatility now ({scale:.3f})" if cfg.volatility_scaled else ""
        if len(alike) >= cfg.min_state_samples and len(recent) >= cfg.min_error_samples:
            ratio = float(np.exp(np.quantile(alike, level) * scale))
            source = (
                f"q{level:.2f} of {len(alike)} errors made with the load "
                f"{state_label(cfg.drop_buckets, mem.state)} its last-hour peak{scaled}"
            )
        elif len(recent) >= cfg.min_error_samples:
            ratio = float(np.exp(np.quantile(recent, level) * scale))
            source = f"q{level:.2f} of {len(recent)} recent errors{scaled}"
        else:
            top = max(window, key=lambda p: p.point)
            ratio = top.p90 / top.point if top.point > 0 else 1.0
            source = "forecast p90 band"
        return peak, min(cfg.max_headroom, max(1.0, ratio)), source

    def _score_past(self, mem: _Memory, at: datetime, rate: float, interval: float) -> None:
        """Log ratio of the observed rate (its mean within `score_smoothing_ticks` ticks of
        the target time) to each forecast made for that time."""
        reach = timedelta(seconds=self.config.score_smoothing_ticks * interval + 1e-3)
        cfg = self.config
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
        while mem.smoothed and mem.smoothed[0][0] <= at - timedelta(
            seconds=cfg.peak_window_seconds
        ):
            mem.smoothed.popleft()
        peak = max(v for _, v in mem.smoothed)
        mem.sigma = (
            volatility(mem.smoothed, cfg.volatility_lag_seconds, cfg.volatility_floor)
            if cfg.volatility_scaled
            else 1.0  # also when a checkpoint made with scaling on is restored with it off
        )
        mem.drop = math.log(level / peak) if level > 0 and peak > 0 else 0.0
        mem.state = sum(1 for b in cfg.drop_buckets if mem.drop > b)

    @staticmethod
    def _drain(
        mem: _Memory,
        d: ModelDeployment,
        target: int,
        plain: int,
        queued: bool,
        desired: int,
        why: str,
    ) -> tuple[int, str]:
        """While a queue asks for more replicas than the arrivals and the forecast do
        (`plain`: capacity lost, a jump), remember the count the scale-up it causes comes on
        top of (the count before, or what the arrivals and forecast wanted, whichever is
        higher); once the queue has drained, the replicas started for it go at once, back
        to that count or the target, whichever is higher, not through the band and the
        dwell: a drained queue does not come back the way a dip in load does. What the
        forecast wanted still goes down through the band and the dwell."""
        if queued:
            if desired > d.replicas and mem.drain_base is None:
                mem.drain_base = max(d.replicas, plain)
            return desired, why
        if mem.drain_base is not None:
            keep, mem.drain_base = max(target, mem.drain_base), None
            if d.replicas > keep:
                return keep, "the queue has drained: the replicas started to drain it go"
        return desired, why

    def _damped(
        self, mem: _Memory, snap: ClusterSnapshot, d: ModelDeployment, target: int, demand: float
    ) -> tuple[int, str]:
        """Up at once (HPA's step limit); down past the hysteresis band, after the dwell, a
        step at a time. The band: what `demand` x (1 + `demand_hysteresis`) needs (the count
        goes down only when the replicas kept still cover that); without it, `hysteresis`
        of the current count."""
        cfg, current = self.config, d.replicas
        if target >= current:
            limit = max(
                math.ceil(current * cfg.max_scale_up_factor), current + cfg.max_scale_up_pods
            )
            return min(target, limit), "hold"
        if cfg.demand_hysteresis is not None:
            banded = self.capacity.replicas_for(snap, d, demand * (1 + cfg.demand_hysteresis))
            target = max(target, banded)
            if target >= current:
                return current, "inside the hysteresis band"
        elif current - target <= max(0, math.floor(current * cfg.hysteresis)):
            return current, "inside the hysteresis band"
        if mem.last_change is not None and (snap.at - mem.last_change).total_seconds() < (
            cfg.min_dwell_seconds
        ):
            return current, "minimum dwell"
        desired = max(target, current - cfg.max_step_down)
        return desired, f"forecast and live load need {target}; stepping down"


def _unmeasured(m: ServingMetrics) -> bool:
    """Metrics with no traffic, no queue and no capacity: what a cluster reports before an
    interval has been measured (a simulator at its first instant). On a deployment the
    planner has not seen before, that is no information (it scaled 4 replicas down to 2 at
    the start of the quickstart day, whose load needs 10), not a decision to scale down."""
    return m.arrival_rate_rps <= 0 and m.queue_depth == 0 and m.capacity_rps <= 0


def _note_losses(mem: _Memory, d: ModelDeployment, at: datetime) -> bool:
    """Whether ready replicas were lost (fewer ready than last tick, by more than the
    scale-down since) within the last cold start: a node preempted, a GPU failed."""
    ready = d.count(ReplicaPhase.READY)
    if mem.desired and mem.ready - ready > max(0, mem.desired - d.replicas):
        mem.loss_until = at + timedelta(seconds=d.cold_start_seconds)
    mem.ready, mem.desired = ready, d.replicas
    return mem.loss_until is not None and at < mem.loss_until


def _restart_levels(mem: _Memory, at: datetime) -> None:
    """Forget the level history (recent peak, volatility) before `at`."""
    mem.smoothed.clear()
    mem.levels_from = at
