"""Fixtures for the journal tests: every `Journal` implementation, behind one fixture."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gpusteward.adapters.journal import SqliteJournal
from gpusteward.testing import InMemoryJournal

AnyJournal = InMemoryJournal | SqliteJournal  # the implementations under test

IMPLEMENTATIONS = ("memory", "sqlite")


def open_journal(kind: str, path: Path) -> AnyJournal:
    if kind == "memory":
        return InMemoryJournal()
    return SqliteJournal(path / "journal.db")


@pytest.fixture(params=IMPLEMENTATIONS)
def journal(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AnyJournal]:
    """A new, empty journal of each implementation in turn."""
    j = open_journal(request.param, tmp_path)
    yield j
    j.close()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Where a SQLite journal goes, one directory down to check that it is created."""
    return tmp_path / "state" / "journal.db"
