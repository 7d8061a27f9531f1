"""One tick as a LangGraph `StateGraph`, with the human approval as an `interrupt()`.

    observe → forecast → plan → guard → act → submit → record ─┬─► END
                                                               └─► await_approval ⟲
    await_approval (interrupt) → act_approved → record_approved ─┬─► END
                                                                 └─► await_approval

`plan` is the LLM tool loop (with its deterministic fallback). Allowed actions run in
`act` at once; `NeedsApproval` ones are submitted to the `ApprovalGate` and the thread
parks in `await_approval`, checkpointed (SQLite in production), until
`AgentTickRunner.resume(approval_id)` relays what the GATE says: the resume value is
built from `ApprovalGate.approved()`, never from the model, and only ids this tick
submitted, whose action still hashes to what was approved, can run. Approved actions
are re-judged on a fresh snapshot before they run.

Dependencies reach nodes through the graph's runtime context (`TickContext`), never
globals. Everything before the interrupt is safe to re-run: observing and planning have
no effect; execution skips ids the journal records as executed; submitting is idempotent
per action id; the tick record carries its sequence number, so a second append is refused.
State holds JSON text only, so the checkpointer stores it without custom serialisers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

import structlog
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command, interrupt
from pydantic import TypeAdapter

from gpusteward.core.actions import Proposal
from gpusteward.core.approvals import ApprovalRequest, action_hash
from gpusteward.core.cluster import ClusterSnapshot
from gpusteward.core.errors import JournalError
from gpusteward.core.llm import LlmTrace, RecordsLlmTrace
from gpusteward.core.load import Forecast, LoadHistory
from gpusteward.core.ports import (
    ApprovalGate,
    Clock,
    ClusterSource,
    Executor,
    Forecaster,
    GuardAwarePlanner,
    GuardInputs,
    Journal,
    Planner,
    PolicyEngine,
)
from gpusteward.core.tick import TickRecord
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

log = structlog.get_logger("gpusteward.agents.graph")
VERDICT: TypeAdapter[Verdict] = TypeAdapter(Verdict)


class TickState(TypedDict, total=False):
    tick_id: str
    seq: int
    snapshot: str
    forecasts: list[str]
    proposals: list[str]
    verdicts: list[str]
    results: list[str]
    llm: str | None
    approvals: list[str]
    pending: list[str]
    approved: list[str]


@dataclass
class TickContext:
    """The ports one tick uses; the graph's runtime context."""

    source: ClusterSource
    forecaster: Forecaster
    planner: Planner
    policy: PolicyEngine
    approvals: ApprovalGate
    executor: Executor
    journal: Journal
    clock: Clock
    history: LoadHistory
    recent: list[ExecutedAction] = field(default_factory=list)
    horizon_seconds: float = 900.0
    dry_run: bool = False


Ctx = Runtime[TickContext]


def _snapshot(state: TickState) -> ClusterSnapshot:
    return ClusterSnapshot.model_validate_json(state["snapshot"])


def _forecasts(state: TickState) -> dict[str, Forecast]:
    out = {}
    for text in state.get("forecasts", []):
        f = Forecast.model_validate_json(text)
        out[f.key] = f
    return out


def _proposals(texts: Sequence[str]) -> list[Proposal]:
    return [Proposal.model_validate_json(t) for t in texts]


def _inputs(state: TickState, ctx: TickContext) -> GuardInputs:
    load = {key: ctx.history.series(key) for key in ctx.history.tracked()}
    return GuardInputs(forecasts=_forecasts(state), load=load, recent=tuple(ctx.recent))


def _observe_load(ctx: TickContext, snapshot: ClusterSnapshot) -> None:
    """Record each deployment's rate once per snapshot time (a re-run adds nothing)."""
    tracked = set(ctx.history.tracked())
    for d in snapshot.deployments:
        if d.key in tracked and ctx.history.series(d.key).end > snapshot.at:
            continue
        m = snapshot.metrics.get(d.key)
        ctx.history.record(d.key, snapshot.at, m.arrival_rate_rps if m else None)


# -- the tick ----------------------------------------------------------------------------


def observe(state: TickState, runtime: Ctx) -> dict[str, Any]:
    ctx = runtime.context
    snapshot = ctx.source.snapshot()
    _observe_load(ctx, snapshot)
    return {"snapshot": snapshot.model_dump_json(), "seq": ctx.journal.next_seq()}


