"""servegen-columns traces: many rate series in one file, one read per model by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from gpusteward.core.errors import ScenarioError
from gpusteward.sim.spec import TraceSpec
from gpusteward.sim.traces import ArrivalTrace, RateTable

ROWS = [
    "window_start_s,a,a:cv,b",
    "0,1.5,2,0",
    "600,0,0,4",
    "1200,0.5,1.2,0",
]


def _file(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "zoo.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def _trace(path: Path, column: str) -> ArrivalTrace:
    return ArrivalTrace(TraceSpec(file=path, format="servegen-columns", column=column))


def test_each_column_is_its_own_series_with_its_cv_when_given(tmp_path: Path) -> None:
    path = _file(tmp_path, ROWS)
    a, b = _trace(path, "a").data, _trace(path, "b").data
    assert isinstance(a, RateTable) and isinstance(b, RateTable)
    assert a.rates.tolist() == [1.5, 0.0, 0.5] and a.window_seconds == 600
    assert a.cvs is not None and a.cvs.tolist() == [2.0, 0.0, 1.2]
    assert b.rates.tolist() == [0.0, 4.0, 0.0] and b.cvs is None
    rng = np.random.default_rng(0)
    assert _trace(path, "b").arrivals(600.0, 60.0, rng) > 0


def test_an_unknown_column_names_the_ones_the_file_has(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"no column 'c'.*Fix: one of a, b"):
        _trace(_file(tmp_path, ROWS), "c")


def test_the_column_is_required_by_that_format_and_refused_by_others(tmp_path: Path) -> None:
    path = _file(tmp_path, ROWS)
    with pytest.raises(ValidationError, match="needs `column`"):
        TraceSpec(file=path, format="servegen-columns")
    with pytest.raises(ValidationError, match="read only with format servegen-columns"):
        TraceSpec(file=path, column="a")


@pytest.mark.parametrize(
    "rows,message",
    [
        (["start,a", "0,1"], r"zoo.csv:1: .*window_start_s,<name>"),
        (["window_start_s,a", "0,1", "600,x"], r"zoo.csv:3: .*column 'a' a number"),
        (["window_start_s,a", "0,1", "600"], r"zoo.csv:3: .*2 cells"),
        (["window_start_s,a", "0,1", "600,-1"], r"zoo.csv:3: .*finite number >= 0"),
        (["window_start_s,a", "0,1", "600,1", "1500,1"], r"zoo.csv:4: .*600 s apart"),
    ],
)
def test_a_bad_row_names_file_line_and_fix(tmp_path: Path, rows: list[str], message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        _trace(_file(tmp_path, rows), "a")
