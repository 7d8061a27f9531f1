"""Per-token figures of a real cluster: vLLM's token counters and latency histograms in a
real Prometheus (backfilled from requests drawn from ServeGen's real token lengths),
read back by the adapter and checked against the requests themselves."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from gpusteward.adapters.prometheus import PrometheusSource
from gpusteward.adapters.prometheus_tokens import token_figures
from gpusteward.core.cluster import Gpu, Node, Pool, Replica, ReplicaPhase
from gpusteward.sim.token_files import load_token_table
from gpusteward.testing import make_deployment, make_snapshot
from tests.adapters.prometheus_server import backfill, running_prometheus

TOKENS = (
    Path(__file__).resolve().parents[2] / "gpusteward" / "scenarios" / "traces" / "tokens_m-mid.csv"
)
SCRAPE, SPAN, WINDOW, RATE = 15, 7200, 3600, 2.0  # 2 h of requests at 2 req/s; ask the last 1 h
TTFT_LE = (
    0.001,
    0.005,
    0.01,
    0.02,
    0.04,
    0.06,
    0.08,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
)
ITL_LE = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5)
LABELS = 'namespace="serving",model_name="m-mid"'


@dataclass(frozen=True)
class Requests:
    at: np.ndarray  # seconds since the start, when each request finished
    inputs: np.ndarray
    outputs: np.ndarray
    ttft: np.ndarray
    itl: np.ndarray


@dataclass(frozen=True)
class Served:
    url: str
    end: int
    requests: Requests


def draw_requests() -> Requests:
    rng = np.random.default_rng(26)
    table = load_token_table((TOKENS,), "token-quantiles")
    n = int(SPAN * RATE)
    return Requests(
        at=np.sort(rng.uniform(0, SPAN, n)),
        inputs=table.inputs[0][rng.integers(0, 1000, n)],
        outputs=table.outputs[0][rng.integers(0, 1000, n)],
        ttft=rng.lognormal(np.log(0.3), 0.8, n),
        itl=rng.lognormal(np.log(0.04), 0.4, n),
    )


def _histogram(
    name: str, values: np.ndarray, done: np.ndarray, les: tuple[float, ...], t: int
) -> list[str]:
    seen = values[done]
    lines = [f'{name}_bucket{{{LABELS},le="{le}"}} {int((seen <= le).sum())} {t}' for le in les]
    lines.append(f'{name}_bucket{{{LABELS},le="+Inf"}} {len(seen)} {t}')
    lines.append(f"{name}_count{{{LABELS}}} {len(seen)} {t}")
    lines.append(f"{name}_sum{{{LABELS}}} {float(seen.sum())} {t}")
    return lines


def openmetrics(r: Requests, start: int) -> str:
    series: dict[str, list[str]] = {}
    for k in range(SPAN // SCRAPE + 1):
        t = start + k * SCRAPE
        done = r.at <= k * SCRAPE
        series.setdefault("vllm:prompt_tokens counter", []).append(
            f"vllm:prompt_tokens_total{{{LABELS}}} {float(r.inputs[done].sum())} {t}"
        )
        series.setdefault("vllm:generation_tokens counter", []).append(
            f"vllm:generation_tokens_total{{{LABELS}}} {float(r.outputs[done].sum())} {t}"
        )
        series.setdefault("vllm:request_success counter", []).append(
            f"vllm:request_success_total{{{LABELS}}} {int(done.sum())} {t}"
        )
        for name, values, les in (
            ("vllm:time_to_first_token_seconds", r.ttft, TTFT_LE),
            ("vllm:inter_token_latency_seconds", r.itl, ITL_LE),
        ):
            series.setdefault(f"{name} histogram", []).extend(
                _histogram(name, values, done, les, t)
            )
        # replica b has nothing running for the first quarter of the last hour
        idle_b = SPAN - WINDOW <= k * SCRAPE < SPAN - 3 * WINDOW // 4
        series.setdefault("vllm:num_requests_running gauge", []).extend(
            [
                f'vllm:num_requests_running{{{LABELS},pod="m-mid-a"}} 3 {t}',
                f'vllm:num_requests_running{{{LABELS},pod="m-mid-b"}} {0 if idle_b else 2} {t}',
            ]
        )
    out = []
    for family, lines in series.items():
        name, kind = family.split()
        out.append(f"# TYPE {name} {kind}")
        out.extend(_regroup(lines) if kind != "counter" else lines)
    return "\n".join([*out, "# EOF", ""])


def _regroup(lines: list[str]) -> list[str]:
    """Each series' samples together, in time order (promtool reads series by series)."""
    by_series: dict[str, list[str]] = {}
    for line in lines:
        by_series.setdefault(line.rsplit(" ", 2)[0], []).append(line)
    return [line for group in by_series.values() for line in group]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    work = tmp_path_factory.mktemp("prometheus-tokens")
    requests = draw_requests()
    end = (int(time.time()) // 600 - 1) * 600
    backfill(openmetrics(requests, end - SPAN), work / "tsdb", work)
    with running_prometheus(work / "tsdb", work) as url:
        yield Served(url, end, requests)


def histogram_quantile(q: float, values: np.ndarray, les: tuple[float, ...]) -> float:
    """Prometheus's estimate: linear inside the bucket that holds the q-th observation."""
    counts = [int((values <= le).sum()) for le in les]
    rank = q * len(values)
    i = next(i for i, c in enumerate(counts) if c >= rank)
    lo, below = (les[i - 1], counts[i - 1]) if i else (0.0, 0)
    return lo + (les[i] - lo) * (rank - below) / (counts[i] - below)


def test_token_figures_read_back_what_the_requests_were(served: Served) -> None:
    r = served.requests
    last = r.at > SPAN - WINDOW  # the requests of the hour asked about
    node = Node(
        name="h100-0",
        pool=Pool.ON_PREM,
        price_per_gpu_hour=2.5,
        gpus=tuple(Gpu(index=i, type="H100-80GB", memory_gib=80.0) for i in range(2)),
    )
    pods = tuple(
        Replica(id=f"m-mid-{x}", phase=ReplicaPhase.READY, node="h100-0", gpu_indices=(i,))
        for i, x in enumerate("ab")
    )
    mid = make_deployment("m-mid", namespace="serving", model="m-mid", replica_states=pods)
    silent = make_deployment("silent", namespace="serving", model="nobody")
    snap = make_snapshot(nodes=[node], deployments=[mid, silent])
    source = PrometheusSource(served.url)
    found = token_figures(source, snap, WINDOW, at=datetime.fromtimestamp(served.end, UTC))
    assert set(found) == {mid.key}  # no token series: left out, not zero
    k = found[mid.key]
    # increase() extrapolates to the window's edges: within 1 % of the hour's requests
    assert k.input_tokens == pytest.approx(r.inputs[last].sum(), rel=0.01)
    assert k.output_tokens == pytest.approx(r.outputs[last].sum(), rel=0.01)
    assert k.requests == pytest.approx(last.sum(), rel=0.01)
    assert k.tokens_per_second == pytest.approx(
        (r.inputs[last].sum() + r.outputs[last].sum()) / WINDOW, rel=0.01
    )
    for q, got in ((0.5, k.ttft_p50_seconds), (0.95, k.ttft_p95_seconds)):
        assert got == pytest.approx(histogram_quantile(q, r.ttft[last], TTFT_LE), rel=0.01)
    for q, got in ((0.5, k.tpot_p50_seconds), (0.95, k.tpot_p95_seconds)):
        assert got == pytest.approx(histogram_quantile(q, r.itl[last], ITL_LE), rel=0.01)
    assert k.idle_gpu_share == pytest.approx(0.125, abs=0.01)  # b idle a quarter of the hour
    assert k.gpu_hours == 2.0 and k.cost_usd == 5.0  # 2 GPUs held for the hour at 2.5 USD
    # no prefill / decode time series: the cost is split by token counts
    share = r.inputs[last].sum() / (r.inputs[last].sum() + r.outputs[last].sum())
    assert k.input_cost_share == pytest.approx(share, rel=0.01)
