"""Each red flag's detector: it fires on its condition, names the likely cause and a
remedy, and stays quiet on calm traffic."""

from __future__ import annotations

from collections.abc import Sequence

from gpusteward.core.actions import Proposal, ScaleDeployment
from gpusteward.core.cluster import (
    ClusterSnapshot,
    Gpu,
    Node,
    Pool,
    Replica,
    ReplicaPhase,
    ServingMetrics,
)
from gpusteward.core.diagnosis import Cause, RedFlag, Severity
from gpusteward.core.ports import GuardInputs
from gpusteward.core.verdicts import Deny, RuleHit, Verdict
from gpusteward.testing import make_deployment, make_snapshot
from redflags.causes import attribute
from redflags.engine import Diagnostics
from redflags.window import DeploymentWindow, NodeIndex, sample_of
from tests.redflags.feed import KEY, Minute, feed, opened

CALM = Minute(arrival=4.0)  # 4 ready replicas serve 8 req/s: half busy


def _flags(ticks: list) -> set[RedFlag]:  # type: ignore[type-arg]
    return {w.flag for w in opened(ticks).values()}


def test_calm_traffic_raises_no_warning() -> None:
    _, ticks = feed([CALM] * 240)
    assert opened(ticks) == {}


def test_a_burst_pressing_capacity_warns_and_proposes_more_replicas() -> None:
    burst = Minute(arrival=9.0, queue=30, delay=0.8)
    _, ticks = feed([CALM] * 40 + [burst] * 3)
    (w,) = [w for w in opened(ticks).values() if w.flag is RedFlag.BURST_LATENCY]
    assert w.deployment == KEY and w.severity is Severity.WARNING  # 0.8 s of a 1 s SLO
    assert w.cause is Cause.TOO_FEW_REPLICAS
    assert w.remedy is not None and isinstance(w.remedy.action, ScaleDeployment)
    assert w.remedy.action.replicas == 6  # ceil(9 * 1.25 / 2)
    assert {e.metric for e in w.evidence} >= {"arrival_rate", "queue_delay_p95"}
    arrival = next(e for e in w.evidence if e.metric == "arrival_rate")
    assert arrival.baseline == 4.0 and arrival.window_seconds == 180.0


def test_a_burst_the_capacity_absorbs_is_not_a_red_flag() -> None:
    _, ticks = feed([CALM] * 40 + [Minute(arrival=6.0)] * 5)  # 1.5x, but 75 % busy, no delay
    assert RedFlag.BURST_LATENCY not in _flags(ticks)


def test_gpus_cold_while_the_queue_grows_is_a_batch_or_gpu_misfit() -> None:
    stuck = [Minute(arrival=10.0, queue=50 * k, util=0.35) for k in range(1, 5)]
    _, ticks = feed([CALM] * 5 + stuck)
    (w,) = [w for w in opened(ticks).values() if w.flag is RedFlag.LOW_UTILISATION]
    assert w.cause is Cause.BATCH_OR_GPU_MISFIT and "batch" in w.cause_detail


def test_a_growing_queue_on_busy_gpus_is_not_low_utilisation() -> None:
    busy = [Minute(arrival=10.0, queue=50 * k, util=1.0) for k in range(1, 5)]
    _, ticks = feed([CALM] * 5 + busy)
    flags = _flags(ticks)
    assert RedFlag.QUEUE_GROWTH in flags and RedFlag.LOW_UTILISATION not in flags


def test_a_queue_that_takes_the_slo_to_clear_is_critical() -> None:
    growing = [Minute(arrival=9.0, queue=q) for q in (2, 6, 12, 20)]  # served 8 req/s
    _, ticks = feed([CALM] * 5 + growing)
    (w,) = [w for w in opened(ticks).values() if w.flag is RedFlag.QUEUE_GROWTH]
    assert w.severity is Severity.CRITICAL  # 12 queued: 1.5 s to clear, SLO 1 s


def test_load_waiting_on_loading_replicas_is_a_late_scale_up() -> None:
    waiting = Minute(arrival=10.0, loading=2, queue=10, delay=0.6)
    _, ticks = feed([CALM] * 5 + [waiting] * 3)
    (w,) = [w for w in opened(ticks).values() if w.flag is RedFlag.COLD_START_DELAY]
    assert w.cause is Cause.SCALE_UP_LATE and w.runbook == "prewarm-before-launch"


def test_a_ramp_the_autoscaler_does_not_follow_warns_before_capacity_runs_out() -> None:
    ramp = [Minute(arrival=4.0 + 0.15 * k) for k in range(25)]  # 4 -> 7.6 req/s of 8
    _, ticks = feed([CALM] * 10 + ramp)
    first = next(
        i for i, ws in enumerate(ticks) if any(w.flag is RedFlag.COLD_START_DELAY for w in ws)
    )
    assert 10 <= first < 35  # during the ramp, before the load reached the capacity


