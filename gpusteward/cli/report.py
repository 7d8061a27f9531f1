"""Human-readable views of a run: the end-of-run summary, status, and journal lines."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from gpusteward.cli.terminal import figures_table

if TYPE_CHECKING:
    from gpusteward.core.cluster import ClusterSnapshot, ModelAccounting
    from gpusteward.core.tick import TickRecord


def _attained(acc: ModelAccounting) -> str:
    """SLO attainment over the requests done (served or dropped); "-" before any is: the
    ones still queued are not judged yet, and 100 % of none is not a result."""
    return f"{acc.slo_attainment:.2%}" if acc.served + acc.dropped else "-"


def summary_table(snapshot: ClusterSnapshot | None, title: str) -> Table:
    """GPU-hours, cost, SLO attainment, p95 queueing delay per model and in total."""
    from gpusteward.core.cluster import ModelAccounting

    table = figures_table(
        title,
        (
            "model",
            "GPU-hours",
            "cost (USD)",
            "SLO attained",
            "p95 queue delay",
            "arrived",
            "served",
            "dropped",
        ),
    )
    accounting = (snapshot.accounting or {}) if snapshot else {}
    total = ModelAccounting()
    worst_p95 = 0.0
    for key, acc in sorted(accounting.items()):
        table.add_row(
            key,
            f"{acc.gpu_hours:,.1f}",
            f"{acc.cost_usd:,.2f}",
            _attained(acc),
            f"{acc.queue_delay_p95_seconds:.2f} s" if acc.served else "-",
            f"{acc.arrived:,}",
            f"{acc.served:,}",
            f"{acc.dropped:,}",
        )
        total = ModelAccounting(
            arrived=total.arrived + acc.arrived,
            served=total.served + acc.served,
            dropped=total.dropped + acc.dropped,
            served_within_slo=total.served_within_slo + acc.served_within_slo,
            gpu_hours=total.gpu_hours + acc.gpu_hours,
            cost_usd=total.cost_usd + acc.cost_usd,
        )
        if acc.served:
            worst_p95 = max(worst_p95, acc.queue_delay_p95_seconds)
    if len(accounting) > 1:
        table.add_row(
            "total",
            f"{total.gpu_hours:,.1f}",
            f"{total.cost_usd:,.2f}",
            _attained(total),
            f"{worst_p95:.2f} s (max)" if total.served else "-",
            f"{total.arrived:,}",
            f"{total.served:,}",
            f"{total.dropped:,}",
            style="bold",
        )
    return table


def actions_line(decisions: Counter[str], results: Counter[str], applied_total: int) -> str:
    return (
        f"actions: {applied_total} applied in total; this run: "
        f"{decisions.get('allow', 0)} allowed, {decisions.get('deny', 0)} denied, "
        f"{decisions.get('needs_approval', 0)} awaiting approval, "
        f"{results.get('dry_run', 0)} dry-run, {results.get('failed', 0)} failed"
    )


def shadow_line(shadow: Counter[tuple[str, str]]) -> str | None:
    """What the shadow (warn / audit) rules would have done, or None when none fired."""
    if not shadow:
        return None
    parts = [
        f"{rule} would {effect.replace('_', ' ')} {n} proposal{'s' if n != 1 else ''}"
        for (rule, effect), n in sorted(shadow.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    return (
        "shadow rules (recorded, not enforced): "
        + "; ".join(parts)
        + ". Each one: `gpusteward journal --json`, or `gpusteward why ACTION_ID`."
    )


def deployments_table(snapshot: ClusterSnapshot) -> Table:
    from gpusteward.core.cluster import ReplicaPhase

    table = figures_table(
        f"deployments at {snapshot.at:%Y-%m-%d %H:%M:%S %Z}",
        (
            "deployment",
            "desired",
            "ready",
            "loading",
            "pending",
            "arrivals/s",
            "queue",
            "p95 delay",
            "GPU util",
        ),
    )
    for d in snapshot.deployments:
        m = snapshot.metrics.get(d.key)
        table.add_row(
            d.key + (" (retired)" if d.retired else ""),
            str(d.replicas),
            str(d.count(ReplicaPhase.READY)),
            str(d.count(ReplicaPhase.LOADING)),
            str(d.count(ReplicaPhase.PENDING)),
            f"{m.arrival_rate_rps:.2f}" if m else "-",
            str(m.queue_depth) if m else "-",
            f"{m.queue_delay_p95_seconds:.2f} s" if m else "-",
            f"{m.gpu_utilization:.0%}" if m else "-",
        )
    return table


def tick_line(record: TickRecord) -> str:
    decisions = Counter(v.decision for v in record.verdicts)
    parts = [
        f"#{record.seq}",
        record.at.strftime("%Y-%m-%d %H:%M:%S"),
        f"{len(record.proposals)} proposal(s)",
    ]
    if decisions:
        parts.append(", ".join(f"{n} {d}" for d, n in sorted(decisions.items())))
    for proposal, result in _results_by_proposal(record):
        parts.append(f"{proposal}: {result}")
    for err in record.errors:
        parts.append(f"{err.stage.value} failed: {err.error_type}: {err.message}")
    return " | ".join(parts)


_NOT_RUN = {"deny": "denied", "needs_approval": "sent for approval"}


def _results_by_proposal(record: TickRecord) -> list[tuple[str, str]]:
    """Each proposal, with its id (what `gpusteward why` takes), and what became of it."""
    status = {v.action_id: _NOT_RUN.get(v.decision, "not run") for v in record.verdicts}
    status |= {r.action_id: r.status.value for r in record.results}
    proposed = [
        (f"{p.action.describe()} [{p.action.id}]", status.get(p.action.id, "not run"))
        for p in record.proposals
    ]
    ids = {p.action.id for p in record.proposals}
    approved = [  # an approved action runs in a later tick than the one that proposed it
        (f"approved earlier [{r.action_id}]", r.status.value)
        for r in record.results
        if r.action_id not in ids
    ]
    return proposed + approved


def print_summary(console: Console, snapshot: ClusterSnapshot | None, title: str) -> None:
    console.print(summary_table(snapshot, title))
