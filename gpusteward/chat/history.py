"""An action's whole life, from the journal and the approval store: proposed (tick,
planner, reason, evidence), judged (verdict, rules), asked, decided (by whom, when, via
which channel; refused attempts too), and run (when, with what result).

One assembly (`action_history`) and one text form (`history_lines`), used by
`gpusteward why` and the chat's `/why`. The tick that proposed an action is not the
tick that runs it once a person approves it, so no single tick record holds the life.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from pydantic import AwareDatetime

from gpusteward.chat.cards import NOT_RECORDED, impact, short_time, status_line
from gpusteward.chat.records import ApprovalEvent, EventKind
from gpusteward.core.actions import Proposal
from gpusteward.core.approvals import ApprovalRequest, Projection, intent_hash
from gpusteward.core.llm import LlmTrace
from gpusteward.core.load import Forecast
from gpusteward.core.model import Frozen
from gpusteward.core.tick import TickRecord
from gpusteward.core.verdicts import ActionResult, Verdict

_NOT_LISTED = frozenset({EventKind.SUBMITTED, EventKind.THREAD})  # told by the other lines


class ApprovalLog(Protocol):
    """What the history reads from an approval store."""

    def get(self, request_id: str) -> ApprovalRequest | None: ...

    def events_for(self, request_id: str) -> list[ApprovalEvent]: ...


class Proposed(Frozen):
    """Where the action came from. `tick` is None when only the approval store knows it."""

    tick: int | None
    at: AwareDatetime
    planner: str
    proposal: Proposal
    forecast: Forecast | None = None
    llm: LlmTrace | None = None


class Ran(Frozen):
    """One result of running the action (or of deciding not to), and the tick it was in."""

    tick: int | None
    result: ActionResult


class ActionHistory(Frozen):
    action_id: str
    proposed: Proposed
    verdict: Verdict | None = None
    request: ApprovalRequest | None = None  # the store's copy when there is a store
    request_from_store: bool = False
    projection: Projection | None = None  # made on the snapshot the request was asked on
    events: tuple[ApprovalEvent, ...] = ()
    results: tuple[Ran, ...] = ()


def action_history(
    action_id: str, records: Iterable[TickRecord], approvals: ApprovalLog | None
) -> ActionHistory | None:
    """The life of `action_id` (a full id) from journal ticks (read once, in order) and
    the approval store; None when neither knows it.

    The approval request is the store's when it has one (it knows the decision and the
    outcome), else the journal's copy, which was taken when the request was made. A
    proposal that repeats a change already waiting for approval has that request."""
    proposed: Proposed | None = None
    verdict: Verdict | None = None
    journal_request: ApprovalRequest | None = None
    journal_projection: Projection | None = None
    ran: list[Ran] = []
    for record in records:
        for p in record.proposals:
            if p.action.id != action_id or proposed is not None:
                continue
            proposed = Proposed(
                tick=record.seq,
                at=record.at,
                planner=p.planner if p.planner != "unknown" else record.planner,
                proposal=p,
                forecast=next((f for f in record.forecasts if f.key == p.action.target), None),
                llm=record.llm,
            )
            verdict = next((v for v in record.verdicts if v.action_id == action_id), None)
            if record.snapshot is not None:
                journal_projection = impact(p.action, record.snapshot)
            intent = intent_hash(p)
            journal_request = next(
                (r for r in record.approvals if r.id == action_id or r.intent_hash == intent),
                None,
            )
        ran += [Ran(tick=record.seq, result=r) for r in record.results if r.action_id == action_id]
    request_id = journal_request.id if journal_request is not None else action_id
    stored = approvals.get(request_id) if approvals is not None else None
    request = stored or journal_request
    if proposed is None:
        if request is None:
            return None
        proposed = Proposed(
            tick=None,
            at=request.created_at,
            planner=request.proposal.planner,
            proposal=request.proposal,
        )
    events = approvals.events_for(stored.id) if stored is not None and approvals else []
    return ActionHistory(
        action_id=action_id,
        proposed=proposed,
        verdict=verdict,
        request=request,
        request_from_store=stored is not None,
        projection=(request.projection if request else None) or journal_projection,
        events=tuple(events),
        results=tuple(ran),
    )


def history_lines(h: ActionHistory) -> list[str]:
    """The life as plain text lines, oldest first (no markup: reasons are quoted as is)."""
    return [
        *_proposed_lines(h),
        *_verdict_lines(h),
        *_approval_lines(h),
        *_result_lines(h),
        *_llm_lines(h.proposed.llm),
    ]


def _proposed_lines(h: ActionHistory) -> list[str]:
    p = h.proposed
    where = f"tick #{p.tick} at " if p.tick is not None else ""
    lines = [
        f"{p.proposal.action.describe()}  ({h.action_id})",
        f"proposed: {where}{_time(p.at)} by planner {p.planner}",
        f"rationale: {p.proposal.reason}",
    ]
    lines += [
        f"evidence: {e.name} = {e.value}{' ' + e.unit if e.unit else ''}"
        for e in p.proposal.evidence
    ]
    if p.forecast is not None and p.forecast.points:
        top = max(p.forecast.points, key=lambda x: x.p90)
        lines.append(
            f"forecast ({p.forecast.forecaster}): peak p90 {top.p90:.2f} req/s at "
            f"{top.at:%H:%M}" + (" [fallback]" if p.forecast.fallback else "")
        )
    return lines


def _verdict_lines(h: ActionHistory) -> list[str]:
    v, r = h.verdict, h.request
    if v is not None:
        lines = [f"verdict: {v.decision} (policy {v.policy_version})"]
        lines += [f"  [{hit.rule}] {hit.reason}" for hit in v.rules]
        for hit in v.shadow:
            would = (hit.effect or "?").replace("_", " ")
            lines.append(f"  shadow ({hit.mode}, would {would}): [{hit.rule}] {hit.reason}")
        return lines
    if r is not None:  # no journal: the request holds the rules that asked for a person
        lines = [f"verdict: needs_approval (policy {r.policy_version})"]
        return lines + [f"  [{hit.rule}] {hit.reason}" for hit in r.rules]
    return []


def _approval_lines(h: ActionHistory) -> list[str]:
    r = h.request
    if r is None:
        return []
    label = f"approval {r.id}"
    if r.id != h.action_id:
        label += " (the same change, already asked for)"
    projected = h.projection or NOT_RECORDED
    when = f" ({short_time(projected.at)})" if projected.at else ""
    lines = [
        f"{label}: asked at {_time(r.created_at)} of group {r.approver_group} "
        f"(severity {r.severity.value}), expires {_time(r.expires_at)}",
        f"projected when asked{when}: {projected.summary()}",
        f"{label}: {status_line(r)}",
    ]
    if not h.request_from_store:
        lines.append(
            f"{label}: as recorded when asked; no approval store beside the journal to tell "
            "what came of it (pass GPUSTEWARD_APPROVALS=PATH if it lives elsewhere)"
        )
    return lines + [_event_line(e) for e in h.events if e.kind not in _NOT_LISTED]


def _event_line(e: ApprovalEvent) -> str:
    if e.kind == EventKind.OUTCOME:
        return f"  {_time(e.at)} ran: {e.detail}"
    by = f" by {e.actor}" if e.actor and e.actor != "system" else ""
    via = f" via {e.channel}" if e.channel and e.channel != "system" else ""
    detail = f": {e.detail}" if e.detail else ""
    return f"  {_time(e.at)} {e.kind.value}{by}{via}{detail}"


def _result_lines(h: ActionHistory) -> list[str]:
    lines = []
    for ran in h.results:
        tick = f" (tick #{ran.tick})" if ran.tick is not None else ""
        message = f" — {ran.result.message}" if ran.result.message else ""
        lines.append(f"result: {ran.result.status.value} at {_time(ran.result.at)}{tick}{message}")
    return lines


def _llm_lines(llm: LlmTrace | None) -> list[str]:
    if llm is None:
        return []
    lines = [
        f"LLM: {llm.model} at {llm.endpoint}, {len(llm.rounds)} round(s), "
        f"{llm.prompt_tokens + llm.completion_tokens} tokens, outcome {llm.outcome}"
    ]
    if llm.fallback_reason:
        lines.append(f"  fell back: {llm.fallback_reason}")
    return lines


def _time(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M:%S} UTC"
