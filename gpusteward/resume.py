"""What a restarted daemon rebuilds from its journal: the checkpoint it pickled there,
the load history (from recorded snapshots) and the recently executed actions."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from gpusteward.core.load import LoadHistory
from gpusteward.core.ports import Journal
from gpusteward.core.stages import observe_load
from gpusteward.core.verdicts import ExecutedAction, ResultStatus


@dataclass
class DaemonCheckpoint:
    """What the daemon needs to resume where a crash left it (pickled into the journal).

    The load history is not in it: it is derived from the journal's snapshots on resume
    (`history_from_journal`), which keeps the per-tick checkpoint small.
    """

    seq: int
    at: datetime
    planner: Any
    backend: bytes | None


class JournalWindow(Protocol):
    """How much of the journal a resumed daemon reads back (`DaemonConfig` is one)."""

    @property
    def interval_seconds(self) -> float: ...
    @property
    def history_points(self) -> int: ...
    @property
    def recent_actions_seconds(self) -> float: ...


def history_from_journal(journal: Journal, config: JournalWindow) -> LoadHistory:
    """Rebuild the load history from the last recorded snapshots (used when resuming)."""
    history = LoadHistory(config.interval_seconds, config.history_points)
    for record in journal.tail(config.history_points):
        if record.snapshot is not None:
            observe_load(history, record.snapshot)
    return history


def recent_from_journal(journal: Journal, config: JournalWindow) -> list[ExecutedAction]:
    """Executed actions of the last `recent_actions_seconds`, from the journal (on resume)."""
    ticks = int(config.recent_actions_seconds // config.interval_seconds) + 1
    out = []
    for record in journal.tail(ticks):
        by_id = {p.action.id: p.action for p in record.proposals}
        for r in record.results:
            if r.status == ResultStatus.APPLIED and r.action_id in by_id:
                out.append(ExecutedAction(action=by_id[r.action_id], at=r.at))
    return out


def load_checkpoint(data: bytes) -> DaemonCheckpoint:
    """Unpickle a checkpoint this project wrote into its own journal file."""
    state = pickle.loads(data)
    if not isinstance(state, DaemonCheckpoint):
        raise TypeError(f"checkpoint holds {type(state).__name__}, expected DaemonCheckpoint")
    return state
