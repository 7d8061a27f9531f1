"""Scoring policies decide as the FGD artifact's plugins do; the protocol reproduces Best-Fit."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from agents.placement.catalog import make_policy
from agents.placement.engine import PlacementEngine
from agents.placement.fragmentation import WorkloadMix
from agents.placement.model import ClusterState, NodeSpec, PlacementRequest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "openb"


def _two_nodes() -> ClusterState:
    state = ClusterState.empty(
        [NodeSpec("a", 2, "A", 64_000, 10**6), NodeSpec("b", 2, "A", 64_000, 10**6)]
    )
    state.gpu_left[0] = [530, 1000]  # node a already shares one GPU
    return state


SHARE = PlacementRequest(name="s", gpus=1, gpu_milli=470, cpu_milli=1000)
MIX = WorkloadMix.from_shapes([(1000, 470, 1, frozenset()), (1000, 1000, 1, frozenset())])


@pytest.mark.parametrize("policy", ["fgd", "frag-fit", "look-ahead", "best-fit", "gpu-packing"])
def test_a_share_that_fills_a_gpu_exactly_goes_there(policy: str) -> None:
    state = _two_nodes()
    placement = PlacementEngine(state, make_policy(policy, MIX, state)).place(SHARE)
    assert (placement.node, placement.gpu_indices) == ("a", (0,))
    assert placement.score is not None and policy in placement.reason


def test_fgd_keeps_whole_gpus_whole_for_whole_gpu_tasks() -> None:
    state = _two_nodes()
    state.gpu_left[0] = [1000, 1000]
    state.gpu_left[1] = [600, 1000]
    mix = WorkloadMix.from_shapes(
        [(1000, 1000, 1, frozenset())] * 9 + [(1000, 400, 1, frozenset())]
    )
    req = PlacementRequest(name="s", gpus=1, gpu_milli=400, cpu_milli=1000)
    placement = PlacementEngine(state, make_policy("fgd", mix, state)).place(req)
    assert (placement.node, placement.gpu_indices) == ("b", (0,))


def test_an_unknown_policy_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="known: random, dot-product"):
        make_policy("tetris", MIX, _two_nodes())


@pytest.mark.skipif(not DATA.is_dir(), reason="openb data not present (../shared/data/openb)")
def test_best_fit_reproduces_the_published_openb_default_figure() -> None:
    spec = importlib.util.spec_from_file_location(
        "placement_protocol", ROOT / "benchmarks" / "placement_protocol.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["placement_protocol"] = module
    spec.loader.exec_module(module)
    nodes = module.load_nodes(DATA)
    pods = module.load_pods(DATA, "openb_pod_list_default")
    result = module.run(nodes, pods, "openb_pod_list_default", "best-fit", seed=42)
    assert abs(result.final - 93.08) <= 1.0  # published mean over 10 seeds
