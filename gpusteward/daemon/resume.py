"""What a restarted daemon rebuilds from its journal: the checkpoint it wrote there (JSON
with a schema version: the daemon's position, the planner's memory as data, the
backend's state), the load history (from recorded snapshots) and the recently executed
actions."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from gpusteward.core.errors import JournalError
from gpusteward.core.load import LoadHistory
from gpusteward.core.ports import Journal, RemembersState
from gpusteward.core.remembered import StateError
from gpusteward.core.stages import observe_load
from gpusteward.core.verdicts import ExecutedAction, ResultStatus

CHECKPOINT_SCHEMA_VERSION = 2
"""The checkpoint format this version writes (`write_checkpoint`). Version 2 writes long
sequences of same-shape rows (a forecast planner's error history) column-wise; a
version 1 checkpoint has none and reads the same, so both resume."""
READ_SCHEMA_VERSIONS = (1, 2)

_FORMAT = "gpusteward-checkpoint"
_FIELDS = {"format", "schema_version", "seq", "at", "planner", "backend"}


class CheckpointError(JournalError):
    """A journal's checkpoint this version cannot resume from (older format, another
    schema version, or not a checkpoint); the message says what to do."""


@dataclass(frozen=True)
class DaemonCheckpoint:
    """What the daemon needs to resume where a crash left it, written into the journal
    every tick as JSON (`write_checkpoint`), never as a pickle.

    `planner` is the planner's memory as data (`RemembersState.state()`; None when it
    remembers nothing), restored onto the planner the scenario builds. `backend` is the
    backend's own state (the simulator's `checkpoint()` bytes). The load history is not
    in it: it is derived from the journal's snapshots on resume (`history_from_journal`),
    which keeps the per-tick checkpoint small.
    """

    seq: int
    at: datetime
    planner: Mapping[str, Any] | None
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


def planner_state(planner: object) -> dict[str, Any] | None:
    """What `planner` remembers, as data (None for a planner without memory)."""
    return dict(planner.state()) if isinstance(planner, RemembersState) else None


def write_checkpoint(seq: int, at: datetime, planner: object, backend: bytes | None) -> bytes:
    """The checkpoint the daemon writes after tick `seq`: JSON, schema version 2."""
    doc = {
        "format": _FORMAT,
        "schema_version": CHECKPOINT_SCHEMA_VERSION,
        "seq": seq,
        "at": at.isoformat(),
        "planner": planner_state(planner),
        "backend": base64.b64encode(backend).decode("ascii") if backend is not None else None,
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def load_checkpoint(data: bytes, source: str = "journal") -> DaemonCheckpoint:
    """Read a checkpoint `write_checkpoint` wrote; `source` (the journal's path) names it
    in errors. A pickled checkpoint (written before schema version 1) is recognised by
    its first byte and refused, never unpickled; so is an unknown schema version."""
    fix = (
        f"Fix: run with --fresh to start a new run (the old journal is moved aside, not "
        f"deleted), or resume {source} with the gpusteward version that wrote it."
    )
    if data[:1] == b"\x80":  # the pickle protocol opcode every pickle since protocol 2 starts with
        raise CheckpointError(
            f"{source}: its checkpoint is a pickle written by a gpusteward before checkpoint "
            f"schema version 1; this version reads schema versions {_readable()} only and does "
            f"not unpickle. {fix}"
        )
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, ValueError) as e:
        raise CheckpointError(f"{source}: its checkpoint is not JSON ({e}). {fix}") from e
    if not isinstance(doc, dict) or doc.get("format") != _FORMAT:
        raise CheckpointError(f"{source}: its checkpoint is not a gpusteward checkpoint. {fix}")
    version = doc.get("schema_version")
    if version not in READ_SCHEMA_VERSIONS or isinstance(version, bool):
        raise CheckpointError(
            f"{source}: its checkpoint has schema version {version!r}; this version reads "
            f"schema versions {_readable()}. {fix}"
        )
    try:
        if set(doc) != _FIELDS:
            raise ValueError(f"fields {sorted(doc)}, expected {sorted(_FIELDS)}")
        planner, backend = doc["planner"], doc["backend"]
        if planner is not None and not isinstance(planner, dict):
            raise ValueError(f"planner is {type(planner).__name__}, expected an object")
        if not isinstance(doc["seq"], int) or isinstance(doc["seq"], bool):
            raise ValueError(f"seq is {doc['seq']!r}, expected an integer")
        return DaemonCheckpoint(
            seq=doc["seq"],
            at=datetime.fromisoformat(doc["at"]),
            planner=planner,
            backend=base64.b64decode(backend, validate=True) if backend is not None else None,
        )
    except (TypeError, ValueError, binascii.Error) as e:
        raise CheckpointError(f"{source}: its checkpoint cannot be read ({e}). {fix}") from e


def restore_planner(planner: object, checkpoint: DaemonCheckpoint, source: str) -> None:
    """Put the checkpoint's planner memory back into `planner` (built from the scenario)."""
    fix = "Fix: run with --fresh to start a new run (the old journal is moved aside)."
    state = checkpoint.planner
    if not isinstance(planner, RemembersState):
        if state:
            raise CheckpointError(
                f"{source}: its checkpoint holds planner memory, but the scenario's planner "
                f"({type(planner).__name__}) keeps none; was the scenario changed? {fix}"
            )
        return
    if state is None:
        raise CheckpointError(
            f"{source}: its checkpoint holds no planner memory, but the scenario's planner "
            f"({type(planner).__name__}) keeps some; was the scenario changed? {fix}"
        )
    try:
        planner.restore(state)
    except StateError as e:
        raise CheckpointError(f"{source}: the checkpoint's planner memory: {e}. {fix}") from e


def restore_planner_from(journal: Journal, planner: object, source: str) -> int | None:
    """Restore `planner` from the journal's checkpoint, if it has one; returns the seq it
    was written after (None: no checkpoint). Raises `CheckpointError` as `load_checkpoint`
    and `restore_planner` do (the planner may then be half restored: build a new one)."""
    data = journal.latest_checkpoint()
    if data is None:
        return None
    checkpoint = load_checkpoint(data, source)
    restore_planner(planner, checkpoint, source)
    return checkpoint.seq


def _readable() -> str:
    return " and ".join(str(v) for v in READ_SCHEMA_VERSIONS)