def forecast(state: TickState, runtime: Ctx) -> dict[str, Any]:
    ctx = runtime.context
    out = []
    for key in ctx.history.tracked():
        try:
            out.append(ctx.forecaster.forecast(ctx.history.series(key), ctx.horizon_seconds))
        except Exception as e:  # one bad series must not cost the tick
            log.error("forecast failed", deployment=key, error=str(e))
    return {"forecasts": [f.model_dump_json() for f in out]}


def plan(state: TickState, runtime: Ctx) -> dict[str, Any]:
    ctx = runtime.context
    snapshot, inputs = _snapshot(state), _inputs(state, runtime.context)
    try:
        if isinstance(ctx.planner, GuardAwarePlanner):
            proposals = ctx.planner.plan_with_inputs(snapshot, inputs)
        else:
            proposals = ctx.planner.plan(snapshot, inputs.forecasts)
    except Exception as e:
        log.error("planner failed; no proposals this tick", error=str(e))
        proposals = []
    trace: LlmTrace | None = None
    if isinstance(ctx.planner, RecordsLlmTrace):
        trace = ctx.planner.take_llm_trace()
    return {
        "proposals": [p.model_dump_json() for p in proposals],
        "llm": trace.model_dump_json() if trace is not None else None,
    }


def _judge(
    ctx: TickContext, proposals: Sequence[Proposal], snapshot: ClusterSnapshot, inputs: GuardInputs
) -> list[Verdict]:
    if not proposals:
        return []
    try:
        verdicts = ctx.policy.evaluate(proposals, snapshot, inputs)
        if len(verdicts) == len(proposals):
            return verdicts
        raise RuntimeError(f"{len(verdicts)} verdicts for {len(proposals)} proposals")
    except Exception as e:  # fail closed
        hit = RuleHit(rule="guard-error", reason=f"policy evaluation failed: {e}")
        return [Deny(action_id=p.action.id, rules=(hit,)) for p in proposals]


def guard(state: TickState, runtime: Ctx) -> dict[str, Any]:
    ctx = runtime.context
    proposals = _proposals(state.get("proposals", []))
    verdicts = _judge(ctx, proposals, _snapshot(state), _inputs(state, ctx))
    return {"verdicts": [VERDICT.dump_json(v).decode() for v in verdicts]}


def _execute(ctx: TickContext, proposal: Proposal) -> ActionResult:
    action = proposal.action
    if action.id in ctx.journal.executed_action_ids():
        return ActionResult(
            action_id=action.id,
            status=ResultStatus.DUPLICATE,
            message="already executed; not run again",
            at=ctx.clock.now(),
        )
    try:
        result = ctx.executor.execute(action, dry_run=ctx.dry_run)
    except Exception as e:
        return ActionResult(
            action_id=action.id, status=ResultStatus.FAILED, message=str(e), at=ctx.clock.now()
        )
    if result.status == ResultStatus.APPLIED:
        ctx.recent.append(ExecutedAction(action=action, at=result.at))
    return result


def act(state: TickState, runtime: Ctx) -> dict[str, Any]:
    ctx = runtime.context
    proposals = _proposals(state.get("proposals", []))
    verdicts = [VERDICT.validate_json(v) for v in state.get("verdicts", [])]
    results = [
        _execute(ctx, p) for p, v in zip(proposals, verdicts, strict=True) if isinstance(v, Allow)
    ]
    return {"results": [r.model_dump_json() for r in results]}


def submit(state: TickState, runtime: Ctx) -> dict[str, Any]:
    ctx = runtime.context
    at = _snapshot(state).at
    proposals = _proposals(state.get("proposals", []))
    verdicts = [VERDICT.validate_json(v) for v in state.get("verdicts", [])]
    requests = [
        ctx.approvals.submit(p, v, at)  # idempotent per action id
        for p, v in zip(proposals, verdicts, strict=True)
        if isinstance(v, NeedsApproval)
    ]
    return {
        "approvals": [r.model_dump_json() for r in requests],
        "pending": [r.id for r in requests],
        "approved": [],
    }


