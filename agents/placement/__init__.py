"""Placement: fragmentation-aware GPU bin packing (pure; no I/O, no clock).

- `model`: requests, node capacity, the working `ClusterState`, `Placement` decisions;
- `fragmentation`: the FGD paper's fragmentation metrics and workload mix;
- `policies`: random, dot-product, gpu-clustering, gpu-packing, best-fit, fgd, frag-fit;
- `lookahead`: ours, look-ahead (resource-aware fragmentation and a fill outlook);
- `catalog`: every policy by name (`make_policy`);
- `engine`: filters, scoring, tie-breaking; `snapshot`: a `ClusterSnapshot` as a state;
- `gpu_choice`: the cheapest GPU type that meets a replica's SLO.
"""

from agents.placement.catalog import POLICY_NAMES, make_policy, mix_coverage
from agents.placement.engine import PlacementEngine
from agents.placement.fragmentation import (
    FragmentationModel,
    FragmentationReport,
    WorkloadMix,
    fragmentation_report,
)
from agents.placement.gpu_choice import GpuChoice, GpuOption, cheapest_gpu_type
from agents.placement.model import ClusterState, NodeSpec, Placement, PlacementRequest
from agents.placement.snapshot import request_for, state_from_snapshot

__all__ = [
    "POLICY_NAMES",
    "ClusterState",
    "FragmentationModel",
    "FragmentationReport",
    "GpuChoice",
    "GpuOption",
    "NodeSpec",
    "Placement",
    "PlacementEngine",
    "PlacementRequest",
    "WorkloadMix",
    "cheapest_gpu_type",
    "fragmentation_report",
    "make_policy",
    "mix_coverage",
    "request_for",
    "state_from_snapshot",
]
