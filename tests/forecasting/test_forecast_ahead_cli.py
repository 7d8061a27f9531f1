"""`gpusteward forecast ahead`: a forecast past a trace's end, per period, and the replicas
it needs; `forecast backtest --clients` adds the bottom-up rows."""

from __future__ import annotations

import json
import math
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from forecasting import evaluate
from forecasting.auto import AutoForecaster
from gpusteward.cli.forecast import backtest
from gpusteward.cli.forecast_ahead import ahead, periods, summary
from gpusteward.cli.main import app
from gpusteward.core.errors import InputError
from gpusteward.core.load import Forecast, ForecastPoint
from gpusteward.sim.trace_rates import load_rates
from gpusteward.sim.traces import load_trace_data
from tests.helpers import azure_requests_csv

TRACE = Path(__file__).resolve().parents[2] / "gpusteward/scenarios/traces"
M_LARGE = TRACE / "servegen_m-large_total_rate_10min.csv"


def _run(*args: str) -> dict:
    result = CliRunner().invoke(app, ["forecast", "ahead", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_day_ahead_of_a_real_trace_in_periods_with_the_replicas_each_needs() -> None:
    out = _run("--data", str(M_LARGE), "--horizon", "1d", "--every", "6h")
    out_sized = _run(
        "--data", str(M_LARGE), "--horizon", "1d", "--every", "6h", "--per-replica-rps", "1.6"
    )
    assert out["forecaster"] == "auto/online-mix" and not out["fallback"]
    points, rows = out_sized["points"], out_sized["periods"]
    assert len(points) == 144 and len(rows) == 4  # 10-minute windows, 6-hour rows
    # the forecast starts where the 14-day trace ends (the default start is a Monday)
    assert rows[0]["start"] == "2026-01-19T00:00:00+00:00"
    assert rows[-1]["end"] == "2026-01-20T00:00:00+00:00"
    p90 = [p["p90"] for p in points]
    for i, row in enumerate(rows):
        assert row["peak"] == pytest.approx(max(p90[i * 36 : (i + 1) * 36]), abs=1e-3)
        assert row["replicas"] == math.ceil(row["peak"] / 1.6)
        assert row["p10"] <= row["p50"] <= row["p90"]
    s = out_sized["summary"]
    assert s["replicas_at_peak"] == max(r["replicas"] for r in rows)
    assert s["replicas_all_through"] == min(math.ceil(v / 1.6) for v in p90)
    assert s["replica_hours"] == pytest.approx(sum(math.ceil(v / 1.6) for v in p90) / 6, abs=0.01)
    assert "replicas_at_peak" not in out["summary"]  # no sizing without a capacity


def _forecast(p50: list[float], step: float = 600.0) -> Forecast:
    made = datetime(2026, 1, 5, tzinfo=UTC)
    pts = tuple(
        ForecastPoint(
            at=made + timedelta(seconds=step * (i + 1)), point=v, p10=v / 2, p50=v, p90=v * 2
        )
        for i, v in enumerate(p50)
    )
    return Forecast(key="m", forecaster="t", made_at=made, step_seconds=step, points=pts)


def test_periods_and_sizing_on_a_known_forecast() -> None:
    f = _forecast([1.0, 3.0, 2.0, 5.0, 4.0])  # p90 = 2, 6, 4, 10, 8
    rows = periods(f, 1200.0, "p90", per_replica=3.0)
    assert [r.peak for r in rows] == [6.0, 10.0, 8.0]  # the last period is shorter
    assert [r.replicas for r in rows] == [2, 4, 3]
    assert rows[0].p50 == 2.0 and rows[0].start == f.made_at
    assert rows[-1].end == f.points[-1].at
    s = summary(f, "p90", 3.0)
    assert s["peak_rps"] == 10.0 and s["peak_at"] == "2026-01-05T00:30:00+00:00"
    assert (s["replicas_all_through"], s["replicas_at_peak"]) == (1, 4)
    assert s["replica_hours"] == pytest.approx((1 + 2 + 2 + 4 + 3) / 6, abs=0.005)
    assert s["replica_hours_at_p50"] == pytest.approx((1 + 1 + 1 + 2 + 2) / 6, abs=0.005)
    # exactly on a replica's capacity needs that replica, not one more
    assert periods(_forecast([1.5]), 600.0, "p90", 3.0)[0].replicas == 1


def _clients(folder: Path, days: int = 3, seed: int = 5) -> tuple[Path, Path]:
    """Three client files (ServeGen's headerless rows) and their total."""
    folder.mkdir()
    rng = np.random.default_rng(seed)
    n = days * 144
    t = np.arange(n)
    rates = [
        2 + np.sin(2 * np.pi * t / 144) + rng.random(n) * 0.2,
        np.where((t % 144) > 100, 4.0, 0.5),  # a client on a daily schedule
        1 + rng.random(n),
    ]
    for i, r in enumerate(rates):
        rows = "".join(f"{j * 600},{v:.4f},1.2,Gamma,0.7,1.0\n" for j, v in enumerate(r))
        (folder / f"chunk-{i}-trace.csv").write_text(rows)
    total = folder.parent / "total.csv"
    rows = "".join(f"{j * 600},{v:.4f},3\n" for j, v in enumerate(sum(rates)))
    total.write_text("window_start_s,total_rate_rps,active_clients\n" + rows)
    return total, folder


def test_clients_give_the_bottom_up_group_forecast(tmp_path: Path) -> None:
    total, folder = _clients(tmp_path / "clients")
    out = _run("--data", str(total), "--clients", str(folder), "--horizon", "2h", "--no-prophet")
    assert out["forecaster"] == "group/online-mix+bottom-up"
    assert "bottom-up from 3 of 3 children" in out["notes"][-1]
    assert len(out["points"]) == 12 and not out["fallback"]


def test_backtest_with_clients_adds_the_bottom_up_rows(tmp_path: Path) -> None:
    total, folder = _clients(tmp_path / "clients")
    args = ["forecast", "backtest", "--data", str(total), "--clients", str(folder)]
    args += ["--horizon", "1h", "--test", "1d", "--no-prophet", "--png", ""]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "bottom-up-from-clients" in result.output
    assert "chosen: online-mix+bottom-up" in result.output


def test_bad_input_names_the_option_and_the_fix(tmp_path: Path) -> None:
    total, folder = _clients(tmp_path / "clients")

    def run(**kw: object) -> None:
        ahead(**_args(total, **kw))  # type: ignore[arg-type]

    with pytest.raises(InputError, match=r"--clients .*not a directory.*Fix"):
        run(clients=total)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match=r"--clients .*no \*.csv files.*Fix"):
        run(clients=empty)
    short = folder / "chunk-9-trace.csv"
    short.write_text("0,1.0,1,,,\n600,1.0,1,,,\n")
    with pytest.raises(
        InputError, match=r"chunk-9-trace.csv: 2 windows of 600 s from .*, the total has 432"
    ):
        run(clients=folder)
    with pytest.raises(InputError, match=r"--clients .*not a directory"):
        backtest(data=total, horizon="1h", test="1d", png=None, prophet=False, clients=total)
    with pytest.raises(InputError, match=r"--quantile 'p95'.*Fix"):
        run(quantile="p95")
    with pytest.raises(InputError, match=r"--per-replica-rps 0.0: not a positive number"):
        run(per_replica_rps=0.0)
    with pytest.raises(InputError, match=r"--start 'soon': expected an ISO 8601 time"):
        run(start="soon")
    with pytest.raises(InputError, match=r"--horizon 30d: .*more than the online mix takes"):
        run(horizon="30d")
    with pytest.raises(InputError, match=r"--every 'soon'.*Fix: a duration"):
        run(every="soon")


def test_a_start_time_dates_the_forecast(tmp_path: Path) -> None:
    total, _ = _clients(tmp_path / "clients", days=2)
    out = _run("--data", str(total), "--horizon", "1h", "--start", "2026-11-02T00:00:00+01:00")
    assert out["made_at"] == "2026-11-04T00:00:00+01:00"  # in the zone given
    assert len(out["periods"]) == 1


def _args(data: Path, **kw: object) -> dict[str, object]:
    args: dict[str, object] = {
        "data": data,
        "horizon": "1h",
        "clients": None,
        "per_replica_rps": None,
        "quantile": "p90",
        "every": "1h",
        "start": None,
        "prophet": False,
        "window": None,
        "png": None,
        "as_json": True,
    }
    return args | kw


def test_a_request_log_counts_whole_windows_only_and_keeps_its_own_dates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = azure_requests_csv(tmp_path / "requests.csv", minutes=20)  # from 2023-11-16 18:00
    rates, step = load_rates(log, 420.0)  # 7-minute windows: 2 whole ones in 20 minutes
    times = load_trace_data(log, "azure-requests").times
    assert step == 420.0 and len(rates) == 2
    assert rates[1] == np.count_nonzero((times >= 420) & (times < 840)) / 420
    ahead(**_args(log, window="1m", horizon="5m", every="5m"))  # type: ignore[arg-type]
    out = json.loads(capsys.readouterr().out)
    first = datetime.fromtimestamp(load_trace_data(log, "azure-requests").first_unix_seconds, UTC)
    assert out["made_at"] == (first + timedelta(minutes=20)).isoformat()
    assert out["points"][0]["at"].endswith("+00:00")  # one time format throughout
    # 20 whole minutes: the log's few requests past its last minute make no 21st window
    assert load_rates(log, 60.0)[0].shape == (20,)
    with pytest.raises(InputError, match=r"--window 7200 s: .*less than one window.*shorter"):
        load_rates(log, 7200.0)


def test_a_rate_file_that_starts_later_is_dated_from_its_first_window(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    late = tmp_path / "late.csv"
    rows = "".join(f"{43_200 + i * 600},{5 + i % 7},1\n" for i in range(300))
    late.write_text("window_start_s,total_rate_rps,active_clients\n" + rows)
    ahead(**_args(late))  # type: ignore[arg-type]
    out = json.loads(capsys.readouterr().out)
    assert out["made_at"] == "2026-01-07T14:00:00+00:00"  # Monday + 12 h + 300 x 10 min


def test_clients_that_add_up_to_more_than_the_total_are_refused(tmp_path: Path) -> None:
    total, folder = _clients(tmp_path / "clients")
    extra = tmp_path / "with-total"
    shutil.copytree(folder, extra)
    shutil.copy(total, extra / "total.csv")
    with pytest.raises(InputError, match=r"add up to more than the total \(by 100.0% .*Fix"):
        ahead(**_args(total, clients=extra))  # type: ignore[arg-type]
    some = tmp_path / "some"  # a subset is fine: the rest is the remainder
    some.mkdir()
    shutil.copy(folder / "chunk-1-trace.csv", some)
    ahead(**_args(total, clients=some))  # type: ignore[arg-type]


def test_horizons_periods_plots_and_starts_are_checked_before_the_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    total, _ = _clients(tmp_path / "clients")

    def no_work(*_: object, **__: object) -> None:
        raise AssertionError("the forecast ran before the options were checked")

    monkeypatch.setattr(AutoForecaster, "forecast", no_work)
    monkeypatch.setattr(evaluate, "evaluate_series", no_work)  # what the command imports
    cases = [
        (
            {"horizon": "25m"},
            r"--horizon 25m: not a whole number of the trace's 600 s .*20m or 30m",
        ),
        ({"horizon": "5m"}, r"--horizon 5m: shorter than one of .* e\.g\. 10m\.$"),
        ({"every": "15m"}, r"--every 15m: not a whole number"),
        ({"every": "9" * 400 + "s"}, r"--every '9+s': duration .* must be positive and finite"),
        ({"png": tmp_path / "plot.txt"}, r"--png .*plot.txt: not a .png file name"),
        ({"png": tmp_path / "no" / "p.png"}, r"--png .*: the folder .*no does not exist"),
        ({"start": "9999-12-30T00:00:00+00:00"}, r"--start .*past the year 9999"),
    ]
    for kw, message in cases:
        with pytest.raises(InputError, match=message):
            ahead(**_args(total, **kw))  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"--png .*plot.txt: not a .png file name"):
        backtest(data=total, horizon="1h", test="1d", png=tmp_path / "plot.txt", prophet=False)
    with pytest.raises(InputError, match=r"--test 1505m: not a whole number"):
        backtest(data=total, horizon="1h", test="1505m", png=None, prophet=False)


def test_a_capacity_that_makes_the_replica_counts_absurd_is_refused(tmp_path: Path) -> None:
    total, _ = _clients(tmp_path / "clients")
    with pytest.raises(InputError, match=r"--per-replica-rps 1e-306: .*over 1,000,000 replicas"):
        ahead(**_args(total, per_replica_rps=1e-306))  # type: ignore[arg-type]


def test_clients_on_other_windows_or_an_absolute_start_are_refused(tmp_path: Path) -> None:
    total, folder = _clients(tmp_path / "clients")
    late = folder / "chunk-0-trace.csv"  # the same rows 12 hours later: not the total's windows
    rows = [r.split(",", 1) for r in late.read_text().splitlines()]
    late.write_text("".join(f"{43_200 + int(t)},{rest}\n" for t, rest in rows))
    with pytest.raises(
        InputError, match=r"chunk-0-trace.csv: 432 windows of 600 s from 2026-01-05T12"
    ):
        ahead(**_args(total, clients=folder))  # type: ignore[arg-type]
    epoch_ms = tmp_path / "epoch.csv"
    rows = "".join(f"{1_700_000_000_000 + 600 * i},1,1\n" for i in range(10))  # epoch ms?
    epoch_ms.write_text("window_start_s,total_rate_rps,active_clients\n" + rows)
    with pytest.raises(
        InputError,
        match=r"--data .*epoch.csv: .*too far .*Fix: window_start_s in seconds \(relative",
    ):
        backtest(data=epoch_ms, horizon="10m", test="10m", png=None, prophet=False)
