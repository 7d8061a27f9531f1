"""A `ClusterSnapshot` seen by the placement engine: whole GPUs, held or free.

A healthy GPU on a schedulable node is free (1000 milli-GPUs) unless a replica holds it;
failed GPUs and cordoned nodes offer nothing. Snapshots carry no CPU or host memory, so
those are unlimited here. `mix_of` is the workload mix of the deployments' replicas.
"""

from __future__ import annotations

from agents.placement.fragmentation import WorkloadMix
from agents.placement.model import MILLI, ClusterState, NodeSpec, PlacementRequest
from gpusteward.core.cluster import ClusterSnapshot, Health, ModelDeployment


def state_from_snapshot(snapshot: ClusterSnapshot) -> ClusterState:
    specs = [
        NodeSpec(
            name=n.name,
            gpus=len(n.gpus),
            gpu_type=n.gpu_type,
            gpu_memory_gib=min((g.memory_gib for g in n.gpus), default=0.0),
            pool=n.pool,
            zone=n.region,
            price_per_gpu_hour=n.price_per_gpu_hour,
        )
        for n in snapshot.nodes
    ]
    state = ClusterState.empty(specs)
    for i, n in enumerate(snapshot.nodes):
        for g in n.gpus:
            if n.cordoned or g.allocated_to is not None or g.health is Health.FAILED:
                state.gpu_left[i, g.index] = 0
    return state


def request_for(d: ModelDeployment, siblings_on: frozenset[str] = frozenset()) -> PlacementRequest:
    """One more replica of `d`; `siblings_on` are nodes to avoid (anti-affinity)."""
    return PlacementRequest(
        name=f"{d.key}#new",
        gpus=d.gpus_per_replica,
        gpu_milli=MILLI,
        gpu_memory_gib=d.gpu_memory_gib_per_replica / d.gpus_per_replica,
        gpu_types=frozenset(d.gpu_types),
        pools=frozenset(d.pools),
        workload=d.workload,
        avoid_nodes=siblings_on,
    )


def mix_of(snapshot: ClusterSnapshot) -> WorkloadMix:
    """Typical requests: one per desired replica of every live deployment."""
    shapes = [
        request_for(d).shape
        for d in snapshot.deployments
        if not d.retired
        for _ in range(max(d.replicas, 1))
    ]
    return WorkloadMix.from_shapes(shapes)
