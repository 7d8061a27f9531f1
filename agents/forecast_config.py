"""The forecast-aware planner's settings (`agents.forecast_aware` explains each part)."""

from __future__ import annotations

from itertools import pairwise
from typing import Literal

from pydantic import Field, model_validator

from gpusteward.core.model import Frozen


class ForecastPlannerConfig(Frozen):
    kind: Literal["forecast"] = "forecast"
    quantile: float | None = Field(
        default=None, gt=0.5, lt=1, description="Headroom quantile; default from the SLO."
    )
    quantile_per_miss: float = Field(
        default=40.0,
        gt=0,
        description="Default quantile = 1 - (1 - attainment) x this (0.8 for a 99.5 % SLO), "
        "within [min_quantile, max_quantile]: the headroom covers forecast error only; "
        "bursts are in the capacity at SLO, and the hysteresis band holds more.",
    )
    min_error_samples: int = Field(default=60, ge=1, description="Before: the forecast's band.")
    error_window_seconds: float = Field(default=24 * 3600.0, gt=0)
    conditional_headroom: bool = Field(
        default=False,
        description="Take the headroom quantile over the errors made in a similar state: "
        "how far the load is below its peak of the last `peak_window_seconds` (after a "
        "drop the load often comes back; near its peak it seldom jumps further).",
    )
    drop_buckets: tuple[float, ...] = Field(
        default=(-0.4, -0.2, -0.1),
        description="Log(load / recent peak) thresholds that split the states, ascending.",
    )
    peak_window_seconds: float = Field(default=3600.0, gt=0)
    state_error_window_seconds: float = Field(
        default=24 * 3600.0, gt=0, description="Errors kept per state (they are rarer)."
    )
    min_state_samples: int = Field(
        default=30, ge=1, description="Fewer errors in the state: all recent errors are used."
    )
    near_peak_quantile: float | None = Field(
        default=None,
        gt=0.5,
        lt=1,
        description="Headroom quantile while the load is within `near_peak_drop` of its "
        "recent peak (None: the same quantile in every state).",
    )
    near_peak_drop: float = Field(default=-0.2, le=0)
    volatility_scaled: bool = Field(
        default=True,
        description="Scale the headroom by the load's recent volatility: each error is kept "
        "divided by the volatility when its forecast was made, and the quantile of those is "
        "multiplied by the volatility now (calm load: little headroom; a choppy hour: more).",
    )
    volatility_lag_seconds: float = Field(
        default=600.0,
        gt=0,
        description="Volatility: RMS of the log changes of the load over this lag, across "
        "the last `peak_window_seconds`.",
    )
    volatility_floor: float = Field(
        default=0.03, gt=0, description="Volatility never counts as less than this."
    )
    max_headroom: float = Field(default=2.0, ge=1, description="Cap on the headroom factor.")
    floor_headroom: float = Field(
        default=0.0, ge=0, description="Over the live load (bursts are in the SLO capacity)."
    )
    capacity_at_slo: bool = Field(
        default=True, description="Size for capacity at SLO (False: raw throughput)."
    )
    dispersion_estimator: Literal["median-pairs", "variogram"] = Field(
        default="median-pairs",
        description="How the burstiness behind the capacity at SLO is learned from per-tick "
        "counts (`agents.slo_capacity`): the median of consecutive pairs with arrivals, or "
        "the variogram's nugget over every tick (right for on/off clients too).",
    )
    score_smoothing_ticks: int = Field(
        default=2,
        ge=0,
        description="A forecast is scored against the mean observed rate within this many "
        "ticks of its target time, so the tick-to-tick burst noise (already covered by the "
        "capacity at SLO) is not counted twice as forecast error.",
    )
    hysteresis: float = Field(
        default=0.2,
        ge=0,
        lt=1,
        description="The band as a share of the current replicas (when `demand_hysteresis` "
        "is None).",
    )
    demand_hysteresis: float | None = Field(
        default=0.1,
        ge=0,
        description="The band in demand: the count goes down only when the replicas kept "
        "still cover the demand x (1 + this). None: `hysteresis` of the replica count, "
        "which at 5-9 replicas holds a whole replica whatever the load.",
    )
    min_dwell_seconds: float = Field(default=600.0, ge=0)
    max_step_down: int = Field(default=2, ge=1)
    max_scale_up_factor: float = Field(
        default=2.0, ge=1, description="Per tick at most x this or + max_scale_up_pods (HPA)."
    )
    max_scale_up_pods: int = Field(default=4, ge=1)
    slo_feedback: bool = Field(
        default=True, description="Steer the headroom by the observed SLO attainment."
    )
    feedback_gain: float = Field(
        default=0.005, ge=0, description="Quantile change per typical tick's worth of misses."
    )
    feedback_budget_share: float = Field(
        default=0.9,
        gt=0,
        le=1,
        description="Aim for this share of the SLO's error budget: the controller lags "
        "bursts of misses, so aiming at all of it ended 0.01 point under the SLO.",
    )
    feedback_acts_on: Literal["quantile", "margin"] = Field(
        default="quantile",
        description="What the error-budget controller moves: the headroom quantile (down "
        "as well as up: budget the pre-warms leave unspent becomes fewer GPU-hours), or a "
        "margin over the live load (the reactive floor, never below 0), which also covers "
        "jumps out of calm load, where every quantile of the recent errors is small.",
    )
    margin_above_quantile: float | None = Field(
        default=0.95,
        gt=0.5,
        lt=1,
        description="With the controller on the quantile: once it has raised the quantile "
        "to this, further misses move the margin over the live load instead, and spare "
        "budget takes the margin back before the quantile comes down. A quantile this high "
        "of recent errors no longer buys headroom where the misses come from jumps out of "
        "calm load. None: the quantile alone, up to `max_quantile`.",
    )
    chained_margin_gain: float = Field(
        default=0.03,
        ge=0,
        description="Margin change per typical tick's worth of misses once the quantile is "
        "at `margin_above_quantile` (`margin_gain` is the margin-only mode's).",
    )
    margin_gain: float = Field(
        default=0.01, ge=0, description="Margin change per typical tick's worth of misses."
    )
    max_feedback_margin: float = Field(default=0.5, ge=0, description="Cap on that margin.")
    phase_prewarm: bool = Field(
        default=True,
        description="Pre-warm for ramps that recur at the same minute of the hour "
        "(cron-like clients): the forecast demand is raised by how much more the load has "
        "risen at the minutes within the lead than at any minute.",
    )
    phase_period_seconds: float = Field(
        default=3600.0, gt=0, description="The period the ramps recur in (an hour)."
    )
    phase_history_seconds: float = Field(
        default=7 * 86400.0, gt=0, description="Rises kept per minute of the period."
    )
    phase_quantile: float = Field(
        default=0.9, gt=0, lt=1, description="Quantile of the rises at a minute, and at all."
    )
    phase_min_samples: int = Field(
        default=48, ge=1, description="Fewer rises seen at a minute: it gets no pre-warm."
    )
    # A rise at a minute: the mean load over `after` ticks from it / over `before` before it.
    phase_before_ticks: int = Field(default=5, ge=1)
    phase_after_ticks: int = Field(default=3, ge=1)
    min_quantile: float = Field(default=0.6, gt=0.5, lt=1)
    max_quantile: float = Field(default=0.99, gt=0.5, lt=1)
    drain_release: bool = Field(
        default=True,
        description="Replicas started because a queue asked for more than the arrivals "
        "(capacity lost, a jump) go at once when it has drained, back to the count before "
        "or the target: on servegen-14d they were otherwise held through the band and "
        "the dwell for about 40 minutes after each of m-mid's 33 such queues.",
    )
    drain_ahead: Literal["after-loss", "always", "off"] = Field(
        default="after-loss",
        description="Size the floor for the queue as it will be when replicas started now "
        "are ready (arrivals against the ready and loading replicas over one cold start), "
        "not as it is. `after-loss`: for a cold start after ready replicas were lost (not "
        "scaled away; a spot node preempted), when the queue grows until replacements are "
        "up and draining it at the usual headroom took minutes of missed requests; "
        "`always`: also when the load jumps past the ready replicas (more attainment for "
        "more GPU-hours on jumpy client traces).",
    )
    outage_after_seconds: float = Field(
        default=300.0, ge=0, description="No traffic this long is an outage (0: never)."
    )
    resume_hold_seconds: float = Field(
        default=1200.0, ge=0, description="After an outage, pre-warm to the old level this long."
    )

    @model_validator(mode="after")
    def _consistent(self) -> ForecastPlannerConfig:
        """Settings that each pass but contradict another: refused, not quietly overridden."""
        if self.min_quantile > self.max_quantile:
            raise ValueError(
                f"min_quantile {self.min_quantile:g} is above max_quantile "
                f"{self.max_quantile:g}. Fix: min_quantile <= max_quantile"
            )
        if self.quantile is not None and not (
            self.min_quantile <= self.quantile <= self.max_quantile
        ):
            raise ValueError(
                f"quantile {self.quantile:g} is outside [min_quantile {self.min_quantile:g}, "
                f"max_quantile {self.max_quantile:g}], which would clamp it. Fix: a quantile "
                "inside them, or move the bound"
            )
        buckets = self.drop_buckets
        if any(b > 0 for b in buckets) or any(a >= b for a, b in pairwise(buckets)):
            raise ValueError(
                f"drop_buckets {list(buckets)}: expected ascending log ratios of the load to "
                "its recent peak, each <= 0, e.g. [-0.4, -0.2, -0.1]"
            )
        return self
