"""GPU fragmentation as the FGD paper defines it (Weng et al., USENIX ATC '23).

A node's free GPU share is *fragmented for a task* when that task cannot use it: the
node's free shares cannot host the task (not enough GPUs with that much free), its CPU
is short, or its GPU type is not one the task accepts; when the task does fit, only the
GPUs too small for it count. The node's fragmentation is the expectation of that amount
over the workload's mix of typical tasks (`WorkloadMix`); the cluster's is the sum over
nodes. A CPU-only task counts every free GPU share as fragment (it can use none).
Definitions follow the public simulator `hkust-adsl/kubernetes-scheduler-simulator`
(`pkg/utils/frag.go`); the typical tasks are the most popular request shapes that
together make up 95 % of the tasks. Vectorised over many node states at once. Pure.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from agents.placement.model import MILLI, BoolArray, ClusterState, FloatArray, IntArray
from agents.placement.model import PlacementRequest as Request

Shape = tuple[int, int, int, frozenset[str]]
"""(cpu milli, milli per GPU, GPUs, accepted GPU types)."""


@dataclass(frozen=True)
class TypicalTask:
    cpu_milli: int
    milli: int
    gpus: int
    gpu_types: frozenset[str]
    share: float  # probability in the mix, 0-1
    memory_mib: float = 0.0  # mean host memory of the shape's requests (0 = not known)


@dataclass(frozen=True)
class WorkloadMix:
    """The typical tasks of a workload and their shares (they sum to 1)."""

    tasks: tuple[TypicalTask, ...]

    @classmethod
    def from_shapes(
        cls,
        shapes: Iterable[Shape],
        coverage: float = 0.95,
        memory: Mapping[Shape, float] | None = None,
    ) -> WorkloadMix:
        """The most popular shapes until `coverage` of all tasks, renormalised.

        Order and cut follow the simulator's `GetTypicalPods` (popularity threshold 95 %,
        step 1): by count, ties broken by the larger (cpu, milli, GPUs, type) first.
        `memory` gives a shape's mean host memory (MiB) where known.
        """
        counts = Counter(shapes)
        if not counts:
            raise ValueError("a workload mix needs at least one task shape; got none")
        total = sum(counts.values())

        def order(item: tuple[Shape, int]) -> tuple[int, int, int, int, str]:
            (cpu, milli, gpus, types), n = item
            return (n, cpu, milli, gpus, "|".join(sorted(types)))

        ranked = sorted(counts.items(), key=order, reverse=True)
        kept: list[tuple[Shape, int]] = []
        cum = 0
        for shape, n in ranked:
            if cum >= coverage * total:
                break
            kept.append((shape, n))
            cum += n
        memory = memory or {}
        return cls(
            tuple(
                TypicalTask(*shape, share=n / cum, memory_mib=memory.get(shape, 0.0))
                for shape, n in kept
            )
        )

    @classmethod
    def from_requests(cls, requests: Iterable[Request], coverage: float = 0.95) -> WorkloadMix:
        """The typical tasks of `requests`, each with its shape's mean host memory."""
        memory: dict[Shape, list[int]] = defaultdict(list)
        for r in requests:
            memory[r.shape].append(r.memory_mib)
        shapes = [shape for shape, mems in memory.items() for _ in mems]
        means = {shape: sum(mems) / len(mems) for shape, mems in memory.items()}
        return cls.from_shapes(shapes, coverage, means)


class FragmentationModel:
    """Fragmentation of node states against one mix, for one cluster's GPU types."""

    def __init__(self, mix: WorkloadMix, types: Sequence[str]) -> None:
        self.mix = mix
        self.cpu_share = sum(t.share for t in mix.tasks if t.milli == 0)
        by_milli: dict[int, list[tuple[float, int, int, BoolArray]]] = {}
        for t in mix.tasks:
            if t.milli == 0:
                continue
            access = np.array([not t.gpu_types or ty in t.gpu_types for ty in types], dtype=bool)
            by_milli.setdefault(t.milli, []).append((t.share, t.gpus, t.cpu_milli, access))
        self._by_milli = sorted(by_milli.items())

    def amount(self, cpu_left: IntArray, gpu_left: IntArray, type_index: IntArray) -> FloatArray:
        """Expected fragmented milli-GPUs of each state (rows of `gpu_left`)."""
        total = gpu_left.sum(axis=1).astype(np.float64)
        out: FloatArray = self.cpu_share * total
        for milli, tasks in self._by_milli:
            fits = gpu_left >= milli
            n_fit = fits.sum(axis=1)
            too_small = total - np.where(fits, gpu_left, 0).sum(axis=1)
            for share, gpus, cpu, access in tasks:
                usable = (n_fit >= gpus) & (cpu_left >= cpu) & access[type_index]
                out = out + share * np.where(usable, too_small, total)
        return out

    def of_state(self, state: ClusterState) -> FloatArray:
        return self.amount(state.cpu_left, state.gpu_left, state.type_index)


@dataclass(frozen=True)
class FragmentationReport:
    """Cluster-wide fragmentation and allocation, in GPUs and ratios (0-1)."""

    total_gpus: float
    allocated_gpus: float
    idle_gpus: float
    fragmented_gpus: float

    @property
    def allocation_ratio(self) -> float:
        return self.allocated_gpus / self.total_gpus if self.total_gpus else 0.0

    @property
    def fragmentation_ratio(self) -> float:
        """Share of the idle GPU capacity that is fragment."""
        return self.fragmented_gpus / self.idle_gpus if self.idle_gpus else 0.0

    @property
    def fragmentation_of_total(self) -> float:
        return self.fragmented_gpus / self.total_gpus if self.total_gpus else 0.0

    def metrics(self) -> dict[str, float]:
        """Gauges for export (Prometheus-style names, ratios 0-1)."""
        return {
            "gpusteward_gpu_total": self.total_gpus,
            "gpusteward_gpu_allocated": self.allocated_gpus,
            "gpusteward_gpu_allocation_ratio": self.allocation_ratio,
            "gpusteward_gpu_fragmented": self.fragmented_gpus,
            "gpusteward_gpu_fragmentation_ratio": self.fragmentation_ratio,
        }


def fragmentation_report(state: ClusterState, mix: WorkloadMix) -> FragmentationReport:
    frag = FragmentationModel(mix, state.types).of_state(state)
    total = state.total_gpu_milli() / MILLI
    idle = float(state.gpu_left.sum()) / MILLI
    return FragmentationReport(
        total_gpus=total,
        allocated_gpus=total - idle,
        idle_gpus=idle,
        fragmented_gpus=float(frag.sum()) / MILLI,
    )