def test_replicas_loading_far_from_their_artifacts_is_remote_data() -> None:
    remote = Minute(arrival=4.0, loading=2, region="eu-west")
    home = {"gpusteward.io/artifact-region": "us-east"}
    _, ticks = feed([CALM] * 3 + [remote] * 3, labels=home)
    (w,) = [w for w in opened(ticks).values() if w.flag is RedFlag.REMOTE_DATA]
    assert w.cause is Cause.DATA_FAR_FROM_COMPUTE and "us-east" in w.cause_detail
    _, near = feed([CALM] * 3 + [Minute(arrival=4.0, loading=2, region="us-east")] * 3, labels=home)
    assert RedFlag.REMOTE_DATA not in _flags(near)


def test_a_start_up_much_slower_than_declared_is_remote_data_without_a_label() -> None:
    slow = Minute(arrival=4.0, loading=1)  # cold start declared 120 s
    _, ticks = feed([CALM] * 3 + [slow] * 8)
    first = next(i for i, ws in enumerate(ticks) if ws)
    assert ticks[first][0].flag is RedFlag.REMOTE_DATA
    assert first - 3 >= 4  # fires past 1.5 x 120 s + a tick of loading, not before


def test_replicas_held_beyond_the_load_is_cost_outpacing_usage() -> None:
    idle = Minute(arrival=4.0, ready=12, util=4.0 / 24)
    _, ticks = feed([CALM] * 240 + [idle] * 100)
    (w,) = [w for w in opened(ticks).values() if w.flag is RedFlag.COST_OUTPACING_USAGE]
    assert w.cause is Cause.IDLE_REPLICAS
    assert w.remedy is not None and isinstance(w.remedy.action, ScaleDeployment)
    assert w.remedy.action.replicas < 12  # down, never up


def test_a_warning_keeps_its_id_and_resolves_once_after_ten_clear_minutes() -> None:
    growing = [Minute(arrival=9.0, queue=q) for q in (2, 6, 12, 20)]
    _, ticks = feed([CALM] * 5 + growing + [CALM] * 15)
    ids = {w.id for ws in ticks for w in ws if w.flag is RedFlag.QUEUE_GROWTH}
    assert len(ids) == 1
    resolved = [i for i, ws in enumerate(ticks) for w in ws if w.resolved]
    assert len(resolved) == 1 and resolved[0] >= 9 + 10  # 10 min after it cleared
    assert all(not ws for ws in ticks[resolved[0] + 1 :])


class _DenyAll:
    """A guard that denies everything and remembers what it judged."""

    def __init__(self) -> None:
        self.version = "deny-all"
        self.judged: list[Proposal] = []

    def evaluate(
        self,
        proposals: Sequence[Proposal],
        snapshot: ClusterSnapshot,
        inputs: GuardInputs | None = None,
    ) -> list[Verdict]:
        self.judged += proposals
        hit = RuleHit(rule="no", reason="nothing today")
        return [Deny(action_id=p.action.id, rules=(hit,)) for p in proposals]


def test_the_guard_judges_each_remedy_once_and_nothing_runs() -> None:
    guard = _DenyAll()
    burst = Minute(arrival=9.0, queue=30, delay=0.8)
    _, ticks = feed([CALM] * 40 + [burst] * 6, Diagnostics(policy=guard))
    warnings = opened(ticks).values()
    with_remedy = [w for w in warnings if w.remedy is not None]
    assert with_remedy and len(guard.judged) == len(with_remedy)
    for w in with_remedy:
        assert w.remedy_verdict is not None and w.remedy_verdict.decision == "deny"
        assert any("guard: deny" in line for line in w.why_lines())


def _node(name: str, free: int) -> Node:
    gpus = tuple(
        Gpu(index=g, type="H100-80GB", memory_gib=80.0, allocated_to=None if g < free else "x")
        for g in range(8)
    )
    return Node(name=name, pool=Pool.ON_PREM, price_per_gpu_hour=2.0, gpus=gpus)


def _cause_with_pending(nodes: list[Node]) -> Cause:
    pending = Replica(id="p0", phase=ReplicaPhase.PENDING)
    d = make_deployment(replicas=1, gpus_per_replica=4, replica_states=(pending,))
    metrics = ServingMetrics(arrival_rate_rps=5.0, served_rate_rps=0.0, queue_depth=40)
    snap = make_snapshot(nodes=nodes, deployments=[d], metrics={KEY: metrics})
    window = DeploymentWindow(3600.0)
    sample = sample_of(snap, d, NodeIndex(snap.nodes), window, snap.at.timestamp())
    assert sample is not None
    window.add(sample)
    return attribute(snap, d, window)[0]


def test_a_replica_pending_while_enough_gpus_are_free_but_scattered_is_fragmentation() -> None:
    assert _cause_with_pending([_node("a", 3), _node("b", 3)]) is Cause.FRAGMENTATION
    assert _cause_with_pending([_node("a", 1), _node("b", 1)]) is Cause.TOO_FEW_REPLICAS
