"""Small clusters and requests for the placement tests."""

from __future__ import annotations

from agents.placement.model import ClusterState, NodeSpec
from gpusteward.core.cluster import Pool


def small_cluster() -> ClusterState:
    """Two 8-GPU A100 nodes (one on a training pool), one 4-GPU T4 node, in two zones."""
    return ClusterState.empty(
        [
            NodeSpec("a100-0", 8, "A100", cpu_milli=64_000, memory_mib=512_000, zone="z1"),
            NodeSpec("a100-1", 8, "A100", 64_000, 512_000, pool=Pool.TRAINING, zone="z2"),
            NodeSpec("t4-0", 4, "T4", 32_000, 128_000, gpu_memory_gib=16, zone="z1"),
        ]
    )
