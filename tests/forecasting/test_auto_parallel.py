"""The daemon's forecaster: Prophet fits of many series run concurrently, results do not
depend on how they were scheduled, the band is recalibrated window by window, and the
daemon's forecast stage runs off the event loop."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime

import numpy as np

from forecasting import AutoForecaster, AutoForecasterConfig
from forecasting.methods import SeasonalProfile
from gpusteward.chat.in_memory import InMemoryApprovalGate
from gpusteward.core.clock import VirtualClock
from gpusteward.core.load import Forecast, LoadSeries
from gpusteward.core.tick import TickRecord
from gpusteward.daemon.loop import Daemon, DaemonConfig
from gpusteward.testing import (
    FakeClusterSource,
    InMemoryJournal,
    RecordingExecutor,
    StaticPlanner,
    make_snapshot,
)
from policies.document import PACKS_DIR
from policies.engine import RulePolicyEngine, load_policy

T0 = datetime(2026, 11, 2, tzinfo=UTC)
STEP = 600.0
DAILY = 144


def _series(key: str, values: np.ndarray) -> LoadSeries:
    return LoadSeries(key=key, start=T0, step_seconds=STEP, values=tuple(float(v) for v in values))


def _daily(days: float, seed: int, noise: float = 0.05) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(round(days * DAILY))
    shape = 1 + 0.4 * np.sin(2 * np.pi * t / DAILY)
    return np.asarray(100 * shape * np.exp(rng.normal(0, noise, len(t))))


def _sine_profile(values: np.ndarray, start: datetime, step: float, ahead: int) -> SeasonalProfile:
    t = np.arange(len(values) + ahead)
    seasonal = np.log(1 + 0.4 * np.sin(2 * np.pi * t / DAILY))
    return SeasonalProfile(0, seasonal, seasonal + float(np.nanmean(np.log1p(values))))


class _BarrierFit:
    """A profile fit that only finishes when `parties` fits are running at once."""

    def __init__(self, parties: int) -> None:
        self.barrier = threading.Barrier(parties, timeout=10)

    def __call__(
        self, values: np.ndarray, start: datetime, step: float, ahead: int
    ) -> SeasonalProfile:
        self.barrier.wait()  # raises BrokenBarrierError unless the fits overlap
        return _sine_profile(values, start, step, ahead)


def _points(f: Forecast) -> list[tuple[float, float, float, float]]:
    return [(p.point, p.p10, p.p50, p.p90) for p in f.points]


def test_the_prophet_fits_of_many_series_run_concurrently() -> None:
    forecaster = AutoForecaster(AutoForecasterConfig(fit_workers=4), fit=_BarrierFit(4))
    series = [_series(f"ns/m{i}", _daily(4, seed=i)) for i in range(4)]
    forecasts = forecaster.forecast_many(series, 3600)
    assert [f.key for f in forecasts] == [s.key for s in series]
    assert all(forecaster._profiles[s.key].profile is not None for s in series)


def test_forecasts_do_not_depend_on_how_many_fits_run_at_once() -> None:
    series = [_series(f"ns/m{i}", _daily(4, seed=i)) for i in range(3)]
    results = []
    for workers in (1, 3):
        forecaster = AutoForecaster(AutoForecasterConfig(fit_workers=workers), fit=_sine_profile)
        results.append([_points(f) for f in forecaster.forecast_many(series, 3600)])
    assert results[0] == results[1]


def test_real_prophet_fits_in_threads_match_sequential_fits() -> None:
    series = [_series(f"ns/m{i}", _daily(3, seed=10 + i)) for i in range(3)]
    results = []
    for workers in (1, 3):
        forecaster = AutoForecaster(AutoForecasterConfig(fit_workers=workers))
        results.append([_points(f) for f in forecaster.forecast_many(series, 3600)])
    assert np.allclose(results[0], results[1], rtol=1e-6)


def test_a_failing_fit_leaves_the_baselines_and_never_raises() -> None:
    def broken(values: np.ndarray, start: datetime, step: float, ahead: int) -> SeasonalProfile:
        raise RuntimeError("stan crashed")

    f = AutoForecaster(fit=broken).forecast(_series("ns/m", _daily(4, seed=1)), 3600)
    assert not f.fallback and f.forecaster == "auto/online-mix"
    assert "prophet" not in " ".join(f.notes)


def test_each_new_window_recalibrates_the_band_between_refits() -> None:
    calm = _daily(4, seed=3, noise=0.01)
    rng = np.random.default_rng(3)
    wild = calm[-DAILY // 2 :] * np.exp(np.cumsum(rng.normal(0, 0.08, DAILY // 2)))
    values = np.concatenate((calm, wild))
    forecaster = AutoForecaster(AutoForecasterConfig(prophet=False, refit_seconds=86_400))
    widths = []
    for end in range(len(calm), len(values) + 1):
        f = forecaster.forecast(_series("ns/m", values[:end]), 3600)
        widths.append(np.log(f.points[-1].p90 / f.points[-1].p10))
    fit = forecaster._fits["ns/m"]
    assert fit.at == len(calm) + grid_offset()  # no refit in between: updated window by window
    assert widths[-1] > 2 * widths[0]


def grid_offset() -> int:
    from forecasting.auto import grid_index

    return grid_index(T0, STEP)


class _HandshakeForecaster:
    """Blocks inside `forecast` until a coroutine on the event loop answers it."""

    name = "handshake"
    blocking_io = True  # as AutoForecaster: the daemon runs it off its event loop

    def __init__(self) -> None:
        self.started, self.answered = threading.Event(), threading.Event()

    def forecast(self, series: LoadSeries, horizon_seconds: float) -> Forecast:
        self.started.set()
        if not self.answered.wait(timeout=5):
            raise TimeoutError("the event loop was blocked while forecasting")
        from forecasting import LastValueForecaster

        return LastValueForecaster().forecast(series, horizon_seconds)


def test_the_event_loop_stays_responsive_while_the_daemon_forecasts() -> None:
    forecaster = _HandshakeForecaster()
    pack = PACKS_DIR / "default.yaml"
    daemon = Daemon(
        source=FakeClusterSource(make_snapshot(at=T0)),
        executor=RecordingExecutor(),
        forecaster=forecaster,
        planner=StaticPlanner([]),
        policy=RulePolicyEngine(load_policy(pack.read_text(), str(pack))),
        approvals=InMemoryApprovalGate(),
        journal=InMemoryJournal(),
        clock=VirtualClock(T0),
        config=DaemonConfig(interval_seconds=60, offload_blocking_calls=False),
    )

    async def answer() -> None:
        await asyncio.to_thread(forecaster.started.wait, 5)
        forecaster.answered.set()  # runs only if the loop is free during the forecast

    async def both() -> TickRecord:
        record, _ = await asyncio.gather(daemon.tick(), answer())
        return record

    record = asyncio.run(both())
    assert record.forecasts and not record.errors


def test_window_by_window_updates_match_the_backtest_walk() -> None:
    """The daemon's forecaster, refitted once and then advanced window by window, gives
    what the benchmark's rolling-origin walk gives at the same origin."""
    from forecasting.methods import mix_candidates
    from forecasting.online import OnlineSettings, run_online

    y = _daily(6, seed=7, noise=0.1)
    refit_at, later, steps = 5 * DAILY, 5 * DAILY + 20, 6
    config = AutoForecasterConfig(prophet=False, refit_seconds=86_400)
    forecaster = AutoForecaster(config)
    for end in range(refit_at, later + 1):
        live = forecaster.forecast(_series("ns/m", y[:end]), steps * STEP)
    window = round(config.validation_seconds / STEP)
    walk = np.arange(refit_at - window - steps + 1, later + 1)
    candidates = mix_candidates(None, STEP)
    paths = np.stack([m.paths(y[:later], walk, steps) for m in candidates])
    run = run_online(paths, y[:later], walk, refit_at, OnlineSettings.for_step(STEP))
    assert np.allclose([p.point for p in live.points], run.point[-1])
    assert np.allclose([p.p10 for p in live.points], run.p10[-1])
    assert np.allclose([p.p90 for p in live.points], run.p90[-1])


def test_a_gap_of_hours_between_refits_keeps_the_level_before_it() -> None:
    """Windows with no data are holes: the forecast holds the load seen before the gap
    instead of sliding to zero while the mix advances window by window."""
    level = [10.0 + 0.1 * (i % 7) for i in range(2 * 1440)]
    forecaster = AutoForecaster(AutoForecasterConfig(prophet=False, refit_seconds=86_400))
    values: list[float | None] = list(level)
    for _ in range(180):  # three hours of gap, one window at a time
        f = forecaster.forecast(
            LoadSeries(key="ns/m", start=T0, step_seconds=60.0, values=tuple(values)), 900
        )
        values.append(None)
    assert forecaster._fits["ns/m"].at < grid_offset_60() + 2 * 1440 + 1  # no refit since
    assert all(9.0 < p.point < 11.0 for p in f.points)


def grid_offset_60() -> int:
    from forecasting.auto import grid_index

    return grid_index(T0, 60.0)
