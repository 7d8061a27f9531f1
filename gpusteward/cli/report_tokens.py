"""The per-token figures of a run as a table: tokens per second, time to first token and
time per output token (p50 / p95), GPU-hours and cost per 1M tokens, idle GPU share."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

from gpusteward.cli.terminal import figures_table

if TYPE_CHECKING:
    from gpusteward.core.cluster import ClusterSnapshot, TokenAccounting

COLUMNS = (
    "model",
    "tokens/s (in + out)",
    "TTFT p50 / p95",
    "TPOT p50 / p95",
    "GPU-h per 1M tok",
    "USD per 1M in",
    "USD per 1M out",
    "idle GPU-h",
)


def _seconds(p50: float | None, p95: float | None) -> str:
    if p50 is None or p95 is None:
        return "-"
    if p95 < 1:
        return f"{p50 * 1000:.0f} ms / {p95 * 1000:.0f} ms"
    return f"{p50:.2f} s / {p95:.2f} s"


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:,.3f}"


def token_row(key: str, k: TokenAccounting) -> list[str]:
    """One model's cells, in `COLUMNS` order."""
    per_m = k.gpu_hours_per_million
    return [
        key,
        f"{k.input_tokens / k.seconds:,.0f} + {k.output_tokens / k.seconds:,.0f}"
        if k.seconds
        else "-",
        _seconds(k.ttft_p50_seconds, k.ttft_p95_seconds),
        _seconds(k.tpot_p50_seconds, k.tpot_p95_seconds),
        "-" if per_m is None else f"{per_m:,.3f}",
        _money(k.cost_per_million("input")),
        _money(k.cost_per_million("output")),
        "-" if k.idle_gpu_share is None else f"{k.idle_gpu_share:.1%}",
    ]


def tokens_table(snapshot: ClusterSnapshot | None, title: str = "per token") -> Table | None:
    """The table, or None when no model's token figures are known."""
    figures = snapshot.token_figures() if snapshot is not None else {}
    rows = [token_row(key, k) for key, k in sorted(figures.items())]
    if not rows:
        return None
    table = figures_table(title, COLUMNS)
    for row in rows:
        table.add_row(*row)
    return table
