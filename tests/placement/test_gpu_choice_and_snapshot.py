"""Cheapest GPU type that meets the SLO; placing onto a live snapshot."""

from __future__ import annotations

from agents.placement import (
    GpuOption,
    PlacementEngine,
    WorkloadMix,
    cheapest_gpu_type,
    make_policy,
    request_for,
    state_from_snapshot,
)
from gpusteward.core.cluster import Gpu, Node, Pool, WorkloadClass
from gpusteward.testing import make_deployment, make_snapshot

OPTIONS = [
    GpuOption(gpu_type="H100", throughput_rps=30, price_per_gpu_hour=4.0, memory_gib=80),
    GpuOption(gpu_type="A100", throughput_rps=12, price_per_gpu_hour=2.0, memory_gib=80),
    GpuOption(gpu_type="L4", throughput_rps=3, price_per_gpu_hour=0.5, memory_gib=24),
]


def test_the_cheapest_type_for_the_demand_wins() -> None:
    # 60 req/s: H100 2 x 4 = 8, A100 5 x 2 = 10, L4 20 x 0.5 = 10 -> H100
    choice = cheapest_gpu_type(60, OPTIONS)
    assert choice.gpu_type == "H100" and choice.replicas == 2 and choice.cost_per_hour == 8


def test_a_type_without_the_memory_is_rejected_with_a_reason() -> None:
    choice = cheapest_gpu_type(2, OPTIONS, memory_gib_per_replica=40)
    assert choice.gpu_type == "A100"
    assert "L4" in choice.rejected


def test_no_feasible_type_says_why() -> None:
    choice = cheapest_gpu_type(1000, OPTIONS, max_replicas=4)
    assert choice.gpu_type is None and set(choice.rejected) == {"H100", "A100", "L4"}


def test_a_new_replica_goes_on_free_gpus_never_on_a_training_pool() -> None:
    def node(name: str, pool: Pool) -> Node:
        gpus = tuple(Gpu(index=i, type="H100", memory_gib=80) for i in range(4))
        return Node(name=name, pool=pool, price_per_gpu_hour=2, gpus=gpus)

    d = make_deployment("llm", replicas=3, workload=WorkloadClass.REALTIME)
    snap = make_snapshot(
        nodes=[node("on-prem", Pool.ON_PREM), node("train", Pool.TRAINING)], deployments=[d]
    )
    state = state_from_snapshot(snap)
    assert state.gpu_left[0].tolist() == [0, 0, 0, 1000]
    req = request_for(snap.deployments[0])
    engine = PlacementEngine(
        state, make_policy("frag-fit", WorkloadMix.from_requests([req]), state)
    )
    first = engine.place(req)
    assert first.node == "on-prem" and first.gpu_indices == (3,)
    second = engine.place(req)
    assert not second.placed and "no node passes" in second.reason
