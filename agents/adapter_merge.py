"""Many fine-tunes on one runtime: propose merging LoRA fine-tunes of a base model into
that base model's serving deployment (one multi-adapter runtime), when their combined
traffic fits.

A fine-tune is a deployment labelled `gpusteward.io/base-model: <model>` whose model is
that base, which may go to zero (`min_replicas: 0`: its own runtime is not needed), and
is not merged yet. The runtime is a live deployment of the same model without that label,
serving (at least one replica), with an SLO at least as strict as the fine-tune's. The
planner remembers every deployment's request rate at each snapshot over `window_seconds`
(keyed by time, so a replay gives the same memory). Once most of the window is observed,
per base model it adds fine-tunes, quietest peak first, while the summed peak of the
runtime and the chosen ones (at the same instants) stays within `max_share` of what the
runtime serves at its max_replicas, that capacity reduced by `adapter_overhead` (vLLM's
multi-LoRA kernels cost 10-20 % of throughput), and the runtime serves at most
`max_adapters` (vLLM's --max-loras). Evidence: the peaks, the capacity, the GPUs freed
and the cold starts no longer paid.

A merge has a way back: when a runtime's traffic (its own and its adapters') has stayed
past that same limit for a wake lead of the adapters (their cold start plus a tick: a
shorter burst is over before their own deployments could serve), the planner proposes
unmerging all its adapters (the runtime's rate is what the snapshot shows; which adapter
grew is not), so their requests go to their own deployments again, which can scale past
the runtime's cap, and nothing merges into that runtime for a window. The limit is
`max_share` (80 %) of the capacity at max_replicas, so the unmerge comes before the cap
binds; merge and unmerge use one limit, from the most a ready replica was seen to serve
(a replica Ready for part of a tick shows less: a limit from one tick's figure would
flap). Evidence: the rate, the limit, the queue. Pure: time comes from the snapshots only.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import Field

from agents.scaling import ev
from gpusteward.core.actions import MergeAdapters, Proposal, UnmergeAdapters
from gpusteward.core.cluster import (
    ClusterSnapshot,
    ModelDeployment,
    ReplicaPhase,
    ServingMetrics,
)
from gpusteward.core.load import Forecast
from gpusteward.core.model import Frozen
from gpusteward.core.remembered import Remembers
from policies.zoo_rules import sustained_rate

BASE_MODEL_LABEL = "gpusteward.io/base-model"


class AdapterMergeConfig(Frozen):
    kind: Literal["adapter-merge"] = "adapter-merge"
    window_seconds: float = Field(
        default=86_400.0, gt=0, description="Traffic looked back on to judge a fit (a day)."
    )
    min_observed: float = Field(default=0.9, gt=0, le=1, description="Of the window, first.")
    max_adapters: int = Field(default=16, ge=1, le=1000, description="vLLM's --max-loras.")
    max_share: float = Field(
        default=0.8, gt=0, le=1, description="Of the runtime's capacity at its max_replicas."
    )
    adapter_overhead: float = Field(
        default=0.15, ge=0, lt=1, description="Throughput lost serving adapters beside the base."
    )


def is_fine_tune(d: ModelDeployment) -> bool:
    return d.labels.get(BASE_MODEL_LABEL) == d.model


class AdapterMergePlanner(Remembers):
    name = "adapter-merge"

    remembers = ("_rates", "_seen", "_interval", "_base_capacity", "_unmerged_at")

    def __init__(self, config: AdapterMergeConfig | None = None) -> None:
        self.config = config or AdapterMergeConfig()
        self._rates: dict[str, deque[tuple[datetime, float]]] = {}
        self._seen: deque[datetime] = deque()
        self._interval = 60.0
        # per deployment: the most one ready replica was seen to serve without adapters
        # (a replica Ready for part of a tick shows less, never more)
        self._base_capacity: dict[str, float] = {}
        self._unmerged_at: dict[str, datetime] = {}  # runtime -> when its adapters came off

    def restore(self, state: Mapping[str, Any]) -> None:
        """Reads checkpoints written before the unmerge existed (no capacity or unmerge
        memory in them: both start empty)."""
        super().restore({"_base_capacity": {}, "_unmerged_at": {}, **state})

    def observe(self, snap: ClusterSnapshot) -> None:
        if self._seen and snap.at <= self._seen[-1]:
            return  # the same instant seen twice (a replay): counted once
        horizon = snap.at - timedelta(seconds=self.config.window_seconds)
        self._seen.append(snap.at)
        self._interval = snap.interval_seconds
        while self._seen and self._seen[0] <= horizon:
            self._seen.popleft()
        for d in snap.deployments:
            m = snap.metrics.get(d.key)
            self._measure(d, m)
            q = self._rates.setdefault(d.key, deque())
            q.append((snap.at, m.arrival_rate_rps if m is not None else 0.0))
            while q and q[0][0] <= horizon:
                q.popleft()

    def plan(self, snapshot: ClusterSnapshot, forecasts: Mapping[str, Forecast]) -> list[Proposal]:
        self.observe(snapshot)
        cfg = self.config
        live = [d for d in snapshot.deployments if not d.retired and d.routed_to is None]
        out = [p for d in live if d.adapters and (p := self._unmerge(snapshot, d)) is not None]
        if len(self._seen) * self._interval < cfg.min_observed * cfg.window_seconds:
            return out  # an unmerge needs no history: the traffic now says it
        unmerging = {p.action.target for p in out}
        live = [d for d in live if d.key not in unmerging]
        for base in sorted({d.model for d in live if is_fine_tune(d)}):
            tunes = [d for d in live if is_fine_tune(d) and d.model == base and d.min_replicas == 0]
            runtimes = [
                d for d in live if d.model == base and not is_fine_tune(d) and d.replicas > 0
            ]
            best = self._best_runtime(snapshot, runtimes, tunes)
            if best is not None:
                out.append(best)
        return out

    def _measure(self, d: ModelDeployment, m: ServingMetrics | None) -> None:
        ready = d.count(ReplicaPhase.READY)
        if m is None or ready == 0 or m.capacity_rps <= 0:
            return
        per = m.capacity_rps / ready
        if d.adapters:  # its measured capacity carries the multi-adapter overhead
            per /= 1.0 - self.config.adapter_overhead
        self._base_capacity[d.key] = max(self._base_capacity.get(d.key, 0.0), per)

    def _limit(self, d: ModelDeployment) -> float:
        """What a merge may put on runtime `d`: `max_share` of what it serves as a
        multi-adapter runtime at max_replicas (0: never seen serving). The same limit
        decides a merge and its undoing."""
        per = self._base_capacity.get(d.key, 0.0) * (1.0 - self.config.adapter_overhead)
        return self.config.max_share * per * d.max_replicas

    def _unmerge(self, snap: ClusterSnapshot, d: ModelDeployment) -> Proposal | None:
        """Every adapter off runtime `d` when its traffic has stayed past the merge limit for
        a wake lead of the adapters (their cold start plus one tick; `sustained_rate`)."""
        m = snap.metrics.get(d.key)
        limit = self._limit(d)
        if m is None or limit <= 0:
            return None
        merged = [a for k in d.adapters if (a := snap.deployment(k)) is not None]
        lead = max((a.cold_start_seconds for a in merged), default=0.0) + snap.interval_seconds
        recent = [v for _, v in self._rates.get(d.key, ())]
        rate = sustained_rate(recent, lead, snap.interval_seconds)
        if rate <= limit:
            return None
        self._unmerged_at[d.key] = snap.at
        return Proposal(
            action=UnmergeAdapters(
                base_model=d.model, sources=d.adapters, runtime=d.key, issued_at=snap.at
            ),
            reason=(
                f"unmerge {len(d.adapters)} {d.model} adapter(s) from {d.key}: it received "
                f"{rate:.2f} req/s over the last {lead:.0f} s (their cold start and a tick), "
                f"past the {limit:.2f} req/s a merge may put on it "
                f"({self.config.max_share:.0%} of what it serves at its {d.max_replicas} "
                "replicas); served by their own deployments again, they can scale past that cap"
            ),
            evidence=(
                ev("adapters", len(d.adapters)),
                ev("runtime_rate", rate, "req/s"),
                ev("over_seconds", lead, "s"),
                ev("runtime_capacity_limit", limit, "req/s"),
                ev("runtime_replicas", d.replicas),
                ev("runtime_max_replicas", d.max_replicas),
                ev("queue_depth", m.queue_depth, "requests"),
            ),
            planner=self.name,
        )

    def _series(self, key: str) -> dict[datetime, float]:
        return dict(self._rates.get(key, ()))

    def _best_runtime(
        self, snap: ClusterSnapshot, runtimes: list[ModelDeployment], tunes: list[ModelDeployment]
    ) -> Proposal | None:
        """The merge that moves the most fine-tunes onto one runtime (None: none fits)."""
        cfg = self.config
        window = timedelta(seconds=cfg.window_seconds)
        best: tuple[int, Proposal] | None = None
        for r in sorted(runtimes, key=lambda d: d.key):
            limit = self._limit(r)
            since = self._unmerged_at.get(r.key)
            if limit <= 0 or (since is not None and since > snap.at - window):
                continue  # unmeasured, or unmerged within the window: it was outgrown
            room = cfg.max_adapters - len(r.adapters)
            fitting = [t for t in tunes if t.slo.queue_delay_seconds >= r.slo.queue_delay_seconds]
            total = self._series(r.key)
            chosen: list[ModelDeployment] = []
            for t in sorted(
                fitting, key=lambda t: (max(self._series(t.key).values(), default=0.0), t.key)
            ):
                if len(chosen) >= room:
                    break
                mine = self._series(t.key)
                trial = {at: v + mine.get(at, 0.0) for at, v in total.items()}
                if max(trial.values(), default=0.0) <= limit:
                    chosen.append(t)
                    total = trial
            if chosen and (best is None or len(chosen) > best[0]):
                best = (len(chosen), self._proposal(snap, r, chosen, total, limit))
        return best[1] if best is not None else None

    def _proposal(
        self,
        snap: ClusterSnapshot,
        runtime: ModelDeployment,
        tunes: list[ModelDeployment],
        total: dict[datetime, float],
        limit: float,
    ) -> Proposal:
        peak = max(total.values(), default=0.0)
        freed = sum(t.replicas * t.gpus_per_replica for t in tunes)
        means = {t.key: sum(self._series(t.key).values()) / max(1, len(total)) for t in tunes}
        return Proposal(
            action=MergeAdapters(
                base_model=runtime.model,
                sources=tuple(t.key for t in tunes),
                into=runtime.key,
                issued_at=snap.at,
            ),
            reason=(
                f"merge {len(tunes)} {runtime.model} fine-tune(s) into {runtime.key}: together "
                f"they peaked at {peak:.2f} req/s over the last "
                f"{self.config.window_seconds / 3600:.0f} h, within {limit:.2f} req/s it serves "
                f"as a multi-adapter runtime at {runtime.max_replicas} replicas; frees {freed} "
                f"GPU(s) now, and their requests no longer wait for a cold start after idling"
            ),
            evidence=(
                ev("adapters", len(tunes) + len(runtime.adapters)),
                ev("combined_peak", peak, "req/s"),
                ev("runtime_capacity_limit", limit, "req/s"),
                ev("gpus_freed", freed, "GPUs"),
                ev("cold_start_avoided", max(t.cold_start_seconds for t in tunes), "s"),
                ev("fine_tunes_mean_rps", round(sum(means.values()), 4), "req/s"),
            ),
            planner=self.name,
        )
