"""The adapter-merge planner: quiet LoRA fine-tunes go onto their base model's serving
runtime once a day of traffic says they fit, never ones with a stricter SLO."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from agents.adapter_merge import AdapterMergeConfig, AdapterMergePlanner
from gpusteward.core.actions import MergeAdapters, Proposal, ScaleDeployment, UnmergeAdapters
from gpusteward.core.cluster import (
    ClusterSnapshot,
    ModelDeployment,
    Replica,
    ReplicaPhase,
    ServingMetrics,
    Slo,
)
from gpusteward.testing import make_deployment, make_snapshot

T0 = datetime(2026, 11, 2, tzinfo=UTC)
STEP = 600.0
LABEL = {"gpusteward.io/base-model": "assist-8b"}


def _tune(name: str, **kw: object) -> ModelDeployment:
    fields: dict[str, object] = dict(
        model="assist-8b", replicas=1, min_replicas=0, labels=LABEL, slo=Slo(queue_delay_seconds=2)
    )
    return make_deployment(name, **{**fields, **kw})


def _snap(
    at: datetime, deployments: list[ModelDeployment], rates: dict[str, float]
) -> ClusterSnapshot:
    metrics = {
        d.key: ServingMetrics(
            arrival_rate_rps=rates.get(d.name, 0.0),
            served_rate_rps=rates.get(d.name, 0.0),
            queue_depth=0,
            capacity_rps=10.0 * d.replicas,
        )
        for d in deployments
    }
    return make_snapshot(
        at=at,
        nodes=3,
        gpus_per_node=8,
        deployments=deployments,
        metrics=metrics,
        interval_seconds=STEP,
    )


def _day(
    planner: AdapterMergePlanner, deployments: list[ModelDeployment], rates: dict[str, float]
) -> list[list[Proposal]]:
    out = []
    for i in range(6 * 24):
        at = T0 + timedelta(seconds=STEP * (i + 1))
        out.append(planner.plan(_snap(at, deployments, rates), {}))
    return out


def _runtime(**kw: object) -> ModelDeployment:
    fields: dict[str, object] = dict(
        model="assist-8b", replicas=2, max_replicas=3, slo=Slo(queue_delay_seconds=2)
    )
    return make_deployment("assist", **{**fields, **kw})


def test_quiet_fine_tunes_merge_into_the_runtime_once_a_day_says_they_fit() -> None:
    """The runtime serves 10 req/s a replica, 3 at most: 0.8 x 30 x 0.85 = 20.4 req/s.
    With its own 12 req/s, the 1 and 3 req/s fine-tunes fit; the 9 req/s one does not."""
    deps = [_runtime(), _tune("ft-a"), _tune("ft-b"), _tune("ft-c")]
    days = _day(AdapterMergePlanner(), deps, {"assist": 12, "ft-a": 1, "ft-b": 9, "ft-c": 3})
    first = next(i for i, ps in enumerate(days) if ps)
    assert first >= 0.9 * 6 * 24 - 1  # not before most of the day was seen
    (p,) = days[first]
    assert isinstance(p.action, MergeAdapters)
    assert p.action.sources == ("default/ft-a", "default/ft-c")
    assert p.action.into == "default/assist" and p.action.base_model == "assist-8b"
    evidence = {e.name: e.value for e in p.evidence}
    assert evidence["combined_peak"] == 16 and evidence["gpus_freed"] == 2


def test_a_fine_tune_promising_a_stricter_slo_stays_on_its_own() -> None:
    deps = [
        _runtime(slo=Slo(queue_delay_seconds=5)),
        _tune("ft-a"),
        _tune("ft-b", slo=Slo(queue_delay_seconds=10)),
    ]
    days = _day(AdapterMergePlanner(), deps, {"assist": 2, "ft-a": 1, "ft-b": 1})
    (p,) = next(ps for ps in days if ps)
    assert isinstance(p.action, MergeAdapters) and p.action.sources == ("default/ft-b",)


def test_nothing_merges_into_a_runtime_at_zero_or_waking_or_a_fine_tune_already_merged() -> None:
    parked = [_runtime(replicas=0), _tune("ft-a")]
    assert not any(_day(AdapterMergePlanner(), parked, {"ft-a": 1}))
    # serving for half a day (its capacity measured), then restarting: no Ready replica,
    # so no capacity the guard could judge a merge by
    planner = AdapterMergePlanner()
    loading = Replica(id="r-0", phase=ReplicaPhase.LOADING, node="gpu-node-0", gpu_indices=(0,))
    waking = [_runtime(replicas=1, replica_states=(loading,)), _tune("ft-a")]
    for i in range(6 * 36):
        deps = [_runtime(), _tune("ft-a")] if i < 6 * 12 else waking
        at = T0 + timedelta(seconds=STEP * (i + 1))
        assert planner.plan(_snap(at, deps, {"ft-a": 1}), {}) == [], i
    merged = [
        _runtime(adapters=("default/ft-a",)),
        _tune("ft-a", replicas=0, routed_to="default/assist"),
    ]
    assert not any(_day(AdapterMergePlanner(), merged, {"assist": 2}))


def test_at_most_max_adapters_share_one_runtime() -> None:
    deps = [_runtime()] + [_tune(f"ft-{i}") for i in range(5)]
    rates = {"assist": 1.0} | {f"ft-{i}": 0.1 for i in range(5)}
    days = _day(AdapterMergePlanner(AdapterMergeConfig(max_adapters=3)), deps, rates)
    (p,) = next(ps for ps in days if ps)
    assert isinstance(p.action, MergeAdapters) and len(p.action.sources) == 3


def _merged(**kw: object) -> list[ModelDeployment]:
    """The runtime serving ft-a and ft-b as adapters (10 req/s a replica, 3 at most)."""
    return [
        _runtime(adapters=("default/ft-a", "default/ft-b"), **kw),
        _tune("ft-a", replicas=0, routed_to="default/assist"),
        _tune("ft-b", replicas=0, routed_to="default/assist"),
        _tune("ft-c"),
    ]


def test_a_runtime_whose_traffic_outgrows_the_merge_limit_gets_its_adapters_unmerged() -> None:
    """The limit a merge is judged by, 0.8 x 10 x 3 = 24 req/s: at 25 req/s every adapter
    goes back to its own deployment, on the first snapshot (no history needed)."""
    planner = AdapterMergePlanner()
    at = T0 + timedelta(days=1)
    (p,) = planner.plan(_snap(at, _merged(), {"assist": 25.0}), {})
    assert isinstance(p.action, UnmergeAdapters)
    assert p.action.sources == ("default/ft-a", "default/ft-b")
    assert p.action.runtime == "default/assist" and p.action.base_model == "assist-8b"
    evidence = {e.name: e.value for e in p.evidence}
    assert evidence["runtime_rate"] == 25 and evidence["runtime_capacity_limit"] == 24
    assert "past the 24.00 req/s" in p.reason


def test_a_burst_shorter_than_the_adapters_wake_lead_does_not_unmerge() -> None:
    """The adapters' wake lead is their cold start plus a tick (90 s + 10 min: two ticks
    here): one tick at 30 req/s after one at 15 averages 22.5, within 24; a second at 30
    makes it 30, past it."""
    planner = AdapterMergePlanner()
    deps = [
        _runtime(adapters=("default/ft-a",)),
        _tune("ft-a", replicas=0, routed_to="default/assist", cold_start_seconds=90.0),
    ]
    at = T0 + timedelta(days=1)
    rates = [15.0, 30.0, 30.0]
    plans = [
        planner.plan(_snap(at + timedelta(seconds=STEP * i), deps, {"assist": r}), {})
        for i, r in enumerate(rates)
    ]
    assert plans[0] == [] and plans[1] == []
    (p,) = plans[2]
    assert isinstance(p.action, UnmergeAdapters)
    assert {e.name: e.value for e in p.evidence}["over_seconds"] == 690


def test_a_merged_runtime_within_the_limit_keeps_its_adapters() -> None:
    planner = AdapterMergePlanner()
    at = T0 + timedelta(days=1)
    assert planner.plan(_snap(at, _merged(), {"assist": 23.0}), {}) == []


def test_after_an_unmerge_the_outgrown_peak_keeps_the_adapters_apart_for_a_window() -> None:
    """A day at 25 req/s on the runtime (its adapters' traffic in it): once unmerged, the
    quiet fine-tunes do not go back onto it while that peak is in the window."""
    planner = AdapterMergePlanner()
    days = _day(planner, _merged(), {"assist": 25.0})
    assert all(isinstance(p.action, UnmergeAdapters) for ps in days for p in ps)
    apart = [_runtime(), _tune("ft-a"), _tune("ft-b"), _tune("ft-c")]
    quiet = {"assist": 5.0, "ft-a": 0.5, "ft-b": 0.5}
    later = [
        planner.plan(_snap(T0 + timedelta(days=1, seconds=STEP * i), apart, quiet), {})
        for i in range(1, 6 * 12)
    ]
    assert not any(later)  # half a day on: the 25 req/s peak is still in the window


def test_a_tick_that_reads_low_capacity_does_not_unmerge() -> None:
    """A replica Ready for part of a tick shows less capacity than it has; the limit comes
    from the most a replica was seen to serve, so 20 req/s (within 24) stays merged when
    one tick reads 12 req/s of capacity for two ready replicas."""
    planner = AdapterMergePlanner()
    deps = _merged()
    at = T0 + timedelta(days=1)
    assert planner.plan(_snap(at, deps, {"assist": 20.0}), {}) == []
    low = _snap(at + timedelta(seconds=STEP), deps, {"assist": 20.0})
    metrics = dict(low.metrics)
    metrics["default/assist"] = metrics["default/assist"].model_copy(update={"capacity_rps": 12.0})
    assert planner.plan(low.model_copy(update={"metrics": metrics}), {}) == []


def test_nothing_merges_into_a_runtime_for_a_window_after_its_adapters_came_off() -> None:
    """Unmerged at 25 req/s; its cap then raised to 4 replicas (limit 27.2 req/s), so the
    day's peak would fit again: still no merge until a window has passed."""
    planner = AdapterMergePlanner()
    days = _day(planner, [_runtime(), _tune("ft-a"), _tune("ft-b")], {"assist": 5.0})
    at = T0 + timedelta(seconds=STEP * 6 * 24)
    assert not any(isinstance(p.action, UnmergeAdapters) for ps in days for p in ps)
    merged = [_runtime(adapters=("default/ft-a",)), _tune("ft-a", replicas=0, routed_to="x/y")]
    for i in (1, 2):  # past the limit for a wake lead (cold start + a tick: two 10-min ticks)
        ps = planner.plan(_snap(at + timedelta(seconds=STEP * i), merged, {"assist": 25.0}), {})
    (p,) = ps
    assert isinstance(p.action, UnmergeAdapters)
    apart = [_runtime(max_replicas=4), _tune("ft-a"), _tune("ft-b")]
    quiet = {"assist": 5.0, "ft-a": 0.5, "ft-b": 0.5}
    proposals = [
        (i, planner.plan(_snap(at + timedelta(seconds=STEP * i), apart, quiet), {}))
        for i in range(3, 6 * 30)
    ]
    merges = [i for i, ps in proposals if ps]
    assert merges and merges[0] > 6 * 24  # the first one a day after the unmerge


def test_memory_from_before_the_unmerge_is_read_back() -> None:
    """A checkpoint written before the planner remembered capacities and unmerges holds
    only the traffic memory; it restores, with the new memory empty."""
    planner = AdapterMergePlanner()
    _day(planner, [_runtime(), _tune("ft-a")], {"assist": 5.0})
    old = {k: v for k, v in planner.state().items() if k in ("_rates", "_seen", "_interval")}
    restored = AdapterMergePlanner()
    restored.restore(old)
    assert restored.state()["_rates"] == planner.state()["_rates"]
    assert restored._base_capacity == {} and restored._unmerged_at == {}


def _ready(name: str, **kw: object) -> ModelDeployment:
    """A merged fine-tune whose own replica, started before its unmerge, is Ready."""
    ready = Replica(id=f"{name}-0", phase=ReplicaPhase.READY, node="gpu-node-0", gpu_indices=(7,))
    return _tune(name, replicas=1, routed_to="default/assist", replica_states=(ready,), **kw)


def test_the_busy_adapter_is_started_first_and_unmerged_once_ready_the_quiet_one_stays() -> None:
    """25 req/s on the runtime (limit 24), 6 of them ft-a's, 0.5 ft-b's (their own rates
    known, as the router counts them): ft-a alone comes off, make-before-break. First its
    own deployment is scaled up (6 req/s needs one replica of 8 at 80 %), no unmerge, nor
    a second scale while it loads; the unmerge comes once its replica is Ready."""
    planner = AdapterMergePlanner()
    at = T0 + timedelta(days=1)
    rates = {"assist": 25.0, "ft-a": 6.0, "ft-b": 0.5}
    (start,) = planner.plan(_snap(at, _merged(), rates), {})
    assert isinstance(start.action, ScaleDeployment)
    assert start.action.deployment == "default/ft-a" and start.action.replicas == 1
    assert "serves its requests until a replica of its own is Ready" in start.reason
    loading = Replica(id="a-0", phase=ReplicaPhase.LOADING, node="gpu-node-0", gpu_indices=(7,))
    deps = _merged()
    deps[1] = _tune("ft-a", replicas=1, routed_to="default/assist", replica_states=(loading,))
    assert planner.plan(_snap(at + timedelta(seconds=STEP), deps, rates), {}) == []
    deps[1] = _ready("ft-a")
    (p,) = planner.plan(_snap(at + timedelta(seconds=2 * STEP), deps, rates), {})
    assert isinstance(p.action, UnmergeAdapters) and p.action.sources == ("default/ft-a",)
    evidence = {e.name: e.value for e in p.evidence}
    assert evidence["adapters_kept"] == 1 and evidence["adapters_rate"] == 6
    assert "no request waits for the handover" in p.reason
    assert not any(
        isinstance(q.action, MergeAdapters)
        for q in planner.plan(_snap(at + timedelta(seconds=3 * STEP), _merged(), rates), {})
    )


def test_adapters_whose_rates_are_unknown_all_come_off_at_once() -> None:
    """On Kubernetes a merged adapter has no series of its own (vLLM counts its requests
    under the runtime's model name): the unmerge cannot pick, nor start anyone first."""
    planner = AdapterMergePlanner()
    at = T0 + timedelta(days=1)
    snap = _snap(at, _merged(), {"assist": 25.0})
    metrics = {k: v for k, v in snap.metrics.items() if k not in ("default/ft-a", "default/ft-b")}
    (p,) = planner.plan(snap.model_copy(update={"metrics": metrics}), {})
    assert isinstance(p.action, UnmergeAdapters)
    assert p.action.sources == ("default/ft-a", "default/ft-b")
    assert "rates are not known, so all come off" in p.reason


def test_an_adapter_whose_replica_cannot_start_is_unmerged_after_the_handover_bound() -> None:
    """ft-a's replica stays Pending (no room): after `handover_leads` (3) wake leads (its
    120 s cold start and a 10-minute tick: 2,160 s) the unmerge goes ahead, on the fourth
    tick, and says its requests wait."""
    planner = AdapterMergePlanner()
    at = T0 + timedelta(days=1)
    rates = {"assist": 25.0, "ft-a": 6.0, "ft-b": 0.5}
    pending = Replica(id="a-0", phase=ReplicaPhase.PENDING)
    deps = _merged()
    plans = [planner.plan(_snap(at, deps, rates), {})]
    deps[1] = _tune("ft-a", replicas=1, routed_to="default/assist", replica_states=(pending,))
    for i in range(1, 5):
        plans.append(planner.plan(_snap(at + timedelta(seconds=STEP * i), deps, rates), {}))
    assert all(p == [] for p in plans[1:4])
    (p,) = plans[4]
    assert isinstance(p.action, UnmergeAdapters) and p.action.sources == ("default/ft-a",)
    assert "default/ft-a had no Ready replica of its own" in p.reason


def test_a_handover_under_way_is_read_back_from_a_checkpoint() -> None:
    planner = AdapterMergePlanner()
    at = T0 + timedelta(days=1)
    rates = {"assist": 25.0, "ft-a": 6.0, "ft-b": 0.5}
    planner.plan(_snap(at, _merged(), rates), {})
    restored = AdapterMergePlanner()
    restored.restore(json.loads(json.dumps(planner.state())))
    deps = _merged()
    deps[1] = _ready("ft-a")
    (p,) = restored.plan(_snap(at + timedelta(seconds=STEP), deps, rates), {})
    assert isinstance(p.action, UnmergeAdapters) and p.action.sources == ("default/ft-a",)
