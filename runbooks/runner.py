"""Running a runbook through the same guard and approval path as the daemon's own plans.

Each step is a proposal tool call (`tools.propose`), so its action is built and judged
exactly as an LLM proposal is: `Allow` runs now, `NeedsApproval` waits in the approval
gate for a human (and is re-validated on a fresh snapshot once approved), `Deny` stops
the run. After a step runs, its verification is polled until it holds or times out. A
failed precondition, a denial, a rejection or expiry, a failed execution or a failed
verification rolls back every completed step, newest first, through the same path.

`dry_run` shows every step's action and verdict (earlier steps counted as if allowed)
before anything runs. The cluster, the guard inputs and waiting come through the
`RunbookTarget` port: a simulator, or the real cluster with the real clock.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from gpusteward.core.actions import Action, Proposal
from gpusteward.core.approvals import ApprovalRequest
from gpusteward.core.cluster import ClusterSnapshot
from gpusteward.core.model import Frozen
from gpusteward.core.ports import ApprovalGate, GuardInputs, PolicyEngine
from gpusteward.core.stages import rejudge
from gpusteward.core.verdicts import ActionResult, Deny, NeedsApproval, ResultStatus, Verdict
from runbooks.binding import bind, check, resolve
from runbooks.model import (
    Check,
    Runbook,
    Step,
    ToolCall,
)
from tools.base import ToolError, ToolRegistry
from tools.context import ToolContext
from tools.registry import default_registry


class RunbookTarget(Protocol):
    """Where a runbook runs: observe, the guard's inputs, act, and wait (virtual or real)."""

    def snapshot(self) -> ClusterSnapshot: ...

    def guard_inputs(self) -> GuardInputs: ...

    def execute(self, action: Action) -> ActionResult: ...

    def wait(self, seconds: float) -> None: ...


class ApprovalDesk(ApprovalGate, Protocol):
    """The approval gate, plus which requests still wait (both shipped gates have it)."""

    def pending(self, now: datetime) -> list[ApprovalRequest]: ...


# -- templates and checks ---------------------------------------------------------------

Phase = Literal["precondition", "guard", "approval", "execute", "verify", "rollback"]
RunStatus = Literal[
    "pending", "waiting_approval", "succeeded", "rolled_back", "rollback_failed", "failed"
]


class StepEvent(Frozen):
    step: str
    phase: Phase
    ok: bool
    detail: str
    at: datetime
    action_id: str | None = None


class DryRunStep(Frozen):
    step: str
    description: str
    action: str | None
    decision: str | None
    rules: tuple[str, ...] = ()
    reason: str = ""
    preconditions: tuple[str, ...] = ()
    preconditions_hold: bool = True
    verify: tuple[str, ...] = ()
    rollback: str | None = None
    rollback_decision: str | None = None


@dataclass
class _Op:
    step: Step
    call: ToolCall
    rollback: bool = False


