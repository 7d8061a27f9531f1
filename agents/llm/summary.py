"""The compact state the model starts from: totals, pools, and the top-K salient models
and nodes — never the whole cluster, so a 1,000-node cluster fits the prompt budget.

Every string that came from the cluster (names, models, labels) is JSON-encoded with
non-ASCII escaped and control characters removed, inside a fenced DATA block, so it
reads as a quoted value and cannot break out of its row or the block.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC

from gpusteward.core.cluster import ClusterSnapshot, Health, Node
from gpusteward.core.ports import GuardInputs
from tools.salience import ModelFacts, Salience, salience
from tools.text import clean

DATA_OPEN = "<<<CLUSTER_DATA"
DATA_CLOSE = "CLUSTER_DATA>>>"
MODEL_COLUMNS = (
    "deployment",
    "model",
    "why_listed",
    "workload",
    "replicas",
    "ready",
    "gpus",
    "rps",
    "capacity_rps",
    "gpu_util",
    "queue",
    "slo_attained",
    "slo_target",
    "p90_rps_at_cold_start",
    "peak_rps_24h",
    "labels",
)
NOTE_COLUMNS = ("deployment", "operator_note", "scheduled_windows")
MAX_NOTES = 8
NODE_COLUMNS = ("node", "pool", "gpu_type", "gpus", "free", "cordoned", "unhealthy_gpus")
POOL_COLUMNS = (
    "pool",
    "gpu_type",
    "nodes",
    "gpus",
    "free",
    "fragmented_free",
    "largest_free_block",
    "cordoned_nodes",
    "unhealthy_gpus",
)


def quote(value: object) -> str:
    """One JSON value on one line: strings quoted and escaped, so data stays data."""
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"))


def _r(x: float | None, digits: int = 2) -> float | None:
    return None if x is None else round(x, digits)


def _model_row(f: ModelFacts, why: Sequence[str], labels: dict[str, str]) -> str:
    shown = {clean(k, 40): clean(v, 60) for k, v in list(labels.items())[:6]}
    return quote(
        [
            clean(f.key),
            clean(f.model, 80),
            list(why),
            f.workload,
            f.replicas,
            f.ready,
            f.gpus,
            _r(f.arrival_rps),
            _r(f.capacity_rps),
            _r(f.utilisation),
            f.queue_depth,
            _r(f.slo_attainment, 4),
            f.slo_target,
            _r(f.forecast_p90_rps),
            _r(f.recent_peak_rps),
            shown,
        ]
    )


def _node_row(n: Node) -> str:
    unhealthy = sum(1 for g in n.gpus if g.health != Health.HEALTHY)
    return quote(
        [
            clean(n.name),
            n.pool.value,
            clean(n.gpu_type, 40),
            len(n.gpus),
            n.free_gpus(),
            n.cordoned,
            unhealthy,
        ]
    )


def _notes(snapshot: ClusterSnapshot) -> list[str]:
    """The operator_notes section: deployments whose operators announced load (the
    gpusteward.io/intent annotation), with the windows already scheduled; none: no section."""
    noted = [d for d in snapshot.deployments if d.intent and not d.retired][:MAX_NOTES]
    if not noted:
        return []
    rows = [
        quote(
            [
                clean(d.key),
                clean(d.intent or "", 300),
                [
                    f"{w.replicas} replicas {w.start.astimezone(UTC):%Y-%m-%dT%H:%MZ}"
                    f"..{w.end.astimezone(UTC):%Y-%m-%dT%H:%MZ}"
                    for w in d.capacity_windows
                    if w.end > snapshot.at
                ],
            ]
        )
        for d in noted
    ]
    return [f"operator_notes {quote(list(NOTE_COLUMNS))}:", *rows]


def render(snapshot: ClusterSnapshot, s: Salience) -> str:
    labels = {d.key: d.labels for d in snapshot.deployments}
    why: dict[str, list[str]] = {}
    facts: dict[str, ModelFacts] = {}
    for tag, group in (
        ("busiest", s.busiest),
        ("over_slo", s.over_slo),
        ("idle", s.idle),
        ("forecast_exceeds_capacity", s.forecast_short),
    ):
        for f in group:
            why.setdefault(f.key, []).append(tag)
            facts[f.key] = f
    lines = [
        DATA_OPEN,
        f"at: {quote(s.at)}",
        f"totals: nodes={s.nodes} gpus={s.gpus} allocated_gpus={s.allocated_gpus} "
        f"deployments={s.deployments}",
        f"pools {quote(list(POOL_COLUMNS))}:",
        *(
            quote(
                [
                    p.pool,
                    clean(p.gpu_type, 40),
                    p.nodes,
                    p.gpus,
                    p.free,
                    p.fragmented_free,
                    p.largest_free_block,
                    p.cordoned,
                    p.unhealthy_gpus,
                ]
            )
            for p in s.pools
        ),
        f"models {quote(list(MODEL_COLUMNS))}:",
        *(_model_row(f, why[k], labels.get(k, {})) for k, f in facts.items()),
        *_notes(snapshot),
        f"nodes_needing_attention {quote(list(NODE_COLUMNS))}:",
        *(_node_row(n) for n in s.attention_nodes),
        f"not_listed: {s.omitted_models} other deployments (look them up with tools)",
        DATA_CLOSE,
    ]
    return "\n".join(lines)


def summarise(snapshot: ClusterSnapshot, inputs: GuardInputs, top: int = 8) -> str:
    """The DATA block for `snapshot`, with up to `top` models per salience list."""
    return render(snapshot, salience(snapshot, inputs.forecasts, inputs.load, top))
