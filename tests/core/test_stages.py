"""The tick's stage functions on their own: one observation path, the plan dispatch, a
guard that fails closed, and an approved action judged again before it runs."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from gpusteward.core import stages
from gpusteward.core.actions import Proposal, ScaleDeployment
from gpusteward.core.approvals import ApprovalRequest, action_hash
from gpusteward.core.cluster import ClusterSnapshot
from gpusteward.core.load import Forecast, LoadHistory, LoadSeries
from gpusteward.core.ports import GuardInputs
from gpusteward.core.verdicts import (
    Allow,
    Deny,
    ExecutedAction,
    NeedsApproval,
    ResultStatus,
    RuleHit,
    Verdict,
)
from gpusteward.testing import make_deployment, make_snapshot

T0 = datetime(2026, 11, 2, tzinfo=UTC)
LLM = "default/llm-chat"


def scale(n: int, from_replicas: int | None = 2) -> Proposal:
    action = ScaleDeployment(deployment=LLM, replicas=n, from_replicas=from_replicas, issued_at=T0)
    return Proposal(action=action, reason="test")


class Fixed:
    """A policy engine giving fixed verdicts, or raising."""

    def __init__(self, decide: str = "allow", *, error: Exception | None = None) -> None:
        self.version = "fixed@1"
        self.decide, self.error = decide, error
        self.calls = 0

    def evaluate(
        self,
        proposals: Sequence[Proposal],
        snapshot: ClusterSnapshot,
        inputs: GuardInputs | None = None,
    ) -> list[Verdict]:
        self.calls += 1
        if self.error is not None:
            raise self.error
        hit = (RuleHit(rule="fixed", reason=f"always {self.decide}"),)
        kind = {"allow": Allow, "deny": Deny, "needs_approval": NeedsApproval}[self.decide]
        return [
            kind(action_id=p.action.id, policy_version=self.version, rules=hit) for p in proposals
        ]


class ShortCount(Fixed):
    """A policy engine that loses the last verdict."""

    def evaluate(
        self,
        proposals: Sequence[Proposal],
        snapshot: ClusterSnapshot,
        inputs: GuardInputs | None = None,
    ) -> list[Verdict]:
        return super().evaluate(proposals, snapshot, inputs)[:-1]


def approved(proposal: Proposal, policy_version: str = "fixed@1") -> ApprovalRequest:
    return ApprovalRequest(
        id=proposal.action.id,
        proposal=proposal,
        action_hash=action_hash(proposal),
        policy_version=policy_version,
        approver_group="oncall",
        created_at=T0,
        expires_at=T0 + timedelta(hours=1),
    )


# -- observe ---------------------------------------------------------------------------------


def test_observing_records_each_deployments_rate_and_a_missing_metric_as_a_gap() -> None:
    history = LoadHistory(60, 10)
    snapshot = make_snapshot(at=T0)
    without_sdxl = snapshot.model_copy(
        update={
            "at": T0 + timedelta(minutes=1),
            "metrics": {k: m for k, m in snapshot.metrics.items() if k == LLM},
        }
    )
    stages.observe_load(history, snapshot)
    stages.observe_load(history, without_sdxl)
    series = stages.load_series(history)
    assert series[LLM].values == (snapshot.metrics[LLM].arrival_rate_rps,) * 2
    assert series["default/sdxl"].values[1] is None


def test_restoring_recorded_series_gives_back_the_same_history() -> None:
    history = LoadHistory(60, 5)
    for i, rate in enumerate([1.0, None, 3.0, 4.0, 5.0, 6.0]):
        history.record(LLM, T0 + timedelta(minutes=i), rate)
    again = LoadHistory(60, 5)
    stages.restore_load(again, stages.load_series(history).values())
    assert stages.load_series(again) == stages.load_series(history)


def test_pruning_drops_only_actions_older_than_the_window() -> None:
    old = ExecutedAction(action=scale(3).action, at=T0 - timedelta(hours=2))
    new = ExecutedAction(action=scale(4).action, at=T0 - timedelta(minutes=5))
    recent = deque([old, new])
    stages.prune_recent(recent, T0, keep_seconds=3600)
    assert list(recent) == [new]


# -- plan ------------------------------------------------------------------------------------


class Plain:
    name = "plain"

    def plan(self, snapshot: ClusterSnapshot, forecasts: Mapping[str, Forecast]) -> list[Proposal]:
        return [scale(len(forecasts) + 1)]


class Aware(Plain):
    name = "aware"

    def plan_with_inputs(self, snapshot: ClusterSnapshot, inputs: GuardInputs) -> list[Proposal]:
        return [scale(len(inputs.load) + 5)]


def test_a_guard_aware_planner_gets_the_guard_inputs_and_another_the_forecasts() -> None:
    load = {LLM: LoadSeries(key=LLM, start=T0, step_seconds=60, values=(1.0,))}
    inputs = GuardInputs(forecasts={}, load=load)
    snapshot = make_snapshot(at=T0)
    assert stages.plan(Plain(), snapshot, inputs) == [scale(1)]  # no forecasts
    assert stages.plan(Aware(), snapshot, inputs) == [scale(6)]  # one load series


# -- guard -----------------------------------------------------------------------------------


def test_judging_nothing_asks_the_policy_nothing() -> None:
    policy = Fixed()
    assert stages.judge(policy, [], make_snapshot(at=T0), GuardInputs()).verdicts == []
    assert policy.calls == 0


@pytest.mark.parametrize(
    ("policy", "error_type"),
    [(Fixed(error=ZeroDivisionError("rule bug")), ZeroDivisionError), (ShortCount(), RuntimeError)],
    ids=["raises", "one-verdict-short"],
)
def test_a_failing_guard_denies_every_proposal_and_says_why(
    policy: Fixed, error_type: type[Exception]
) -> None:
    proposals = [scale(3), scale(4)]
    judged = stages.judge(policy, proposals, make_snapshot(at=T0), GuardInputs())
    assert isinstance(judged.error, error_type)
    assert [v.decision for v in judged.verdicts] == ["deny", "deny"]
    assert [v.action_id for v in judged.verdicts] == [p.action.id for p in proposals]
    assert all(v.rules[0].rule == stages.GUARD_ERROR for v in judged.verdicts)


# -- re-judging an approval --------------------------------------------------------------------


def test_an_approved_action_that_still_fits_and_is_not_denied_may_run() -> None:
    for decision in ("allow", "needs_approval"):  # it was approved: asking again is answered
        r = stages.rejudge(Fixed(decision), approved(scale(3)), make_snapshot(at=T0), GuardInputs())
        assert r.runnable and r.why_not is None and r.error is None


def test_an_approval_for_another_starting_point_is_superseded_without_asking_the_guard() -> None:
    policy = Fixed()
    snapshot = make_snapshot(at=T0, deployments=[make_deployment(replicas=4)])
    r = stages.rejudge(policy, approved(scale(3)), snapshot, GuardInputs())
    assert not r.runnable and policy.calls == 0
    result = r.superseded(T0)
    assert result.status == ResultStatus.SUPERSEDED
    assert result.message.startswith(
        "approved, but the world changed: default/llm-chat now wants 4"
    )


def test_an_approval_whose_action_no_longer_matches_its_hash_is_superseded() -> None:
    request = approved(scale(3))
    tampered = request.model_copy(update={"proposal": scale(5)})
    r = stages.rejudge(Fixed(), tampered, make_snapshot(at=T0), GuardInputs())
    assert not r.runnable and "no longer matches the hash" in (r.why_not or "")


def test_an_approval_under_another_policy_version_is_superseded() -> None:
    r = stages.rejudge(Fixed(), approved(scale(3), "older@0"), make_snapshot(at=T0), GuardInputs())
    assert not r.runnable and "policy changed" in (r.why_not or "")


def test_an_approved_action_the_guard_now_denies_or_cannot_judge_is_superseded() -> None:
    denied = stages.rejudge(Fixed("deny"), approved(scale(3)), make_snapshot(at=T0), GuardInputs())
    assert denied.superseded(T0).message == (
        "approved, but the policy now denies it: [fixed] always deny"
    )
    failing = Fixed(error=ValueError("bad rule"))
    broken = stages.rejudge(failing, approved(scale(3)), make_snapshot(at=T0), GuardInputs())
    assert not broken.runnable and isinstance(broken.error, ValueError)
    assert "[guard-error] policy evaluation failed: bad rule" in (broken.why_not or "")


def test_an_approved_scale_down_that_would_leave_the_live_load_over_capacity_does_not_run() -> None:
    """Approved 2 -> 1 while the load rose: 2 replicas at 90 % cannot become 1 (180 %)."""
    policy = Fixed()
    busy = make_snapshot(at=T0, load=0.9)
    r = stages.rejudge(policy, approved(scale(1)), busy, GuardInputs())
    assert not r.runnable and policy.calls == 0
    assert "over capacity now" in r.superseded(T0).message and "180%" in (r.why_not or "")
    quiet = make_snapshot(at=T0, load=0.3)  # 1 replica serves 60 %: it may run
    assert stages.rejudge(policy, approved(scale(1)), quiet, GuardInputs()).runnable
