"""Every placement policy by name: the paper's baselines, FGD, and ours.

`make_policy(name, mix, state)` builds one; `mix_coverage(name)` is the share of the
requests its typical-task mix should cover (the paper's 95 % unless the policy says).
"""

from __future__ import annotations

from agents.placement.fragmentation import WorkloadMix
from agents.placement.lookahead import LookAheadPolicy
from agents.placement.model import ClusterState
from agents.placement.policies import (
    NODE_SCORES,
    FgdPolicy,
    FragFitPolicy,
    NodeScorePolicy,
    Policy,
    RandomPolicy,
)

POLICY_NAMES = (
    "random",
    "dot-product",
    "gpu-clustering",
    "gpu-packing",
    "best-fit",
    "fgd",
    "frag-fit",
    "look-ahead",
)
PAPER_COVERAGE = 0.95


def mix_coverage(name: str) -> float:
    """Share of the requests the typical-task mix of policy `name` should cover."""
    return LookAheadPolicy.coverage if name == LookAheadPolicy.name else PAPER_COVERAGE


def make_policy(name: str, mix: WorkloadMix | None, state: ClusterState) -> Policy:
    """The policy called `name`; the fragmentation policies need the workload `mix`."""
    if name == RandomPolicy.name:
        return RandomPolicy()
    if name in NODE_SCORES:
        return NodeScorePolicy(name, NODE_SCORES[name])
    if name in ("fgd", "frag-fit", "look-ahead"):
        if mix is None:
            raise ValueError(f"policy {name!r} needs a workload mix (the typical requests)")
        if name == "look-ahead":
            return LookAheadPolicy(mix, state)
        return FgdPolicy(mix, state) if name == "fgd" else FragFitPolicy(mix, state)
    raise ValueError(f"unknown placement policy {name!r}; known: {', '.join(POLICY_NAMES)}")
