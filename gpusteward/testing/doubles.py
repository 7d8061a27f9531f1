"""Fakes for gpusteward's ports: each one behaves like the real thing, within memory.

- `InMemoryJournal` — the `Journal` port, passing the same conformance suite as
  `gpusteward.adapters.journal.SqliteJournal` (seq checks, executed ids, atomic checkpoint).
- `FakeClusterSource` — a settable snapshot; can fail the next N calls.
- `RecordingExecutor` — records what ran; refuses a repeated id; dry runs; failures.
- `StaticPlanner`, `ScriptedPlanner` — planners that return given proposals or raise.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence

from gpusteward.core.actions import Action, Proposal
from gpusteward.core.closing import Closing
from gpusteward.core.cluster import (
    ClusterSnapshot,
)
from gpusteward.core.errors import ClusterUnavailable, JournalError
from gpusteward.core.load import Forecast
from gpusteward.core.ports import Clock
from gpusteward.core.tick import TickRecord
from gpusteward.core.verdicts import EXECUTED_STATUSES, ActionResult, ResultStatus
from gpusteward.testing.builders import make_snapshot

# -- journal ----------------------------------------------------------------------


class InMemoryJournal(Closing):
    """The `Journal` port in memory. Records are stored as JSON, as the SQLite one does,
    so a record that would not survive the real journal fails here too."""

    def __init__(self, *, scenario_id: str | None = None) -> None:
        self.scenario_id = scenario_id
        self._records: list[str] = []
        self._actions: dict[str, ResultStatus] = {}
        self._checkpoint: bytes | None = None
        self._closed = False
        self._lock = threading.Lock()

    def append(self, record: TickRecord, checkpoint: bytes | None = None) -> None:
        """Validate everything first, then change state: all or nothing."""
        if checkpoint is not None and not isinstance(checkpoint, bytes):
            raise TypeError(
                f"checkpoint is {type(checkpoint).__name__}, expected bytes or None; "
                "serialise it first (e.g. model_dump_json().encode())"
            )
        body = record.model_dump_json()
        with self._lock:
            self._check_open()
            expected = len(self._records)
            if record.seq != expected:
                raise JournalError(
                    f"journal <memory>: tick seq={record.seq} rejected, expected "
                    f"seq={expected}; the journal is append-only with no gaps: build the "
                    "record with seq=journal.next_seq()"
                )
            self._records.append(body)
            for result in record.results:
                if self._actions.get(result.action_id) not in EXECUTED_STATUSES:
                    self._actions[result.action_id] = result.status
            if checkpoint is not None:
                self._checkpoint = checkpoint

    def next_seq(self) -> int:
        with self._lock:
            self._check_open()
            return len(self._records)

    def tail(self, n: int) -> list[TickRecord]:
        if n < 0:
            raise ValueError(f"tail(n={n}): expected n >= 0 (how many records to return)")
        with self._lock:
            self._check_open()
            bodies = self._records[len(self._records) - n :] if n else []
        return [TickRecord.model_validate_json(b) for b in bodies]

    def executed_action_ids(self) -> set[str]:
        with self._lock:
            self._check_open()
            return {a for a, status in self._actions.items() if status in EXECUTED_STATUSES}

    def latest_checkpoint(self) -> bytes | None:
        with self._lock:
            self._check_open()
            return self._checkpoint

    def ticks(self, from_seq: int = 0) -> Iterator[TickRecord]:
        with self._lock:
            self._check_open()
            bodies = self._records[max(0, from_seq) :]
        for body in bodies:
            yield TickRecord.model_validate_json(body)

    def count(self) -> int:
        with self._lock:
            self._check_open()
            return len(self._records)

    def close(self) -> None:
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise JournalError("journal <memory> is closed; create a new InMemoryJournal")


# -- cluster source and executor --------------------------------------------------


class NullJournal(InMemoryJournal):
    """A `Journal` that keeps only its sequence: for runs that are measured, not recorded
    (a benchmark's 14 simulated days), where serialising every tick would be the cost."""

    def __init__(self) -> None:
        super().__init__()
        self._seq = 0

    def append(self, record: TickRecord, checkpoint: bytes | None = None) -> None:
        self._seq += 1

    def next_seq(self) -> int:
        return self._seq


class FakeClusterSource:
    """A `ClusterSource` returning `current`; `fail_next(n)` makes n calls raise."""

    def __init__(self, snapshot: ClusterSnapshot | None = None) -> None:
        self.current = snapshot if snapshot is not None else make_snapshot()
        self.calls = 0
        self._failures_left = 0
        self._failure_message = ""

    def set(self, snapshot: ClusterSnapshot) -> None:
        self.current = snapshot

    def fail_next(self, n: int = 1, message: str = "injected: cluster API unreachable") -> None:
        if n < 0:
            raise ValueError(f"fail_next(n={n}): expected n >= 0 (calls to fail)")
        self._failures_left = n
        self._failure_message = message

    def snapshot(self) -> ClusterSnapshot:
        self.calls += 1
        if self._failures_left:
            self._failures_left -= 1
            raise ClusterUnavailable(self._failure_message)
        return self.current


class RecordingExecutor:
    """An `Executor` that records what it ran and refuses to run an id twice.

    `already_executed` seeds ids a backend ran before (e.g. before a restart). A dry run
    records the action in `dry_runs` but does not count as executed. `fail_next(n)`
    makes the next n attempts fail: with a FAILED result, or by raising `error`.
    Result times come from `clock` if given, else the action's `issued_at`.
    """

    def __init__(self, *, clock: Clock | None = None, already_executed: Iterable[str] = ()):
        self.executed: list[Action] = []
        self.dry_runs: list[Action] = []
        self.results: list[ActionResult] = []
        self._clock = clock
        self._ids: set[str] = set(already_executed)
        self._failures_left = 0
        self._failure_message = ""
        self._failure_error: Exception | None = None

    @property
    def executed_ids(self) -> set[str]:
        return set(self._ids)

    def fail_next(
        self, n: int = 1, *, message: str = "injected failure", error: Exception | None = None
    ) -> None:
        if n < 0:
            raise ValueError(f"fail_next(n={n}): expected n >= 0 (attempts to fail)")
        self._failures_left = n
        self._failure_message = message
        self._failure_error = error

    def execute(self, action: Action, *, dry_run: bool = False) -> ActionResult:
        if action.id in self._ids:
            return self._result(action, ResultStatus.DUPLICATE, "executed before; nothing done")
        if self._failures_left:
            self._failures_left -= 1
            if self._failure_error is not None:
                raise self._failure_error
            return self._result(action, ResultStatus.FAILED, self._failure_message)
        if dry_run:
            self.dry_runs.append(action)
            return self._result(action, ResultStatus.DRY_RUN, f"would {action.describe()}")
        self._ids.add(action.id)
        self.executed.append(action)
        return self._result(action, ResultStatus.APPLIED, action.describe())

    def _result(self, action: Action, status: ResultStatus, message: str) -> ActionResult:
        at = self._clock.now() if self._clock is not None else action.issued_at
        result = ActionResult(action_id=action.id, status=status, message=message, at=at)
        self.results.append(result)
        return result


# -- planners ---------------------------------------------------------------------


class StaticPlanner:
    """A `Planner` returning the same proposals every call, or raising `error`."""

    def __init__(
        self,
        proposals: Sequence[Proposal] = (),
        *,
        name: str = "static",
        error: Exception | None = None,
    ) -> None:
        self.name = name
        self.proposals = tuple(proposals)
        self.error = error
        self.calls: list[ClusterSnapshot] = []

    def plan(self, snapshot: ClusterSnapshot, forecasts: Mapping[str, Forecast]) -> list[Proposal]:
        self.calls.append(snapshot)
        if self.error is not None:
            raise self.error
        return list(self.proposals)


class ScriptedPlanner:
    """A `Planner` playing one step per call: a list of proposals, or an exception to raise.

    Calling it more often than the script has steps raises `RuntimeError`, so a test
    that ticks more than it meant to says so.
    """

    def __init__(
        self, steps: Iterable[Sequence[Proposal] | Exception], *, name: str = "scripted"
    ) -> None:
        self.name = name
        self.steps = list(steps)
        self.calls: list[ClusterSnapshot] = []

    def plan(self, snapshot: ClusterSnapshot, forecasts: Mapping[str, Forecast]) -> list[Proposal]:
        self.calls.append(snapshot)
        if len(self.calls) > len(self.steps):
            raise RuntimeError(
                f"ScriptedPlanner {self.name!r}: plan() call {len(self.calls)} but the "
                f"script has {len(self.steps)} step(s); add steps, or use StaticPlanner"
            )
        step = self.steps[len(self.calls) - 1]
        if isinstance(step, Exception):
            raise step
        return list(step)
