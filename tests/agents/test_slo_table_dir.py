"""Capacity-at-SLO tables shared between processes through a directory: built once by the
first process that needs one, read by the others, the same numbers as built in-process."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from agents import slo_capacity
from agents.slo_capacity import TABLE_DIR_ENV, shared_table, utilisation_at_slo


def test_a_table_is_built_once_and_read_back_by_every_other_asker(tmp_path: Path) -> None:
    built: list[int] = []

    def build() -> tuple[float, ...]:
        built.append(1)
        time.sleep(0.3)  # long enough for the other askers to find the lock
        return (0.5, 0.75)

    answers: list[tuple[float, ...]] = []
    askers = [
        threading.Thread(target=lambda: answers.append(shared_table(tmp_path, "t", build, 2)))
        for _ in range(3)
    ]
    for a in askers:
        a.start()
    for a in askers:
        a.join(timeout=120)
    assert answers == [(0.5, 0.75)] * 3 and len(built) == 1
    assert not (tmp_path / "t.lock").exists()


def test_a_damaged_file_is_rebuilt_and_a_lock_left_by_a_dead_process_is_ignored(
    tmp_path: Path,
) -> None:
    (tmp_path / "t.json").write_text("[0.5, ")  # a writer killed mid-file
    assert shared_table(tmp_path, "t", lambda: (0.25, 0.5), 2) == (0.25, 0.5)
    (tmp_path / "u.lock").write_text("")
    old = time.time() - 2 * slo_capacity._WAIT_SECONDS
    os.utime(tmp_path / "u.lock", (old, old))
    assert shared_table(tmp_path, "u", lambda: (0.3, 0.6), 2) == (0.3, 0.6)


def test_a_shared_table_gives_the_numbers_built_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kwargs = dict(cv=1.35, slo_seconds=2.0, step_seconds=60.0, attainment=0.99)
    slo_capacity._utilisation_table.cache_clear()
    monkeypatch.delenv(TABLE_DIR_ENV, raising=False)
    here = [utilisation_at_slo(rate, **kwargs) for rate in (0.1, 3.0, 40.0)]
    slo_capacity._utilisation_table.cache_clear()
    monkeypatch.setenv(TABLE_DIR_ENV, str(tmp_path))
    written = [utilisation_at_slo(rate, **kwargs) for rate in (0.1, 3.0, 40.0)]
    slo_capacity._utilisation_table.cache_clear()
    read = [utilisation_at_slo(rate, **kwargs) for rate in (0.1, 3.0, 40.0)]
    assert here == written == read
    assert len(list(tmp_path.glob("*.json"))) == 1
    slo_capacity._utilisation_table.cache_clear()
