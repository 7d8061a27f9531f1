"""`gpusteward forecast backtest` prints every forecaster's scores and writes the plot."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from gpusteward.cli.forecast import backtest
from gpusteward.cli.main import app
from gpusteward.core.errors import InputError
from tests.helpers import azure_requests_csv

TRACE = Path(__file__).resolve().parents[2] / "gpusteward/scenarios/traces"
M_LARGE = TRACE / "servegen_m-large_total_rate_10min.csv"


def test_backtest_prints_scores_per_forecaster_and_writes_a_png(tmp_path: Path) -> None:
    png = tmp_path / "band.png"
    result = CliRunner().invoke(
        app,
        [
            "forecast",
            "backtest",
            "--data",
            str(M_LARGE),
            "--horizon",
            "1h",
            "--no-prophet",
            "--png",
            str(png),
        ],
    )
    assert result.exit_code == 0, result.output
    for name in ("last-value", "seasonal-naive-day", "exp-smoother-30m", "chosen:"):
        assert name in result.output
    assert png.stat().st_size > 10_000


def test_backtest_writes_no_file_unless_png_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["forecast", "backtest", "--data", str(M_LARGE), "--horizon", "1h", "--no-prophet"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert list(tmp_path.iterdir()) == []
    assert "plot:" not in result.output


def test_a_horizon_longer_than_the_test_period_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--horizon"):
        backtest(data=M_LARGE, horizon="3d", test="1d", png=None, prophet=False)


def test_a_test_period_that_leaves_no_training_data_is_an_input_error(tmp_path: Path) -> None:
    short = tmp_path / "short.csv"
    short.write_text("window_start_s,total_rate_rps,active_clients\n0,1,1\n600,2,1\n1200,3,1\n")
    with pytest.raises(InputError, match=r"fewer than 2 are left for training.*shorter --test"):
        backtest(data=short, horizon="10m", test="1h", png=None, prophet=False)


def test_a_request_level_trace_can_be_counted_into_shorter_windows(tmp_path: Path) -> None:
    trace = azure_requests_csv(tmp_path / "requests.csv", minutes=60)
    args = ["forecast", "backtest", "--data", str(trace), "--window", "1m"]
    args += ["--horizon", "5m", "--test", "15m", "--png", str(tmp_path / "az.png")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "5 x 60 s" in result.output and "chosen:" in result.output
    assert "Prophet needs 2 days" in result.output  # an hour of requests: said, not hidden
    assert "shorter than a day" in result.output
    # in the default 10-minute windows the same hour leaves nothing to train on
    with pytest.raises(InputError, match="fewer than 2 are left for training"):
        backtest(data=trace, horizon="10m", test="1h", png=None, prophet=False)


def test_a_window_for_a_rate_file_or_a_bad_window_is_an_input_error() -> None:
    # a rate file's windows can be joined (tests/forecasting/test_cli_inputs.py), not split
    with pytest.raises(InputError, match=r"--window 60 s: .*600 s windows; --window can only join"):
        backtest(data=M_LARGE, horizon="1h", test="2d", png=None, prophet=False, window="1m")
    with pytest.raises(InputError, match=r"--window '0s'.*Fix: a duration"):
        backtest(data=M_LARGE, horizon="1h", test="2d", png=None, prophet=False, window="0s")


def _rates(path: Path, rate: str, windows: int = 600) -> Path:
    rows = "".join(f"{i * 600},{rate},1\n" for i in range(windows))
    path.write_text("window_start_s,total_rate_rps,active_clients\n" + rows)
    return path


def test_a_trace_with_no_load_in_training_is_an_input_error(tmp_path: Path) -> None:
    zeros = _rates(tmp_path / "zeros.csv", "0")
    with pytest.raises(InputError, match=r"zeros\.csv.*no load above zero.*Fix:"):
        backtest(data=zeros, horizon="1h", test="1d", png=None, prophet=False)


def test_a_constant_trace_is_scored_against_its_mean_and_says_so(tmp_path: Path) -> None:
    flat = _rates(tmp_path / "flat.csv", "5")
    args = ["forecast", "backtest", "--data", str(flat), "--test", "1d", "--no-prophet"]
    result = CliRunner().invoke(app, [*args, "--png", str(tmp_path / "flat.png")])
    assert result.exit_code == 0, result.output
    assert "training load is constant" in result.output
    assert "0.000 │   0.000" in result.output  # no error, and no division by a zero scale
