"""The tick loop: observe -> forecast -> plan -> guard -> approve -> act -> record.

Every port is injected; the daemon knows no backend. A failing stage is logged and
recorded, and the tick goes on with what it has (no snapshot: nothing to plan; guard
error: everything denied). An action id is executed at most once, across restarts:
the executed ids come from the journal. SIGINT / SIGTERM finish the current tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

import structlog

from gpusteward.core import stages
from gpusteward.core.actions import Proposal
from gpusteward.core.approvals import ApprovalRequest
from gpusteward.core.cluster import ClusterSnapshot
from gpusteward.core.diagnosis import DiagnosticWarning
from gpusteward.core.load import Forecast, LoadHistory, LoadSeries
from gpusteward.core.ports import (
    ApprovalGate,
    Clock,
    ClusterSource,
    Executor,
    Forecaster,
    GuardInputs,
    Journal,
    Planner,
    PolicyEngine,
    Versioned,
    blocks_on_io,
)
from gpusteward.core.tick import Stage, StageError, TickRecord
from gpusteward.core.verdicts import (
    ActionResult,
    Allow,
    ExecutedAction,
    NeedsApproval,
    ResultStatus,
    Verdict,
)
from gpusteward.daemon.resume import write_checkpoint
from gpusteward.daemon.run_stats import RunStats

log = structlog.get_logger("gpusteward.daemon.loop")
T = TypeVar("T")


@dataclass(frozen=True)
class DaemonConfig:
    interval_seconds: float = 60.0
    dry_run: bool = False
    forecast_horizon_seconds: float = 900.0
    history_points: int = 11_520  # 8 days of 60 s ticks: enough for weekly seasonality
    end: datetime | None = None  # stop once the clock reaches this (simulated runs)
    max_ticks: int | None = None
    offload_blocking_calls: bool = True  # real backends block; the simulator does not
    recent_actions_seconds: float = 86_400.0  # how far back the guard sees executed actions
    checkpoints: bool = True  # False: a run that is never resumed (replay, diagnostics)


class Leadership(Protocol):
    """Whether this daemon may act now (a leader lease it renews); cheap and local."""

    def is_leader(self) -> bool: ...


class DaemonMetrics(Protocol):
    """Where the daemon reports its own metrics (the `/metrics` exposition)."""

    def stage_seconds(self, stage: str, seconds: float) -> None: ...

    def tick(self, record: TickRecord, *, leader: bool) -> None:
        """Count one tick; `leader`: this daemon holds the leader lease (False without
        an election: a dry run or a simulated run holds none)."""


Diagnose = Callable[[ClusterSnapshot, GuardInputs], tuple[DiagnosticWarning, ...]]
"""Early-warning diagnostics run each tick (`diagnostics.Diagnostics.observe`)."""


class Daemon:
    def __init__(
        self,
        *,
        source: ClusterSource,
        executor: Executor,
        forecaster: Forecaster,
        planner: Planner,
        policy: PolicyEngine,
        approvals: ApprovalGate,
        journal: Journal,
        clock: Clock,
        config: DaemonConfig,
        backend_checkpoint: Callable[[], bytes] | None = None,
        history: LoadHistory | None = None,
        recent: Sequence[ExecutedAction] = (),
        on_tick: Callable[[TickRecord], None] | None = None,
        leadership: Leadership | None = None,
        metrics: DaemonMetrics | None = None,
        diagnose: Diagnose | None = None,
    ) -> None:
        self.source, self.executor, self.forecaster = source, executor, forecaster
        self.planner, self.policy, self.approvals = planner, policy, approvals
        self.journal, self.clock, self.config = journal, clock, config
        self._backend_checkpoint = backend_checkpoint
        self.history = history or LoadHistory(config.interval_seconds, config.history_points)
        self.recent: deque[ExecutedAction] = deque(recent)
        self._on_tick = on_tick
        self.leadership, self.metrics, self.diagnose = leadership, metrics, diagnose
        self._executed = journal.executed_action_ids()
        self._stop = asyncio.Event()
        self.interrupted_by: str | None = None  # the signal that stopped the run, if one did
        self.paused = False  # set from the chat: observe, plan, guard and ask, but never act
        self.stats = RunStats()

    # -- the loop ---------------------------------------------------------------

    def request_stop(self, reason: str = "requested") -> None:
        if not self._stop.is_set():
            log.info("stopping after the current tick", reason=reason)
        self._stop.set()

    def _interrupted(self, signal_name: str) -> None:
        self.interrupted_by = self.interrupted_by or signal_name
        self.request_stop(signal_name)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def set_paused(self, paused: bool) -> None:
        """Pause or resume acting. Observing, planning, judging and asking go on; approved
        actions wait for the resume (they are re-validated then, as always)."""
        if paused != self.paused:
            log.warning("acting paused" if paused else "acting resumed")
        self.paused = paused

    async def run(self, *, once: bool = False, tick_first: bool = True) -> RunStats:
        """Tick until stopped, `end` is reached, or `max_ticks` ticks have run."""
        self._install_signal_handlers()
        try:
            if not tick_first:
                await self._wait_interval(0.0)
            while not self.stopping and not self._past_end():
                started = self.clock.monotonic()
                await self.tick()
                if once or self._done():
                    break
                await self._wait_interval(self.clock.monotonic() - started)
        finally:
            self._remove_signal_handlers()
        return self.stats

    def _past_end(self) -> bool:
        end = self.config.end
        return end is not None and self.clock.now() > end

    def _done(self) -> bool:
        cfg = self.config
        if cfg.max_ticks is not None and self.stats.ticks >= cfg.max_ticks:
            return True
        return (
            cfg.end is not None
            and self.clock.now() + timedelta(seconds=cfg.interval_seconds) > cfg.end
        )

    async def _wait_interval(self, elapsed: float) -> None:
        remaining = max(0.0, self.config.interval_seconds - elapsed)
        sleeper = asyncio.ensure_future(self.clock.sleep(remaining))
        stopper = asyncio.ensure_future(self._stop.wait())
        await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if not sleeper.done():  # stopping: a real sleep may be cut short
            sleeper.cancel()
        stopper.cancel()

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
                loop.add_signal_handler(sig, self._interrupted, sig.name)

    def _remove_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)

    # -- one tick -----------------------------------------------------------------

    async def tick(self) -> TickRecord:
        seq = self.journal.next_seq()
        at = self.clock.now()
        errors: list[StageError] = []
        snapshot = await self._stage(Stage.OBSERVE, errors, self.source.snapshot)
        forecasts: tuple[Forecast, ...] = ()
        proposals: list[Proposal] = []
        verdicts: list[Verdict] = []
        requests: list[ApprovalRequest] = []
        results: list[ActionResult] = []
        warnings: tuple[DiagnosticWarning, ...] | None = None
        if snapshot is not None and not self.leads():
            at = snapshot.at  # standby: keep the load history warm for a takeover; no acting
            self._observe_load(snapshot)
            log.info("standby: another daemon holds the leader lease")
        elif snapshot is not None:
            at = snapshot.at
            series = self._observe_load(snapshot)
            with self._timed(Stage.FORECAST):
                if blocks_on_io(self.forecaster):  # Prophet fits take seconds
                    forecasts = await asyncio.to_thread(self._forecast, series, errors)
                else:  # last value: a thread hand-off would cost more than the forecast
                    forecasts = self._forecast(series, errors)
            by_key = {f.key: f for f in forecasts}
            stages.prune_recent(self.recent, at, self.config.recent_actions_seconds)
            inputs = GuardInputs(forecasts=by_key, load=series, recent=tuple(self.recent))
            planned = await self._stage(
                Stage.PLAN, errors, stages.plan, self.planner, snapshot, inputs
            )
            proposals = planned or []
            with self._timed(Stage.GUARD):
                verdicts = self._guard(proposals, snapshot, inputs, errors)
            requests = self._submit_approvals(proposals, verdicts, at, errors)
            to_run = [p for p, v in zip(proposals, verdicts, strict=True) if isinstance(v, Allow)]
            if self.paused:
                if to_run:
                    log.warning("paused: allowed actions not run", count=len(to_run))
                to_run = []
            else:
                to_run += self._approved_and_still_valid(snapshot, inputs, at, errors, results)
            for proposal in to_run:
                results.append(await self._act(proposal, errors))
            if self.diagnose is not None:  # after acting: a remedy is judged on this snapshot
                warnings = await self._stage(
                    Stage.DIAGNOSE, errors, self.diagnose, snapshot, inputs
                )
        record = TickRecord(
            seq=seq,
            at=at,
            snapshot=snapshot,
            forecasts=forecasts,
            planner=self.planner.name,
            proposals=tuple(proposals),
            verdicts=tuple(verdicts),
            approvals=tuple(requests),
            results=tuple(results),
            errors=tuple(errors),
            dry_run=self.config.dry_run,
            llm=stages.take_llm_trace(self.planner),
            forecaster=_forecaster_id(self.forecaster),
            policy_version=self.policy.version,
            warnings=warnings or (),
        )
        self.journal.append(record, self._checkpoint(seq, at) if self.config.checkpoints else None)
        self._account(record)
        return record

    def leads(self) -> bool:
        """True without a leader election (one daemon), else whether we hold the lease."""
        return self.leadership is None or self.leadership.is_leader()

    @contextlib.contextmanager
    def _timed(self, stage: Stage) -> Iterator[None]:
        started = time.perf_counter()  # real time: stage latency, even on a virtual clock
        try:
            yield
        finally:
            if self.metrics is not None:
                self.metrics.stage_seconds(stage.value, time.perf_counter() - started)

    async def _stage(
        self, stage: Stage, errors: list[StageError], fn: Callable[..., T], *args: Any
    ) -> T | None:
        with self._timed(stage):
            return await self._stage_untimed(stage, errors, fn, *args)

    async def _stage_untimed(
        self, stage: Stage, errors: list[StageError], fn: Callable[..., T], *args: Any
    ) -> T | None:
        try:
            blocking = (
                self.config.offload_blocking_calls and stage in (Stage.OBSERVE, Stage.ACT)
            ) or (stage is Stage.PLAN and blocks_on_io(self.planner))
            if blocking:  # keep the event loop (and the chat served beside it) responsive
                return await asyncio.to_thread(fn, *args)
            return fn(*args)
        except Exception as e:
            errors.append(_stage_error(stage, e))
            log.error(
                "stage failed; the tick goes on without it",
                stage=stage.value,
                error=type(e).__name__,
                detail=str(e),
            )
            return None

    def _observe_load(self, snapshot: ClusterSnapshot) -> dict[str, LoadSeries]:
        stages.observe_load(self.history, snapshot)
        return stages.load_series(self.history)

    def _forecast(
        self, series: Mapping[str, LoadSeries], errors: list[StageError]
    ) -> tuple[Forecast, ...]:
        """Every series' forecast; in a worker thread when the forecaster has `blocking_io`
        (the tick waits for it, so the same inputs give the same forecasts). Failures
        become stage errors; a failing series has no forecast this tick."""
        made = stages.forecast(self.forecaster, series, self.config.forecast_horizon_seconds)
        for key, e in made.failures:  # key None: the batch failed; then one series at a time
            errors.append(_stage_error(Stage.FORECAST, e, where=key))
            log.error("forecast failed", deployment=key or "(the batch)", error=str(e))
        return made.forecasts

    def _guard(
        self,
        proposals: Sequence[Proposal],
        snapshot: ClusterSnapshot,
        inputs: GuardInputs,
        errors: list[StageError],
    ) -> list[Verdict]:
        judged = stages.judge(self.policy, proposals, snapshot, inputs)
        if judged.error is not None:
            errors.append(_stage_error(Stage.GUARD, judged.error))
            log.error("guard failed; denying every proposal this tick", error=str(judged.error))
            return judged.verdicts
        for proposal, verdict in zip(proposals, judged.verdicts, strict=True):
            _log_shadow_hits(proposal, verdict)
        return judged.verdicts

    def _submit_approvals(
        self,
        proposals: Sequence[Proposal],
        verdicts: Sequence[Verdict],
        at: datetime,
        errors: list[StageError],
    ) -> list[ApprovalRequest]:
        requests = []
        for proposal, verdict in zip(proposals, verdicts, strict=True):
            if isinstance(verdict, NeedsApproval) and proposal.action.id not in self._executed:
                try:
                    requests.append(self.approvals.submit(proposal, verdict, at))
                except Exception as e:
                    errors.append(_stage_error(Stage.APPROVE, e))
        return requests

    def _approved_and_still_valid(
        self,
        snapshot: ClusterSnapshot,
        inputs: GuardInputs,
        at: datetime,
        errors: list[StageError],
        results: list[ActionResult],
    ) -> list[Proposal]:
        """Approved actions, re-judged on this tick's snapshot; the ones that no longer fit
        are superseded (a result says why), not run."""
        try:
            approved = self.approvals.approved(at)
        except Exception as e:
            errors.append(_stage_error(Stage.APPROVE, e))
            return []
        runnable = []
        for request in approved:
            rejudged = stages.rejudge(self.policy, request, snapshot, inputs)
            if rejudged.error is not None:
                errors.append(_stage_error(Stage.GUARD, rejudged.error))
                log.error("guard failed; the approved action is not run", error=str(rejudged.error))
            elif rejudged.verdict is not None:
                _log_shadow_hits(request.proposal, rejudged.verdict)
            if rejudged.runnable:
                runnable.append(request.proposal)
            else:
                results.append(rejudged.superseded(at))
        return runnable

    async def _act(self, proposal: Proposal, errors: list[StageError]) -> ActionResult:
        action = proposal.action
        if not self.leads():  # the lease was lost during this tick: stop acting now
            why = "not run: this daemon no longer holds the leader lease"
            return self._not_run(action.id, ResultStatus.SUPERSEDED, why)
        if action.id in self._executed:
            return self._not_run(
                action.id, ResultStatus.DUPLICATE, "already executed; not run again"
            )
        result = await self._stage(Stage.ACT, errors, self._execute, proposal)
        if result is None:
            why = errors[-1].message if errors else "failed"
            return self._not_run(action.id, ResultStatus.FAILED, why)
        if result.status == ResultStatus.APPLIED:
            self._executed.add(action.id)
            self.recent.append(ExecutedAction(action=action, at=result.at))
        log.info(
            "action",
            id=action.id,
            what=action.describe(),
            status=result.status.value,
            reason=proposal.reason,
        )
        return result

    def _not_run(self, action_id: str, status: ResultStatus, message: str) -> ActionResult:
        return ActionResult(
            action_id=action_id, status=status, message=message, at=self.clock.now()
        )

    def _execute(self, proposal: Proposal) -> ActionResult:
        return self.executor.execute(proposal.action, dry_run=self.config.dry_run)

    def _checkpoint(self, seq: int, at: datetime) -> bytes:
        backend = self._backend_checkpoint() if self._backend_checkpoint else None
        return write_checkpoint(seq, at, self.planner, backend)

    def _account(self, record: TickRecord) -> None:
        self.stats.add(record)
        if self.metrics is not None:
            holds = self.leadership is not None and self.leadership.is_leader()
            self.metrics.tick(record, leader=holds)
        if self._on_tick is not None:
            self._on_tick(record)


def _forecaster_id(forecaster: Forecaster) -> str:
    version = forecaster.version if isinstance(forecaster, Versioned) else None
    return f"{forecaster.name}@{version}" if version else forecaster.name


def _stage_error(stage: Stage, e: Exception, where: str | None = None) -> StageError:
    message = str(e) if where is None else f"{where}: {e}"
    return StageError(stage=stage, error_type=type(e).__name__, message=message)


def _log_shadow_hits(proposal: Proposal, verdict: Verdict) -> None:
    for hit in verdict.shadow:
        if hit.mode == "warn":  # audit hits are only recorded
            log.warning(
                "shadow rule fired (not enforced)",
                rule=hit.rule,
                would=hit.effect,
                action=proposal.action.describe(),
                reason=hit.reason,
            )
