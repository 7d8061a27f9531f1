"""The Prometheus source against a real Prometheus holding a backfilled ServeGen trace."""

from __future__ import annotations

import csv
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gpusteward.adapters.prometheus import PrometheusSource
from gpusteward.core.cluster import Replica, ReplicaPhase
from gpusteward.core.errors import ClusterUnavailable, InputError
from gpusteward.testing import make_deployment
from tests.adapters.prometheus_server import backfill, running_prometheus

TRACE = (
    Path(__file__).resolve().parents[2]
    / "gpusteward/scenarios/traces/servegen_m-large_total_rate_10min.csv"
)
WINDOW, SCRAPE, WINDOWS = 600, 15, 144  # one day of 10-minute windows, scraped every 15 s


@dataclass(frozen=True)
class Backfilled:
    url: str
    start: int  # Unix seconds of the first window, a multiple of WINDOW
    rates: list[float]
    waiting: list[int]


def servegen_rates() -> list[float]:
    with TRACE.open() as f:
        return [float(row["total_rate_rps"]) for row in csv.DictReader(f)][:WINDOWS]


def openmetrics(start: int, rates: list[float], waiting: list[int]) -> str:
    """vLLM and DCGM series shaped by the trace: a request counter growing at each window's
    rate, a queue gauge; the KV-cache gauge under its new name for `m-large` and its old
    name for `m-old`; DCGM utilisation with `Hostname` on one node, `hostname` on the other."""
    ml = 'namespace="serving",model_name="m-large"'
    counter, gauges, kv_new, kv_old, dcgm = [], [], [], [], []
    total = 0.0
    for k, (rate, queue) in enumerate(zip(rates, waiting, strict=True)):
        for i in range(WINDOW // SCRAPE):
            t = start + k * WINDOW + i * SCRAPE
            counter.append(f"vllm:request_success_total{{{ml}}} {total + rate * i * SCRAPE} {t}")
            gauges.append(f"vllm:num_requests_waiting{{{ml}}} {queue} {t}")
            kv_new.append(f"vllm:kv_cache_usage_perc{{{ml}}} 0.5 {t}")
            kv_old.append(
                f'vllm:gpu_cache_usage_perc{{namespace="serving",model_name="m-old"}} 0.25 {t}'
            )
            dcgm.append(
                f'DCGM_FI_DEV_GPU_UTIL{{gpu="0",Hostname="h100-0",exported_pod="m-large-0",'
                f'exported_namespace="serving"}} 80 {t}'
            )
            dcgm.append(
                f'DCGM_FI_DEV_GPU_UTIL{{gpu="0",hostname="h100-1",pod="m-large-1",'
                f'namespace="serving"}} 40 {t}'
            )
        total += rate * WINDOW
    end = start + len(rates) * WINDOW
    counter.append(f"vllm:request_success_total{{{ml}}} {total} {end}")
    return "\n".join(
        [
            "# TYPE vllm:request_success counter",
            *counter,
            "# TYPE vllm:num_requests_waiting gauge",
            *gauges,
            "# TYPE vllm:kv_cache_usage_perc gauge",
            *kv_new,
            "# TYPE vllm:gpu_cache_usage_perc gauge",
            *kv_old,
            "# TYPE DCGM_FI_DEV_GPU_UTIL gauge",
            *dcgm,
            "# EOF",
            "",
        ]
    )


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backfilled]:
    work = tmp_path_factory.mktemp("prometheus")
    rates = servegen_rates()
    waiting = [round(r / 10) for r in rates]
    end = (int(time.time()) // WINDOW - 1) * WINDOW  # recent, so the TSDB keeps it
    start = end - len(rates) * WINDOW
    backfill(openmetrics(start, rates, waiting), work / "tsdb", work)
    with running_prometheus(work / "tsdb", work) as url:
        yield Backfilled(url, start, rates, waiting)


def at(unix: int) -> datetime:
    return datetime.fromtimestamp(unix, UTC)


def test_request_rate_history_reads_back_the_trace_at_every_aligned_step(
    prometheus: Backfilled,
) -> None:
    source = PrometheusSource(prometheus.url)
    deployment = make_deployment("m-large", namespace="serving", model="m-large")
    start, n = prometheus.start, len(prometheus.rates)
    # Ask with unaligned bounds: the grid is still multiples of the step.
    points = source.request_rate_history(
        deployment, at(start + WINDOW - 7), at(start + n * WINDOW + 5), WINDOW
    )
    assert [t for t, _ in points] == [at(start + (k + 1) * WINDOW) for k in range(n)]
    for (t, got), want in zip(points, prometheus.rates, strict=True):
        assert got == pytest.approx(want, rel=1e-9, abs=1e-9), (
            t
        )  # the rate of the window ending at t


def test_gauges_read_back_exactly(prometheus: Backfilled) -> None:
    source = PrometheusSource(prometheus.url)
    start, n = prometheus.start, len(prometheus.rates)
    series = source.query_range(
        'vllm:num_requests_waiting{model_name="m-large"}',
        at(start),
        at(start + (n - 1) * WINDOW),
        WINDOW,
    )
    assert len(series) == 1
    assert [v for _, v in series[0].points] == [float(w) for w in prometheus.waiting]


def test_serving_metrics_match_deployments_by_namespace_model_and_pods(
    prometheus: Backfilled,
) -> None:
    source = PrometheusSource(prometheus.url)
    k = 100  # a window inside the trace; the instant is its last scrape
    when = at(prometheus.start + k * WINDOW + WINDOW - SCRAPE)
    pods = tuple(Replica(id=f"m-large-{i}", phase=ReplicaPhase.READY) for i in range(2))
    large = make_deployment("m-large", namespace="serving", model="m-large", replica_states=pods)
    old = make_deployment("m-old", namespace="serving", model="m-old")
    silent = make_deployment("silent", namespace="serving", model="nobody-serves-this")
    # a LoRA fine-tune of m-large merged into its runtime: vLLM counts its requests under
    # the runtime's model name, so the runtime's series are not this deployment's
    merged = make_deployment(
        "m-large-ft", namespace="serving", model="m-large", routed_to=large.key
    )
    found = source.serving_metrics([large, old, silent, merged], at=when)
    assert set(found) == {large.key, old.key}  # no series at all: left out, not zero
    m = found[large.key]
    assert m.served_rate_rps == pytest.approx(prometheus.rates[k], rel=1e-9)
    assert m.queue_depth == prometheus.waiting[k]
    assert m.kv_cache_usage == 0.5  # new vLLM name
    assert m.gpu_utilization == pytest.approx(0.6)  # exported_pod (80 %) and pod (40 %)
    assert found[old.key].kv_cache_usage == 0.25  # old vLLM name


def test_node_utilisation_accepts_both_hostname_labels(prometheus: Backfilled) -> None:
    source = PrometheusSource(prometheus.url)
    when = at(prometheus.start + 10 * WINDOW)
    assert source.node_gpu_utilization(when) == {"h100-0": 0.8, "h100-1": 0.4}


def test_errors_name_the_query_or_the_server() -> None:
    with pytest.raises(InputError, match="GPUSTEWARD_PROMETHEUS_URL"):
        PrometheusSource("prometheus:9090")
    with pytest.raises(ClusterUnavailable, match="unreachable"):
        PrometheusSource("http://127.0.0.1:9", timeout_seconds=1).query("up")


def test_a_bad_query_is_an_input_error(prometheus: Backfilled) -> None:
    with pytest.raises(InputError, match="refused"):
        PrometheusSource(prometheus.url).query("sum(")
