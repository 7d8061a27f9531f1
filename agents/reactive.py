"""Reactive target-utilisation planner: what Kubernetes HPA does, as the baseline to beat.

desired = ceil(ready x utilisation / target), skipped inside the tolerance band; on the
way up, replicas not ready yet count as idle (HPA's rule: no scale when that reverses the
direction); scale-up limited like HPA's default policy (max(+4, x2) per step); scale-down
takes the highest recommendation within the stabilisation window. Reads time only from
the snapshot.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from datetime import datetime
from typing import Literal

from pydantic import Field

from gpusteward.core.actions import Evidence, Proposal, ScaleDeployment
from gpusteward.core.cluster import ClusterSnapshot, ModelDeployment, ReplicaPhase, ServingMetrics
from gpusteward.core.load import Forecast
from gpusteward.core.model import Frozen
from gpusteward.core.remembered import Remembers


class ReactiveConfig(Frozen):
    kind: Literal["reactive"] = "reactive"
    target_utilisation: float = Field(default=0.7, gt=0, le=1, description="Busy share of GPUs")
    tolerance: float = Field(default=0.1, ge=0, lt=1, description="HPA's no-op band (ratio)")
    scale_down_stabilisation_seconds: float = Field(default=300.0, ge=0)
    scale_up_stabilisation_seconds: float = Field(
        default=0.0,
        ge=0,
        description="HPA's scaleUp stabilizationWindowSeconds: scale up only to the lowest "
        "recommendation of this window (0, HPA's default: at once). Long, the scale-up lags "
        "the load by about the window (an autoscaler tuned too cautious)",
    )
    max_scale_up_factor: float = Field(default=2.0, ge=1, description="Per step, as HPA: x2")
    max_scale_up_pods: int = Field(default=4, ge=1, description="Per step, as HPA: +4")


class ReactivePlanner(Remembers):
    """Stateful only in its stabilisation memory, which is keyed by snapshot time."""

    name = "reactive"

    remembers = ("_recommendations",)

    def __init__(self, config: ReactiveConfig | None = None) -> None:
        self.config = config or ReactiveConfig()
        self._recommendations: dict[str, deque[tuple[datetime, int]]] = {}

    def plan(self, snapshot: ClusterSnapshot, forecasts: Mapping[str, Forecast]) -> list[Proposal]:
        proposals = []
        for deployment in snapshot.deployments:
            metrics = snapshot.metrics.get(deployment.key)
            if deployment.retired or metrics is None:
                continue
            proposal = self._plan_one(snapshot.at, deployment, metrics)
            if proposal is not None:
                proposals.append(proposal)
        return proposals

    def _plan_one(self, at: datetime, d: ModelDeployment, m: ServingMetrics) -> Proposal | None:
        cfg = self.config
        ready = d.count(ReplicaPhase.READY)
        current = d.replicas
        if ready == 0:
            busy = m.arrival_rate_rps > 0 or m.queue_depth > 0
            raw = max(current, 1) if busy else current
            ratio = float("nan")
        else:
            ratio = m.gpu_utilization / cfg.target_utilisation
            unready = max(0, len(d.replica_states) - ready)
            if abs(ratio - 1) <= cfg.tolerance:
                raw = current
            elif ratio > 1 and unready:
                # HPA: on the way up, replicas not ready yet count at 0 % (their load is
                # coming to them); if that reverses the direction or lands inside the
                # tolerance, no change
                pods = ready + unready
                ratio = m.gpu_utilization * ready / (cfg.target_utilisation * pods)
                raw = current if ratio <= 1 + cfg.tolerance else math.ceil(pods * ratio)
            else:
                raw = math.ceil(ready * ratio)
        limit = max(math.ceil(current * cfg.max_scale_up_factor), current + cfg.max_scale_up_pods)
        raw = min(raw, limit)
        desired = self._stabilised(d.key, at, raw, current)
        desired = max(d.min_replicas, min(d.max_replicas, desired))
        if desired == current:
            return None
        direction = "up" if desired > current else "down"
        return Proposal(
            action=ScaleDeployment(
                deployment=d.key, replicas=desired, from_replicas=current, issued_at=at
            ),
            reason=(
                f"GPU utilisation {m.gpu_utilization:.0%} vs target "
                f"{cfg.target_utilisation:.0%} over {ready} ready replica(s): scale {direction} "
                f"{current} -> {desired}"
            ),
            evidence=(
                Evidence(name="gpu_utilization", value=round(m.gpu_utilization, 4)),
                Evidence(name="ready_replicas", value=ready),
                Evidence(name="utilisation_ratio", value=round(ratio, 4) if ready else -1.0),
                Evidence(name="queue_depth", value=m.queue_depth, unit="requests"),
                Evidence(name="arrival_rate", value=round(m.arrival_rate_rps, 3), unit="req/s"),
            ),
            planner=self.name,
        )

    def _stabilised(self, key: str, at: datetime, raw: int, current: int) -> int:
        """HPA stabilisation: down, the highest recommendation in the scale-down window;
        up, the lowest in the scale-up window."""
        window = self._recommendations.setdefault(key, deque())
        window.append((at, raw))
        cfg = self.config
        horizon = max(cfg.scale_down_stabilisation_seconds, cfg.scale_up_stabilisation_seconds)
        while window and (at - window[0][0]).total_seconds() > horizon:
            window.popleft()
        if raw >= current:
            up = cfg.scale_up_stabilisation_seconds
            if up <= 0:
                return raw
            lowest = min(r for t, r in window if (at - t).total_seconds() <= up)
            return max(current, lowest)
        down = cfg.scale_down_stabilisation_seconds
        return min(current, max(r for t, r in window if (at - t).total_seconds() <= down))