@dataclass
class RunbookRun:
    """One run of one runbook: its state machine. `advance()` until it is not pending."""

    runbook: Runbook
    values: dict[str, object]
    target: RunbookTarget
    policy: PolicyEngine
    approvals: ApprovalDesk
    registry: ToolRegistry = field(default_factory=default_registry)
    status: RunStatus = "pending"
    events: list[StepEvent] = field(default_factory=list)
    waiting: ApprovalRequest | None = None
    failure: str | None = None
    _queue: list[_Op] = field(default_factory=list)
    _done: list[Step] = field(default_factory=list)
    _rolling: bool = False
    _rolled_any: bool = False

    def __post_init__(self) -> None:
        self._queue = [_Op(s, s.call) for s in self.runbook.steps]

    @property
    def planner_name(self) -> str:
        return f"runbook:{self.runbook.name}"

    def advance(self) -> RunStatus:
        """Run steps until the runbook ends or waits for a human; returns the status."""
        while self._queue:
            op = self._queue[0]
            if self.waiting is not None:
                if not self._resume_approved(op):
                    return self.status
            elif not self._start(op):
                if self.status == "waiting_approval":
                    return self.status
                continue
            else:
                self._after_run(op)
        if self.status == "pending":
            if not self._rolling:
                self.status = "succeeded"
            else:
                self.status = "rolled_back" if self._rolled_any else "failed"
        return self.status

    def rollback(self, reason: str) -> RunStatus:
        """Undo every completed step, newest first (also callable by a person)."""
        self._fail(reason)
        return self.advance()

    # -- one operation ------------------------------------------------------------------

    def _now(self) -> datetime:
        return self.target.snapshot().at

    def _log(
        self, op: _Op, phase: Phase, ok: bool, detail: str, action_id: str | None = None
    ) -> None:
        self.events.append(
            StepEvent(
                step=op.step.id,
                phase="rollback" if op.rollback and phase != "approval" else phase,
                ok=ok,
                detail=detail,
                at=self._now(),
                action_id=action_id,
            )
        )

    def _start(self, op: _Op) -> bool:
        """Precondition, guard, and run or submit. True when the action ran."""
        snapshot = self.target.snapshot()
        if not op.rollback:
            for c in op.step.precondition:
                ok, seen = check(c, snapshot, self.values)
                self._log(op, "precondition", ok, seen)
                if not ok:
                    self._fail(f"step {op.step.id}: precondition failed: {seen}")
                    return False
        proposal, verdict = self._propose(op, snapshot)
        if proposal is None or verdict is None:
            return False
        self._log(
            op,
            "guard",
            not isinstance(verdict, Deny),
            f"{verdict.decision}: {verdict.reason}",
            proposal.action.id,
        )
        if isinstance(verdict, Deny):
            self._fail(
                f"step {op.step.id}: the policy denies {proposal.action.describe()}: "
                + verdict.reason
            )
            return False
        if isinstance(verdict, NeedsApproval):
            self.waiting = self.approvals.submit(proposal, verdict, snapshot.at)
            self.status = "waiting_approval"
            self._log(
                op,
                "approval",
                True,
                f"waiting for group {verdict.approver_group} (request {self.waiting.id})",
                proposal.action.id,
            )
            return False
        return self._execute(op, proposal)

    def _propose(
        self, op: _Op, snapshot: ClusterSnapshot
    ) -> tuple[Proposal | None, Verdict | None]:
        ctx = ToolContext(
            snapshot=snapshot,
            inputs=self.target.guard_inputs(),
            policy=self.policy,
            planner_name=self.planner_name,
        )
        args = dict(resolve(op.call.args, self.values))  # type: ignore[call-overload]
        kind = "rollback of " if op.rollback else ""
        args["rationale"] = (
            f"runbook {self.runbook.name}, {kind}step {op.step.id}: {op.step.description}"
        )
        outcome = self.registry.call(op.call.tool, json.dumps(args), ctx)
        if isinstance(outcome.result, ToolError):
            self._log(op, "guard", False, f"{op.call.tool}: {outcome.result.message}")
            self._fail(f"step {op.step.id}: {op.call.tool} refused: {outcome.result.message}")
            return None, None
        return ctx.proposals[-1], ctx.verdicts[-1]

    def _resume_approved(self, op: _Op) -> bool:
        request = self.waiting
        assert request is not None
        now = self._now()
        approved = {r.id: r for r in self.approvals.approved(now)}
        if request.id in approved:
            self.waiting, self.status = None, "pending"
            snapshot = self.target.snapshot()
            rejudged = rejudge(
                self.policy, approved[request.id], snapshot, self.target.guard_inputs()
            )
            if not rejudged.runnable:
                why = rejudged.why_not
                self._log(op, "approval", False, f"approved, but not run: {why}", request.id)
                self._fail(f"step {op.step.id}: approved, but {why}")
                return True
            self._log(
                op, "approval", True, f"approved by {approved[request.id].decided_by}", request.id
            )
            if self._execute(op, request.proposal):
                self._after_run(op)
            return True
        if any(r.id == request.id for r in self.approvals.pending(now)):
            return False  # still waiting
        self.waiting, self.status = None, "pending"
        self._log(op, "approval", False, "rejected or expired", request.id)
        self._fail(f"step {op.step.id}: approval {request.id} was rejected or expired")
        return True

    def _execute(self, op: _Op, proposal: Proposal) -> bool:
        result = self.target.execute(proposal.action)
        ok = result.status == ResultStatus.APPLIED
        self._log(
            op,
            "execute",
            ok,
            f"{proposal.action.describe()}: {result.status.value} {result.message}",
            proposal.action.id,
        )
        if not ok:
            self._fail(f"step {op.step.id}: {result.status.value}: {result.message}")
        return ok

    def _after_run(self, op: _Op) -> None:
        self._queue.pop(0)
        if op.rollback:
            return
        if op.step.verify is not None and not self._verify(op):
            self._done.append(op.step)
            self._fail(
                f"step {op.step.id}: verification did not hold within {op.step.verify.within}"
            )
            return
        self._done.append(op.step)

    def _verify(self, op: _Op) -> bool:
        verify = op.step.verify
        assert verify is not None
        waited = 0.0
        while True:
            snapshot = self.target.snapshot()
            seen = [check(c, snapshot, self.values) for c in verify.checks]
            if all(ok for ok, _ in seen) or waited >= verify.within_seconds:
                ok = all(ok for ok, _ in seen)
                self._log(
                    op, "verify", ok, "; ".join(s for _, s in seen) + f" (after {waited:g} s)"
                )
                return ok
            self.target.wait(verify.every_seconds)
            waited += verify.every_seconds

    def _fail(self, reason: str) -> None:
        if self.failure is None:
            self.failure = reason
        self.status = "pending"
        if self._rolling:  # a rollback step failed: stop, and say so
            self._queue = []
            self.status = "rollback_failed"
            return
        self._rolling = True
        self._queue = [
            _Op(s, s.rollback, rollback=True)
            for s in reversed(self._done)
            if s.rollback is not None
        ]
        self._rolled_any = bool(self._queue)
        self._done = []


