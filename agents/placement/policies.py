"""Placement scoring policies: the paper's baselines, FGD, and ours.

A policy scores candidate nodes for one request (higher is better) and, for a shared-GPU
request, names the GPU it would use on each node. Scores depend only on the node's own
state, so the engine caches them per node version (except `random`). Baselines follow
the FGD artifact (`hkust-adsl/kubernetes-scheduler-simulator`, `pkg/simulator/plugin`),
including its integer scores, whose ties the engine breaks at random as the Kubernetes
scheduler does:

- random: a random score per feasible node, a random GPU.
- dot-product (Tetris): smallest dot product of free (CPU, GPU) and request, both over
  the largest node (128 CPUs, 8 GPUs).
- gpu-clustering: nodes already running requests of the same GPU shape first.
- gpu-packing: shared GPUs first, then partly used nodes, then empty ones.
- best-fit: least free (CPU, GPU) left after placing, over the largest node.
- fgd: smallest increase of the node's expected fragmentation (sigmoid, 0-100).
- frag-fit (ours): FGD's fragmentation gradient in 40-milli-GPU buckets (ties packed by
  node order), and CPU-only requests sent where they strand the fewest free GPUs.

`look-ahead` (ours, `lookahead`) reuses this module's scoring pieces; `catalog` names them all.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple, Protocol

import numpy as np

from agents.placement.fragmentation import FragmentationModel, WorkloadMix
from agents.placement.model import MILLI, ClusterState, FloatArray, IntArray, affinity_tag
from agents.placement.model import PlacementRequest as Request

MAX_SPEC_CPU = 128_000  # milli-CPU of the largest node, to normalise (the artifact's value)
MAX_SPEC_GPU = 8_000  # milli-GPU of the largest node
WHOLE = -1  # GPU choice: the request takes whole free GPUs, lowest indices first


class NodeScores(NamedTuple):
    score: FloatArray  # per candidate node, higher is better
    gpu: IntArray  # per candidate node: GPU index for a shared request, or WHOLE


class Policy(Protocol):
    name: str
    cacheable: bool  # the score of a node depends only on that node's state

    def score(
        self, state: ClusterState, request: Request, nodes: IntArray, rng: np.random.Generator
    ) -> NodeScores: ...


def _whole(nodes: IntArray) -> IntArray:
    return np.full(len(nodes), WHOLE, dtype=np.int64)


def best_fit_gpu(state: ClusterState, request: Request, nodes: IntArray) -> IntArray:
    """For a shared request: the fitting GPU with the least free share (lowest index)."""
    if request.gpus != 1 or request.gpu_milli >= MILLI:
        return _whole(nodes)
    left = state.gpu_left[nodes]
    masked = np.where(left >= request.gpu_milli, left, MILLI + 1)
    chosen: IntArray = masked.argmin(axis=1).astype(np.int64)
    return chosen


class RandomPolicy:
    """A random score per node (the artifact's RandomScore), a random fitting GPU."""

    name = "random"
    cacheable = False

    def score(
        self, state: ClusterState, request: Request, nodes: IntArray, rng: np.random.Generator
    ) -> NodeScores:
        score = rng.random(len(nodes))
        if request.gpus != 1 or request.gpu_milli >= MILLI:
            return NodeScores(score, _whole(nodes))
        fits = state.gpu_left[nodes] >= request.gpu_milli
        noise = rng.random(fits.shape)
        return NodeScores(score, np.where(fits, noise, -1.0).argmax(axis=1))


NodeScore = Callable[[ClusterState, Request, IntArray], FloatArray]


def dot_product_score(state: ClusterState, request: Request, nodes: IntArray) -> FloatArray:
    """Tetris: smallest dot product of free (CPU, GPU) and the request."""
    cpu = state.cpu_left[nodes] / MAX_SPEC_CPU
    gpu = state.gpu_left[nodes].sum(axis=1) / MAX_SPEC_GPU
    dot = cpu * (request.cpu_milli / MAX_SPEC_CPU) + gpu * (request.total_milli / MAX_SPEC_GPU)
    score: FloatArray = np.trunc(100.0 * (1.0 - dot / 2.0))
    return score


def gpu_clustering_score(state: ClusterState, request: Request, nodes: IntArray) -> FloatArray:
    """Nodes already running requests of the same GPU shape first."""
    tag = affinity_tag(request)
    if not tag:
        return np.zeros(len(nodes))
    used = MAX_SPEC_GPU - state.gpu_left[nodes].sum(axis=1)
    base = (25 * used) // MAX_SPEC_GPU
    bonus = np.empty(len(nodes))
    for i, n in enumerate(nodes):
        tags = state.affinity[int(n)]
        if tags.get(tag, 0) > 0:
            bonus[i] = 75 if len(tags) == 1 else 50
        else:
            bonus[i] = 25 if not tags else 0
    score: FloatArray = base + bonus
    return score


def gpu_packing_score(state: ClusterState, request: Request, nodes: IntArray) -> FloatArray:
    """Shared GPUs first, then partly used nodes, then empty ones."""
    if request.gpus == 0:
        return np.zeros(len(nodes))
    left = state.gpu_left[nodes]
    count = state.gpu_count[nodes]
    fully_free = (left == MILLI).sum(axis=1)
    milli = request.gpu_milli
    # GPUs used, least free first: the request's GPUs are the `gpus` smallest that fit
    fit_left = np.sort(np.where(left >= milli, left, MILLI * 10), axis=1)[:, : request.gpus]
    free_to_use = (fit_left == MILLI).sum(axis=1)
    shared_free = (fit_left * 100 // MILLI).sum(axis=1)
    empty_node = np.maximum(33 - fully_free, fully_free)
    uses_free = np.maximum(50 - free_to_use, 33)
    uses_shared = np.maximum(100 - shared_free // 10, 50)
    score = np.where(
        fully_free == count, empty_node, np.where(free_to_use > 0, uses_free, uses_shared)
    )
    result: FloatArray = score.astype(np.float64)
    return result


def best_fit_raw(state: ClusterState, request: Request, nodes: IntArray) -> FloatArray:
    """Normalised free (CPU, GPU) left after placing: 0 = perfectly full, lower is better."""
    cpu = (state.cpu_left[nodes] - request.cpu_milli) / MAX_SPEC_CPU
    gpu = (state.gpu_left[nodes].sum(axis=1) - request.total_milli) / MAX_SPEC_GPU
    result: FloatArray = 0.5 * cpu + 0.5 * gpu
    return result


def best_fit_score(state: ClusterState, request: Request, nodes: IntArray) -> FloatArray:
    """Least free (CPU, GPU) left after placing."""
    score: FloatArray = np.trunc((1.0 - best_fit_raw(state, request, nodes)) * 100.0)
    return score


class NodeScorePolicy:
    """A baseline that scores each node from its own state alone (`node_score`); a shared
    request takes the fitting GPU it leaves least free (`best_fit_gpu`)."""

    cacheable = True

    def __init__(self, name: str, node_score: NodeScore) -> None:
        self.name = name
        self.node_score = node_score

    def score(
        self, state: ClusterState, request: Request, nodes: IntArray, rng: np.random.Generator
    ) -> NodeScores:
        return NodeScores(
            self.node_score(state, request, nodes), best_fit_gpu(state, request, nodes)
        )


NODE_SCORES: dict[str, NodeScore] = {
    "dot-product": dot_product_score,
    "gpu-clustering": gpu_clustering_score,
    "gpu-packing": gpu_packing_score,
    "best-fit": best_fit_score,
}
"""The baselines that are a `NodeScorePolicy`, by name."""


class NodeAmount(Protocol):
    """Fragmentation (or another expectation) of node states, one value per row."""

    def __call__(
        self, cpu_left: IntArray, mem_left: IntArray, gpu_left: IntArray, type_index: IntArray
    ) -> FloatArray: ...


class FragmentationDelta:
    """An amount of each node before, and after placing a request (each fitting GPU when
    shared); the amount before is cached per node version."""

    def __init__(self, amount: NodeAmount, state: ClusterState) -> None:
        self.amount = amount
        self._frag = np.zeros(state.size)
        self._ver = np.full(state.size, -1, dtype=np.int64)

    def before(self, state: ClusterState, nodes: IntArray) -> FloatArray:
        stale = nodes[self._ver[nodes] != state.version[nodes]]
        if len(stale):
            self._frag[stale] = self.amount(
                state.cpu_left[stale],
                state.mem_left[stale],
                state.gpu_left[stale],
                state.type_index[stale],
            )
            self._ver[stale] = state.version[stale]
        return self._frag[nodes]

    def after_whole(self, state: ClusterState, request: Request, nodes: IntArray) -> FloatArray:
        cpu = state.cpu_left[nodes] - request.cpu_milli
        mem = state.mem_left[nodes] - request.memory_mib
        return self.amount(cpu, mem, whole_taken(state, request, nodes), state.type_index[nodes])

    def after_shared(
        self, state: ClusterState, request: Request, nodes: IntArray
    ) -> tuple[FloatArray, IntArray, IntArray]:
        """(amount after, candidate row in `nodes`, GPU index) per fitting GPU."""
        left = state.gpu_left[nodes]
        rows, gpus = np.nonzero(left >= request.gpu_milli)
        states = left[rows].copy()
        states[np.arange(len(rows)), gpus] -= request.gpu_milli
        cpu = state.cpu_left[nodes][rows] - request.cpu_milli
        mem = state.mem_left[nodes][rows] - request.memory_mib
        frag = self.amount(cpu, mem, states, state.type_index[nodes][rows])
        return frag, rows.astype(np.int64), gpus.astype(np.int64)


def whole_taken(state: ClusterState, request: Request, nodes: IntArray) -> IntArray:
    """The nodes' free shares after a whole-GPU (or CPU-only) request takes its GPUs."""
    left: IntArray = state.gpu_left[nodes].copy()
    if request.gpus:
        free = left == MILLI
        left[free & (np.cumsum(free, axis=1) <= request.gpus)] = 0
    return left


def _fgd_amount(mix: WorkloadMix, state: ClusterState) -> NodeAmount:
    model = FragmentationModel(mix, state.types)

    def amount(
        cpu_left: IntArray, mem_left: IntArray, gpu_left: IntArray, type_index: IntArray
    ) -> FloatArray:
        return model.amount(cpu_left, gpu_left, type_index)  # FGD ignores host memory

    return amount


def best_gpu_per_node(
    size: int, rows: IntArray, gpus: IntArray, per_gpu: FloatArray, empty: float
) -> NodeScores:
    """Per candidate node, its best GPU's score (lowest index among equals)."""
    score = np.full(size, empty)
    gpu = np.full(size, WHOLE, dtype=np.int64)
    order = np.lexsort((gpus, -per_gpu, rows))
    first = np.ones(len(order), dtype=bool)
    first[1:] = rows[order][1:] != rows[order][:-1]
    chosen = order[first]
    score[rows[chosen]] = per_gpu[chosen]
    gpu[rows[chosen]] = gpus[chosen]
    return NodeScores(score, gpu)


def _sigmoid_score(delta: FloatArray) -> FloatArray:
    """The artifact's score: int(sigmoid(-increase / 1000) x 100), in 0-100."""
    return np.trunc(100.0 / (1.0 + np.exp(-delta / 1000.0)))


class FgdPolicy:
    """FGD: the node (and GPU) whose expected fragmentation grows least.

    `score` measures each node's fragmentation decrease (per fitting GPU for a shared
    request); `node_scores` and `gpu_scores` turn it into scores (the artifact's sigmoid
    here; frag-fit buckets it)."""

    name = "fgd"
    cacheable = True
    no_fitting_gpu = -1.0  # a shared request's score on a node with no GPU it fits

    def __init__(self, mix: WorkloadMix, state: ClusterState) -> None:
        self.delta = FragmentationDelta(self.fragmentation(mix, state), state)

    def fragmentation(self, mix: WorkloadMix, state: ClusterState) -> NodeAmount:
        """What the gradient is taken of: FGD's expected fragmentation against `mix`."""
        return _fgd_amount(mix, state)

    def score(
        self, state: ClusterState, request: Request, nodes: IntArray, rng: np.random.Generator
    ) -> NodeScores:
        before = self.delta.before(state, nodes)
        if request.gpus == 1 and request.gpu_milli < MILLI:
            frag, rows, gpus = self.delta.after_shared(state, request, nodes)
            left_after = state.gpu_left[nodes][rows, gpus] - request.gpu_milli
            per_gpu = self.gpu_scores(before[rows] - frag, left_after)
            return best_gpu_per_node(len(nodes), rows, gpus, per_gpu, self.no_fitting_gpu)
        after = self.delta.after_whole(state, request, nodes)
        cpu_only_free = state.gpu_left[nodes].sum(axis=1) if request.gpus == 0 else None
        return NodeScores(self.node_scores(before - after, cpu_only_free), _whole(nodes))

    def gpu_scores(self, decrease: FloatArray, left_after: IntArray) -> FloatArray:
        """Scores of a shared request on each GPU it fits: it lowers the node's
        fragmentation by `decrease` and leaves `left_after` milli-GPUs free on the GPU."""
        return _sigmoid_score(decrease)

    def node_scores(self, decrease: FloatArray, cpu_only_free: IntArray | None) -> FloatArray:
        """Scores of a whole-GPU or CPU-only request on each node, whose fragmentation it
        lowers by `decrease`; `cpu_only_free`: for a CPU-only request, each node's free
        milli-GPUs (else None)."""
        return _sigmoid_score(decrease)


class FragFitPolicy(FgdPolicy):
    """Ours: FGD's fragmentation gradient measured exactly and bucketed, packing within a
    bucket, and CPU-aware placement of CPU-only requests.

    - The score is the decrease of the node's expected fragmentation (milli-GPUs),
      floored to `resolution` (40 milli-GPUs, about one point of FGD's 0-100 score):
      differences below that are noise, and treating them as ties lets the engine's
      node-order tie-break pack requests onto the same nodes.
    - Within a bucket a shared request takes the GPU it leaves least free; between nodes
      the engine's node order decides (packing). (A best-fit tie-break measured worse.)
    - A CPU-only request does not change GPU fragmentation, but the CPU it takes strands
      the free GPUs of its node: it goes where the fewest GPUs are free.
    """

    name = "frag-fit"
    no_fitting_gpu = -math.inf

    def __init__(self, mix: WorkloadMix, state: ClusterState, *, resolution: float = 40.0) -> None:
        if resolution <= 0:
            raise ValueError(f"resolution={resolution}; expected milli-GPUs > 0, e.g. 40")
        super().__init__(mix, state)
        self.resolution = resolution

    def gpu_scores(self, decrease: FloatArray, left_after: IntArray) -> FloatArray:
        result: FloatArray = np.floor(decrease / self.resolution) - 1e-6 * left_after
        return result

    def node_scores(self, decrease: FloatArray, cpu_only_free: IntArray | None) -> FloatArray:
        bucket: FloatArray = np.floor(decrease / self.resolution)
        if cpu_only_free is None:
            return bucket
        free_gpus = cpu_only_free / MAX_SPEC_GPU  # 0-1
        result: FloatArray = bucket - 0.5 * free_gpus
        return result
