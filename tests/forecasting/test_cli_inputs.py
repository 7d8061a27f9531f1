"""The forecast commands on inputs a user plausibly gives (from a probe of both commands):
a clear error naming the input and the fix, or the right answer; never a traceback, never
a silent wrong result."""

from __future__ import annotations

import json
import warnings
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from forecasting.auto import AutoForecaster, AutoForecasterConfig
from forecasting.series import MAX_HOLE_SECONDS, mark_holes
from gpusteward.cli.forecast import backtest
from gpusteward.cli.forecast_ahead import ahead, replicas_for
from gpusteward.cli.main import app
from gpusteward.core.errors import InputError
from gpusteward.core.load import Forecast, LoadSeries
from gpusteward.core.user_files import png_option
from gpusteward.sim.trace_rates import load_rates, trace_start
from gpusteward.sim.traces import load_trace_data
from tests.helpers import azure_requests_csv

DAY = 86_400.0


def _rates(path: Path, rates: list[float] | np.ndarray, step: int = 600, first: int = 0) -> Path:
    rows = "".join(f"{first + i * step},{r},1\n" for i, r in enumerate(rates))
    path.write_text("window_start_s,total_rate_rps,active_clients\n" + rows)
    return path


def _ahead_json(*args: str) -> dict:
    result = CliRunner().invoke(app, ["forecast", "ahead", "--no-prophet", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# --- request logs (Azure format) ---------------------------------------------------------


def test_a_timestamp_that_is_a_number_is_refused_naming_the_row(tmp_path: Path) -> None:
    # numpy reads "1700157600" as the year 1700157600: a forecast dated 2222 used to follow
    log = tmp_path / "epoch.csv"
    log.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n1700157600,100,10\n")
    with pytest.raises(InputError, match=r"epoch\.csv:2: .*1700157600.*not a number of seconds"):
        load_rates(log)


@pytest.mark.parametrize("bad", ["2023-02-30 10:00:00", "2500-01-01 00:00:00", "yesterday"])
def test_an_impossible_or_out_of_range_timestamp_is_refused(tmp_path: Path, bad: str) -> None:
    log = tmp_path / "bad.csv"
    log.write_text(f"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:00:00,1,1\n{bad},1,1\n")
    with pytest.raises(InputError, match=r"bad\.csv:3: "):
        load_rates(log)


def test_timestamps_with_zones_are_read_as_utc_without_warnings(tmp_path: Path) -> None:
    log = tmp_path / "tz.csv"
    log.write_text(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n"
        "2023-11-16 19:00:00+01:00,1,1\n2023-11-16T18:00:30Z,1,1\n2023-11-16 12:31:00-0530,1,1\n"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "no explicit representation of timezones"
        data = load_trace_data(log, "azure-requests")
    assert list(data.times) == [0.0, 30.0, 60.0]
    assert trace_start(log) == datetime(2023, 11, 16, 18, 0, tzinfo=UTC)


def test_a_byte_order_mark_does_not_hide_the_header(tmp_path: Path) -> None:
    plain = azure_requests_csv(tmp_path / "plain.csv", minutes=30)
    marked = tmp_path / "marked.csv"
    marked.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())  # a spreadsheet's UTF-8 export
    assert np.array_equal(load_rates(marked, 60.0)[0], load_rates(plain, 60.0)[0])
    rates = _rates(tmp_path / "rates.csv", [5.0] * 10)
    rates.write_bytes(b"\xef\xbb\xbf" + rates.read_bytes())
    assert load_rates(rates)[0].tolist() == [5.0] * 10


# --- windows and horizons -----------------------------------------------------------------


def test_a_rate_file_windows_are_joined_by_window_as_mean_rates(tmp_path: Path) -> None:
    minute = _rates(tmp_path / "minute.csv", np.arange(25, dtype=float), step=60)
    joined, step = load_rates(minute, 300.0)
    assert step == 300.0
    assert joined.tolist() == [2.0, 7.0, 12.0, 17.0, 22.0]  # the mean of 5 each
    # a partial last window is left out, as for request logs
    assert len(load_rates(minute, 600.0)[0]) == 2
    with pytest.raises(InputError, match=r"--window 90 s: .*60 s windows.*Fix: a multiple of 1m"):
        load_rates(minute, 90.0)


def test_a_horizon_too_long_for_the_windows_names_the_window_that_takes_it(
    tmp_path: Path,
) -> None:
    minute = _rates(tmp_path / "minute.csv", [10.0] * (3 * 1440), step=60)
    with pytest.raises(
        InputError, match=r"--horizon 1d: 1440 windows .*at most 12h ahead.*--window 2m"
    ):
        ahead(data=minute, horizon="1d", prophet=False)
    # the fix it names works: a day ahead from 2-minute windows
    out = _ahead_json("--data", str(minute), "--horizon", "1d", "--window", "2m", "--every", "6h")
    assert out["step_seconds"] == 120.0 and len(out["points"]) == 720
    # backtest has the same limit (it used to try and run out of memory)
    with pytest.raises(InputError, match=r"--horizon 1d: 1440 windows"):
        backtest(data=minute, horizon="1d", test="1d", png=None, prophet=False)


# --- dates ----------------------------------------------------------------------------


def test_start_is_used_when_the_file_cannot_date_itself(tmp_path: Path) -> None:
    far = _rates(tmp_path / "far.csv", [100.0] * 432, first=10**15)
    with pytest.raises(InputError, match=r"far\.csv: its first window starts at 1e\+15 s.*--start"):
        ahead(data=far, horizon="1h", prophet=False)
    out = _ahead_json("--data", str(far), "--horizon", "1h", "--start", "2026-01-01T00:00:00Z")
    assert out["made_at"] == "2026-01-04T00:00:00+00:00"  # 3 days of windows from --start
    # backtest has no --start, and does not suggest it
    with pytest.raises(InputError, match=r"Unix time\)\.$"):
        backtest(data=far, horizon="1h", test="1d", png=None, prophet=False)


def test_unix_time_window_starts_date_the_trace(tmp_path: Path) -> None:
    first = int(datetime(2026, 3, 2, tzinfo=UTC).timestamp())
    unix = _rates(tmp_path / "unix.csv", [100.0] * 432, first=first)
    assert trace_start(unix) == datetime(2026, 3, 2, tzinfo=UTC)  # not 2082
    relative = _rates(tmp_path / "relative.csv", [100.0] * 432, first=600)
    assert trace_start(relative) == datetime(2026, 1, 5, 0, 10, tzinfo=UTC)


# --- outputs ------------------------------------------------------------------------------


def test_an_unwritable_png_is_refused_before_the_work(tmp_path: Path) -> None:
    rates = _rates(tmp_path / "r.csv", [100.0] * 432)
    with pytest.raises(InputError, match=r"--png /proc/band\.png: cannot write it.*Fix:"):
        backtest(data=rates, horizon="1h", test="1d", png=Path("/proc/band.png"), prophet=False)
    with pytest.raises(InputError, match=r"--png /proc/ahead\.png: cannot write it"):
        ahead(data=rates, horizon="1h", prophet=False, png=Path("/proc/ahead.png"))
    fine = tmp_path / "band.png"
    backtest(data=rates, horizon="1h", test="1d", png=fine, prophet=False)
    assert fine.stat().st_size > 1000


def test_any_load_needs_at_least_one_replica() -> None:
    assert replicas_for(100.0, 1e300) == 1  # a tiny share is still a replica
    assert replicas_for(0.0, 1.6) == 0
    assert replicas_for(434.57, 1.6) == 272
    assert replicas_for(3 * 0.1, 0.1) == 3  # 3.0000000000000004: not a fourth
    assert replicas_for(3.01, 1.0) == 4


def test_client_files_ending_in_upper_case_csv_are_read(tmp_path: Path) -> None:
    total = _rates(tmp_path / "total.csv", [100.0] * 432)
    folder = tmp_path / "clients"
    folder.mkdir()
    _rates(folder / "A.CSV", [60.0] * 432)
    _rates(folder / "b.csv", [30.0] * 432)
    out = _ahead_json("--data", str(total), "--horizon", "1h", "--clients", str(folder))
    assert any("from 2 of 2 children" in n for n in out["notes"]), out["notes"]


def test_a_periodic_training_load_is_not_called_constant(tmp_path: Path) -> None:
    day = 100 + 50 * np.sin(np.arange(144) * 2 * np.pi / 144)
    sine = _rates(tmp_path / "sine.csv", np.tile(day, 5))
    result = CliRunner().invoke(
        app,
        ["forecast", "backtest", "--data", str(sine), "--no-prophet", "--png", "", "--test", "2d"],
    )
    assert result.exit_code == 0, result.output
    assert "the same every day" in result.output and "constant" not in result.output


# --- zeros --------------------------------------------------------------------------------


def test_a_run_of_zeros_longer_than_a_collection_hole_is_idle_time() -> None:
    step = 600.0
    longest = round(MAX_HOLE_SECONDS / step)
    busy = np.full(20, 50.0)  # 30,000 requests a window: a lone zero is a hole
    y = np.concatenate([busy, np.zeros(3), busy, np.zeros(longest), busy, np.zeros(longest + 1)])
    marked, holes = mark_holes(y, step)
    assert holes == 3 + longest
    assert np.isnan(marked[20:23]).all() and np.isnan(marked[43 : 43 + longest]).all()
    assert (marked[-longest - 1 :] == 0).all()  # a night without requests stays zero


def test_a_client_idle_all_night_is_not_forecast_at_its_busy_level(tmp_path: Path) -> None:
    # 10 h a day at 2 req/s, then 14 h of nothing: a client on office hours
    # (ending in its busy hours; ending in its night, see the test below)
    day = np.concatenate([np.zeros(84), np.full(60, 2.0)])
    client = _rates(tmp_path / "client.csv", np.tile(day, 7))
    out = _ahead_json("--data", str(client), "--horizon", "1d", "--every", "1d")
    mean = out["periods"][0]["p50"]
    assert 0.5 < mean < 1.3, mean  # the day's mean is 0.83; holes would make it about 2
    assert not any("collection holes" in n for n in out["notes"])


def test_a_missed_scrape_does_not_split_a_night_into_holes() -> None:
    night = np.concatenate([np.zeros(30), [np.nan], np.zeros(29)])  # 10 h, one window unread
    y = np.concatenate([np.full(60, 50.0), night, np.full(60, 50.0)])
    marked, holes = mark_holes(y, 600.0)
    assert holes == 0 and np.count_nonzero(marked == 0) == 59


def test_a_backtest_marks_holes_as_the_walk_sees_them_arrive() -> None:
    longest = round(MAX_HOLE_SECONDS / 600.0)
    y = np.concatenate([np.full(300, 50.0), np.zeros(60), np.full(100, 50.0)])
    causal, holes = mark_holes(y, 600.0, causal=True)
    # the first 6 h of the night are holes to a forecaster living through them ...
    assert holes == longest and np.isnan(causal[300 : 300 + longest]).all()
    assert (causal[300 + longest : 360] == 0).all()  # ... then it has seen idle time
    # the same as marking, at each window, only the history up to it
    for end in range(301, 361):
        assert np.array_equal(
            np.isnan(mark_holes(y[:end], 600.0)[0][-1:]), np.isnan(causal[end - 1 : end])
        )


def test_a_zone_given_in_hours_only_is_read(tmp_path: Path) -> None:
    log = tmp_path / "pg.csv"  # PostgreSQL prints timestamptz so
    log.write_text("TIMESTAMP,a,b\n2023-11-16 19:00:00.5+01,1,1\n2023-11-16 18:00:01.5+00,1,1\n")
    assert list(load_trace_data(log, "azure-requests").times) == [0.0, 1.0]


def test_a_dangling_link_given_as_png_is_left_in_place(tmp_path: Path) -> None:
    link = tmp_path / "plot.png"
    link.symlink_to(tmp_path / "target.png")
    assert png_option(link) == link
    assert link.is_symlink() and not (tmp_path / "target.png").exists()


def test_client_files_whose_windows_cannot_be_joined_are_named(tmp_path: Path) -> None:
    total = _rates(tmp_path / "total.csv", [100.0] * 432)
    folder = tmp_path / "clients"
    folder.mkdir()
    _rates(folder / "a.csv", [60.0] * 288, step=900)
    with pytest.raises(
        InputError, match=r"^--clients .*a\.csv: its 900 s windows cannot be joined"
    ):
        ahead(data=total, horizon="1h", prophet=False, clients=folder, window="20m")


def test_a_client_idle_every_night_has_not_stopped_at_night() -> None:
    day = np.concatenate([np.full(60, 2.0), np.zeros(84)])  # 10 h busy, 14 h idle
    start = datetime(2026, 1, 5, tzinfo=UTC)
    auto = AutoForecaster(AutoForecasterConfig(prophet=False))

    def forecast(tail: np.ndarray) -> Forecast:
        y = np.concatenate([np.tile(day, 7), np.full(60, 2.0), tail])
        values = tuple(float(v) for v in y)
        return auto.forecast(
            LoadSeries(key="c", start=start, step_seconds=600.0, values=values), DAY
        )

    # 10 h into a night like the 7 before it: not "stopped", the morning comes back
    night = forecast(np.zeros(60))
    p50 = np.array([p.p50 for p in night.points])
    assert not night.fallback and p50[:24].max() < 0.1 and p50[24:30].min() > 1.5
    # a night longer than any it came back from: taken to have stopped (forecast 0)
    gone = forecast(np.zeros(90))
    assert gone.fallback and max(p.p50 for p in gone.points) == 0.0
    assert any("stopped" in n for n in gone.notes)


def test_a_gap_in_the_data_is_not_an_idle_stretch_come_back_from() -> None:
    busy = np.full(300, 50.0)
    values = tuple(
        [*busy, *([None] * 200), *busy, *np.zeros(40)]  # 33 h without data, then 6.7 h of 0
    )
    series = LoadSeries(
        key="m", start=datetime(2026, 1, 5, tzinfo=UTC), step_seconds=600.0, values=values
    )
    gone = AutoForecaster(AutoForecasterConfig(prophet=False)).forecast(series, 3600.0)
    assert gone.fallback and any("stopped" in n for n in gone.notes), gone.notes
