"""Actions: stable ids, JSON round-trip, validation."""

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from gpusteward.core.actions import (
    ACTION_ADAPTER,
    ConsolidateModels,
    CordonNode,
    MoveDeployment,
    PrewarmReplicas,
    RetireModel,
    ScaleDeployment,
    parse_action,
)
from gpusteward.core.cluster import Pool

AT = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)

EXAMPLES = [
    ScaleDeployment(deployment="serving/m-large", replicas=6, from_replicas=4, issued_at=AT),
    PrewarmReplicas(deployment="serving/m-large", count=2, ready_by=AT, issued_at=AT),
    MoveDeployment(deployment="serving/m-mid", to_pool=Pool.SPOT, issued_at=AT),
    ConsolidateModels(sources=("serving/m-a", "serving/m-b"), into="serving/m", issued_at=AT),
    RetireModel(deployment="serving/old", issued_at=AT),
    CordonNode(node="h100-0", issued_at=AT),
]


@pytest.mark.parametrize("action", EXAMPLES, ids=lambda a: a.kind)
def test_every_action_kind_round_trips_through_json_with_its_id(action) -> None:
    back = parse_action(action.model_dump_json())
    assert back == action
    assert back.id == action.id and back.id.startswith(action.kind + "-")


def test_same_content_gives_the_same_id_and_different_content_a_different_one() -> None:
    a = ScaleDeployment(deployment="ns/m", replicas=3, issued_at=AT)
    assert a.id == ScaleDeployment(deployment="ns/m", replicas=3, issued_at=AT).id
    assert a.id != ScaleDeployment(deployment="ns/m", replicas=4, issued_at=AT).id


@given(replicas=st.integers(0, 10_000), minute=st.integers(0, 59))
def test_scale_ids_are_deterministic_across_constructions(replicas: int, minute: int) -> None:
    at = AT.replace(minute=minute)
    one = ScaleDeployment(deployment="ns/m", replicas=replicas, issued_at=at)
    two = ACTION_ADAPTER.validate_python(one.model_dump(mode="json"))
    assert one.id == two.id


def test_actions_are_frozen() -> None:
    with pytest.raises(ValidationError):
        EXAMPLES[0].replicas = 9  # type: ignore[misc]


def test_unknown_kind_and_unknown_field_are_rejected() -> None:
    with pytest.raises(ValidationError, match="kind"):
        parse_action('{"kind": "explode", "issued_at": "2026-11-02T00:00:00Z"}')
    with pytest.raises(ValidationError, match="extra"):
        parse_action(
            '{"kind": "cordon", "node": "n", "sudo": true, "issued_at": "2026-11-02T00:00:00Z"}'
        )


def test_naive_issue_time_and_negative_replicas_are_rejected() -> None:
    with pytest.raises(ValidationError):
        ScaleDeployment(deployment="a/b", replicas=1, issued_at=datetime(2026, 1, 1))
    with pytest.raises(ValidationError):
        ScaleDeployment(deployment="a/b", replicas=-1, issued_at=AT)


def test_move_needs_a_destination_and_consolidate_needs_distinct_target() -> None:
    with pytest.raises(ValidationError, match="to_pool or to_gpu_type"):
        MoveDeployment(deployment="a/b", issued_at=AT)
    with pytest.raises(ValidationError, match="also a source"):
        ConsolidateModels(sources=("a/b",), into="a/b", issued_at=AT)
