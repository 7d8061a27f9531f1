"""A Kubernetes snapshot carries the per-token figures its metrics source reads (the
Prometheus adapter's), so the run summary and status show a real cluster's figures."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from gpusteward.cli.report_tokens import tokens_table
from gpusteward.core.cluster import ClusterSnapshot, TokenAccounting
from gpusteward.core.errors import ClusterUnavailable
from tests.contract.worlds import emulated_world


class FixedTokens:
    """A `TokenFiguresSource` that answers the same figures for every deployment."""

    def __init__(self) -> None:
        self.asked = 0

    def token_figures(self, snapshot: ClusterSnapshot) -> dict[str, TokenAccounting]:
        self.asked += 1
        return {
            d.key: TokenAccounting(
                requests=100,
                input_tokens=36_000.0,
                output_tokens=7_200.0,
                seconds=3600.0,
                ttft_p50_seconds=0.2,
                ttft_p95_seconds=0.9,
                gpu_hours=2.0,
                cost_usd=5.0,
                input_cost_share=0.25,
            )
            for d in snapshot.deployments
        }


class Unreachable:
    def token_figures(self, snapshot: ClusterSnapshot) -> dict[str, TokenAccounting]:
        raise ClusterUnavailable("Prometheus at http://x unreachable")


def test_the_snapshot_carries_the_token_figures_and_the_summary_prints_them(
    tmp_path: Path,
) -> None:
    with emulated_world(tmp_path) as world:
        assert world.cluster is not None
        source = FixedTokens()
        world.cluster.tokens = source
        snap = world.cluster.snapshot()
    figures = snap.token_figures()
    assert source.asked == 1 and set(figures) == {d.key for d in snap.deployments}
    key = snap.deployments[0].key
    assert figures[key].cost_per_million("input") == 5.0 * 0.25 / 36_000 * 1e6
    table = tokens_table(snap)
    assert table is not None
    console = Console(width=200, record=True)
    console.print(table)
    text = console.export_text()
    assert key in text and "10 + 2" in text and "200 ms / 900 ms" in text


def test_an_unreachable_token_source_leaves_the_figures_out_not_the_tick(tmp_path: Path) -> None:
    with emulated_world(tmp_path) as world:
        assert world.cluster is not None
        world.cluster.tokens = Unreachable()
        snap = world.cluster.snapshot()
    assert snap.tokens is None and snap.deployments and tokens_table(snap) is None
