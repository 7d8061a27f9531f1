"""The tick loop: observe -> forecast -> plan -> guard -> approve -> act -> record.

Every port is injected; the daemon knows no backend. A failing stage is logged and
recorded, and the tick goes on with what it has (no snapshot: nothing to plan; guard
error: everything denied). An action id is executed at most once, across restarts:
the executed ids come from the journal. SIGINT / SIGTERM finish the current tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import pickle
import signal
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

import structlog

from gpusteward.core.actions import Proposal
from gpusteward.core.approvals import ApprovalRequest, stale_reason
from gpusteward.core.cluster import ClusterSnapshot
from gpusteward.core.llm import RecordsLlmTrace
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
)
from gpusteward.core.tick import Stage, StageError, TickRecord
from gpusteward.core.verdicts import (
    ActionResult,
    Allow,
    Deny,
    ExecutedAction,
    NeedsApproval,
    ResultStatus,
    RuleHit,
    Verdict,
)
from gpusteward.resume import (  # re-exported: callers import them from here
    DaemonCheckpoint,
    observe_load,
)
from gpusteward.run_stats import RunStats

log = structlog.get_logger("gpusteward.daemon")
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


class Leadership(Protocol):
    """Whether this daemon may act now (a leader lease it renews); cheap and local."""

    def is_leader(self) -> bool: ...


class DaemonMetrics(Protocol):
    """Where the daemon reports its own metrics (the `/metrics` exposition)."""

    def stage_seconds(self, stage: str, seconds: float) -> None: ...

    def tick(self, record: TickRecord, *, leader: bool) -> None: ...


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
    ) -> None:
        self.source, self.executor, self.forecaster = source, executor, forecaster
        self.planner, self.policy, self.approvals = planner, policy, approvals
        self.journal, self.clock, self.config = journal, clock, config
        self._backend_checkpoint = backend_checkpoint
        self.history = history or LoadHistory(config.interval_seconds, config.history_points)
        self.recent: deque[ExecutedAction] = deque(recent)
        self._on_tick = on_tick
        self.leadership, self.metrics = leadership, metrics
        self._executed = journal.executed_action_ids()
        self._stop = asyncio.Event()
        self.paused = False  # set from the chat: observe, plan, guard and ask, but never act
        self.stats = RunStats()

    # -- the loop ---------------------------------------------------------------

    def request_stop(self, reason: str = "requested") -> None:
        if not self._stop.is_set():
            log.info("stopping after the current tick", reason=reason)
        self._stop.set()

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
                loop.add_signal_handler(sig, self.request_stop, sig.name)

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
        if snapshot is not None and not self.leads():
            at = snapshot.at  # standby: keep the load history warm for a takeover; no acting
            self._observe_load(snapshot)
            log.info("standby: another daemon holds the leader lease")
        elif snapshot is not None:
            at = snapshot.at
            series = self._observe_load(snapshot)
            with self._timed(Stage.FORECAST):
                if getattr(self.forecaster, "blocking_io", False):  # Prophet fits take seconds
                    forecasts = await asyncio.to_thread(self._forecast, series, errors)
                else:  # last value: a thread hand-off would cost more than the forecast
                    forecasts = self._forecast(series, errors)
            by_key = {f.key: f for f in forecasts}
            self._prune_recent(at)
            inputs = GuardInputs(forecasts=by_key, load=series, recent=tuple(self.recent))
            planned = await self._stage(Stage.PLAN, errors, self._plan, snapshot, inputs)
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
            llm=self.planner.take_llm_trace()
            if isinstance(self.planner, RecordsLlmTrace)
            else None,
            forecaster=_forecaster_id(self.forecaster),
            policy_version=self.policy.version,
        )
        self.journal.append(record, self._checkpoint(seq, at))
        self._account(record)
        return record

    def _plan(self, snapshot: ClusterSnapshot, inputs: GuardInputs) -> list[Proposal]:
        # A GuardAwarePlanner; looked up by name: a runtime Protocol check costs ~30 µs a tick.
        plan_with_inputs = getattr(self.planner, "plan_with_inputs", None)
        if plan_with_inputs is not None:
            proposals: list[Proposal] = plan_with_inputs(snapshot, inputs)
            return proposals
        return self.planner.plan(snapshot, inputs.forecasts)

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
            ) or (stage is Stage.PLAN and getattr(self.planner, "blocking_io", False))
            if blocking:  # keep the event loop (and the chat served beside it) responsive
                return await asyncio.to_thread(fn, *args)
            return fn(*args)
        except Exception as e:
            errors.append(StageError(stage=stage, error_type=type(e).__name__, message=str(e)))
            log.error(
                "stage failed; the tick goes on without it",
                stage=stage.value,
                error=type(e).__name__,
                detail=str(e),
            )
            return None

    def _observe_load(self, snapshot: ClusterSnapshot) -> dict[str, LoadSeries]:
        observe_load(self.history, snapshot)
        return {key: self.history.series(key) for key in self.history.tracked()}

    def _forecast(
        self, series: Mapping[str, LoadSeries], errors: list[StageError]
    ) -> tuple[Forecast, ...]:
        """Every series' forecast; in a worker thread when the forecaster has `blocking_io`
        (the tick waits for it, so the same inputs give the same forecasts). A forecaster
        with `forecast_many` gets all series at once (it fits them in parallel); failures
        become stage errors."""
        horizon = self.config.forecast_horizon_seconds
        many = getattr(self.forecaster, "forecast_many", None)
        if many is not None and series:
            try:
                return tuple(many(list(series.values()), horizon))
            except Exception as e:  # fall back to one series at a time
                errors.append(
                    StageError(stage=Stage.FORECAST, error_type=type(e).__name__, message=str(e))
                )
                log.error("batch forecast failed; forecasting one series at a time", error=str(e))
        out = []
        for key, one in series.items():
            try:
                out.append(self.forecaster.forecast(one, horizon))
            except Exception as e:
                errors.append(
                    StageError(
                        stage=Stage.FORECAST, error_type=type(e).__name__, message=f"{key}: {e}"
                    )
                )
                log.error("forecast failed", deployment=key, error=str(e))
        return tuple(out)

    def _prune_recent(self, now: datetime) -> None:
        horizon = now - timedelta(seconds=self.config.recent_actions_seconds)
        while self.recent and self.recent[0].at < horizon:
            self.recent.popleft()

    def _guard(
        self,
        proposals: Sequence[Proposal],
        snapshot: ClusterSnapshot,
        inputs: GuardInputs,
        errors: list[StageError],
    ) -> list[Verdict]:
        if not proposals:
            return []
        try:
            verdicts = self.policy.evaluate(proposals, snapshot, inputs)
            if len(verdicts) != len(proposals):
                raise RuntimeError(f"{len(verdicts)} verdicts for {len(proposals)} proposals")
            for proposal, verdict in zip(proposals, verdicts, strict=True):
                for hit in verdict.shadow:
                    if hit.mode == "warn":  # audit hits are only recorded
                        log.warning(
                            "shadow rule fired (not enforced)",
                            rule=hit.rule,
                            would=hit.effect,
                            action=proposal.action.describe(),
                            reason=hit.reason,
                        )
            return verdicts
        except Exception as e:  # fail closed
            errors.append(
                StageError(stage=Stage.GUARD, error_type=type(e).__name__, message=str(e))
            )
            log.error("guard failed; denying every proposal this tick", error=str(e))
            hit = RuleHit(rule="guard-error", reason=f"policy evaluation failed: {e}")
            return [Deny(action_id=p.action.id, rules=(hit,)) for p in proposals]

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
                    errors.append(
                        StageError(stage=Stage.APPROVE, error_type=type(e).__name__, message=str(e))
                    )
        return requests

    def _approved_and_still_valid(
        self,
        snapshot: ClusterSnapshot,
        inputs: GuardInputs,
        at: datetime,
        errors: list[StageError],
        results: list[ActionResult],
    ) -> list[Proposal]:
        """Approved actions, re-judged on this tick's snapshot; denied ones are superseded."""
        try:
            approved = self.approvals.approved(at)
        except Exception as e:
            errors.append(
                StageError(stage=Stage.APPROVE, error_type=type(e).__name__, message=str(e))
            )
            return []
        runnable = []
        for request in approved:
            stale = stale_reason(request, snapshot, self.policy.version)
            if stale is not None:
                results.append(
                    ActionResult(
                        action_id=request.proposal.action.id,
                        status=ResultStatus.SUPERSEDED,
                        message=f"approved, but the world changed: {stale}",
                        at=at,
                    )
                )
                continue
            verdict = self._guard([request.proposal], snapshot, inputs, errors)[0]
            if isinstance(verdict, Deny):
                results.append(
                    ActionResult(
                        action_id=request.proposal.action.id,
                        status=ResultStatus.SUPERSEDED,
                        message=f"approved, but the policy now denies it: {verdict.reason}",
                        at=at,
                    )
                )
            else:
                runnable.append(request.proposal)
        return runnable

    async def _act(self, proposal: Proposal, errors: list[StageError]) -> ActionResult:
        action = proposal.action
        if not self.leads():  # the lease was lost during this tick: stop acting now
            return ActionResult(
                action_id=action.id,
                status=ResultStatus.SUPERSEDED,
                message="not run: this daemon no longer holds the leader lease",
                at=self.clock.now(),
            )
        if action.id in self._executed:
            return ActionResult(
                action_id=action.id,
                status=ResultStatus.DUPLICATE,
                message="already executed; not run again",
                at=self.clock.now(),
            )
        result = await self._stage(Stage.ACT, errors, self._execute, proposal)
        if result is None:
            return ActionResult(
                action_id=action.id,
                status=ResultStatus.FAILED,
                message=errors[-1].message if errors else "failed",
                at=self.clock.now(),
            )
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

    def _execute(self, proposal: Proposal) -> ActionResult:
        return self.executor.execute(proposal.action, dry_run=self.config.dry_run)

    def _checkpoint(self, seq: int, at: datetime) -> bytes:
        backend = self._backend_checkpoint() if self._backend_checkpoint else None
        state = DaemonCheckpoint(seq=seq, at=at, planner=self.planner, backend=backend)
        return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)

    def _account(self, record: TickRecord) -> None:
        self.stats.add(record)
        if self.metrics is not None:
            self.metrics.tick(record, leader=self.leads())
        if self._on_tick is not None:
            self._on_tick(record)


def _forecaster_id(forecaster: Forecaster) -> str:
    version = getattr(forecaster, "version", None)
    return f"{forecaster.name}@{version}" if version else forecaster.name
