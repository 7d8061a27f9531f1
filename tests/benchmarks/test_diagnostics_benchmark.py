"""benchmarks/diagnostics.py: its targets come from the run's figures (a red flag missed,
a lead not possible, a false warning each show), and precision is scored against what
followed each warning."""

from __future__ import annotations

from datetime import UTC, datetime
from types import ModuleType

from gpusteward.app.diagnose_run import DeploymentSlo, Detection, DiagnosedRun
from gpusteward.core.diagnosis import RedFlag
from tests.helpers import benchmark_module

START = datetime(2026, 11, 4, tzinfo=UTC)


def _bench() -> ModuleType:
    return benchmark_module("diagnostics")


def _detection(detected: float | None, miss: float | None, begins: float = 0.0) -> Detection:
    return Detection("s", RedFlag.BURST_LATENCY, begins, detected, miss, miss)


def _precision(warnings: int, confirmed: int) -> object:
    return _bench().Precision("servegen-14d", 14.0, warnings, confirmed, {}, 0.01, 0.3)


def _targets(found: list[Detection], warnings: int = 10, confirmed: int = 10) -> dict[str, object]:
    result = {"detections": found, "precisions": [_precision(warnings, confirmed)], "wall_s": 1}
    return {t["name"]: t for t in _bench().targets_for(result)}


def test_a_missed_red_flag_fails_recall_and_counts_as_no_lead() -> None:
    found = [_detection(60.0, 1800.0), _detection(None, 2400.0)]
    targets = _targets(found)
    recall = targets["recall over the red-flag scenarios"]
    assert recall["value"] == 0.5 and recall["met"] is False  # type: ignore[index]
    lead = targets["median lead before the first SLO miss (s), where possible"]
    assert lead["value"] == (1740.0 + 0.0) / 2  # type: ignore[index]


def test_a_step_that_leaves_no_room_is_left_out_of_the_lead() -> None:
    found = [_detection(120.0, 60.0), _detection(60.0, 1260.0)]  # the first: no room
    lead = _targets(found)["median lead before the first SLO miss (s), where possible"]
    assert lead["value"] == 1200.0 and lead["met"] is True  # type: ignore[index]


def test_precision_below_its_target_is_not_met() -> None:
    targets = _targets([_detection(0.0, 60.0)], warnings=20, confirmed=18)
    precision = targets["precision on servegen-14d (no injected incident)"]
    assert precision["value"] == 0.9 and precision["met"] is False  # type: ignore[index]


def _run(misses: list[float]) -> DiagnosedRun:
    run = DiagnosedRun("x", START)
    slo = DeploymentSlo(0.99)
    t0 = START.timestamp()
    slo.ticks = [t0 + 60 * i for i in range(200)]
    slo.missed = [t0 + m for m in misses]
    run.slo["serving/m"] = slo
    return run


def test_a_warning_is_confirmed_by_a_miss_from_ten_minutes_before_to_an_hour_after() -> None:
    bench, t0 = _bench(), START.timestamp()
    run = _run([6000.0])
    flag = RedFlag.QUEUE_GROWTH
    assert bench.confirmed(run, flag, "serving/m", t0 + 6000 - 3600)  # an hour ahead
    assert bench.confirmed(run, flag, "serving/m", t0 + 6000 + 600)  # 10 min after the miss
    assert not bench.confirmed(run, flag, "serving/m", t0 + 6000 - 3700)
    assert not bench.confirmed(run, flag, "serving/m", t0 + 6000 + 700)


def test_chance_is_the_share_of_ticks_a_miss_would_confirm() -> None:
    run = _run([6000.0])  # ticks 0..199 min; confirmed from minute 40 to minute 110
    assert abs(_bench().chance(run) - 71 / 200) < 1e-9
