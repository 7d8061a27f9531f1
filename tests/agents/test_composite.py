"""The composite planner merges its members' proposals: scaling first and winning any
shared target, an atomic member all or nothing, in a deterministic order."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from agents.composite import CompositePlanner
from gpusteward.app.parts import build_planner
from gpusteward.app.scenario import Scenario, load_scenario
from gpusteward.core.actions import (
    CordonNode,
    MoveReplica,
    Proposal,
    RetireModel,
    ScaleDeployment,
)
from gpusteward.testing import StaticPlanner, make_snapshot

AT = datetime(2026, 11, 2, tzinfo=UTC)


def _p(action: object, planner: str) -> Proposal:
    return Proposal(action=action, reason="test", planner=planner)  # type: ignore[arg-type]


SCALE_X = _p(ScaleDeployment(deployment="ns/x", replicas=3, issued_at=AT), "scaling")
RETIRE_X = _p(RetireModel(deployment="ns/x", issued_at=AT), "hygiene")
RETIRE_Y = _p(RetireModel(deployment="ns/y", issued_at=AT), "hygiene")
MOVE_X = _p(MoveReplica(deployment="ns/x", replica="x-0", to_node="n1", issued_at=AT), "cons")
MOVE_Z = _p(MoveReplica(deployment="ns/z", replica="z-0", to_node="n1", issued_at=AT), "cons")
CORDON = _p(CordonNode(node="n2", issued_at=AT), "cons")


class _Atomic(StaticPlanner):
    atomic = True


def test_scaling_wins_a_shared_target_and_the_other_proposals_stay() -> None:
    planner = CompositePlanner(
        StaticPlanner([SCALE_X], name="scaling"), [StaticPlanner([RETIRE_X, RETIRE_Y])]
    )
    assert planner.plan(make_snapshot(), {}) == [SCALE_X, RETIRE_Y]
    assert planner.last_dropped == (("static", "retire ns/x"),)


def test_an_atomic_member_loses_all_its_proposals_when_one_conflicts() -> None:
    cons = _Atomic([CORDON, MOVE_Z, MOVE_X], name="consolidation")
    planner = CompositePlanner(StaticPlanner([SCALE_X], name="scaling"), [cons])
    assert planner.plan(make_snapshot(), {}) == [SCALE_X]
    assert len(planner.last_dropped) == 3


def test_a_later_member_may_not_touch_what_an_earlier_one_moves_or_cordons() -> None:
    cons = _Atomic([CORDON, MOVE_Z], name="consolidation")
    hygiene = StaticPlanner([RETIRE_Y, _p(RetireModel(deployment="ns/z", issued_at=AT), "h")])
    cordon_n2 = _p(CordonNode(node="n2", cordon=False, issued_at=AT), "h")
    hygiene_nodes = StaticPlanner([cordon_n2], name="nodes")
    planner = CompositePlanner(StaticPlanner([], name="scaling"), [cons, hygiene, hygiene_nodes])
    assert planner.plan(make_snapshot(), {}) == [CORDON, MOVE_Z, RETIRE_Y]


def test_the_merge_is_deterministic_in_member_order() -> None:
    def build() -> CompositePlanner:
        return CompositePlanner(
            StaticPlanner([SCALE_X], name="scaling"),
            [_Atomic([CORDON, MOVE_Z]), StaticPlanner([RETIRE_Y])],
        )

    first = build().plan(make_snapshot(), {})
    assert first == build().plan(make_snapshot(), {}) == [SCALE_X, CORDON, MOVE_Z, RETIRE_Y]


def _with_planner(planner: dict[str, object]) -> Scenario:
    base = load_scenario("quickstart")
    return Scenario.model_validate({**base.model_dump(), "planner": planner})


def test_a_scenario_selects_a_composite_of_scaling_consolidation_and_hygiene() -> None:
    scenario = _with_planner(
        {
            "kind": "composite",
            "scaling": {"kind": "forecast"},
            "consolidation": {"max_moves": 4},
            "hygiene": {"idle_rps": 0.05},
        }
    )
    planner = build_planner(scenario)
    assert isinstance(planner, CompositePlanner)
    assert planner.members == ("forecast", "consolidation", "hygiene")


def test_a_composite_cannot_nest_and_rejects_unknown_members() -> None:
    with pytest.raises(ValidationError, match="kind"):
        _with_planner({"kind": "composite", "scaling": {"kind": "composite"}})
    with pytest.raises(ValidationError, match="placement"):
        _with_planner({"kind": "composite", "placement": {}})


def test_a_composite_over_an_oracle_gets_the_future_load() -> None:
    planner = build_planner(_with_planner({"kind": "composite", "scaling": {"kind": "oracle"}}))
    assert isinstance(planner, CompositePlanner) and planner.members == ("oracle",)
