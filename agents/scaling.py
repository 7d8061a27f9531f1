"""What the scaling planners share: the scale proposal, live demand, and the load outlook port.

`LoadOutlook` is how the oracle and the static-peak planner learn the future (and the
oracle the true burstiness of the load): the
composition root hands them an implementation backed by the scenario's trace. Planners
never read a trace themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from gpusteward.core.actions import Evidence, Proposal, ScaleDeployment
from gpusteward.core.cluster import ModelDeployment, ServingMetrics


class LoadOutlook(Protocol):
    """Perfect knowledge of each deployment's expected request rate (requests/s)."""

    def peak_rate(self, key: str, start: datetime, end: datetime) -> float:
        """The highest expected rate of `key` at any moment in [start, end)."""
        ...

    def overall_peak(self, key: str) -> float:
        """The highest expected rate of `key` over the whole run."""
        ...

    def burstiness_cv(
        self, key: str, start: datetime | None = None, end: datetime | None = None
    ) -> float:
        """The cv of `key`'s arrivals (variance / mean of per-step counts = cv^2): over
        [start, end) when given (the burstiest window there), else over the whole run."""
        ...


def live_demand(m: ServingMetrics, interval_seconds: float) -> float:
    """Requests/s needed now: arrivals plus draining the queue within one interval."""
    return m.arrival_rate_rps + m.queue_depth / max(interval_seconds, 1.0)


def scale_proposal(
    planner: str,
    at: datetime,
    d: ModelDeployment,
    desired: int,
    reason: str,
    evidence: Sequence[Evidence],
) -> Proposal | None:
    """A ScaleDeployment to `desired` (clamped to the bounds), or None when nothing changes."""
    desired = max(d.min_replicas, min(d.max_replicas, desired))
    if desired == d.replicas:
        return None
    direction = "up" if desired > d.replicas else "down"
    return Proposal(
        action=ScaleDeployment(
            deployment=d.key, replicas=desired, from_replicas=d.replicas, issued_at=at
        ),
        reason=f"{reason}: scale {direction} {d.replicas} -> {desired}",
        evidence=tuple(evidence),
        planner=planner,
    )


def ev(name: str, value: float | int | str, unit: str | None = None) -> Evidence:
    """Evidence with floats rounded for the journal."""
    if isinstance(value, float):
        value = round(value, 4)
    return Evidence(name=name, value=value, unit=unit)
