"""Long sequences of same-shape rows (a planner's forecast-error history) are written
column-wise in checkpoint schema version 2 and read back exactly; anything that is not
such a sequence is written item by item as in version 1, and damaged rows are refused."""

from __future__ import annotations

import json
import random
from collections import deque
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from gpusteward.core.remembered import StateError, decode, encode


def _round_trip(value: Any) -> Any:
    return decode(json.loads(json.dumps(encode(value))))


def _tags(data: Any) -> set[str]:
    if isinstance(data, dict):
        here = {data["$"]} if isinstance(data.get("$"), str) else set()
        return here.union(*(_tags(v) for v in data.values()))
    if isinstance(data, list):
        return set().union(*(_tags(v) for v in data))
    return set()


def test_rows_of_utc_datetimes_and_numbers_read_back_to_the_microsecond() -> None:
    rng = random.Random(7)
    start = datetime(2026, 11, 2, tzinfo=UTC)
    rows = deque(
        (
            start + timedelta(microseconds=rng.randrange(10**6 * 86_400 * 3_650)),
            rng.gauss(0.0, 1.0),
            rng.randrange(4),
            None if i % 7 == 0 else "peak",
        )
        for i in range(5_000)
    )
    rows.append((start, float("inf"), True, ""))
    data = encode(rows)
    assert "rows" in _tags(data) and "datetime" not in _tags(data)
    back = _round_trip(rows)
    assert back == rows and isinstance(back, deque)
    assert [type(x) for x in back[-1]] == [datetime, float, bool, str]
    assert all(r[0].tzinfo is UTC for r in back)


@pytest.mark.parametrize(
    "rows",
    [
        [(datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=2))), 1.0)] * 10,  # not UTC
        [(datetime(2026, 1, 1), 1.0)] * 10,  # naive
        [(1.0, 2.0)] * 9 + [(1.0,)],  # one row shorter
        [(1.0, (2.0, 3.0))] * 10,  # a nested tuple
        [(1.0, 2.0)] * 9 + [[1.0, 2.0]],  # a list among the tuples
    ],
)
def test_sequences_that_are_not_plain_rows_are_written_item_by_item(rows: list[Any]) -> None:
    assert "rows" not in _tags(encode(rows))
    assert _round_trip(rows) == rows
    assert _round_trip(tuple(rows)) == tuple(rows)


def test_short_sequences_stay_item_by_item() -> None:
    rows = [(datetime(2026, 1, 1, tzinfo=UTC), 1.0)] * 3
    assert "rows" not in _tags(encode(rows)) and _round_trip(rows) == rows


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"$": "rows", "kinds": ["plain"], "v": [[1], [2]]}, "one kind per column"),
        ({"$": "rows", "kinds": ["plain", "plain"], "v": [[1, 2], [3]]}, "of one length"),
        ({"$": "rows", "kinds": ["plain"], "v": [[[1]]]}, "of kind 'plain' holds other"),
        ({"$": "rows", "kinds": ["local"], "v": [[1.0]]}, "of kind 'local'"),
        ({"$": "rows", "kinds": ["utc"], "v": [["noon"]]}, "of kind .utc. holds other"),
        ({"$": "rows", "kinds": ["utc"], "v": [[1e300]]}, "a .rows. value cannot be read"),
        ({"$": "deque", "v": {"$": "datetime", "v": "2026-01-01"}, "maxlen": None}, "holds"),
    ],
)
def test_damaged_rows_are_refused_with_where_and_what(data: Any, says: str) -> None:
    with pytest.raises(StateError, match=says):
        decode({"errors": data}, "planner")


def test_any_datetime_at_utc_offset_zero_reads_back_as_one_at_utc() -> None:
    from pydantic import TypeAdapter

    at = TypeAdapter(datetime).validate_python("2026-11-02T00:00:00+00:00")  # pydantic's tz
    assert at.tzinfo is not UTC
    rows = [(at + timedelta(minutes=i), float(i)) for i in range(10)]
    assert "rows" in _tags(encode(rows))
    back = _round_trip(rows)
    assert back == rows and all(r[0].tzinfo is UTC for r in back)
    assert [r[0].isoformat() for r in back] == [r[0].isoformat() for r in rows]
