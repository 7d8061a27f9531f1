"""Public test doubles for gpusteward's ports, and builders for valid domain values.

Shipped in the library (like httpx's `MockTransport`) so users' tests can use them too.
Fakes, not mocks: each one behaves like the real thing, within memory. Imports only
`gpusteward.core`; no I/O, no wall clock.

- `InMemoryJournal` — the `Journal` port, passing the same conformance suite as
  `gpusteward.adapters.journal.SqliteJournal` (seq checks, executed ids, atomic checkpoint).
- `NullJournal` — keeps only the sequence: measured runs that record nothing.
- `FakeClusterSource` — a settable snapshot; can fail the next N calls.
- `RecordingExecutor` — records what ran; refuses a repeated id; dry runs; failures.
- `StaticPlanner`, `ScriptedPlanner` — planners that return given proposals or raise.
- `make_snapshot`, `make_deployment`, `make_tick_record` — small, valid domain values.
- `model_server` (import it by name: it loads uvicorn) — an OpenAI-API model server
  stand-in and a real uvicorn server for any ASGI app, on loopback.
"""

from gpusteward.testing.builders import T0, make_deployment, make_snapshot, make_tick_record
from gpusteward.testing.doubles import (
    FakeClusterSource,
    InMemoryJournal,
    NullJournal,
    RecordingExecutor,
    ScriptedPlanner,
    StaticPlanner,
)

__all__ = [
    "T0",
    "FakeClusterSource",
    "InMemoryJournal",
    "NullJournal",
    "RecordingExecutor",
    "ScriptedPlanner",
    "StaticPlanner",
    "make_deployment",
    "make_snapshot",
    "make_tick_record",
]
