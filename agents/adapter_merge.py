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
shorter burst is over before their own deployments could serve), the planner takes
adapters off it, and nothing merges into that runtime for a window. The limit is
`max_share` (80 %) of the capacity at max_replicas, so the unmerge comes before the cap
binds; merge and unmerge use one limit, from the most a ready replica was seen to serve
(a replica Ready for part of a tick shows less: a limit from one tick's figure would
flap). Which adapters, and how:
- Where each merged adapter's own rate is known (a router that picks the runtime by the
  request's model name counts them; the simulator's does), the busiest come off, until
  what stays is within the limit, and it is make-before-break: each is first scaled to
  the replicas its rate needs (at the runtime's measured capacity per replica), still
  served by the runtime meanwhile, and unmerged once every one of them has a Ready
  replica (or after `handover_leads` wake leads, when their replicas could not start:
  then their requests wait for them). The quiet adapters stay merged, and no request
  waits for a cold start because of the unmerge.
- Where they are not known (vLLM labels an adapter's requests with the runtime's model
  name, so on Kubernetes a merged adapter has no series of its own), every adapter comes
  off at once, and their requests wait for their own deployments to wake.
Evidence: the rate, the limit, the queue, the adapters' rates where known. Pure: time
comes from the snapshots only.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import Field

from agents.scaling import ev
from gpusteward.core.actions import MergeAdapters, Proposal, ScaleDeployment, UnmergeAdapters
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
    handover_leads: float = Field(
        default=3.0,
        gt=0,
        le=20,
        description="An unmerge waits at most this many wake leads (cold start + tick) for "
        "the adapters' own replicas to be Ready before it goes ahead without them.",
    )


def is_fine_tune(d: ModelDeployment) -> bool:
    return d.labels.get(BASE_MODEL_LABEL) == d.model


class AdapterMergePlanner(Remembers):
    name = "adapter-merge"

    remembers = (
        "_rates",
        "_seen",
        "_interval",
        "_base_capacity",
        "_unmerged_at",
        "_handover",
    )

    def __init__(self, config: AdapterMergeConfig | None = None) -> None:
        self.config = config or AdapterMergeConfig()
        self._rates: dict[str, deque[tuple[datetime, float]]] = {}
        self._seen: deque[datetime] = deque()
        self._interval = 60.0
        # per deployment: the most one ready replica was seen to serve without adapters
        # (a replica Ready for part of a tick shows less, never more)
        self._base_capacity: dict[str, float] = {}
        # runtime -> when it was found outgrown (its adapters came off, or began to)
        self._unmerged_at: dict[str, datetime] = {}
        # runtime -> the adapters being started before they come off it (since _unmerged_at)
        self._handover: dict[str, list[str]] = {}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Reads checkpoints written before the unmerge or its handover existed (that
        memory starts empty)."""
        empty: dict[str, Any] = {"_base_capacity": {}, "_unmerged_at": {}, "_handover": {}}
        super().restore({**empty, **state})

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
        serves = {d.key: set(d.adapters) for d in live}
        for r in list(self._handover):  # a handover ends once its adapters are off
            if not serves.get(r, set()) & set(self._handover[r]):
                del self._handover[r]
        out = [p for d in live if d.adapters for p in self._unmerge(snapshot, d)]
        if len(self._seen) * self._interval < cfg.min_observed * cfg.window_seconds:
            return out  # an unmerge needs no history: the traffic now says it
        unmerging = {p.action.target for p in out} | set(self._handover)
        live = [d for d in live if d.key not in unmerging]
        for base in sorted({d.model for d in live if is_fine_tune(d)}):
            tunes = [d for d in live if is_fine_tune(d) and d.model == base and d.min_replicas == 0]
            runtimes = [  # serving now: one with no Ready replica has no capacity to judge
                d
                for d in live
                if d.model == base and not is_fine_tune(d) and d.count(ReplicaPhase.READY) > 0
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

    def _unmerge(self, snap: ClusterSnapshot, d: ModelDeployment) -> list[Proposal]:
        """Adapters off runtime `d` when its traffic has stayed past the merge limit for a
        wake lead of the adapters (their cold start plus one tick; `sustained_rate`): the
        busiest, started first, where their rates are known; else all at once."""
        m = snap.metrics.get(d.key)
        limit = self._limit(d)
        merged = [a for k in d.adapters if (a := snap.deployment(k)) is not None]
        lead = max((a.cold_start_seconds for a in merged), default=0.0) + snap.interval_seconds
        pending = [a for a in merged if a.key in self._handover.get(d.key, ())]
        if pending:
            return self._hand_over(snap, d, pending, lead)
        if m is None or limit <= 0:
            return []
        rate = sustained_rate(self._recent(d.key), lead, snap.interval_seconds)
        if rate <= limit:
            return []
        self._unmerged_at[d.key] = snap.at
        own = {
            a.key: sustained_rate(self._recent(a.key), lead, snap.interval_seconds) for a in merged
        }
        if not merged or any(snap.metrics.get(a.key) is None for a in merged):
            return [self._unmerge_proposal(snap, d, merged, rate, lead, limit, None)]
        chosen: list[ModelDeployment] = []
        left = rate
        for a in sorted(merged, key=lambda a: (-own[a.key], a.key)):
            if left <= limit or own[a.key] <= 0:
                break
            chosen.append(a)
            left -= own[a.key]
        if left > limit:
            chosen = merged  # the runtime's own traffic outgrew it: the adapters' overhead goes
        self._handover[d.key] = [a.key for a in chosen]
        return self._hand_over(snap, d, chosen, lead)

    def _recent(self, key: str) -> list[float]:
        return [v for _, v in self._rates.get(key, ())]

    def _hand_over(
        self,
        snap: ClusterSnapshot,
        d: ModelDeployment,
        chosen: list[ModelDeployment],
        lead: float,
    ) -> list[Proposal]:
        """Start the chosen adapters' own replicas; unmerge them once each has one Ready
        (or once `handover_leads` wake leads have passed since the runtime was outgrown)."""
        step = snap.interval_seconds
        own = {a.key: sustained_rate(self._recent(a.key), lead, step) for a in chosen}
        rate = sustained_rate(self._recent(d.key), lead, step)
        waited = (snap.at - self._unmerged_at[d.key]).total_seconds()
        # an adapter without requests has none to hold: it needs no replica of its own first
        unready = [a for a in chosen if own[a.key] > 0 and a.count(ReplicaPhase.READY) == 0]
        if not unready or waited >= self.config.handover_leads * lead:
            # proposed each tick until the snapshot shows them off (a tick's proposal may be
            # dropped for the scaling planner's on the runtime): the handover ends there
            late = [a.key for a in unready]
            return [self._unmerge_proposal(snap, d, chosen, rate, lead, self._limit(d), own, late)]
        out = []
        per = self._base_capacity.get(d.key, 0.0) * self.config.max_share
        for a in unready:
            need = math.ceil(own[a.key] / per) if per > 0 else 1
            want = min(max(1, need, a.replicas), a.max_replicas)
            if want > a.replicas:
                out.append(self._start(snap, d, a, want, own[a.key]))
        return out

    def _start(
        self, snap: ClusterSnapshot, d: ModelDeployment, a: ModelDeployment, want: int, rate: float
    ) -> Proposal:
        """Adapter `a`'s own deployment scaled up while `d` still serves its requests."""
        why = (
            f"start {a.key} before it comes off {d.key}: it receives {rate:.2f} req/s as an "
            f"adapter there, and {d.key} is past what a merge may put on it; {d.key} serves "
            f"its requests until a replica of its own is Ready: scale up {a.replicas} -> {want}"
        )
        scale = ScaleDeployment(
            deployment=a.key, replicas=want, from_replicas=a.replicas, issued_at=snap.at
        )
        facts = (
            ev("adapter_rate", rate, "req/s"),
            ev("runtime", d.key),
            ev("cold_start", a.cold_start_seconds, "s"),
        )
        return Proposal(action=scale, reason=why, evidence=facts, planner=self.name)

    def _unmerge_proposal(
        self,
        snap: ClusterSnapshot,
        d: ModelDeployment,
        chosen: list[ModelDeployment],
        rate: float,
        lead: float,
        limit: float,
        own: dict[str, float] | None,
        late: list[str] | None = None,
    ) -> Proposal:
        m = snap.metrics.get(d.key)
        sources = tuple(a.key for a in chosen) if chosen else d.adapters
        if own is None:
            how = (
                "the adapters' own rates are not known, so all come off; served by their own "
                "deployments again, they can scale past that cap"
            )
        elif late:
            how = (
                f"{', '.join(late)} had no Ready replica of its own after "
                f"{self.config.handover_leads:g} wake leads: its requests wait for one"
            )
        else:
            how = "their own replicas are Ready: no request waits for the handover"
        kept = len(d.adapters) - len(sources)
        evidence = [
            ev("adapters", len(sources)),
            ev("adapters_kept", kept),
            ev("runtime_rate", rate, "req/s"),
            ev("over_seconds", lead, "s"),
            ev("runtime_capacity_limit", limit, "req/s"),
            ev("runtime_replicas", d.replicas),
            ev("runtime_max_replicas", d.max_replicas),
            ev("queue_depth", m.queue_depth if m is not None else 0, "requests"),
        ]
        if own is not None:
            evidence.append(
                ev("adapters_rate", round(sum(own.get(k, 0.0) for k in sources), 4), "req/s")
            )
        return Proposal(
            action=UnmergeAdapters(
                base_model=d.model, sources=sources, runtime=d.key, issued_at=snap.at
            ),
            reason=(
                f"unmerge {len(sources)} {d.model} adapter(s) from {d.key} ({kept} stay): it "
                f"received {rate:.2f} req/s over the last {lead:.0f} s (their cold start and a "
                f"tick), past the {limit:.2f} req/s a merge may put on it "
                f"({self.config.max_share:.0%} of what it serves at its {d.max_replicas} "
                f"replicas); {how}"
            ),
            evidence=tuple(evidence),
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
