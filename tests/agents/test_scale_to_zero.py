"""The scale-to-zero planner: parks a model after idle time its own history says is
long, wakes it when requests are held, pre-warms it before a recurring return, and never
lets the wrapped scaling planner take a deployment to zero by itself."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from agents.idle_stretches import IdleMemory
from agents.scale_to_zero import ScaleToZeroConfig, ScaleToZeroPlanner
from gpusteward.core.actions import PrewarmReplicas, Proposal, ScaleDeployment
from gpusteward.core.cluster import ClusterSnapshot, ServingMetrics
from gpusteward.testing import StaticPlanner, make_deployment, make_snapshot

T0 = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday, 00:00
KEY = "default/ft"
STEP = 600.0  # ten-minute ticks: days pass quickly


def _snap(
    at: datetime, replicas: int, rate: float, *, queued: int = 0, **kw: object
) -> ClusterSnapshot:
    d = make_deployment(
        "ft", replicas=replicas, min_replicas=kw.pop("min_replicas", 0), cold_start_seconds=120
    )
    m = ServingMetrics(
        arrival_rate_rps=rate, served_rate_rps=rate, queue_depth=queued, capacity_rps=replicas
    )
    return make_snapshot(at=at, deployments=[d], metrics={KEY: m}, interval_seconds=STEP)


def _drive(
    planner: ScaleToZeroPlanner,
    ticks: int,
    rate: Callable[[datetime], float],
    replicas: Callable[[datetime], int] = lambda at: 1,
    start: datetime = T0,
) -> list[tuple[datetime, list[Proposal]]]:
    out = []
    for i in range(ticks):
        at = start + timedelta(seconds=STEP * (i + 1))
        out.append((at, planner.plan(_snap(at, replicas(at), rate(at)), {})))
    return out


def _to_zero(proposals: Sequence[Proposal]) -> list[Proposal]:
    return [
        p for p in proposals if isinstance(p.action, ScaleDeployment) and p.action.replicas == 0
    ]


def test_a_model_idle_past_the_floor_with_no_history_goes_to_zero_with_its_evidence() -> None:
    planner = ScaleToZeroPlanner(StaticPlanner(), ScaleToZeroConfig(min_idle_seconds=1800))
    run = _drive(planner, 8, rate=lambda at: 1.0 if at <= T0 + timedelta(minutes=10) else 0.0)
    first = next(at for at, ps in run if _to_zero(ps))
    assert first == T0 + timedelta(minutes=40)  # idle since 00:10, 30 min later
    (p,) = _to_zero(dict(run)[first])
    assert p.planner == "scale-to-zero" and "traffic has stopped" in p.reason
    evidence = {e.name: e.value for e in p.evidence}
    assert evidence["idle"] == 1800 and evidence["gpus_freed"] == 1


def test_a_model_that_comes_back_soon_from_such_gaps_is_not_parked() -> None:
    """Active 10 minutes of every hour: its 50-minute gaps end within the payback time
    (two wake leads of 12 minutes) once they have lasted 30, so it stays up."""
    planner = ScaleToZeroPlanner(StaticPlanner(), ScaleToZeroConfig(min_idle_seconds=1800))
    run = _drive(planner, 6 * 24 * 2, rate=lambda at: 1.0 if at.minute == 0 else 0.0)
    parked_on_day_two = [at for at, ps in run if _to_zero(ps) and at >= T0 + timedelta(days=1)]
    assert parked_on_day_two == []


def test_a_model_at_zero_with_requests_held_is_woken_to_what_the_scaler_wants() -> None:
    inner = StaticPlanner(
        [
            Proposal(
                action=ScaleDeployment(deployment=KEY, replicas=2, from_replicas=0, issued_at=T0),
                reason="load: scale up 0 -> 2",
            )
        ]
    )
    planner = ScaleToZeroPlanner(inner)
    (p,) = planner.plan(_snap(T0, 0, 0.5, queued=12), {})
    assert isinstance(p.action, ScaleDeployment) and p.action.replicas == 2
    assert p.planner == "scale-to-zero" and "12 request(s) held" in p.reason


def test_a_model_at_zero_stays_there_whatever_the_scaler_says_while_idle() -> None:
    inner = StaticPlanner(
        [
            Proposal(
                action=ScaleDeployment(deployment=KEY, replicas=1, from_replicas=0, issued_at=T0),
                reason="forecast: scale up 0 -> 1",
            )
        ]
    )
    assert ScaleToZeroPlanner(inner).plan(_snap(T0, 0, 0.0), {}) == []


def test_the_scaler_never_takes_a_model_to_zero_by_itself() -> None:
    def inner_to_zero(replicas: int) -> StaticPlanner:
        action = ScaleDeployment(deployment=KEY, replicas=0, from_replicas=replicas, issued_at=T0)
        return StaticPlanner([Proposal(action=action, reason="no load: scale down")])

    (p,) = ScaleToZeroPlanner(inner_to_zero(3)).plan(_snap(T0, 3, 0.0), {})
    assert isinstance(p.action, ScaleDeployment) and p.action.replicas == 1
    assert ScaleToZeroPlanner(inner_to_zero(1)).plan(_snap(T0, 1, 0.0), {}) == []


def test_a_model_its_spec_keeps_above_zero_is_left_to_the_scaler() -> None:
    planner = ScaleToZeroPlanner(StaticPlanner())
    run = []
    for i in range(12):
        at = T0 + timedelta(seconds=STEP * (i + 1))
        run += planner.plan(_snap(at, 1, 0.0, min_replicas=1), {})
    assert run == []


def test_a_client_that_returns_every_morning_is_prewarmed_before_its_first_request() -> None:
    """Requests 09:00-11:00 every day, nothing else: from the third morning on, one
    replica is asked for ahead of 09:00 (ready by 08:30, the tolerance), while parked."""
    cfg = ScaleToZeroConfig(min_idle_seconds=1800, prewarm_tolerance_seconds=1800)
    planner = ScaleToZeroPlanner(StaticPlanner(), cfg)
    state = {"replicas": 1}

    def rate(at: datetime) -> float:
        return 1.0 if 9 <= (at - timedelta(seconds=1)).hour < 11 else 0.0

    prewarms = []
    for i in range(6 * 24 * 4):
        at = T0 + timedelta(seconds=STEP * (i + 1))
        for p in planner.plan(_snap(at, state["replicas"], rate(at)), {}):
            a = p.action
            if isinstance(a, ScaleDeployment):
                state["replicas"] = a.replicas
            elif isinstance(a, PrewarmReplicas):
                state["replicas"] += a.count
                prewarms.append((at, a, p))
    assert [at.day for at, _, _ in prewarms] == [4, 5]  # Wed and Thu, after two mornings seen
    for at, action, p in prewarms:
        assert at.hour == 8 and action.ready_by is not None and action.ready_by.hour == 8
        # requests expected from the tolerance (30 min) before 09:00 on
        assert action.expected_from == at.replace(hour=8, minute=30)
        assert "came back around 09:00 UTC on" in p.reason


def test_idle_memory_counts_a_repeated_instant_once() -> None:
    mem = IdleMemory()
    for at in (T0, T0, T0 + timedelta(minutes=10)):
        mem.observe(at, 600, False, long_idle_seconds=1800, keep_seconds=86_400)
    mem.observe(T0 + timedelta(minutes=40), 600, True, long_idle_seconds=1800, keep_seconds=86_400)
    # idle from 23:50 (the interval before the first idle snapshot) to 00:30
    assert [s for _, s in mem.stretches] == [2400.0]
    assert list(mem.returns) == [T0 + timedelta(minutes=30)]


def _returns_at(*times: datetime) -> IdleMemory:
    mem = IdleMemory()
    mem.returns.extend(times)
    return mem


def test_a_recurring_return_is_seen_when_its_earliest_day_enters_the_window() -> None:
    """Returns at 02:00 (day 1) and 02:25 (day 2): one recurrence (25 min apart, within a
    30-min drift), seen as soon as 02:00 is within the window, not when 02:25 is: a
    pre-warm asked then still has its whole lead before 02:00."""
    day1, day2 = T0 + timedelta(hours=2), T0 + timedelta(days=1, hours=2, minutes=25)
    mem = _returns_at(day1, day2)
    at = T0 + timedelta(days=2, hours=1, minutes=28)  # 02:00 is 32 min ahead, 02:25 57 min
    got = mem.recurring_return(at, 33 * 60, days=7, min_days=2, drift_seconds=1800)
    assert got == (T0 + timedelta(days=2, hours=2), 2)
    # the old reading (both days inside the window) saw it only from 01:53
    assert mem.recurring_return(at, 33 * 60, days=7, min_days=3, drift_seconds=1800) is None


def test_returns_that_drift_apart_by_more_than_the_tolerance_are_not_a_recurrence() -> None:
    """02:00 on one day, 02:31 on the next: 31 min apart, over a 30-min drift, so no
    return is expected at 02:00 (the old reading fired at 01:59, one minute ahead, and the
    replica it asked for came late)."""
    day1, day2 = T0 + timedelta(hours=2), T0 + timedelta(days=1, hours=2, minutes=31)
    mem = _returns_at(day1, day2)
    for minutes in range(60, 125):
        at = T0 + timedelta(days=2, minutes=minutes)
        assert mem.recurring_return(at, 33 * 60, 7, 2, drift_seconds=1800) is None, at
    assert mem.recurring_return(
        T0 + timedelta(days=2, hours=1, minutes=59), 33 * 60, 7, 2, drift_seconds=1860
    ) == (T0 + timedelta(days=2, hours=2), 2)


def test_a_model_is_not_parked_when_its_pre_warm_would_wake_it_before_parking_paid() -> None:
    """Idle for a day, back at 00:50 on each of the last two days. Parking pays when it
    lasts two wake leads (24 min here), and the pre-warm for 00:50 fires a lead and the
    tolerance (12 + 30 min) before it: at 00:00 a park would last 8 min, so the model stays
    up; with the return at 01:20 a park lasts 38 min, so it goes."""
    for back, parks in ((50, False), (80, True)):
        planner = ScaleToZeroPlanner(StaticPlanner(), ScaleToZeroConfig(min_idle_seconds=1800))
        mem = planner._memory[KEY] = IdleMemory(idle_since=T0 - timedelta(days=1))
        mem.returns.extend(T0 - timedelta(days=k) + timedelta(minutes=back) for k in (2, 1))
        proposals = planner.plan(_snap(T0, 1, 0.0), {})
        assert bool(_to_zero(proposals)) is parks, back


def test_the_keda_like_switches_park_after_a_fixed_window_and_never_prewarm() -> None:
    """learned=False: zero after min_idle whatever the history; prewarm=False: no pre-warm
    even for a model that returns every morning."""
    cfg = ScaleToZeroConfig(min_idle_seconds=600, learned=False, prewarm=False)
    planner = ScaleToZeroPlanner(StaticPlanner(), cfg)
    state = {"replicas": 1}
    parks, prewarms = 0, 0
    for i in range(6 * 24 * 4):
        at = T0 + timedelta(seconds=STEP * (i + 1))
        rate = 1.0 if at.minute == 0 else 0.0  # 10 minutes of every hour
        for p in planner.plan(_snap(at, state["replicas"], rate), {}):
            a = p.action
            if isinstance(a, ScaleDeployment):
                parks += a.replicas == 0
                state["replicas"] = a.replicas
            elif isinstance(a, PrewarmReplicas):
                prewarms += 1
    assert parks >= 4 * 23  # nearly every hourly gap, where the learned planner keeps it up
    assert prewarms == 0
