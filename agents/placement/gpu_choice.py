"""Heterogeneous GPU choice: the cheapest GPU type on which a replica meets its SLO.

Given per-type throughput at SLO (requests/s one replica serves) and price per GPU-hour,
each type's cost is the price of the replicas it needs for the demand; types that cannot
reach the demand within `max_replicas`, whose replicas do not fit the GPU memory, or with
no free capacity for the replicas are left out, each with the reason. Pure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from pydantic import Field

from gpusteward.core.model import Frozen


class GpuOption(Frozen):
    gpu_type: str
    throughput_rps: float = Field(gt=0, description="Per replica, at the SLO.")
    price_per_gpu_hour: float = Field(ge=0)
    memory_gib: float = Field(gt=0)
    free_gpus: int = Field(default=1 << 30, ge=0)


class GpuChoice(Frozen):
    gpu_type: str | None
    replicas: int = 0
    cost_per_hour: float = 0.0
    reason: str
    rejected: dict[str, str] = Field(default_factory=dict)


def cheapest_gpu_type(
    demand_rps: float,
    options: Mapping[str, GpuOption] | list[GpuOption],
    *,
    gpus_per_replica: int = 1,
    memory_gib_per_replica: float = 0.0,
    max_replicas: int = 1 << 20,
) -> GpuChoice:
    """The type with the lowest hourly cost for `demand_rps`; ties by name."""
    opts = list(options.values()) if isinstance(options, Mapping) else list(options)
    rejected: dict[str, str] = {}
    best: tuple[float, str, int] | None = None
    for o in opts:
        replicas = max(1, math.ceil(demand_rps / o.throughput_rps))
        if o.memory_gib * gpus_per_replica < memory_gib_per_replica:
            rejected[o.gpu_type] = (
                f"{memory_gib_per_replica:g} GiB per replica > {gpus_per_replica} x "
                f"{o.memory_gib:g} GiB"
            )
        elif replicas > max_replicas:
            rejected[o.gpu_type] = f"needs {replicas} replicas > max {max_replicas}"
        elif replicas * gpus_per_replica > o.free_gpus:
            rejected[o.gpu_type] = f"needs {replicas * gpus_per_replica} GPUs, {o.free_gpus} free"
        else:
            cost = replicas * gpus_per_replica * o.price_per_gpu_hour
            if best is None or (cost, o.gpu_type) < (best[0], best[1]):
                best = (cost, o.gpu_type, replicas)
    if best is None:
        return GpuChoice(
            gpu_type=None, reason=f"no GPU type meets {demand_rps:g} req/s", rejected=rejected
        )
    cost, gpu_type, replicas = best
    return GpuChoice(
        gpu_type=gpu_type,
        replicas=replicas,
        cost_per_hour=round(cost, 4),
        reason=(
            f"{gpu_type}: {replicas} replica(s) x {gpus_per_replica} GPU serve "
            f"{demand_rps:g} req/s at the SLO for ${cost:.2f}/h, the cheapest of "
            f"{len(opts) - len(rejected)} feasible type(s)"
        ),
        rejected=rejected,
    )
