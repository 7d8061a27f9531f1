"""What one detector reports at one tick, and the interface every detector has."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from gpusteward.core.actions import Proposal
from gpusteward.core.cluster import ClusterSnapshot, ModelDeployment
from gpusteward.core.diagnosis import Cause, Evidence, RedFlag, Severity
from redflags.window import DeploymentWindow


@dataclass(frozen=True)
class Finding:
    """A detector's condition holds on a deployment now (the engine makes it a warning)."""

    flag: RedFlag
    severity: Severity
    summary: str
    evidence: tuple[Evidence, ...]
    cause: Cause
    cause_detail: str
    remedy: Proposal | None = None
    runbook: str | None = None


UNITS = {
    "arrival_rate": " req/s",
    "projected_arrival_rate": " req/s",
    "capacity": " req/s",
    "per_replica_throughput": " req/s",
    "queue_delay_p95": " s",
    "queue_drain_seconds": " s",
    "replica_loading_seconds": " s",
    "gpu_cost_rate": " $/h",
    "cost_per_1k_requests": " $",
}
"""The unit a detector's metric is shown in; counts, ratios and metrics named in their
unit (`cold_start_seconds`) have none."""


def measured(
    metric: str,
    observed: float,
    window_seconds: float,
    *,
    baseline: float | None = None,
    threshold: float | None = None,
) -> Evidence:
    """Evidence of `metric` over `window_seconds` (0: now), shown in its unit (`UNITS`)."""
    return Evidence(
        metric=metric,
        observed=observed,
        window_seconds=window_seconds,
        baseline=baseline,
        threshold=threshold,
        unit=UNITS.get(metric, ""),
    )


class Detector(Protocol):
    """One red flag. `check` reads the deployment's window (its newest sample is this
    tick's) and the snapshot; it returns a finding while the condition holds, else None."""

    @property
    def flag(self) -> RedFlag: ...

    @property
    def troubled_only(self) -> bool:
        """True: it can only fire on a troubled sample (`window.calm` is False), so the
        engine skips it on calm ones."""

    @property
    def every_seconds(self) -> float:
        """How often it is run (0: every tick); a slow red flag need not be checked every
        tick."""

    def check(
        self, snapshot: ClusterSnapshot, d: ModelDeployment, window: DeploymentWindow
    ) -> Finding | None: ...
