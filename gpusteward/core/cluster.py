"""What the cluster looks like at one instant: nodes, GPUs, deployments and their metrics."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, Field, model_validator

from gpusteward.core.model import Frozen


class Pool(StrEnum):
    """Where a node's capacity comes from; decides price, risk and what may run there."""

    ON_PREM = "on-prem"
    CLOUD = "cloud"
    SPOT = "spot"
    EDGE = "edge"
    TRAINING = "training"


class Health(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"  # serving, but with errors worth evacuating for (ECC, XID)
    FAILED = "failed"  # cannot serve


class WorkloadClass(StrEnum):
    REALTIME = "realtime"
    BATCH = "batch"
    TRAINING = "training"


class Gpu(Frozen):
    index: int = Field(ge=0)
    type: str = Field(min_length=1, description="Product name, e.g. 'H100-80GB'.")
    memory_gib: float = Field(gt=0)
    health: Health = Health.HEALTHY
    allocated_to: str | None = Field(
        default=None, description="Replica id holding this GPU, or None when free."
    )


class Node(Frozen):
    name: str = Field(min_length=1)
    pool: Pool
    region: str = "local"
    price_per_gpu_hour: float = Field(ge=0, description="USD per GPU per hour.")
    gpus: tuple[Gpu, ...]
    cordoned: bool = False
    labels: dict[str, str] = Field(default_factory=dict)

    @property
    def gpu_type(self) -> str:
        return self.gpus[0].type if self.gpus else ""

    def free_gpus(self) -> int:
        """Healthy, unallocated GPUs on a schedulable node."""
        if self.cordoned:
            return 0
        return sum(1 for g in self.gpus if g.allocated_to is None and g.health != Health.FAILED)


class Slo(Frozen):
    queue_delay_seconds: float = Field(gt=0, description="Target queueing delay per request.")
    ttft_p95_seconds: float | None = Field(default=None, gt=0)
    attainment_target: float = Field(
        default=0.99, gt=0, le=1, description="Share of requests that must meet the delay."
    )


class ReplicaPhase(StrEnum):
    PENDING = "pending"  # wanted, waiting for free GPUs
    LOADING = "loading"  # GPUs held, cold start in progress
    READY = "ready"
    DRAINING = "draining"  # out of service: no new requests, finishing its in-flight ones


class Replica(Frozen):
    id: str
    phase: ReplicaPhase
    node: str | None = None
    gpu_indices: tuple[int, ...] = ()
    ready_in_seconds: float = Field(default=0.0, ge=0)
    in_flight: float = Field(
        default=0.0, ge=0, description="Requests being served on it now (where known)."
    )
    drain_ends_in_seconds: float = Field(
        default=0.0, ge=0, description="Draining: when it is removed at the latest."
    )


def check_ordered(start: datetime, end: datetime) -> None:
    """A window's end must come after its start (ValueError naming both otherwise)."""
    if end <= start:
        raise ValueError(f"end {end.isoformat()} is not after start {start.isoformat()}")


class CapacityWindow(Frozen):
    """Capacity an approved `schedule` action reserved: at least `replicas` Ready from
    `start` until `end` (the plan stage starts them one cold start ahead). It lapses at `end`."""

    replicas: int = Field(ge=1)
    start: AwareDatetime
    end: AwareDatetime
    load_multiplier: float | None = Field(
        default=None, gt=0, description="Re-size to this multiple of the load before start."
    )
    action_id: str = Field(default="", description="The approved action that set it.")

    @model_validator(mode="after")
    def _ordered(self) -> CapacityWindow:
        check_ordered(self.start, self.end)
        return self

    def active(self, now: datetime, lead_seconds: float) -> bool:
        """True from `lead_seconds` before `start` until `end`."""
        return self.start - timedelta(seconds=lead_seconds) <= now < self.end


class ModelDeployment(Frozen):
    name: str = Field(min_length=1, description="Deployment name, unique in its namespace.")
    namespace: str = "default"
    model: str = Field(min_length=1)
    version: str = "v1"
    workload: WorkloadClass = WorkloadClass.REALTIME
    replicas: int = Field(ge=0, description="Desired replicas (the spec).")
    gpus_per_replica: int = Field(ge=1)
    gpu_memory_gib_per_replica: float = Field(gt=0)
    gpu_types: tuple[str, ...] = Field(
        default=(), description="GPU types this model may run on; empty = any."
    )
    pools: tuple[Pool, ...] = Field(default=(), description="Pools allowed; empty = any.")
    min_replicas: int = Field(default=0, ge=0)
    max_replicas: int = Field(ge=0)
    cold_start_seconds: float = Field(ge=0)
    slo: Slo
    replica_states: tuple[Replica, ...] = Field(
        default=(), description="The replicas that count: pending, loading and ready."
    )
    draining: tuple[Replica, ...] = Field(
        default=(),
        description="Replicas taken out of service (scale-down, consolidation, a move): "
        "they take no new requests, finish their in-flight ones within the grace period, "
        "and hold their GPUs until then (Kubernetes: terminating pods). They never count "
        "towards `replicas`.",
    )
    retired: bool = False
    labels: dict[str, str] = Field(default_factory=dict)
    adapters: tuple[str, ...] = Field(
        default=(),
        description="Merged deployments (keys) whose LoRA adapters this runtime serves.",
    )
    routed_to: str | None = Field(
        default=None,
        description="Its requests go to this deployment (merged into it, or consolidated).",
    )
    intent: str | None = Field(
        default=None,
        max_length=2000,
        description="An operator's note on expected load (annotation gpusteward.io/intent): "
        "data a planner may turn into a schedule proposal, never an instruction.",
    )
    capacity_windows: tuple[CapacityWindow, ...] = Field(
        default=(), description="Capacity reserved by approved schedule actions."
    )

    @model_validator(mode="after")
    def _bounds(self) -> ModelDeployment:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"min_replicas={self.min_replicas} > max_replicas={self.max_replicas}; "
                "set min_replicas <= max_replicas"
            )
        return self

    @property
    def key(self) -> str:
        """`namespace/name`, the id used by actions and metrics."""
        return f"{self.namespace}/{self.name}"

    def count(self, phase: ReplicaPhase) -> int:
        return sum(1 for r in self.replica_states if r.phase == phase)