def _append(ctx: TickContext, record: TickRecord) -> None:
    try:
        ctx.journal.append(record)
    except JournalError as e:
        if ctx.journal.next_seq() > record.seq:  # a re-run of a node that already wrote it
            log.info("tick already recorded; not written twice", seq=record.seq)
            return
        raise e


def record(state: TickState, runtime: Ctx) -> dict[str, Any]:
    ctx = runtime.context
    snapshot = _snapshot(state)
    llm = state.get("llm")
    _append(
        ctx,
        TickRecord(
            seq=state["seq"],
            at=snapshot.at,
            snapshot=snapshot,
            forecasts=tuple(_forecasts(state).values()),
            planner=ctx.planner.name,
            proposals=tuple(_proposals(state.get("proposals", []))),
            verdicts=tuple(VERDICT.validate_json(v) for v in state.get("verdicts", [])),
            approvals=tuple(
                ApprovalRequest.model_validate_json(a) for a in state.get("approvals", [])
            ),
            results=tuple(ActionResult.model_validate_json(r) for r in state.get("results", [])),
            dry_run=ctx.dry_run,
            llm=LlmTrace.model_validate_json(llm) if llm else None,
        ),
    )
    return {}


# -- the approval wait -------------------------------------------------------------------


def await_approval(state: TickState, runtime: Ctx) -> dict[str, Any]:
    pending = list(state.get("pending", []))
    requests = {
        r.id: r
        for r in (ApprovalRequest.model_validate_json(a) for a in state.get("approvals", []))
    }
    decision = interrupt(
        {
            "approval_ids": pending,
            "actions": [requests[i].proposal.action.describe() for i in pending if i in requests],
        }
    )
    approved_ids = set(decision.get("approved", ())) if isinstance(decision, dict) else set()
    closed_ids = set(decision.get("closed", ())) if isinstance(decision, dict) else set()
    approved = [
        i
        for i in pending
        if i in approved_ids and action_hash(requests[i].proposal) == requests[i].action_hash
    ]
    return {
        "approved": approved,
        "pending": [i for i in pending if i not in approved_ids and i not in closed_ids],
    }


def act_approved(state: TickState, runtime: Ctx) -> dict[str, Any]:
    """Approved actions, re-judged on a fresh snapshot; what the policy now denies is
    superseded, not run."""
    ctx = runtime.context
    requests = {
        r.id: r
        for r in (ApprovalRequest.model_validate_json(a) for a in state.get("approvals", []))
    }
    chosen = [requests[i].proposal for i in state.get("approved", []) if i in requests]
    if not chosen:
        return {"snapshot": state["snapshot"], "results": [], "verdicts": [], "proposals": []}
    snapshot = ctx.source.snapshot()
    inputs = GuardInputs(
        forecasts=_forecasts(state),
        load={k: ctx.history.series(k) for k in ctx.history.tracked()},
        recent=tuple(ctx.recent),
    )
    verdicts, results = [], []
    for proposal in chosen:
        verdict = _judge(ctx, [proposal], snapshot, inputs)[0]
        verdicts.append(verdict)
        if isinstance(verdict, Deny):
            results.append(
                ActionResult(
                    action_id=proposal.action.id,
                    status=ResultStatus.SUPERSEDED,
                    message=f"approved, but the policy now denies it: {verdict.reason}",
                    at=snapshot.at,
                )
            )
        else:
            results.append(_execute(ctx, proposal))
    return {
        "snapshot": snapshot.model_dump_json(),
        "seq": ctx.journal.next_seq(),
        "proposals": [p.model_dump_json() for p in chosen],
        "verdicts": [VERDICT.dump_json(v).decode() for v in verdicts],
        "results": [r.model_dump_json() for r in results],
    }


def record_approved(state: TickState, runtime: Ctx) -> dict[str, Any]:
    ctx = runtime.context
    if not state.get("results"):
        return {}
    snapshot = _snapshot(state)
    _append(
        ctx,
        TickRecord(
            seq=state["seq"],
            at=snapshot.at,
            snapshot=snapshot,
            planner="approval",
            proposals=tuple(_proposals(state.get("proposals", []))),
            verdicts=tuple(VERDICT.validate_json(v) for v in state.get("verdicts", [])),
            results=tuple(ActionResult.model_validate_json(r) for r in state["results"]),
            dry_run=ctx.dry_run,
        ),
    )
    return {}


