"""Fragmentation follows the FGD paper's definitions (pkg/utils/frag.go)."""

from __future__ import annotations

import numpy as np

from agents.placement.fragmentation import (
    FragmentationModel,
    WorkloadMix,
    fragmentation_report,
)
from agents.placement.model import ClusterState, NodeSpec


def _frag(
    mix: WorkloadMix, left: list[int], cpu: int = 10_000, types: tuple[str, ...] = ("A",)
) -> float:
    model = FragmentationModel(mix, types)
    out = model.amount(np.array([cpu]), np.array([left]), np.array([0]))
    return float(out[0])


HALF = WorkloadMix.from_shapes([(1000, 500, 1, frozenset())])


def test_a_gpu_too_small_for_the_task_is_fragment() -> None:
    assert _frag(HALF, [300, 1000]) == 300  # the 1000 free can host it; 300 cannot


def test_a_node_that_cannot_host_the_task_is_all_fragment() -> None:
    assert _frag(HALF, [300, 400]) == 700


def test_cpu_shortage_makes_every_free_gpu_fragment() -> None:
    assert _frag(HALF, [1000, 1000], cpu=500) == 2000


def test_a_gpu_type_the_task_refuses_is_fragment() -> None:
    mix = WorkloadMix.from_shapes([(0, 500, 1, frozenset({"B"}))])
    assert _frag(mix, [1000], types=("A",)) == 1000


def test_cpu_only_tasks_count_every_free_gpu() -> None:
    mix = WorkloadMix.from_shapes([(1000, 0, 0, frozenset())] * 3 + [(1000, 500, 1, frozenset())])
    assert _frag(mix, [300, 1000]) == 0.75 * 1300 + 0.25 * 300


def test_typical_tasks_cover_95_percent_by_popularity() -> None:
    shapes = (
        [(1, 1000, 1, frozenset())] * 90
        + [(1, 500, 1, frozenset())] * 6
        + [(1, 250, 1, frozenset())] * 4
    )
    mix = WorkloadMix.from_shapes(shapes)
    assert [t.milli for t in mix.tasks] == [1000, 500]
    assert abs(sum(t.share for t in mix.tasks) - 1) < 1e-9


def test_report_gives_allocation_and_fragmentation_ratios() -> None:
    state = ClusterState.empty([NodeSpec("n", 2, "A")])
    state.gpu_left[0] = [300, 1000]
    report = fragmentation_report(state, HALF)
    assert report.allocation_ratio == 0.35
    assert report.fragmented_gpus == 0.3
    assert abs(report.fragmentation_ratio - 0.3 / 1.3) < 1e-9
    assert report.metrics()["gpusteward_gpu_allocation_ratio"] == 0.35