class ServingMetrics(Frozen):
    """Per-deployment serving metrics over the last observation interval."""

    arrival_rate_rps: float = Field(ge=0)
    served_rate_rps: float = Field(ge=0)
    queue_depth: int = Field(ge=0)
    running: int = Field(default=0, ge=0)
    dropped: int = Field(default=0, ge=0, description="Requests timed out this interval.")
    queue_delay_p95_seconds: float = Field(default=0.0, ge=0)
    ttft_p95_seconds: float | None = None
    itl_p50_seconds: float | None = None
    kv_cache_usage: float | None = Field(default=None, ge=0, le=1)
    gpu_utilization: float = Field(default=0.0, ge=0, le=1)
    tensor_active: float | None = Field(default=None, ge=0, le=1)
    memory_bandwidth_util: float | None = Field(default=None, ge=0, le=1)
    capacity_rps: float = Field(default=0.0, ge=0, description="What ready replicas can serve.")
    slo_attainment: float | None = Field(default=None, ge=0, le=1)


class TokenAccounting(Frozen):
    """Per-token figures of one deployment since the start of a run (or, from Prometheus,
    over its query window). Costs split the deployment's GPU cost between input and
    output tokens by the time their requests spent in prefill and in decode."""

    requests: int = Field(default=0, ge=0)
    input_tokens: float = Field(default=0.0, ge=0)
    output_tokens: float = Field(default=0.0, ge=0)
    seconds: float = Field(default=0.0, ge=0, description="The time the counts cover.")
    ttft_p50_seconds: float | None = None
    ttft_p95_seconds: float | None = None
    tpot_p50_seconds: float | None = None
    tpot_p95_seconds: float | None = None
    gpu_hours: float = Field(default=0.0, ge=0)
    cost_usd: float = Field(default=0.0, ge=0)
    input_cost_share: float = Field(default=0.5, ge=0, le=1)
    idle_gpu_share: float | None = Field(
        default=None, ge=0, le=1, description="Share of GPU-hours that served no request."
    )

    @property
    def tokens_per_second(self) -> float:
        return (self.input_tokens + self.output_tokens) / self.seconds if self.seconds else 0.0

    @property
    def output_tokens_per_second(self) -> float:
        return self.output_tokens / self.seconds if self.seconds else 0.0

    def cost_per_million(self, which: Literal["input", "output"]) -> float | None:
        """USD per 1M input (or output) tokens; None before any was served."""
        tokens = self.input_tokens if which == "input" else self.output_tokens
        share = self.input_cost_share if which == "input" else 1.0 - self.input_cost_share
        return self.cost_usd * share / tokens * 1e6 if tokens else None

    @property
    def gpu_hours_per_million(self) -> float | None:
        tokens = self.input_tokens + self.output_tokens
        return self.gpu_hours / tokens * 1e6 if tokens else None


