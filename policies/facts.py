"""What the guard knows before it looks at one action: `ClusterFacts`, computed once per
`evaluate()` call from the snapshot (O(cluster)), and `BatchState`, what the earlier
allowed proposals of the same call changed. `policies.context` builds each proposal's
context on top of them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gpusteward.core.cluster import ClusterSnapshot, ModelDeployment, Pool
from policies.recent import RecentIndex

__all__ = ["BatchState", "ClusterFacts"]


@dataclass(frozen=True)
class ClusterFacts:
    at: datetime
    interval_seconds: float
    deployments: dict[str, ModelDeployment]
    node_pool: dict[str, Pool]
    pool_gpus: dict[Pool, int]
    cluster_gpus: int
    held_gpus: int
    namespace_gpus: dict[str, int]
    price: dict[str, float]  # deployment key -> USD per GPU-hour where it runs
    cost_per_hour: float
    namespace_cost: dict[str, float]
    deployment_pools: dict[str, tuple[Pool, ...]]
    node_tenants: dict[str, tuple[str, ...]]
    node_gpus_held: dict[str, int]

    @classmethod
    def from_snapshot(cls, snap: ClusterSnapshot) -> ClusterFacts:
        node_pool = {n.name: n.pool for n in snap.nodes}
        node_price = {n.name: n.price_per_gpu_hour for n in snap.nodes}
        pool_gpus: dict[Pool, int] = defaultdict(int)
        for n in snap.nodes:
            pool_gpus[n.pool] += len(n.gpus)
        mean_price = sum(n.price_per_gpu_hour * len(n.gpus) for n in snap.nodes) / max(
            1, sum(len(n.gpus) for n in snap.nodes)
        )
        deployments, price, pools = {}, {}, {}
        namespace_gpus: dict[str, int] = defaultdict(int)
        namespace_cost: dict[str, float] = defaultdict(float)
        tenants: dict[str, set[str]] = defaultdict(set)
        node_held: dict[str, int] = defaultdict(int)
        held = 0
        cost = 0.0
        for d in snap.deployments:
            deployments[d.key] = d
            placed = [r.node for r in d.replica_states if r.node is not None]
            for r in d.replica_states:
                if r.node is not None:
                    tenants[r.node].add(d.namespace)
                    node_held[r.node] += len(r.gpu_indices) or d.gpus_per_replica
            price[d.key] = (
                sum(node_price.get(n, mean_price) for n in placed) / len(placed)
                if placed
                else mean_price
            )
            pools[d.key] = tuple(sorted({node_pool[n] for n in placed if n in node_pool}))
            gpus = d.replicas * d.gpus_per_replica
            held += gpus
            namespace_gpus[d.namespace] += gpus
            cost += gpus * price[d.key]
            namespace_cost[d.namespace] += gpus * price[d.key]
        return cls(
            at=snap.at,
            interval_seconds=snap.interval_seconds,
            deployments=deployments,
            node_pool=node_pool,
            pool_gpus=dict(pool_gpus),
            cluster_gpus=sum(pool_gpus.values()),
            held_gpus=held,
            namespace_gpus=dict(namespace_gpus),
            price=price,
            cost_per_hour=cost,
            namespace_cost=dict(namespace_cost),
            deployment_pools=pools,
            node_tenants={k: tuple(sorted(v)) for k, v in tenants.items()},
            node_gpus_held=dict(node_held),
        )


@dataclass
class BatchState:
    """What earlier allowed proposals of this evaluate() call changed."""

    replicas: dict[str, int] = field(default_factory=dict)
    gpus_delta: int = 0
    namespace_gpus_delta: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    cost_delta: float = 0.0
    namespace_cost_delta: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    touched_gpus: int = 0
    recent: RecentIndex = field(default_factory=lambda: RecentIndex(()))
    peaks: dict[tuple[str, float], float] = field(default_factory=dict)
    deployment_values: dict[str, dict[str, Any]] = field(default_factory=dict)
