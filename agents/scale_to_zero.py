"""Scale to zero and wake: a wrapper around a scaling planner that parks idle models at
zero replicas and brings them back in time.

Per deployment whose spec allows zero (`min_replicas: 0`), each tick:
- at zero, with requests waiting or arriving (the simulator and a request-holding proxy
  keep them): wake now, to what the scaling planner wants (at least one replica);
- at zero, with a return expected within one wake lead (cold start + one tick) plus the
  tolerance (the model came back at that time of day on enough recent days, or the
  forecast expects a request): pre-warm one replica, ready by then;
- serving, idle for at least `min_idle_seconds` (the policy pack's floor), not inside a
  pre-warm's window, no return expected within the payback time plus the pre-warm's
  reach (a wake lead and the tolerance: a park must last the payback time before a
  pre-warm would wake it), and the model's own
  idle stretches say it rarely comes back soon from one this long (`return_risk`, see
  `agents.idle_stretches`): propose zero.
Otherwise the scaling planner's proposals stand, except that it never takes a deployment
to zero itself (going to zero is this planner's call, with its evidence): such a
proposal keeps one replica.
The payback time is `payback_leads` wake leads: parking for less than about two cold
starts saves less GPU time than the wake costs (the loading replica is paid for, and the
requests it holds wait). Pure, like the planner it wraps; its memory is remembered as data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field

from agents.idle_stretches import IdleMemory
from agents.scaling import ev
from gpusteward.core.actions import Evidence, PrewarmReplicas, Proposal, ScaleDeployment
from gpusteward.core.cluster import ClusterSnapshot, ModelDeployment, ServingMetrics
from gpusteward.core.load import Forecast
from gpusteward.core.model import Frozen
from gpusteward.core.ports import Planner, blocks_on_io
from gpusteward.core.remembered import Remembers


class ScaleToZeroConfig(Frozen):
    kind: Literal["scale-to-zero"] = "scale-to-zero"
    min_idle_seconds: float = Field(
        default=1800.0,
        gt=0,
        description="Never propose zero before this long without a request (the policy "
        "pack's `min_idle` for the same models: a proposal under it would be denied).",
    )
    return_risk: float = Field(
        default=0.2,
        gt=0,
        lt=1,
        description="Park when at most this share of the model's past idle stretches as "
        "long as the current one ended within the payback time.",
    )
    payback_leads: float = Field(
        default=2.0,
        gt=0,
        le=20,
        description="Parking pays when it lasts this many wake leads (cold start + tick).",
    )
    memory_days: float = Field(default=14.0, gt=0, description="Idle stretches kept this long.")
    prewarm_days: int = Field(default=7, ge=1, le=28, description="Days looked back for returns.")
    prewarm_min_days: int = Field(
        default=2, ge=1, description="A return seen on this many of those days recurs."
    )
    prewarm_tolerance_seconds: float = Field(
        default=1800.0,
        ge=0,
        description="How far a recurring return may drift from one day to the next: the "
        "pre-warm is ready this long before the earliest one seen, and waits this long "
        "after it for its request.",
    )
    learned: bool = Field(
        default=True,
        description="Wait for the model's own idle stretches to say it rarely comes back "
        "soon (False: zero after min_idle_seconds, as KEDA's cooldownPeriod).",
    )
    prewarm: bool = Field(
        default=True,
        description="Pre-warm before an expected return, and keep a model up when one is "
        "expected (False: wake on the first request only, as KEDA).",
    )
    forecast_requests: float = Field(
        default=1.0,
        gt=0,
        description="A forecast (not a fallback) of at least this many requests within "
        "the lead counts as a return coming.",
    )


def _active(m: ServingMetrics | None) -> bool:
    """A request arrived, waits or runs."""
    return m is not None and (m.arrival_rate_rps > 0 or m.queue_depth > 0 or m.running > 0)


def _hhmm(at: datetime) -> str:
    return at.strftime("%H:%M UTC")


class ScaleToZeroPlanner(Remembers):
    """Wraps a scaling planner; parks, wakes and pre-warms the deployments that may go to
    zero. Proposals it makes name it; the wrapped planner's keep their own name."""

    name = "scale-to-zero"

    remembers = ("inner", "_memory", "_prewarm_until")

    def __init__(self, inner: Planner, config: ScaleToZeroConfig | None = None) -> None:
        self.inner = inner
        self.config = config or ScaleToZeroConfig()
        self._memory: dict[str, IdleMemory] = {}
        self._prewarm_until: dict[str, datetime] = {}

    @property
    def blocking_io(self) -> bool:
        return blocks_on_io(self.inner)

    def plan(self, snapshot: ClusterSnapshot, forecasts: Mapping[str, Forecast]) -> list[Proposal]:
        inner = self.inner.plan(snapshot, forecasts)
        cfg = self.config
        by_target: dict[str, list[Proposal]] = {}
        for p in inner:
            by_target.setdefault(p.action.target, []).append(p)
        out: list[Proposal] = [p for p in inner if snapshot.deployment(p.action.target) is None]
        for d in snapshot.deployments:
            m = snapshot.metrics.get(d.key)
            mem = self._memory.setdefault(d.key, IdleMemory())
            mem.observe(
                snapshot.at,
                snapshot.interval_seconds,
                _active(m),
                long_idle_seconds=cfg.min_idle_seconds,
                keep_seconds=max(cfg.memory_days, cfg.prewarm_days + 1) * 86_400,
            )
            mine = by_target.get(d.key, [])
            if d.routed_to is not None:
                continue  # merged or consolidated: its requests are served elsewhere
            if d.retired or d.min_replicas > 0:
                out += mine
                continue
            f = forecasts.get(d.key)
            if f is not None and f.key != d.key:
                f = None  # filed under this deployment, made for another series
            out += self._decide(snapshot, d, m, f, mine)
        return out

    # -- decisions ----------------------------------------------------------------------

    def _decide(
        self,
        snap: ClusterSnapshot,
        d: ModelDeployment,
        m: ServingMetrics | None,
        f: Forecast | None,
        mine: list[Proposal],
    ) -> list[Proposal]:
        cfg, mem = self.config, self._memory[d.key]
        lead = d.cold_start_seconds + snap.interval_seconds
        if d.replicas == 0:
            if _active(m):
                return [self._wake(snap, d, m, mine)]
            coming = self._coming(snap, d, f, lead + cfg.prewarm_tolerance_seconds)
            if coming is None:
                return []  # parked, and stays so: the scaling planner's view is not asked
            when, why = coming
            # held until the recurrence's drift window ends: every return seen in it is in
            # [when, when + tolerance]
            self._prewarm_until[d.key] = when + timedelta(seconds=cfg.prewarm_tolerance_seconds)
            return [self._prewarm(snap, d, when, why, lead)]
        until = self._prewarm_until.get(d.key)
        if _active(m) or (until is not None and snap.at < until):
            return self._keep_one(snap, d, mine)
        idle = mem.idle_seconds(snap.at)
        payback = cfg.payback_leads * lead
        if idle < cfg.min_idle_seconds:
            return self._keep_one(snap, d, mine)
        # a pre-warm wakes it a lead and the tolerance before an expected return: parking
        # pays only if it lasts the payback time before then
        if self._coming(snap, d, f, payback + lead + cfg.prewarm_tolerance_seconds) is not None:
            return self._keep_one(snap, d, mine)
        risk, seen = mem.return_risk(idle, payback)
        if cfg.learned and risk > cfg.return_risk:
            return self._keep_one(snap, d, mine)
        return [self._park(snap, d, idle, risk, seen, payback)]

    def _coming(
        self, snap: ClusterSnapshot, d: ModelDeployment, f: Forecast | None, ahead: float
    ) -> tuple[datetime, str] | None:
        """When a request is expected within `ahead` seconds, and why; None when not."""
        cfg, mem = self.config, self._memory[d.key]
        if not cfg.prewarm:
            return None
        recurring = mem.recurring_return(
            snap.at, ahead, cfg.prewarm_days, cfg.prewarm_min_days, cfg.prewarm_tolerance_seconds
        )
        if recurring is not None:
            when, days = recurring
            return when, (
                f"it came back around {_hhmm(when)} on {days} of the last {cfg.prewarm_days} days"
            )
        if f is None or f.fallback:
            return None
        expected = 0.0
        for p in f.points:
            ahead_of = (p.at - snap.at).total_seconds()
            if ahead_of > ahead:
                break
            if ahead_of > 0:
                expected += p.p50 * f.step_seconds
                if expected >= cfg.forecast_requests:
                    return p.at, f"the forecast ({f.forecaster}) expects requests by {_hhmm(p.at)}"
        return None

    # -- proposals ----------------------------------------------------------------------

    def _wake(
        self,
        snap: ClusterSnapshot,
        d: ModelDeployment,
        m: ServingMetrics | None,
        mine: Sequence[Proposal],
    ) -> Proposal:
        wanted = max(
            (
                p.action.replicas
                for p in mine
                if isinstance(p.action, ScaleDeployment) and p.action.replicas > 0
            ),
            default=1,
        )
        replicas = min(max(1, wanted), d.max_replicas)
        queued = m.queue_depth if m is not None else 0
        rate = m.arrival_rate_rps if m is not None else 0.0
        return Proposal(
            action=ScaleDeployment(
                deployment=d.key, replicas=replicas, from_replicas=0, issued_at=snap.at
            ),
            reason=(
                f"wake from zero: {queued} request(s) held while a replica starts "
                f"(cold start {d.cold_start_seconds:.0f} s): scale up 0 -> {replicas}"
            ),
            evidence=(
                ev("queue_depth", queued, "requests"),
                ev("arrival_rate", rate, "req/s"),
                ev("cold_start", d.cold_start_seconds, "s"),
            ),
            planner=self.name,
        )

    def _prewarm(
        self, snap: ClusterSnapshot, d: ModelDeployment, when: datetime, why: str, lead: float
    ) -> Proposal:
        cfg = self.config
        expected_from = when - timedelta(seconds=cfg.prewarm_tolerance_seconds)
        ready_by = max(expected_from, snap.at + timedelta(seconds=lead))
        return Proposal(
            action=PrewarmReplicas(
                deployment=d.key,
                count=1,
                ready_by=ready_by,
                expected_from=expected_from,
                issued_at=snap.at,
            ),
            reason=(
                f"pre-warm from zero: {why}; one replica ready by {_hhmm(ready_by)} "
                "(it goes again if no request comes)"
            ),
            evidence=(
                ev("expected_return", when.isoformat()),
                ev("tolerance", cfg.prewarm_tolerance_seconds, "s"),
                ev("cold_start", d.cold_start_seconds, "s"),
            ),
            planner=self.name,
        )

    def _park(
        self,
        snap: ClusterSnapshot,
        d: ModelDeployment,
        idle: float,
        risk: float,
        seen: int,
        payback: float,
    ) -> Proposal:
        gpus = d.replicas * d.gpus_per_replica
        history = (
            f"{seen} earlier idle stretch(es) as long; {risk:.0%} of them ended within "
            f"{payback / 60:.0f} min"
            if seen
            else "never idle this long before: its traffic has stopped"
        )
        evidence: tuple[Evidence, ...] = (
            ev("idle", idle, "s"),
            ev("min_idle", self.config.min_idle_seconds, "s"),
            ev("similar_idle_stretches", seen),
            ev("return_risk", risk),
            ev("payback", payback, "s"),
            ev("gpus_freed", gpus, "GPUs"),
        )
        return Proposal(
            action=ScaleDeployment(
                deployment=d.key, replicas=0, from_replicas=d.replicas, issued_at=snap.at
            ),
            reason=(
                f"scale to zero: no request for {idle / 60:.0f} min; {history}; frees "
                f"{gpus} GPU(s), requests that come are held while it wakes: "
                f"scale down {d.replicas} -> 0"
            ),
            evidence=evidence,
            planner=self.name,
        )

    def _keep_one(
        self, snap: ClusterSnapshot, d: ModelDeployment, mine: Sequence[Proposal]
    ) -> list[Proposal]:
        """The scaling planner's proposals, none of them to zero (kept at one replica)."""
        out = []
        for p in mine:
            a = p.action
            if not (isinstance(a, ScaleDeployment) and a.replicas == 0):
                out.append(p)
                continue
            if d.replicas <= 1:
                continue  # it would only go to zero: not its call
            out.append(
                Proposal(
                    action=ScaleDeployment(
                        deployment=d.key, replicas=1, from_replicas=d.replicas, issued_at=snap.at
                    ),
                    reason=f"{p.reason.split(': scale')[0]}: scale down {d.replicas} -> 1 "
                    "(zero is the scale-to-zero planner's call)",
                    evidence=p.evidence,
                    planner=p.planner,
                )
            )
        return out