class ModelAccounting(Frozen):
    """Cumulative counters since the start of a run, for one deployment."""

    arrived: int = 0
    served: int = 0
    dropped: int = 0
    queued: int = 0
    served_within_slo: int = 0
    gpu_hours: float = 0.0
    cost_usd: float = 0.0
    queue_delay_p95_seconds: float = 0.0
    dropped_on_removal: int = Field(
        default=0,
        ge=0,
        description="Of `dropped`: in flight on a replica removed before they finished "
        "(scale-down, consolidation or a move whose grace period ran out).",
    )
    dropped_on_failure: int = Field(
        default=0, ge=0, description="Of `dropped`: in flight on a replica a fault killed."
    )
    tokens: TokenAccounting | None = Field(
        default=None, description="Per-token figures, where the model's token lengths are known."
    )

    @property
    def slo_attainment(self) -> float:
        done = self.served + self.dropped
        return self.served_within_slo / done if done else 1.0


def overall_attainment(accounting: Mapping[str, ModelAccounting]) -> float:
    """Requests served within SLO over requests finished (served or dropped), over every
    deployment; 1.0 when none finished."""
    within = sum(a.served_within_slo for a in accounting.values())
    done = sum(a.served + a.dropped for a in accounting.values())
    return within / done if done else 1.0


def total_accounting(accounting: Mapping[str, ModelAccounting]) -> ModelAccounting:
    """Every deployment's counters summed (queueing delay: the worst p95)."""
    acc = accounting.values()
    return ModelAccounting(
        arrived=sum(a.arrived for a in acc),
        served=sum(a.served for a in acc),
        dropped=sum(a.dropped for a in acc),
        served_within_slo=sum(a.served_within_slo for a in acc),
        gpu_hours=sum(a.gpu_hours for a in acc),
        cost_usd=sum(a.cost_usd for a in acc),
        queue_delay_p95_seconds=max((a.queue_delay_p95_seconds for a in acc), default=0.0),
    )


class ClusterSnapshot(Frozen):
    """One immutable observation of the whole cluster."""

    at: AwareDatetime
    nodes: tuple[Node, ...]
    deployments: tuple[ModelDeployment, ...]
    metrics: dict[str, ServingMetrics] = Field(
        default_factory=dict, description="Keyed by deployment key."
    )
    accounting: dict[str, ModelAccounting] | None = Field(
        default=None, description="Cumulative counters, where the backend keeps them (sim)."
    )
    tokens: dict[str, TokenAccounting] | None = Field(
        default=None,
        description="Per-token figures over a recent window, where the backend reads them "
        "from its metrics (Prometheus); the simulator keeps them in `accounting`.",
    )
    interval_seconds: float = Field(default=60.0, gt=0)

    def token_figures(self) -> dict[str, TokenAccounting]:
        """Each deployment's per-token figures, from whichever place the backend keeps them."""
        out = {k: a.tokens for k, a in (self.accounting or {}).items() if a.tokens is not None}
        out.update(self.tokens or {})
        return out

    def deployment(self, key: str) -> ModelDeployment | None:
        for d in self.deployments:
            if d.key == key:
                return d
        return None

    def node(self, name: str) -> Node | None:
        for n in self.nodes:
            if n.name == name:
                return n
        return None

    def total_gpus(self) -> int:
        return sum(len(n.gpus) for n in self.nodes)

    def allocated_gpus(self) -> int:
        """GPUs held by pending-or-better replicas as the spec asks (desired x per replica)."""
        return sum(d.replicas * d.gpus_per_replica for d in self.deployments)


def utc(dt: datetime) -> datetime:
    """Reject naive datetimes at the edge: every time in the project is tz-aware."""
    if dt.tzinfo is None:
        raise ValueError(f"naive datetime {dt.isoformat()}: give a time zone, e.g. '+00:00'")
    return dt
