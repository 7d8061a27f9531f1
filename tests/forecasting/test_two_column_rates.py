"""A rate file of two columns (a window's start and its rate) is read as one, with either
header or none; a header the forecast commands do not understand is refused at line 1,
naming the columns they take."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from gpusteward.cli.main import app
from gpusteward.core.errors import InputError
from gpusteward.sim.trace_rates import load_rates

RATES = [5.0, 6.0, 7.5, 6.0] * 150  # 600 ten-minute windows: a little over 4 days


def _write(path: Path, header: str | None) -> Path:
    rows = "".join(f"{i * 600},{r}\n" for i, r in enumerate(RATES))
    path.write_text((f"{header}\n" if header else "") + rows)
    return path


@pytest.mark.parametrize("header", ["window_start_s,rate", "window_start_s,total_rate_rps", None])
def test_a_two_column_rate_file_is_read_as_window_starts_and_rates(
    tmp_path: Path, header: str | None
) -> None:
    rates, step = load_rates(_write(tmp_path / "r.csv", header))
    assert step == 600.0
    assert rates.tolist() == RATES


def test_backtest_takes_a_window_start_and_rate_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "r.csv", "window_start_s,rate")
    args = ["forecast", "backtest", "--data", str(path), "--no-prophet", "--test", "1d"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "MASE" in result.output


@pytest.mark.parametrize(
    "header", ["window_start_s,requests", "window_start_s,rate_rps,cv,dist,shape,scale"]
)
def test_a_header_of_other_columns_is_refused_at_line_1_naming_the_columns_taken(
    tmp_path: Path, header: str
) -> None:
    path = _write(tmp_path / "r.csv", header)
    with pytest.raises(
        InputError,
        match=r"r\.csv:1: .*`window_start_s,rate`.*"
        r"`window_start_s,total_rate_rps,active_clients`",
    ):
        load_rates(path)


def test_a_row_with_a_column_more_than_the_header_is_refused_naming_it(tmp_path: Path) -> None:
    path = _write(tmp_path / "r.csv", "window_start_s,rate")
    path.write_text(path.read_text() + "360000,5,3\n")
    with pytest.raises(
        InputError,
        match=r"r\.csv:602: trace row '360000,5,3': expected "
        r"`window_start_s,rate`",
    ):
        load_rates(path)
