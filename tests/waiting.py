"""Waiting on events, not on wall-clock guesses, in tests that drive real processes and
servers: a journal's tick count, a server that answers, a card in a given state.

CI runs on 2 cores that other work may keep busy (a load average of 8 has been seen), so
how long something takes says nothing about whether it works. Each wait polls for its
event until a deadline generous enough for such a machine (`PATIENCE`), and gives up at
once, with the process's output, when the process it waits on has died instead. A wait
costs only as long as the event takes, so a generous deadline slows no passing test.
"""

from __future__ import annotations

import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

PATIENCE = 300.0  # s: the longest one event may take on a loaded 2-core machine
REQUEST_PATIENCE = 60.0  # s: one HTTP request or WebSocket message to a local server


def wait_for(
    probe: Callable[[], T | None],
    what: str,
    *,
    timeout: float = PATIENCE,
    proc: subprocess.Popen[Any] | None = None,
    output: Path | None = None,
    every: float = 0.1,
) -> T:
    """`probe()`'s first answer that is not None (False counts as no answer). Fails when
    `timeout` seconds pass, or when `proc` exits first (quoting the tail of `output`)."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found is not None and found is not False:
            return found
        if proc is not None and proc.poll() is not None:
            raise AssertionError(
                f"{what}: the process exited with {proc.returncode} first{tail(output)}"
            )
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s{tail(output)}")
        time.sleep(every)


def tail(output: Path | None, chars: int = 3000) -> str:
    if output is None or not output.exists():
        return ""
    return f"; its output ends:\n{output.read_text(errors='replace')[-chars:]}"


def journal_ticks(path: Path) -> int:
    """Ticks recorded in the journal at `path`, read-only: 0 while it does not exist or its
    writer has not created it yet. (Opening it with `SqliteJournal` here could create the
    schema before the daemon does, with no scenario, and fail the daemon's own open.)"""
    if not path.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return 0
    try:
        return int(conn.execute("SELECT COUNT(*) FROM ticks").fetchone()[0])
    except sqlite3.Error:  # no schema yet, or locked by the writer for a moment
        return 0
    finally:
        conn.close()


def wait_for_ticks(
    path: Path,
    n: int,
    *,
    proc: subprocess.Popen[Any] | None = None,
    output: Path | None = None,
    timeout: float = PATIENCE,
) -> int:
    """Wait until the journal at `path` holds at least `n` ticks; returns how many."""

    def enough() -> int | None:
        count = journal_ticks(path)
        return count if count >= n else None

    return wait_for(
        enough,
        f"journal {path}: {n} ticks",
        timeout=timeout,
        proc=proc,
        output=output,
    )
