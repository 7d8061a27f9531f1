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
utilisation at which the SLO holds from `agents.slo_capacity`). State is small: `remembers`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta

import numpy as np

from agents.capacity import CapacityModel, Priors
from agents.forecast_config import ForecastPlannerConfig
from agents.forecast_memory import (
    DeploymentMemory,
    note_losses,
    outage_demand,
    quantile_level,
    score_past,
    spend_budget,
    unmeasured,
)
from agents.load_stats import ramp_factor, record_rise, state_label
from agents.scaling import ev, live_demand, scale_proposal
from agents.slo_capacity import dispersion_estimator
from gpusteward.core.actions import Proposal
from gpusteward.core.cluster import ClusterSnapshot, ModelDeployment, ServingMetrics
from gpusteward.core.load import Forecast
from gpusteward.core.remembered import Remembers


class ForecastPlanner(Remembers):
    name = "forecast"
    # (snapshot time, proposals) of the last call: a second call for the same snapshot
    # returns them
    _last: tuple[datetime, tuple[Proposal, ...]] | None = None

    remembers = ("capacity", "_memory", "_last")

    def __init__(self, config: ForecastPlannerConfig | None = None, priors: Priors | None = None):
        self.config = config or ForecastPlannerConfig()
        self.capacity = CapacityModel(
            priors,
            at_slo=self.config.capacity_at_slo,
            dispersion=dispersion_estimator(self.config.dispersion_estimator),
        )
        self._memory: dict[str, DeploymentMemory] = {}

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
            if d.key not in self._memory and unmeasured(m):
                continue  # a first look before any interval was measured: no information
            p = self._plan_one(snapshot, d, m, forecasts.get(d.key))
            if p is not None:
                out.append(p)
        self._last = (snapshot.at, tuple(out))
        return out

    def _plan_one(
        self, snap: ClusterSnapshot, d: ModelDeployment, m: ServingMetrics, f: Forecast | None
    ) -> Proposal | None:
        cfg, mem = self.config, self._memory.setdefault(d.key, DeploymentMemory())
        lead = d.cold_start_seconds + snap.interval_seconds
        score_past(cfg, mem, snap.at, m.arrival_rate_rps, snap.interval_seconds)
        spend_budget(cfg, mem, d, m, snap.interval_seconds)
        live = live_demand(m, snap.interval_seconds)
        backlog, lost = 0.0, note_losses(mem, d, snap.at)
        if cfg.drain_ahead == "always" or (cfg.drain_ahead == "after-loss" and lost):
            # the queue replicas started now will find when ready, drained in one interval
            backlog = self.capacity.backlog_at(snap, d, m, d.cold_start_seconds)
            live = max(live, m.arrival_rate_rps + backlog / max(snap.interval_seconds, 1.0))
        over = 1 + cfg.floor_headroom + mem.margin
        floor = self.capacity.replicas_for(snap, d, live * over)
        level = quantile_level(cfg, d, mem)
        if cfg.near_peak_quantile is not None and mem.drop > cfg.near_peak_drop:
            level = cfg.near_peak_quantile
        if f is not None and f.key != d.key:
            f = None  # filed under this deployment, made for another series
        ahead, headroom, source = self._forecast_demand(
            mem, f, lead, level, snap.at, snap.interval_seconds
        )
        ahead, source = outage_demand(cfg, mem, snap.at, m, ahead, source)
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

    def _level(self, d: ModelDeployment, mem: DeploymentMemory | None = None) -> float:
        return quantile_level(self.config, d, mem)

    def _phase_ramp(
        self, mem: DeploymentMemory, at: datetime, interval: float, lead: float
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

    def _forecast_demand(
        self,
        mem: DeploymentMemory,
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
            ratio = _exp(float(np.quantile(alike, level)) * scale)
            source = (
                f"q{level:.2f} of {len(alike)} errors made with the load "
                f"{state_label(cfg.drop_buckets, mem.state)} its last-hour peak{scaled}"
            )
        elif len(recent) >= cfg.min_error_samples:
            ratio = _exp(float(np.quantile(recent, level)) * scale)
            source = f"q{level:.2f} of {len(recent)} recent errors{scaled}"
        else:
            top = max(window, key=lambda p: p.point)
            ratio = top.p90 / top.point if top.point > 0 else 1.0
            source = "forecast p90 band"
            early = _observed_rises(mem, lead, interval, cfg.score_smoothing_ticks)
            if len(early) >= _MIN_EARLY_RISES:
                rise = _exp(float(np.quantile(early, level)))
                if rise > ratio:
                    ratio = rise
                    source = (
                        f"q{level:.2f} of {len(early)} rises of the observed load over "
                        f"{lead:.0f} s (too few forecast errors yet)"
                    )
        return peak, min(cfg.max_headroom, max(1.0, ratio)), source

    @staticmethod
    def _drain(
        mem: DeploymentMemory,
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
        self,
        mem: DeploymentMemory,
        snap: ClusterSnapshot,
        d: ModelDeployment,
        target: int,
        demand: float,
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


_MIN_EARLY_RISES = 10


def _observed_rises(
    mem: DeploymentMemory, lead: float, interval: float, smoothing: int
) -> list[float]:
    """Log ratios of the observed load `lead` seconds on (its mean within `smoothing`
    ticks, as forecasts are scored) to the load then: the errors a last-value forecast
    made over the history kept, known from the start, before a forecast's own errors are
    (a new deployment, the first hour of a run: a zero-width fallback band would give
    no headroom at all)."""
    seen = [(t.timestamp(), r) for t, r in mem.observed]
    if len(seen) < 2:
        return []
    times = np.array([t for t, _ in seen])
    rates = np.array([r for _, r in seen])
    reach = smoothing * interval + 1e-3
    out = []
    for t, r in seen:
        if times[-1] < t + lead + smoothing * interval - 1e-3:
            break  # its target is not fully observed yet (nor any later one's)
        near = rates[np.abs(times - (t + lead)) <= reach]
        later = float(near.mean()) if len(near) else 0.0
        if r > 0 and later > 0:
            out.append(math.log(later / r))
    return out


def _exp(x: float) -> float:
    """np.exp(x), inf past a float's range without numpy's overflow warning (a ratio that
    large is capped at `max_headroom` anyway)."""
    return math.inf if x >= 709.0 else float(np.exp(x))  # NaN stays NaN, as before
