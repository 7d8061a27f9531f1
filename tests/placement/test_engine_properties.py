"""Invariants of the placement engine, for every policy (Hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.placement.catalog import POLICY_NAMES, make_policy
from agents.placement.engine import PlacementEngine
from agents.placement.fragmentation import WorkloadMix
from agents.placement.model import MILLI, ClusterState, NodeSpec, PlacementRequest
from gpusteward.core.cluster import Pool, WorkloadClass

TYPES = ("A100", "H100", "T4")
POOLS = (Pool.ON_PREM, Pool.SPOT, Pool.TRAINING)

nodes_st = st.lists(
    st.builds(
        lambda i, g, t, c, m, p, z: NodeSpec(f"n{i}", g, t, c, m, pool=p, zone=z),
        st.integers(0, 10**6),
        st.sampled_from([1, 2, 4, 8]),
        st.sampled_from(TYPES),
        st.integers(4_000, 96_000),
        st.integers(16_000, 512_000),
        st.sampled_from(POOLS),
        st.sampled_from(["z1", "z2"]),
    ),
    min_size=1,
    max_size=8,
    unique_by=lambda n: n.name,
)


@st.composite
def request_st(draw: st.DrawFn) -> PlacementRequest:
    gpus = draw(st.sampled_from([0, 1, 1, 1, 2, 4, 8]))
    milli = draw(st.sampled_from([100, 250, 500, 810, MILLI])) if gpus == 1 else MILLI
    return PlacementRequest(
        name="r",
        gpus=gpus,
        gpu_milli=milli if gpus else 0,
        cpu_milli=draw(st.integers(0, 40_000)),
        memory_mib=draw(st.integers(0, 200_000)),
        gpu_types=frozenset(draw(st.sets(st.sampled_from(TYPES), max_size=2))),
        workload=draw(st.sampled_from(list(WorkloadClass))),
        avoid_zones=frozenset(draw(st.sets(st.sampled_from(["z1", "z2"]), max_size=1))),
    )


@pytest.mark.parametrize("policy", POLICY_NAMES)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nodes=nodes_st, requests=st.lists(request_st(), min_size=1, max_size=30))
def test_placement_never_overcommits_and_respects_constraints(
    policy: str, nodes: list[NodeSpec], requests: list[PlacementRequest]
) -> None:
    state = ClusterState.empty(nodes)
    mix = WorkloadMix.from_requests(requests)
    engine = PlacementEngine(state, make_policy(policy, mix, state), seed=1)
    held = np.zeros_like(state.gpu_left)
    cpu = np.zeros(state.size, dtype=np.int64)
    mem = np.zeros(state.size, dtype=np.int64)
    for r in requests:
        p = engine.place(r)
        if not p.placed:
            assert p.reason
            continue
        assert p.node is not None
        i = state.names[p.node]
        spec = nodes[i]
        assert len(p.gpu_indices) == r.gpus
        assert all(g < spec.gpus for g in p.gpu_indices)
        if r.gpus and r.gpu_types:
            assert spec.gpu_type in r.gpu_types
        if r.workload is WorkloadClass.REALTIME:
            assert spec.pool is not Pool.TRAINING
        assert spec.zone not in r.avoid_zones
        for g in p.gpu_indices:
            held[i, g] += r.milli
        cpu[i] += r.cpu_milli
        mem[i] += r.memory_mib
    for i, spec in enumerate(nodes):
        assert (held[i, : spec.gpus] <= MILLI).all()
        assert cpu[i] <= spec.cpu_milli and mem[i] <= spec.memory_mib
        assert (
            held[i] + state.gpu_left[i] == np.where(np.arange(held.shape[1]) < spec.gpus, MILLI, 0)
        ).all()
