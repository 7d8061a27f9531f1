"""The tick's stages as functions: remember the load, forecast, plan, judge, and re-judge
an approved action before it runs.

The daemon's loop, the regression replay and what-if, runbooks, resume and bundle
export all call these, so a tick is decided one way wherever it is run or re-run.
Pure: no I/O of its own, no clock, no environment. The ports (planner, policy) and the
values (snapshot, guard inputs, history) come in as arguments; what a stage changes is
its argument (the load history, the recent actions) or its return value.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, cast, runtime_checkable

from gpusteward.core.actions import Action, Proposal, ScaleDeployment
from gpusteward.core.approvals import ApprovalRequest, stale_reason
from gpusteward.core.cluster import ClusterSnapshot, ReplicaPhase
from gpusteward.core.llm import LlmTrace, RecordsLlmTrace
from gpusteward.core.load import Forecast, LoadHistory, LoadSeries
from gpusteward.core.ports import (
    Forecaster,
    GuardAwarePlanner,
    GuardInputs,
    Planner,
    PolicyEngine,
)
from gpusteward.core.verdicts import (
    ActionResult,
    Deny,
    ExecutedAction,
    ResultStatus,
    RuleHit,
    Verdict,
)
from gpusteward.core.windows import hold_windows

GUARD_ERROR = "guard-error"  # the rule id of a fail-closed denial

# -- observe: the load history -------------------------------------------------------------


def observe_load(history: LoadHistory, snapshot: ClusterSnapshot) -> None:
    """Append each deployment's arrival rate at this snapshot to the history (a deployment
    without metrics is a gap, not zero load). The one way a snapshot feeds the history:
    live ticks, resume from the journal, bundle export and replay all use it."""
    for d in snapshot.deployments:
        m = snapshot.metrics.get(d.key)
        history.record(d.key, snapshot.at, m.arrival_rate_rps if m else None)


def restore_load(history: LoadHistory, recorded: Iterable[LoadSeries]) -> None:
    """Feed recorded series (a bundle's preamble) back into a history, point by point."""
    for series in recorded:
        for i, value in enumerate(series.values):
            at = series.start + timedelta(seconds=series.step_seconds * i)
            history.record(series.key, at, value)


def load_series(history: LoadHistory) -> dict[str, LoadSeries]:
    """Every tracked deployment's series, as the forecaster and the guard see it."""
    return {key: history.series(key) for key in history.tracked()}


def prune_recent(recent: deque[ExecutedAction], now: datetime, keep_seconds: float) -> None:
    """Drop executed actions older than `keep_seconds` before `now` (oldest first)."""
    horizon = now - timedelta(seconds=keep_seconds)
    while recent and recent[0].at < horizon:
        recent.popleft()


# -- forecast ------------------------------------------------------------------------------


@runtime_checkable
class BatchForecaster(Protocol):
    """A forecaster that forecasts many series at once (e.g. fits them in parallel)."""

    def forecast_many(
        self, series: Sequence[LoadSeries], horizon_seconds: float
    ) -> list[Forecast]: ...


@dataclass(frozen=True)
class Forecasts:
    """The forecasts made, and each failure: (deployment key, error), the key None for a
    failed batch (then each series was forecast on its own)."""

    forecasts: tuple[Forecast, ...]
    failures: tuple[tuple[str | None, Exception], ...] = ()


def forecast(
    forecaster: Forecaster, series: Mapping[str, LoadSeries], horizon_seconds: float
) -> Forecasts:
    """Every series' forecast. A `BatchForecaster` gets all series at once; if the batch
    fails, or for any other forecaster, one series at a time, and a failing series is left
    out (its failure is returned, not raised)."""
    failures: list[tuple[str | None, Exception]] = []
    if series and isinstance(forecaster, BatchForecaster):
        try:
            return Forecasts(
                tuple(forecaster.forecast_many(list(series.values()), horizon_seconds))
            )
        except Exception as e:  # fall back to one series at a time
            failures.append((None, e))
    out = []
    for key, one in series.items():
        try:
            out.append(forecaster.forecast(one, horizon_seconds))
        except Exception as e:
            failures.append((key, e))
    return Forecasts(tuple(out), tuple(failures))


# -- plan ------------------------------------------------------------------------------------

_GUARD_AWARE: dict[type, bool] = {}  # planner class -> GuardAwarePlanner (a check is ~10 µs)


def plan(planner: Planner, snapshot: ClusterSnapshot, inputs: GuardInputs) -> list[Proposal]:
    """The planner's proposals: a `GuardAwarePlanner` gets the guard's inputs, any other
    planner the forecasts; then the approved capacity windows hold over whatever it
    planned (`core.windows`). Errors propagate (the caller records them)."""
    kind = type(planner)
    aware = _GUARD_AWARE.get(kind)
    if aware is None:
        aware = _GUARD_AWARE[kind] = isinstance(planner, GuardAwarePlanner)
    if aware:
        proposals = cast(GuardAwarePlanner, planner).plan_with_inputs(snapshot, inputs)
    else:
        proposals = planner.plan(snapshot, inputs.forecasts)
    if not any(d.capacity_windows for d in snapshot.deployments):
        return proposals
    return hold_windows(snapshot, proposals, inputs.load)


def take_llm_trace(planner: Planner) -> LlmTrace | None:
    """The LLM exchange of the planner's last plan, handed out once; None for a planner
    that talks to no LLM."""
    return planner.take_llm_trace() if isinstance(planner, RecordsLlmTrace) else None


# -- guard -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Judgement:
    """One verdict per proposal, in order. `error` is why the guard failed, when it did:
    then every verdict is a `Deny` by rule `guard-error` (fail closed)."""

    verdicts: list[Verdict]
    error: Exception | None = None


def judge(
    policy: PolicyEngine,
    proposals: Sequence[Proposal],
    snapshot: ClusterSnapshot,
    inputs: GuardInputs,
) -> Judgement:
    """The policy's verdicts on `proposals`, judged as one batch. Fails closed: an
    evaluation error, or a verdict count that does not match, denies every proposal."""
    if not proposals:
        return Judgement([])
    try:
        verdicts = policy.evaluate(proposals, snapshot, inputs)
        if len(verdicts) != len(proposals):
            raise RuntimeError(f"{len(verdicts)} verdicts for {len(proposals)} proposals")
        return Judgement(verdicts)
    except Exception as e:
        hit = RuleHit(rule=GUARD_ERROR, reason=f"policy evaluation failed: {e}")
        return Judgement([Deny(action_id=p.action.id, rules=(hit,)) for p in proposals], e)


# -- approve: an approved request, judged again before it runs ------------------------------


@dataclass(frozen=True)
class Rejudged:
    """An approved request judged again on a fresh snapshot.

    `why_not` is None when it may run; else why it is superseded: the world it was approved
    for is gone (`stale_reason`), or the guard now denies it. `verdict` is the guard's
    (None when it was stale, so not judged); `error` is the guard's failure, if any.
    """

    request: ApprovalRequest
    why_not: str | None
    verdict: Verdict | None = None
    error: Exception | None = None

    @property
    def runnable(self) -> bool:
        return self.why_not is None

    def superseded(self, at: datetime) -> ActionResult:
        """The result that records why the approved action did not run."""
        return ActionResult(
            action_id=self.request.proposal.action.id,
            status=ResultStatus.SUPERSEDED,
            message=f"approved, but {self.why_not}",
            at=at,
        )


def over_capacity(action: Action, snapshot: ClusterSnapshot) -> str | None:
    """Why a scale-down, run on `snapshot`, would leave its deployment unable to serve the
    load arriving now (None: it would not) — what an approval card shows as "over
    capacity". Capacity per replica is what the ready replicas measure; without a measure
    there is no finding. (Retiring is the policy's to judge: its rules know traffic.)"""
    if not isinstance(action, ScaleDeployment) or action.replicas < 1:
        return None
    d = next((d for d in snapshot.deployments if d.key == action.deployment), None)
    m = snapshot.metrics.get(action.deployment)
    if d is None or m is None or action.replicas >= d.replicas:
        return None
    ready = d.count(ReplicaPhase.READY)
    if ready == 0 or m.capacity_rps <= 0:
        return None
    capacity = m.capacity_rps / ready * action.replicas
    if m.arrival_rate_rps <= capacity:
        return None
    return (
        f"{d.key} receives {m.arrival_rate_rps:.1f} req/s; {action.replicas} replica(s) "
        f"serve {capacity:.1f} ({m.arrival_rate_rps / capacity:.0%} utilisation)"
    )


def rejudge(
    policy: PolicyEngine,
    request: ApprovalRequest,
    snapshot: ClusterSnapshot,
    inputs: GuardInputs,
) -> Rejudged:
    """Whether an approved action may still run: it must fit the world it was approved for
    (same action hash, same policy version, the state it was planned from), and the guard,
    on this snapshot, must not deny it (a fresh `NeedsApproval` is already answered)."""
    stale = stale_reason(request, snapshot, policy.version)
    if stale is not None:
        return Rejudged(request, f"the world changed: {stale}")
    short = over_capacity(request.proposal.action, snapshot)
    if short is not None:
        return Rejudged(request, f"it would leave the live load over capacity now: {short}")
    judged = judge(policy, [request.proposal], snapshot, inputs)
    verdict = judged.verdicts[0]
    if isinstance(verdict, Deny):
        why = f"the policy now denies it: {verdict.reason}"
        return Rejudged(request, why, verdict, judged.error)
    return Rejudged(request, None, verdict)