def _after_record(state: TickState) -> str:
    return "await_approval" if state.get("pending") else END


def build_tick_graph() -> StateGraph[TickState, TickContext, TickState, TickState]:
    g: StateGraph[TickState, TickContext, TickState, TickState] = StateGraph(
        TickState, context_schema=TickContext
    )
    for name, fn in (
        ("observe", observe),
        ("forecast", forecast),
        ("plan", plan),
        ("guard", guard),
        ("act", act),
        ("submit", submit),
        ("record", record),
        ("await_approval", await_approval),
        ("act_approved", act_approved),
        ("record_approved", record_approved),
    ):
        g.add_node(name, fn)
    g.add_edge(START, "observe")
    for a, b in (
        ("observe", "forecast"),
        ("forecast", "plan"),
        ("plan", "guard"),
        ("guard", "act"),
        ("act", "submit"),
        ("submit", "record"),
        ("await_approval", "act_approved"),
        ("act_approved", "record_approved"),
    ):
        g.add_edge(a, b)
    g.add_conditional_edges("record", _after_record, ["await_approval", END])
    g.add_conditional_edges("record_approved", _after_record, ["await_approval", END])
    return g


# -- the runner ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TickOutcome:
    thread_id: str
    results: tuple[ActionResult, ...]
    waiting_for: tuple[str, ...]


class AgentTickRunner:
    """Runs ticks through the graph and resumes parked ones when the gate approves."""

    def __init__(self, context: TickContext, checkpointer: BaseCheckpointSaver[Any]) -> None:
        self.context = context
        self.checkpointer = checkpointer
        self.graph = build_tick_graph().compile(checkpointer=checkpointer)

    def _config(self, thread_id: str) -> RunnableConfig:
        return {"configurable": {"thread_id": thread_id}}

    def _resume(self, thread_id: str, value: dict[str, list[str]]) -> None:
        command: Command[Any] = Command(resume=value)
        self.graph.invoke(command, self._config(thread_id), context=self.context)

    def tick(self) -> TickOutcome:
        ctx = self.context
        thread_id = f"tick-{ctx.journal.next_seq()}-{ctx.clock.now().isoformat()}"
        start: TickState = {"tick_id": thread_id}
        self.graph.invoke(start, self._config(thread_id), context=ctx)
        return self._outcome(thread_id)

    def _outcome(self, thread_id: str) -> TickOutcome:
        state = self.graph.get_state(self._config(thread_id))
        values = state.values
        return TickOutcome(
            thread_id=thread_id,
            results=tuple(ActionResult.model_validate_json(r) for r in values.get("results", [])),
            waiting_for=tuple(values.get("pending", [])) if state.next else (),
        )

    def waiting(self) -> dict[str, str]:
        """approval id -> the parked thread waiting for it, read from the checkpointer
        (so it survives a restart)."""
        threads = {c.config["configurable"]["thread_id"] for c in self.checkpointer.list(None)}
        out = {}
        for thread_id in sorted(threads):
            state = self.graph.get_state(self._config(thread_id))
            if state.next:
                for approval_id in state.values.get("pending", []):
                    out[approval_id] = thread_id
        return out

    def resume(self, approval_id: str) -> TickOutcome | None:
        """Relay the gate's decisions to the parked threads; the outcome of the thread that
        waited for `approval_id`, or None when the gate has not approved it."""
        ctx = self.context
        now = ctx.clock.now()
        index = self.waiting()
        by_thread: dict[str, list[str]] = {}
        for request in ctx.approvals.approved(now):  # the decision comes from the gate only
            thread = index.get(request.id)
            if thread is None:
                log.warning("approved request has no waiting tick", approval=request.id)
                continue
            by_thread.setdefault(thread, []).append(request.id)
        outcome = None
        for thread, ids in by_thread.items():
            self._resume(thread, {"approved": ids})
            if approval_id in ids:
                outcome = self._outcome(thread)
        return outcome

    def close_expired(self, expired_ids: Sequence[str]) -> None:
        """Stop waiting for requests the gate has expired or rejected."""
        index = self.waiting()
        by_thread: dict[str, list[str]] = {}
        for i in expired_ids:
            if i in index:
                by_thread.setdefault(index[i], []).append(i)
        for thread, ids in by_thread.items():
            self._resume(thread, {"closed": ids})