def start(
    runbook: Runbook,
    params: Mapping[str, str],
    *,
    target: RunbookTarget,
    policy: PolicyEngine,
    approvals: ApprovalDesk,
    registry: ToolRegistry | None = None,
) -> RunbookRun:
    values = bind(runbook, params, target.snapshot())
    return RunbookRun(runbook, values, target, policy, approvals, registry or default_registry())


def dry_run(
    runbook: Runbook,
    params: Mapping[str, str],
    snapshot: ClusterSnapshot,
    inputs: GuardInputs,
    policy: PolicyEngine,
    registry: ToolRegistry | None = None,
) -> list[DryRunStep]:
    """Every step's action and verdict on `snapshot`, earlier steps counted as allowed by
    the guard (one batch, like one tick's proposals), and each rollback's verdict; nothing
    runs and nothing is submitted."""
    registry = registry or default_registry()
    values = bind(runbook, params, snapshot)
    ctx = ToolContext(
        snapshot=snapshot, inputs=inputs, policy=policy, planner_name=f"runbook:{runbook.name}"
    )
    out = []
    for step in runbook.steps:
        pre = [check(c, snapshot, values) for c in step.precondition]
        action, decision, rules, reason = _judge_call(registry, ctx, step.call, values, step)
        rb_action = rb_decision = None
        if step.rollback is not None:
            rb_ctx = ToolContext(
                snapshot=snapshot,
                inputs=inputs,
                policy=policy,
                planner_name=f"runbook:{runbook.name}",
            )
            rb_action, rb_decision, _, _ = _judge_call(
                registry, rb_ctx, step.rollback, values, step
            )
        out.append(
            DryRunStep(
                step=step.id,
                description=step.description,
                action=action,
                decision=decision,
                rules=rules,
                reason=reason,
                preconditions=tuple(s for _, s in pre),
                preconditions_hold=all(ok for ok, _ in pre),
                verify=tuple(
                    _describe(c, values) for c in (step.verify.checks if step.verify else ())
                ),
                rollback=rb_action
                if step.rollback
                else ("irreversible" if step.irreversible else None),
                rollback_decision=rb_decision,
            )
        )
    return out


def _describe(c: Check, values: Mapping[str, object]) -> str:
    fields = c.model_dump(exclude={"check", "description"}, exclude_none=True)
    return f"{c.check} {json.dumps(resolve(fields, values))}"


def _judge_call(
    registry: ToolRegistry,
    ctx: ToolContext,
    call: ToolCall,
    values: Mapping[str, object],
    step: Step,
) -> tuple[str | None, str | None, tuple[str, ...], str]:
    args = dict(resolve(call.args, values))  # type: ignore[call-overload]
    args["rationale"] = f"dry run of step {step.id}"
    outcome = registry.call(call.tool, json.dumps(args), ctx)
    if isinstance(outcome.result, ToolError):
        return None, "refused", (), outcome.result.message
    verdict = ctx.verdicts[-1]
    return (
        ctx.proposals[-1].action.describe(),
        verdict.decision,
        tuple(h.rule for h in verdict.rules),
        verdict.reason,
    )


def summary(events: Sequence[StepEvent]) -> list[str]:
    return [
        f"{e.at:%H:%M:%S} {e.step} {e.phase}: {'ok' if e.ok else 'FAILED'} — {e.detail}"
        for e in events
    ]
