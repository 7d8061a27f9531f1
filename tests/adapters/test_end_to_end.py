"""End to end over real protocols: cluster metrics scraped by a real Prometheus, read back
by the Prometheus source; `gpusteward run --backend kubernetes --dry-run` against the
emulated API server prints its proposals and writes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from gpusteward.adapters.exposition import ClusterExposition
from gpusteward.adapters.prometheus import PrometheusSource
from gpusteward.core.cluster import ClusterSnapshot, ModelDeployment, ServingMetrics
from gpusteward.core.verdicts import ResultStatus
from tests.adapters.prometheus_server import running_prometheus
from tests.contract.worlds import DEPLOYMENT, NAME, NAMESPACE, emulated_world, sim_world
from tests.waiting import PATIENCE, wait_for

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def scraped(snapshot: ClusterSnapshot, work: Path) -> Iterator[str]:
    """Serve `snapshot` as vLLM / DCGM metrics, scraped each second by a real Prometheus."""
    server = ClusterExposition(lambda: snapshot).serve("127.0.0.1", 0)
    try:
        with running_prometheus(work / "tsdb", work, scrape=f"127.0.0.1:{server.port}") as url:
            yield url
    finally:
        server.close()


def wait_for_scrape(read: Callable[[], dict[str, ServingMetrics]], key: str) -> ServingMetrics:
    """The metrics of `key` once a real scrape has them (~5 s after start when idle)."""

    def scraped() -> ServingMetrics | None:
        found = read().get(key)
        return found if found is not None and found.gpu_utilization > 0 else None

    return wait_for(scraped, f"Prometheus showing metrics for {key}", every=0.2)


def busy(snapshot: ClusterSnapshot, d: ModelDeployment) -> ClusterSnapshot:
    metrics = ServingMetrics(
        arrival_rate_rps=12.0, served_rate_rps=12.0, queue_depth=9, running=16,
        kv_cache_usage=0.7, gpu_utilization=0.95,
    )  # fmt: skip
    return snapshot.model_copy(update={"metrics": {d.key: metrics}})


def test_a_simulated_cluster_scraped_by_prometheus_reads_back_through_the_source(
    tmp_path: Path,
) -> None:
    world = sim_world()
    world.clock.advance(1800)  # replicas placed and warm, queues formed
    snap = world.source.snapshot()
    d = snap.deployment(DEPLOYMENT)
    assert d is not None
    with scraped(snap, tmp_path) as url:
        got = wait_for_scrape(lambda: PrometheusSource(url).serving_metrics([d]), d.key)
    want = snap.metrics[d.key]
    assert got.queue_depth == want.queue_depth and got.running == want.running
    assert got.gpu_utilization == pytest.approx(want.gpu_utilization, abs=1e-9)


def test_dry_run_against_the_emulated_cluster_prints_proposals_and_writes_nothing(
    tmp_path: Path,
) -> None:
    with emulated_world(tmp_path) as world:
        assert world.server is not None
        snap = world.source.snapshot()
        d = snap.deployment(DEPLOYMENT)
        assert d is not None
        before = world.server.get("apps/v1/deployments", NAMESPACE, NAME)
        with scraped(busy(snap, d), tmp_path) as url:
            wait_for_scrape(lambda: PrometheusSource(url).serving_metrics([d]), d.key)
            env = {
                **os.environ,
                "GPUSTEWARD_KUBECONFIG": str(tmp_path / "kubeconfig"),
                "GPUSTEWARD_PROMETHEUS_URL": url,
                "GPUSTEWARD_LOG_FORMAT": "json",
            }
            done = subprocess.run(
                [sys.executable, "-m", "gpusteward.cli.main", "run", "--backend", "kubernetes",
                 "--dry-run", "--once"],
                cwd=tmp_path, env=env, capture_output=True, text=True, timeout=PATIENCE,
            )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        assert "(dry run)" in done.stdout and "1 proposal(s)" in done.stdout, done.stdout
        assert f"scale {DEPLOYMENT} 2 -> " in done.stdout
        writes = list(world.server.writes())
        assert writes, "a dry run still asks the server to validate its writes"
        assert all(w.params.get("dryRun") == "All" for w in writes)
        assert {w.method for w in writes} <= {"PATCH"}  # no lease taken, nothing created
        assert world.server.get("apps/v1/deployments", NAMESPACE, NAME) == before
        assert ResultStatus.DRY_RUN.value in done.stdout or "needs_approval" in done.stdout
