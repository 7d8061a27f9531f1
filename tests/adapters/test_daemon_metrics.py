"""The daemon's own /metrics: ticks, stage latencies, proposals, verdicts by rule, results,
leadership, pending approvals and forecast error, served over HTTP."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request
from pathlib import Path

from gpusteward.adapters.exposition import DaemonExposition
from tests.adapters.daemons import kube_daemon
from tests.contract.worlds import emulated_world


class HoldsTheLease:
    """`Leadership` of a daemon that holds the leader lease."""

    def is_leader(self) -> bool:
        return True


def test_two_ticks_show_up_in_the_daemon_metrics(tmp_path: Path) -> None:
    exposition = DaemonExposition(pending_approvals=lambda: 3)
    with emulated_world(tmp_path) as world:
        assert world.cluster is not None
        daemon = kube_daemon(
            world.cluster, world.clock, metrics=exposition, leadership=HoldsTheLease()
        )
        asyncio.run(daemon.tick())
        world.clock.advance(60)
        asyncio.run(daemon.tick())
    server = exposition.serve("127.0.0.1", 0)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics") as r:
            text = r.read().decode()
    finally:
        server.close()
    assert "gpusteward_ticks_total 2.0" in text
    assert 'gpusteward_proposals_total{kind="scale",planner="alternating"} 2.0' in text
    assert 'gpusteward_verdicts_total{decision="allow",rule="test-allow"} 2.0' in text
    assert 'gpusteward_action_results_total{status="applied"} 2.0' in text
    for stage in ("observe", "forecast", "plan", "guard", "act"):
        assert f'gpusteward_stage_seconds_count{{stage="{stage}"}}' in text, stage
    assert "gpusteward_leader 1.0" in text and "gpusteward_pending_approvals 3.0" in text


def test_a_daemon_without_a_leader_lease_reports_leader_0(tmp_path: Path) -> None:
    """A dry run takes no lease (and a simulated run has none to take): it is no leader."""
    exposition = DaemonExposition()
    with emulated_world(tmp_path) as world:
        assert world.cluster is not None
        daemon = kube_daemon(world.cluster, world.clock, metrics=exposition, dry_run=True)
        asyncio.run(daemon.tick())
    assert "gpusteward_leader 0.0" in exposition.render().decode()


def test_the_grafana_dashboard_queries_only_metrics_the_daemon_exposes() -> None:
    dashboard = Path(__file__).resolve().parents[2] / "deploy/kubernetes/gpusteward-dashboard.json"
    exprs = [t["expr"] for p in json.loads(dashboard.read_text())["panels"] for t in p["targets"]]
    used = {m for e in exprs for m in re.findall(r"gpusteward_[a-z_]+", e)}
    exposed = DaemonExposition().render().decode()
    families = set(re.findall(r"^# TYPE (\S+)", exposed, re.M))
    for name in used:
        assert re.sub(r"_bucket$", "", name) in families, name


def test_llm_outcomes_and_an_open_breaker_show_up_in_the_metrics_and_the_status() -> None:
    from gpusteward.core.llm import BREAKER_OPEN, LlmTrace
    from gpusteward.daemon.run_stats import RunStats
    from gpusteward.testing import make_tick_record

    exposition, stats = DaemonExposition(), RunStats()
    opened = LlmTrace(
        endpoint="x", model="m", outcome="fallback", fallback_reason=f"{BREAKER_OPEN}: down"
    )
    for trace in (LlmTrace(endpoint="x", model="m", outcome="no_opinion"), opened):
        record = make_tick_record(1).model_copy(update={"llm": trace})
        exposition.tick(record, leader=True)
        stats.add(record)
    text = exposition.render().decode()
    assert 'gpusteward_llm_ticks_total{outcome="no_opinion"} 1.0' in text
    assert 'gpusteward_llm_ticks_total{outcome="fallback"} 1.0' in text
    assert "gpusteward_llm_breaker_open 1.0" in text
    line = stats.llm_line()
    assert line is not None and BREAKER_OPEN in line and "no_opinion" in line
