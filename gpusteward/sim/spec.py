"""What a simulated cluster is made of: node groups, models with profiles and traces, faults."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import AwareDatetime, Field, model_validator

from gpusteward.core.cluster import Pool, Slo, WorkloadClass
from gpusteward.core.model import Frozen
from gpusteward.sim.token_spec import TokenSpec

ARTIFACT_REGION_LABEL = "gpusteward.io/artifact-region"  # where a model's weights are stored


class NodeGroupSpec(Frozen):
    """`count` identical nodes named `<name>-0 .. <name>-(count-1)`."""

    name: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9-]*$")
    count: int = Field(ge=1)
    pool: Pool = Pool.ON_PREM
    region: str = "local"
    gpu_type: str = Field(min_length=1)
    gpus_per_node: int = Field(ge=1, le=64)
    gpu_memory_gib: float = Field(gt=0)
    price_per_gpu_hour: float = Field(ge=0, description="USD per GPU per hour")


class ClusterSpec(Frozen):
    node_groups: tuple[NodeGroupSpec, ...] = Field(min_length=1)


TraceFormat = Literal["servegen-total", "servegen-client", "servegen-columns", "azure-requests"]


class LoadEvent(Frozen):
    """A stretch of the run when the trace's rate is multiplied (a launch, a campaign)."""

    after_seconds: float = Field(ge=0, description="Seconds after the run's start.")
    duration_seconds: float = Field(gt=0)
    multiplier: float = Field(gt=0, le=1000)


class TraceSpec(Frozen):
    """A request-rate trace and how to map it onto this cluster.

    - `servegen-total`: `window_start_s,total_rate_rps,active_clients`, or two columns
      `window_start_s,rate`; with that header or none.
    - `servegen-client`: headerless `window_start_s,rate_rps,cv,dist,shape,scale`.
    - `servegen-columns`: many rate series in one file, `window_start_s,<name>,<name>:cv,...`
      with that header; `column` names the series (its `:cv` column is optional).
    - `azure-requests`: `TIMESTAMP,ContextTokens,GeneratedTokens`, one row per request.
    """

    file: Path
    format: TraceFormat = "servegen-total"
    column: str | None = Field(
        default=None, min_length=1, description="servegen-columns: which series of the file."
    )
    # bounded: past these the arrival draws overflow (numpy's Poisson refuses huge means)
    scale: float = Field(default=1.0, gt=0, le=1e6, description="Multiply every rate by this.")
    burstiness_cv: float = Field(
        default=1.0,
        ge=0,
        le=100,
        description="Inter-arrival CV when the trace has none (1 = Poisson).",
    )
    offset_seconds: float = Field(default=0.0, ge=0, description="Start this far into the trace.")
    loop: bool = Field(default=True, description="Wrap around at the end of the trace.")
    events: tuple[LoadEvent, ...] = Field(
        default=(), description="Stretches of the run when the rate is multiplied."
    )

    @model_validator(mode="after")
    def _column_for_columns(self) -> TraceSpec:
        if self.format == "servegen-columns" and self.column is None:
            raise ValueError(
                f"trace {self.file.name}: format servegen-columns needs `column`, the series "
                "to read. Fix: add column: <a name from the file's header>"
            )
        if self.format != "servegen-columns" and self.column is not None:
            raise ValueError(
                f"trace {self.file.name}: `column` ({self.column!r}) is read only with format "
                f"servegen-columns, not {self.format}. Fix: remove column, or set the format"
            )
        return self

    def multiplier_at(self, t: float) -> float:
        """The events' multiplier at `t` seconds after the run's start (1 outside them)."""
        out = 1.0
        for e in self.events:
            if e.after_seconds <= t < e.after_seconds + e.duration_seconds:
                out *= e.multiplier
        return out


class ProfileSpec(Frozen):
    """Requests per second one replica serves at its SLO, per GPU type."""

    throughput_rps: dict[str, float] = Field(min_length=1)

    @model_validator(mode="after")
    def _positive(self) -> ProfileSpec:
        for gpu, rps in self.throughput_rps.items():
            if rps <= 0:
                raise ValueError(f"throughput_rps[{gpu!r}]={rps}: must be > 0 requests/s")
        return self


