"""Small simulator specs for the sim tests: synthetic CSV traces and tiny clusters."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gpusteward.core.cluster import Pool, Slo
from gpusteward.sim.spec import (
    ClusterSpec,
    FaultSpec,
    ModelSpec,
    NodeGroupSpec,
    ProfileSpec,
    SimSpec,
    TraceSpec,
)

START = datetime(2026, 11, 2, tzinfo=UTC)
TRACES = Path(__file__).resolve().parents[2] / "gpusteward" / "scenarios" / "traces"
M_LARGE = TRACES / "servegen_m-large_total_rate_10min.csv"
M_MID = TRACES / "servegen_m-mid_total_rate_10min.csv"


def write_total_trace(path: Path, rates: Sequence[float], window: float = 600.0) -> Path:
    """A servegen-total CSV with one row per rate."""
    rows = ["window_start_s,total_rate_rps,active_clients"]
    rows += [f"{i * window:g},{r},1" for i, r in enumerate(rates)]
    path.write_text("\n".join(rows) + "\n")
    return path


def node_group(name: str = "h100", **kw: Any) -> NodeGroupSpec:
    base: dict[str, Any] = dict(
        name=name,
        count=1,
        pool=Pool.ON_PREM,
        gpu_type="H100",
        gpus_per_node=4,
        gpu_memory_gib=80,
        price_per_gpu_hour=2.0,
    )
    return NodeGroupSpec(**{**base, **kw})


def model(name: str = "m", trace: Path = M_LARGE, **kw: Any) -> ModelSpec:
    trace_kw = kw.pop("trace_kw", {})
    base: dict[str, Any] = dict(
        name=name,
        namespace="serving",
        replicas=2,
        min_replicas=0,
        max_replicas=16,
        gpu_memory_gib=40,
        cold_start_seconds=120,
        queue_timeout_seconds=120,
        slo=Slo(queue_delay_seconds=2.0),
        profile=ProfileSpec(throughput_rps={"H100": 2.0, "A100": 1.0}),
        trace=TraceSpec(**{"file": trace, "scale": 0.01, "burstiness_cv": 1.0, **trace_kw}),
    )
    return ModelSpec(**{**base, **kw})


def sim_spec(
    models: Sequence[ModelSpec] | None = None,
    groups: Sequence[NodeGroupSpec] | None = None,
    **kw: Any,
) -> SimSpec:
    return SimSpec(
        start=START,
        step_seconds=kw.pop("step_seconds", 60.0),
        seed=kw.pop("seed", 1),
        cluster=ClusterSpec(node_groups=tuple(groups or (node_group(),))),
        models=tuple(models or (model(),)),
        faults=kw.pop("faults", FaultSpec()),
    )


SpecFactory = Callable[..., SimSpec]


@pytest.fixture
def make_spec() -> SpecFactory:
    """`make_spec(models=..., groups=..., seed=..., faults=..., step_seconds=...)`."""
    return sim_spec
