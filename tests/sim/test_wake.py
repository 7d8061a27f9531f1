"""Scale to zero and wake in the simulator: requests for a model at zero are held (not
dropped) while a replica starts, within the wake timeout, and each wake is recorded."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from gpusteward.core.actions import PrewarmReplicas, ScaleDeployment
from gpusteward.sim.engine import Simulator
from gpusteward.sim.spec import ModelSpec
from tests.sim.conftest import model, sim_spec, write_total_trace

KEY = "serving/m"


def _intermittent(tmp_path: Path, **kw: object) -> ModelSpec:
    """Idle for 10 minutes, then 0.5 req/s; starts at zero replicas, 240 s cold start."""
    trace = write_total_trace(tmp_path / "t.csv", [0.0, 0.5, 0.5, 0.5], window=600.0)
    base: dict[str, object] = dict(
        trace=trace,
        replicas=0,
        min_replicas=0,
        cold_start_seconds=240,
        queue_timeout_seconds=60,
        wake_timeout_seconds=900,
        trace_kw={"scale": 1.0, "loop": False},
    )
    return model(**{**base, **kw})


def _steps(sim: Simulator, n: int) -> None:
    for _ in range(n):
        sim.step()


def test_requests_for_a_model_at_zero_are_held_while_a_replica_starts(tmp_path: Path) -> None:
    sim = Simulator(sim_spec(models=[_intermittent(tmp_path)]))
    _steps(sim, 11)  # the first requests came in [600, 660): wait a tick, then wake
    assert sim.tally(KEY).arrived > 0 and sim.tally(KEY).served == 0
    sim.execute(ScaleDeployment(issued_at=sim.now, deployment=KEY, replicas=1))
    _steps(sim, 5)  # 240 s cold start: past the 60 s queue timeout, within the wake's
    t = sim.tally(KEY)
    assert t.dropped == 0
    assert t.served == t.arrived - sim.queued(KEY)
    assert t.served_within_slo < t.served  # the held ones waited past the 2 s SLO


def test_a_held_request_is_dropped_after_the_wake_timeout(tmp_path: Path) -> None:
    sim = Simulator(sim_spec(models=[_intermittent(tmp_path, wake_timeout_seconds=300)]))
    _steps(sim, 11)
    first = sim.tally(KEY).arrived  # the first minute's, held since about 630 s
    _steps(sim, 5)  # at 960 s they are 330 s old, the next minute's 270 s
    assert sim.tally(KEY).dropped == first > 0


def test_a_reactive_wake_takes_one_cold_start_after_the_scale_up(tmp_path: Path) -> None:
    sim = Simulator(sim_spec(models=[_intermittent(tmp_path)]))
    _steps(sim, 11)
    sim.execute(ScaleDeployment(issued_at=sim.now, deployment=KEY, replicas=1))
    _steps(sim, 6)
    (wake,) = sim.wakes(KEY).done
    assert not wake.prewarmed
    assert wake.asked == 660.0
    assert wake.first_request is not None and 600 <= wake.first_request < 660
    assert wake.served == 660.0 + 240.0
    latency = wake.latency_seconds
    assert latency is not None and 240.0 < latency <= 240.0 + 60.0  # a cold start + a tick


def test_a_prewarmed_wake_serves_its_first_request_at_once(tmp_path: Path) -> None:
    sim = Simulator(sim_spec(models=[_intermittent(tmp_path)]))
    _steps(sim, 5)  # 300 s: a planner that saw the 600 s return coming pre-warms now
    sim.execute(ScaleDeployment(issued_at=sim.now, deployment=KEY, replicas=1))
    _steps(sim, 7)
    (wake,) = sim.wakes(KEY).done
    assert wake.prewarmed and wake.latency_seconds == 0.0
    assert sim.tally(KEY).served_within_slo == sim.tally(KEY).served


def test_a_request_before_the_window_a_prewarm_expected_is_marked_early(tmp_path: Path) -> None:
    """Pre-warms that expect the first request from 900 s and from 500 s: the request of
    the 600 s return came before the first's window (early: it did not foresee it) and
    inside the second's."""
    for expected, early in ((900.0, True), (500.0, False)):
        sim = Simulator(sim_spec(models=[_intermittent(tmp_path)]))
        _steps(sim, 5)
        sim.execute(
            PrewarmReplicas(
                issued_at=sim.now,
                deployment=KEY,
                count=1,
                expected_from=sim.now + timedelta(seconds=expected - 300.0),
            )
        )
        _steps(sim, 7)
        (wake,) = sim.wakes(KEY).done
        assert wake.prewarmed and wake.expected_from == expected
        assert wake.early is early


def test_a_prewarm_no_request_came_to_is_counted_unused(tmp_path: Path) -> None:
    sim = Simulator(sim_spec(models=[_intermittent(tmp_path)]))
    sim.execute(ScaleDeployment(issued_at=sim.now, deployment=KEY, replicas=1))
    _steps(sim, 5)
    sim.execute(ScaleDeployment(issued_at=sim.now, deployment=KEY, replicas=0))
    _steps(sim, 1)
    log = sim.wakes(KEY)
    assert log.unused_prewarms == 1 and log.done == [] and log.open is None


def test_a_model_with_replicas_keeps_its_queue_timeout(tmp_path: Path) -> None:
    """Only a model at zero holds requests longer: behind busy replicas the queue
    timeout stands."""
    trace = write_total_trace(tmp_path / "busy.csv", [50.0] * 4)
    sim = Simulator(
        sim_spec(
            models=[
                model(
                    trace=trace,
                    replicas=1,
                    cold_start_seconds=0,
                    queue_timeout_seconds=60,
                    trace_kw={"scale": 1.0},
                )
            ]
        )
    )
    _steps(sim, 4)
    assert sim.tally(KEY).dropped > 0
    assert sim.wakes(KEY).done == [] and sim.wakes(KEY).open is None