class ModelSpec(Frozen):
    name: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9.-]*$")
    namespace: str = "serving"
    model: str | None = Field(default=None, description="Model id; defaults to name.")
    version: str = "v1"
    workload: WorkloadClass = WorkloadClass.REALTIME
    labels: dict[str, str] = Field(
        default_factory=dict,
        description="The deployment's labels, as policies see them (e.g. tier: production).",
    )
    replicas: int = Field(ge=0, description="Replicas at the start.")
    min_replicas: int = Field(default=1, ge=0)
    max_replicas: int = Field(ge=1)
    gpus_per_replica: int = Field(default=1, ge=1)
    gpu_memory_gib: float = Field(gt=0)
    pools: tuple[Pool, ...] = ()
    cold_start_seconds: float = Field(ge=0, le=86_400)
    queue_timeout_seconds: float = Field(default=120.0, gt=0)
    request_seconds: float = Field(
        default=0.0,
        ge=0,
        le=3600,
        description="Mean time one request runs on a replica once served (prefill + decode): "
        "what a replica has in flight, and what a drain waits for. 0: requests finish at "
        "once, nothing is ever in flight (the behaviour before drains were modelled).",
    )
    max_request_seconds: float | None = Field(
        default=None,
        gt=0,
        le=86_400,
        description="The longest one request runs (the server's max output tokens at its "
        "decode speed); default 4 x request_seconds.",
    )
    termination_grace_seconds: float = Field(
        default=30.0,
        ge=0,
        le=86_400,
        description="How long a replica taken out of service may finish its in-flight "
        "requests before it is killed (Kubernetes' terminationGracePeriodSeconds, 30 s by "
        "default). Requests still running then are dropped.",
    )
    wake_timeout_seconds: float = Field(
        default=900.0,
        gt=0,
        le=86_400,
        description="How long a request for a model scaled to zero (or waking from zero) is "
        "held while a replica starts, instead of queue_timeout_seconds. Longer than a cold "
        "start plus a tick, or every held request would time out.",
    )
    adapter_overhead: float = Field(
        default=0.15,
        ge=0,
        lt=1,
        description="Share of a replica's throughput lost while it serves merged LoRA "
        "adapters beside its base model (vLLM's multi-LoRA kernels: 10-20 %).",
    )
    batch_efficiency: float = Field(
        default=1.0,
        gt=0,
        le=1,
        description="Share of the profile's throughput a replica reaches with its server's "
        "batch settings (max concurrent sequences). Below 1 the batch is too small for the "
        "GPU: a saturated replica serves that share and its GPUs are that share busy (a "
        "mis-sized batch: GPUs at 35 % while the queue grows).",
    )
    artifact_transfer_seconds: float = Field(
        default=0.0,
        ge=0,
        le=86_400,
        description="Extra start-up time of a replica placed outside the region named by the "
        f"label {ARTIFACT_REGION_LABEL} (its weights cross regions); 0 without the label.",
    )
    intent: str | None = Field(
        default=None,
        max_length=2000,
        description="An operator's note on expected load (as the gpusteward.io/intent annotation).",
    )
    intent_after_seconds: float = Field(
        default=0.0, ge=0, description="The note appears this long after the run's start."
    )
    slo: Slo
    profile: ProfileSpec
    trace: TraceSpec
    tokens: TokenSpec | None = Field(
        default=None, description="Token lengths and speeds: per-token figures when given."
    )

    @model_validator(mode="after")
    def _bounds(self) -> ModelSpec:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas={self.min_replicas} > max_replicas={self.max_replicas}")
        if not self.min_replicas <= self.replicas <= self.max_replicas:
            raise ValueError(
                f"replicas={self.replicas} outside [min_replicas={self.min_replicas}, "
                f"max_replicas={self.max_replicas}]"
            )
        if self.tokens is not None:
            for table in (
                self.tokens.prefill_tokens_per_second,
                self.tokens.decode_seconds_per_token,
            ):
                missing = sorted(set(self.profile.throughput_rps) - set(table))
                if missing:
                    raise ValueError(
                        f"tokens gives no speed for GPU type(s) {', '.join(missing)} that "
                        "profile.throughput_rps serves on. Fix: add them to "
                        "tokens.prefill_tokens_per_second and tokens.decode_seconds_per_token"
                    )
        longest = self.longest_request_seconds
        if self.request_seconds > 0 and longest < self.request_seconds:
            raise ValueError(
                f"max_request_seconds={longest:g} is below request_seconds="
                f"{self.request_seconds:g}: the longest request cannot be shorter than the "
                "mean. Fix: raise max_request_seconds or leave it out (4 x the mean)"
            )
        return self

    def cold_start_in(self, region: str) -> float:
        """A replica's cold start on a node in `region`: longer away from the artifacts."""
        home = self.labels.get(ARTIFACT_REGION_LABEL)
        if home is None or home == region:
            return self.cold_start_seconds
        return self.cold_start_seconds + self.artifact_transfer_seconds

    @property
    def longest_request_seconds(self) -> float:
        if self.max_request_seconds is not None:
            return self.max_request_seconds
        return 4.0 * self.request_seconds

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


class FaultSpec(Frozen):
    spot_preemptions_per_node_hour: float = Field(default=0.0, ge=0)
    spot_outage_seconds: float = Field(default=1800.0, gt=0)
    spot_wave_after_seconds: float | None = Field(
        default=None,
        ge=0,
        description="Preempt every spot node at once this long after the start (a wave), "
        "each out for spot_outage_seconds; None: no wave.",
    )
    gpu_failures_per_gpu_hour: float = Field(default=0.0, ge=0)
    gpu_repair_seconds: float = Field(default=3600.0, gt=0)


class SimSpec(Frozen):
    """Everything the simulator needs; trace paths are already absolute."""

    start: AwareDatetime
    step_seconds: float = Field(gt=0)
    seed: int = 0
    cluster: ClusterSpec
    models: tuple[ModelSpec, ...] = Field(min_length=1)
    faults: FaultSpec = FaultSpec()


def added_at_default(spec: SimSpec) -> dict[str, Any]:
    """What a spec's digest leaves out: each field added since checkpoints were first
    written (token lengths, the incident knobs of issue 26) while it holds its default
    everywhere, so a checkpoint written before it still resumes."""
    models = spec.models
    used = {
        "tokens": any(m.tokens is not None for m in models),
        "batch_efficiency": any(m.batch_efficiency != 1.0 for m in models),
        "artifact_transfer_seconds": any(m.artifact_transfer_seconds for m in models),
    }
    out: dict[str, Any] = {}
    unused = [k for k, u in used.items() if not u]
    if unused:
        out["models"] = {"__all__": dict.fromkeys(unused, True)}
    if spec.faults.spot_wave_after_seconds is None:
        out["faults"] = {"spot_wave_after_seconds": True}
    return out
