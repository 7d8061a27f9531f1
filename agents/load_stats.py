"""Statistics of a deployment's observed load that the forecast planner sizes by.

- `volatility`: the RMS of the load's log changes over a lag (how choppy it is now).
- `state_label`: words for how far the load is below its recent peak.
- `record_rise` / `ramp_factor`: ramps that recur at the same minute of a period (an
  hour: cron-like clients). Per tick of the period the last `history` of rises seen
  there are kept, 2 bytes each (log rise x 1000); a minute whose rise quantile is above
  the pooled one is a recurring ramp, and the factor is the difference.
All pure functions over small containers the planner keeps (remembered as data).
"""

from __future__ import annotations

import math
from array import array
from collections import deque
from collections.abc import Iterable, Sequence
from datetime import datetime

import numpy as np


def state_label(buckets: tuple[float, ...], state: int) -> str:
    """Human words for a drop bucket: 'more than 33 % below', '10-18 % below', ..."""

    def pct(b: float) -> str:
        return f"{(1 - math.exp(b)) * 100:.0f} %"

    if not buckets:
        return "at any level against"
    if state == 0:
        return f"more than {pct(buckets[0])} below"
    if state == len(buckets):
        return f"within {pct(buckets[-1])} of"
    return f"{pct(buckets[state])}-{pct(buckets[state - 1])} below"


def _phase_slot(timestamp: float, period: float, interval: float) -> int:
    """Which tick of the phase period `timestamp` falls in."""
    return int((timestamp % period) // interval)


def record_rise(
    rises: dict[int, array[int]],
    observed: Iterable[tuple[datetime, float]],
    interval: float,
    ticks: tuple[int, int],
    window: tuple[float, float],
    since: datetime | None = None,
) -> None:
    """Keep the rise at the tick `after` ticks ago: the mean load from it on over the mean
    of the `before` ticks just before it (`ticks` = (before, after)); none across a gap,
    a stretch of no traffic, or a restart of the level history (`since`). `window` =
    (period, history): rises are kept per tick of the period, the last history's worth."""
    before, after = ticks
    period, history = window
    recent: Sequence[tuple[datetime, float]] = list(observed)[-(before + after) :]
    if len(recent) < before + after or min(r for _, r in recent) <= 0:
        return
    start, at = recent[before][0], recent[-1][0]
    if (at - recent[0][0]).total_seconds() > (before + after) * interval:
        return  # a gap in the observations
    if since is not None and recent[0][0] < since:
        return  # an outage and the step back from it are not a ramp
    rates = [r for _, r in recent]
    rise = math.log((sum(rates[before:]) / after) / (sum(rates[:before]) / before))
    kept = rises.setdefault(_phase_slot(start.timestamp(), period, interval), array("h"))
    kept.append(max(-32_000, min(32_000, round(rise * 1000))))
    del kept[: -max(1, int(history // period))]


def ramp_factor(
    rises: dict[int, array[int]],
    at: datetime,
    interval: float,
    lead: float,
    period: float,
    quantile: float,
    min_samples: int,
) -> tuple[float, int]:
    """(factor, minute): how much more the load has risen at the ticks of the period
    within `lead` after `at` than at any tick (the `quantile` rise there over the pooled
    one; 1.0 when no more), and the minute of the period where it rose most (-1: none)."""
    pooled = [x for kept in rises.values() for x in kept]
    if len(pooled) < min_samples * 10:
        return 1.0, -1
    usual = float(np.quantile(pooled, quantile))
    risk, minute = 0.0, -1
    # slots repeat every period: looking further ahead than one period adds nothing
    ticks = min(math.ceil(lead / interval - 1e-9), math.ceil(period / interval - 1e-9))
    for k in range(1, ticks + 1):
        slot = _phase_slot(at.timestamp() + k * interval, period, interval)
        kept = rises.get(slot)
        if kept is not None and len(kept) >= min_samples:
            extra = float(np.quantile(kept, quantile)) - usual
            if extra > risk:
                risk, minute = extra, int(slot * interval // 60)
    return math.exp(risk / 1000), minute


def volatility(levels: deque[tuple[datetime, float]], lag: float, floor: float) -> float:
    """RMS of the log changes over `lag` seconds between the recent levels (every pair
    that far apart), at least `floor`; `floor` until one pair is that far apart."""
    pts = [(t.timestamp(), v) for t, v in levels if v > 0]
    if len(pts) < 2:
        return floor
    times = np.array([t for t, _ in pts])
    logs = np.log(np.array([v for _, v in pts]))
    later = np.searchsorted(times, times + lag - 1e-3)
    ok = later < len(times)
    if not ok.any():
        return floor
    change = logs[later[ok]] - logs[ok]
    return max(floor, float(np.sqrt(np.mean(change * change))))
