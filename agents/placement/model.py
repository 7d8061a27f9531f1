"""What placement works on: a replica request, the cluster's free resources, and a decision.

`ClusterState` holds per-node free CPU, memory and per-GPU free share (milli-GPUs, 1000 =
one whole GPU) as numpy arrays, so a policy scores every node in one vectorised pass.
It is a working copy: `place` / `remove` mutate it and bump the node's version (policies
cache scores per node version). No I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from pydantic import Field, model_validator

from gpusteward.core.cluster import Pool, WorkloadClass
from gpusteward.core.model import Frozen

MILLI = 1000
"""One whole GPU, in milli-GPUs."""

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


class PlacementRequest(Frozen):
    """One replica to place. `gpu_milli` is the share of each of its `gpus` GPUs."""

    name: str = "replica"
    gpus: int = Field(default=1, ge=0, le=64, description="GPUs; 0 = a CPU-only pod.")
    gpu_milli: int = Field(default=MILLI, ge=0, le=MILLI, description="Share of each GPU.")
    gpu_memory_gib: float = Field(default=0.0, ge=0, description="Minimum memory per GPU.")
    cpu_milli: int = Field(default=0, ge=0)
    memory_mib: int = Field(default=0, ge=0)
    gpu_types: frozenset[str] = Field(default=frozenset(), description="Allowed; empty = any.")
    pools: frozenset[Pool] = Field(default=frozenset(), description="Allowed; empty = any.")
    workload: WorkloadClass = WorkloadClass.BATCH
    avoid_nodes: frozenset[str] = Field(
        default=frozenset(), description="Anti-affinity: nodes already holding a sibling."
    )
    avoid_zones: frozenset[str] = Field(
        default=frozenset(), description="Anti-affinity: zones already holding a sibling."
    )

    @model_validator(mode="after")
    def _shape(self) -> PlacementRequest:
        if self.gpus == 0 and self.gpu_milli not in (0, MILLI):
            raise ValueError(f"gpus=0 with gpu_milli={self.gpu_milli}; a CPU pod has no share")
        if self.gpus > 1 and self.gpu_milli != MILLI:
            raise ValueError(
                f"gpus={self.gpus} with gpu_milli={self.gpu_milli}: a shared GPU request is "
                "for one GPU; ask for whole GPUs (gpu_milli=1000) when gpus > 1"
            )
        if self.gpus > 0 and self.gpu_milli == 0:
            raise ValueError(f"gpus={self.gpus} with gpu_milli=0; give a share in 1..1000")
        return self

    @property
    def milli(self) -> int:
        """Share asked of each GPU (0 for a CPU pod)."""
        return self.gpu_milli if self.gpus else 0

    @property
    def total_milli(self) -> int:
        return self.milli * self.gpus

    @property
    def shape(self) -> tuple[int, int, int, frozenset[str]]:
        """What fragmentation and most policies see: (cpu, milli per GPU, GPUs, types)."""
        return (self.cpu_milli, self.milli, self.gpus, self.gpu_types)


@dataclass(frozen=True)
class NodeSpec:
    """One node's capacity. `gpu_memory_gib` is per GPU; `zone` is its failure domain."""

    name: str
    gpus: int
    gpu_type: str = ""
    cpu_milli: int = 1 << 40
    memory_mib: int = 1 << 40
    gpu_memory_gib: float = 80.0
    pool: Pool = Pool.ON_PREM
    zone: str = "local"
    price_per_gpu_hour: float = 0.0


