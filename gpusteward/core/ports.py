"""The ports: one Protocol per external system or replaceable decision-maker.

Every port has an embedded implementation (simulator, in-memory fake or baseline) and,
where one exists, a real adapter. Only the composition root (`gpusteward.app.wiring`)
knows which is which. All ports are synchronous; the daemon moves blocking ones off
its event loop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from gpusteward.core.actions import Action, Proposal
from gpusteward.core.approvals import ApprovalRequest
from gpusteward.core.cluster import ClusterSnapshot
from gpusteward.core.load import Forecast, LoadSeries
from gpusteward.core.tick import TickRecord
from gpusteward.core.verdicts import ActionResult, ExecutedAction, NeedsApproval, Verdict


@runtime_checkable
class Clock(Protocol):
    """Time, injected. `now()` is tz-aware UTC; `sleep()` may be virtual."""

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class ClusterSource(Protocol):
    """Observes the cluster. Raises `ClusterUnavailable` on a transient failure."""

    def snapshot(self) -> ClusterSnapshot: ...


class Executor(Protocol):
    """Applies one action. Idempotent per action id; `dry_run` changes nothing."""

    def execute(self, action: Action, *, dry_run: bool = False) -> ActionResult: ...


class Forecaster(Protocol):
    """Forecasts one load series `horizon_seconds` ahead. Pure: no I/O, no clock."""

    name: str

    def forecast(self, series: LoadSeries, horizon_seconds: float) -> Forecast: ...


class Planner(Protocol):
    """Turns a snapshot and forecasts into proposals. Decides only; never acts."""

    name: str

    def plan(
        self, snapshot: ClusterSnapshot, forecasts: Mapping[str, Forecast]
    ) -> list[Proposal]: ...


# -- capabilities a planner or forecaster may have (checked with isinstance, not getattr) --


@runtime_checkable
class BlocksOnIo(Protocol):
    """A planner or forecaster whose calls take seconds (an HTTP call, a model fit) when
    `blocking_io` is true: the daemon then runs it off its event loop."""

    @property
    def blocking_io(self) -> bool: ...


@runtime_checkable
class Versioned(Protocol):
    """A forecaster whose output depends on its code version, recorded with each tick."""

    @property
    def version(self) -> str: ...


@runtime_checkable
class AtomicPlanner(Protocol):
    """A planner whose proposals depend on each other: a composite keeps all or none."""

    @property
    def atomic(self) -> bool: ...


@runtime_checkable
class HearsDropped(Protocol):
    """A planner told which of its proposals a composite dropped (e.g. to not start a
    cooldown for a move that never ran)."""

    def on_dropped(self, proposals: Sequence[Proposal]) -> None: ...


@runtime_checkable
class RemembersState(Protocol):
    """A planner (or a part of one) that keeps memory between ticks and can write it as
    plain JSON-able data for a checkpoint, then read it back onto a fresh instance built
    from the same scenario, so the next ticks are those of an uninterrupted run
    (`gpusteward.core.remembered` does the writing for the usual value types)."""

    def state(self) -> Mapping[str, Any]: ...

    def restore(self, state: Mapping[str, Any]) -> None: ...


def blocks_on_io(component: object) -> bool:
    """True for a planner or forecaster that says its calls block on I/O."""
    return isinstance(component, BlocksOnIo) and bool(component.blocking_io)


@dataclass(frozen=True)
class GuardInputs:
    """What the guard may consult beside the snapshot; all computed by the daemon, never
    taken from a planner. Empty by default (a policy that needs a missing value denies)."""

    forecasts: Mapping[str, Forecast] = field(default_factory=dict)
    load: Mapping[str, LoadSeries] = field(default_factory=dict)
    recent: Sequence[ExecutedAction] = ()


@runtime_checkable
class GuardAwarePlanner(Protocol):
    """A planner that also wants the guard's inputs (load history, recent actions), e.g. to
    tell an LLM the verdict each proposal would get. The daemon then calls this, not `plan`."""

    name: str

    def plan_with_inputs(
        self, snapshot: ClusterSnapshot, inputs: GuardInputs
    ) -> list[Proposal]: ...


class PolicyEngine(Protocol):
    """Judges proposals, in order, one verdict each. Fails closed: errors deny.

    Proposals earlier in the batch that were allowed count against the budgets and
    limits of later ones.
    """

    version: str

    def evaluate(
        self,
        proposals: Sequence[Proposal],
        snapshot: ClusterSnapshot,
        inputs: GuardInputs | None = None,
    ) -> list[Verdict]: ...


class ApprovalGate(Protocol):
    """Where `NeedsApproval` verdicts wait for a human. The planner can never decide."""

    def submit(
        self, proposal: Proposal, verdict: NeedsApproval, now: datetime
    ) -> ApprovalRequest: ...

    def approved(self, now: datetime) -> list[ApprovalRequest]:
        """Approved requests not yet handed out for execution; each is handed out once."""
        ...


class Journal(Protocol):
    """Append-only record of ticks, plus the latest checkpoint to resume from."""

    def append(self, record: TickRecord, checkpoint: bytes | None = None) -> None:
        """Write one tick (and optionally a checkpoint) atomically: all or nothing."""
        ...

    def next_seq(self) -> int: ...

    def tail(self, n: int) -> list[TickRecord]: ...

    def executed_action_ids(self) -> set[str]: ...

    def latest_checkpoint(self) -> bytes | None: ...
