"""The end-of-run summary does not report a result where there is none (from a probe:
a 2-tick run showed 100 % attainment with every request still queued, and a run that
served nothing a p95 queue delay of 0.00 s)."""

from __future__ import annotations

from rich.console import Console

from gpusteward.cli.report import summary_table
from gpusteward.core.cluster import ClusterSnapshot, ModelAccounting


def test_the_summary_does_not_report_a_result_for_nothing_done() -> None:
    queued = ModelAccounting(arrived=1025)  # two ticks: all still queued, none judged yet
    lost = ModelAccounting(arrived=62_092, dropped=62_092)  # nothing served at all
    snap = ClusterSnapshot.model_construct(accounting={"a/queued": queued, "b/lost": lost})
    console = Console(width=200, record=True)
    console.print(summary_table(snap, "t"))
    text = console.export_text()
    row = {line.split("│")[1].strip(): line for line in text.splitlines() if "│" in line}
    assert "100.00%" not in row["a/queued"] and " - " in row["a/queued"]
    assert "0.00%" in row["b/lost"] and "0.00 s" not in row["b/lost"]