@dataclass
class ClusterState:
    """Free resources of every node; GPUs beyond a node's count are padding with 0 free."""

    specs: tuple[NodeSpec, ...]
    cpu_left: IntArray
    mem_left: IntArray
    gpu_left: IntArray  # (nodes, max GPUs per node), milli-GPUs free
    gpu_count: IntArray
    type_index: IntArray  # index into `types`
    types: tuple[str, ...]
    version: IntArray  # bumped whenever the node changes
    affinity: list[dict[str, int]] = field(default_factory=list)  # shape tag -> pods
    names: dict[str, int] = field(default_factory=dict)

    @classmethod
    def empty(cls, specs: Sequence[NodeSpec]) -> ClusterState:
        if not specs:
            raise ValueError("a cluster needs at least one node")
        width = max(1, max(s.gpus for s in specs))
        types = tuple(sorted({s.gpu_type for s in specs}))
        gpu_left = np.zeros((len(specs), width), dtype=np.int64)
        for i, s in enumerate(specs):
            gpu_left[i, : s.gpus] = MILLI
        return cls(
            specs=tuple(specs),
            cpu_left=np.array([s.cpu_milli for s in specs], dtype=np.int64),
            mem_left=np.array([s.memory_mib for s in specs], dtype=np.int64),
            gpu_left=gpu_left,
            gpu_count=np.array([s.gpus for s in specs], dtype=np.int64),
            type_index=np.array([types.index(s.gpu_type) for s in specs], dtype=np.int64),
            types=types,
            version=np.zeros(len(specs), dtype=np.int64),
            affinity=[{} for _ in specs],
            names={s.name: i for i, s in enumerate(specs)},
        )

    def copy(self) -> ClusterState:
        return ClusterState(
            specs=self.specs,
            cpu_left=self.cpu_left.copy(),
            mem_left=self.mem_left.copy(),
            gpu_left=self.gpu_left.copy(),
            gpu_count=self.gpu_count,
            type_index=self.type_index,
            types=self.types,
            version=self.version.copy(),
            affinity=[dict(a) for a in self.affinity],
            names=self.names,
        )

    @property
    def size(self) -> int:
        return len(self.specs)

    def total_gpu_milli(self) -> int:
        return int(self.gpu_count.sum()) * MILLI

    def allocated_gpu_milli(self) -> int:
        return self.total_gpu_milli() - int(self.gpu_left.sum())

    def place(self, node: int, gpu_indices: Sequence[int], request: PlacementRequest) -> None:
        """Take `request`'s resources on `node`; raises ValueError on any over-commit."""
        milli = request.milli
        if self.cpu_left[node] < request.cpu_milli or self.mem_left[node] < request.memory_mib:
            raise ValueError(
                f"{request.name} on {self.specs[node].name}: cpu/memory over-committed "
                f"(free cpu {self.cpu_left[node]}, mem {self.mem_left[node]})"
            )
        if len(gpu_indices) != request.gpus or len(set(gpu_indices)) != request.gpus:
            raise ValueError(f"{request.name}: needs {request.gpus} distinct GPUs")
        for g in gpu_indices:
            if g >= self.gpu_count[node] or self.gpu_left[node, g] < milli:
                raise ValueError(
                    f"{request.name} on {self.specs[node].name} GPU {g}: "
                    f"{self.gpu_left[node, g] if g < self.gpu_left.shape[1] else 0} milli free, "
                    f"{milli} asked"
                )
        self.cpu_left[node] -= request.cpu_milli
        self.mem_left[node] -= request.memory_mib
        for g in gpu_indices:
            self.gpu_left[node, g] -= milli
        tag = affinity_tag(request)
        if tag:
            self.affinity[node][tag] = self.affinity[node].get(tag, 0) + 1
        self.version[node] += 1

    def remove(self, node: int, gpu_indices: Sequence[int], request: PlacementRequest) -> None:
        """Give back what `place` took."""
        self.cpu_left[node] += request.cpu_milli
        self.mem_left[node] += request.memory_mib
        for g in gpu_indices:
            self.gpu_left[node, g] += request.milli
        tag = affinity_tag(request)
        if tag and self.affinity[node].get(tag, 0) > 0:
            self.affinity[node][tag] -= 1
            if not self.affinity[node][tag]:
                del self.affinity[node][tag]
        self.version[node] += 1


def affinity_tag(request: PlacementRequest) -> str:
    """The GPU-clustering tag of a request: 'share-gpu', 'N-gpu', or '' for a CPU pod."""
    if request.gpus == 0:
        return ""
    if request.gpu_milli < MILLI:
        return "share-gpu"
    return f"{request.gpus}-gpu"


class Placement(Frozen):
    """Where one request went (or why it could not), with the policy's score and reason."""

    request: str
    node: str | None
    gpu_indices: tuple[int, ...] = ()
    policy: str
    score: float | None = None
    candidates: int = Field(default=0, ge=0, description="Nodes that passed every filter.")
    reason: str

    @property
    def placed(self) -> bool:
        return self.node is not None
