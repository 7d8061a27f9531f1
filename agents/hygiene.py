"""Model hygiene: idle models, duplicate variants and A/B leftovers in the model zoo.

The planner remembers, per deployment, the request rate and GPUs held at every snapshot
it sees (keyed by snapshot time, so a replay gives the same memory), and over a window
(7 days by default) finds:

- idle: a live deployment holding GPUs whose mean traffic is at or below `idle_rps`
  -> `RetireModel` (the default policy pack makes every retirement wait for a human);
- duplicates: deployments of the same model and version in one namespace
  -> `ConsolidateModels` of the quieter ones into the busiest;
- A/B leftovers: versions of one model in one namespace where a version gets at most
  `ab_share` of the model's traffic -> `ConsolidateModels` into the leading version.

Each proposal carries its evidence: mean traffic, requests, the last time a request was
seen, GPU-hours spent in the window, and how much of the window was observed. Nothing is
proposed before `min_observed` of the window has been seen. Pure: reads time only from
the snapshot.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field

from gpusteward.core.actions import ConsolidateModels, Evidence, Proposal, RetireModel
from gpusteward.core.cluster import ClusterSnapshot, ModelDeployment
from gpusteward.core.load import Forecast
from gpusteward.core.model import Frozen
from gpusteward.core.remembered import Remembers


class HygieneConfig(Frozen):
    kind: Literal["hygiene"] = "hygiene"
    window_seconds: float = Field(default=7 * 86400.0, gt=0, description="Look-back window.")
    idle_rps: float = Field(default=0.01, ge=0, description="Mean req/s at or below = idle.")
    ab_share: float = Field(
        default=0.05,
        ge=0,
        lt=0.5,
        description="A version at or below this share of its model's traffic is an A/B leftover.",
    )
    min_observed: float = Field(
        default=0.9, gt=0, le=1, description="Share of the window observed before judging."
    )


@dataclass(frozen=True)
class _Sample:
    at: datetime
    rps: float
    gpus: int
    seconds: float


@dataclass(frozen=True)
class Usage:
    """One deployment's traffic and cost over the observed part of the window."""

    mean_rps: float
    requests: float
    gpu_hours: float
    last_request: datetime | None
    observed_seconds: float

    def evidence(self, window_seconds: float) -> tuple[Evidence, ...]:
        last = self.last_request.isoformat() if self.last_request else "none in window"
        return (
            Evidence(name="mean_rps", value=round(self.mean_rps, 6), unit="req/s"),
            Evidence(name="requests", value=round(self.requests), unit="requests"),
            Evidence(name="last_request", value=last),
            Evidence(name="gpu_hours", value=round(self.gpu_hours, 2), unit="GPU-hours"),
            Evidence(name="window", value=round(window_seconds / 86400, 2), unit="days"),
            Evidence(name="observed", value=round(self.observed_seconds / window_seconds, 3)),
        )


class HygienePlanner(Remembers):
    name = "hygiene"

    remembers = ("_samples",)

    def __init__(self, config: HygieneConfig | None = None) -> None:
        self.config = config or HygieneConfig()
        self._samples: dict[str, deque[_Sample]] = {}

    def observe(self, snapshot: ClusterSnapshot) -> None:
        horizon = snapshot.at - timedelta(seconds=self.config.window_seconds)
        for d in snapshot.deployments:
            m = snapshot.metrics.get(d.key)
            rps = m.arrival_rate_rps if m is not None else 0.0
            held = sum(len(r.gpu_indices) for r in d.replica_states if r.node is not None)
            q = self._samples.setdefault(d.key, deque())
            if q and q[-1].at >= snapshot.at:
                continue  # the same instant seen twice (replay): keep the first
            q.append(_Sample(snapshot.at, rps, held, snapshot.interval_seconds))
            while q and q[0].at <= horizon:
                q.popleft()

    def usage(self, key: str) -> Usage | None:
        q = self._samples.get(key)
        if not q:
            return None
        seconds = sum(s.seconds for s in q)
        requests = sum(s.rps * s.seconds for s in q)
        last = next((s.at for s in reversed(q) if s.rps > 0), None)
        return Usage(
            mean_rps=requests / seconds if seconds else 0.0,
            requests=requests,
            gpu_hours=sum(s.gpus * s.seconds for s in q) / 3600.0,
            last_request=last,
            observed_seconds=seconds,
        )

    def plan(self, snapshot: ClusterSnapshot, forecasts: Mapping[str, Forecast]) -> list[Proposal]:
        self.observe(snapshot)
        cfg = self.config
        live = [d for d in snapshot.deployments if not d.retired]
        usage = {d.key: self.usage(d.key) for d in live}
        judged = {
            k: u
            for k, u in usage.items()
            if u is not None and u.observed_seconds >= cfg.min_observed * cfg.window_seconds
        }
        out: list[Proposal] = []
        merged: set[str] = set()
        groups: dict[tuple[str, str], list[ModelDeployment]] = {}
        for d in live:
            if d.key in judged:
                groups.setdefault((d.namespace, d.model), []).append(d)
        for (namespace, model), members in sorted(groups.items()):
            if len(members) < 2:
                continue
            members.sort(key=lambda d: (-judged[d.key].mean_rps, d.key))
            lead = members[0]
            total = sum(judged[d.key].mean_rps for d in members)
            for d in members[1:]:
                share = judged[d.key].mean_rps / total if total else 0.0
                if d.version == lead.version:
                    kind = f"duplicate of {lead.key} (same model {model} and version {d.version})"
                elif share <= cfg.ab_share:
                    kind = (
                        f"A/B leftover: version {d.version} gets {share:.1%} of {model}'s "
                        f"traffic in {namespace}, {lead.version} leads"
                    )
                else:
                    continue
                merged.add(d.key)
                out.append(self._consolidate(snapshot.at, d, lead, kind, judged[d.key], share))
        for d in live:
            u = judged.get(d.key)
            if u is None or d.key in merged or d.replicas == 0:
                continue
            if u.mean_rps <= cfg.idle_rps:
                out.append(
                    Proposal(
                        action=RetireModel(deployment=d.key, issued_at=snapshot.at),
                        reason=(
                            f"idle: {d.key} averaged {u.mean_rps:.4f} req/s over the last "
                            f"{cfg.window_seconds / 86400:.3g} days while holding GPUs "
                            f"({u.gpu_hours:.1f} GPU-hours); retire it"
                        ),
                        evidence=u.evidence(cfg.window_seconds),
                        planner=self.name,
                    )
                )
        return out

    def _consolidate(
        self,
        at: datetime,
        d: ModelDeployment,
        lead: ModelDeployment,
        kind: str,
        u: Usage,
        share: float,
    ) -> Proposal:
        return Proposal(
            action=ConsolidateModels(sources=(d.key,), into=lead.key, issued_at=at),
            reason=f"{kind}: route {d.key} to {lead.key} and free its GPUs",
            evidence=(
                *u.evidence(self.config.window_seconds),
                Evidence(name="traffic_share", value=round(share, 4)),
                Evidence(name="into", value=lead.key),
            ),
            planner=self.name,
        )
