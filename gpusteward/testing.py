"""Public test doubles for gpusteward's ports, and builders for valid domain values.

Shipped in the library (like httpx's `MockTransport`) so users' tests can use them too.
Fakes, not mocks: each one behaves like the real thing, within memory. Imports only
`gpusteward.core`; no I/O, no wall clock.

- `InMemoryJournal` — the `Journal` port, passing the same conformance suite as
  `gpusteward.journal.SqliteJournal` (seq checks, executed ids, atomic checkpoint).
- `FakeClusterSource` — a settable snapshot; can fail the next N calls.
- `RecordingExecutor` — records what ran; refuses a repeated id; dry runs; failures.
- `StaticPlanner`, `ScriptedPlanner` — planners that return given proposals or raise.
- `make_snapshot`, `make_deployment`, `make_tick_record` — small, valid domain values.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Final

from gpusteward.core.actions import Action, Evidence, Proposal, ScaleDeployment
from gpusteward.core.cluster import (
    ClusterSnapshot,
    Gpu,
    Health,
    ModelDeployment,
    Node,
    Pool,
    Replica,
    ReplicaPhase,
    ServingMetrics,
    Slo,
    WorkloadClass,
)
from gpusteward.core.errors import ClusterUnavailable, JournalError
from gpusteward.core.load import Forecast, ForecastPoint
from gpusteward.core.ports import Clock
from gpusteward.core.tick import TickRecord
from gpusteward.core.verdicts import EXECUTED_STATUSES, ActionResult, Allow, ResultStatus, RuleHit

T0: Final = datetime(2025, 1, 6, 12, 0, tzinfo=UTC)
"""Default time of built values: a Monday noon, UTC."""


# -- journal ----------------------------------------------------------------------


class InMemoryJournal:
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

    def __enter__(self) -> InMemoryJournal:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise JournalError("journal <memory> is closed; create a new InMemoryJournal")


# -- cluster source and executor --------------------------------------------------


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


# -- builders ---------------------------------------------------------------------


def make_deployment(name: str = "llm-chat", **overrides: Any) -> ModelDeployment:
    """A valid realtime LLM deployment (2 replicas of 1 GPU); any field can be overridden."""
    fields: dict[str, Any] = {
        "name": name,
        "model": "meta-llama/Llama-3.1-8B-Instruct",
        "replicas": 2,
        "gpus_per_replica": 1,
        "gpu_memory_gib_per_replica": 40.0,
        "min_replicas": 1,
        "max_replicas": 8,
        "cold_start_seconds": 120.0,
        "slo": Slo(queue_delay_seconds=0.5, ttft_p95_seconds=1.0),
    }
    fields.update(overrides)
    return ModelDeployment(**fields)


def _default_deployments() -> tuple[ModelDeployment, ...]:
    return (
        make_deployment(),
        make_deployment(
            "sdxl",
            model="stabilityai/stable-diffusion-xl-base-1.0",
            workload=WorkloadClass.BATCH,
            replicas=1,
            gpu_memory_gib_per_replica=24.0,
            min_replicas=0,
            max_replicas=4,
            cold_start_seconds=60.0,
            slo=Slo(queue_delay_seconds=30.0),
        ),
    )


def make_snapshot(
    *,
    at: datetime = T0,
    nodes: int | Sequence[Node] = 2,
    gpus_per_node: int = 4,
    gpu_type: str = "H100-80GB",
    pool: Pool = Pool.ON_PREM,
    price_per_gpu_hour: float = 2.5,
    deployments: Sequence[ModelDeployment] | None = None,
    metrics: Mapping[str, ServingMetrics] | None = None,
    load: float = 0.6,
    rps_per_replica: float = 10.0,
    interval_seconds: float = 60.0,
) -> ClusterSnapshot:
    """A small, consistent snapshot: by default 2 nodes x 4 H100s, an LLM and SDXL.

    `nodes` is a count of generated nodes, or the nodes themselves. Deployments without
    `replica_states` get READY replicas placed first-fit on free GPUs (PENDING when
    none fit). Each deployment gets metrics at `load` x its ready capacity unless
    `metrics` gives its own (keyed by `namespace/name`).
    """
    if isinstance(nodes, int):
        node_list = [
            Node(
                name=f"gpu-node-{i}",
                pool=pool,
                price_per_gpu_hour=price_per_gpu_hour,
                gpus=tuple(
                    Gpu(index=g, type=gpu_type, memory_gib=80.0) for g in range(gpus_per_node)
                ),
            )
            for i in range(nodes)
        ]
    else:
        node_list = list(nodes)
    placed = [_place(d, node_list) for d in (deployments or _default_deployments())]
    all_metrics = {d.key: _metrics(d, load, rps_per_replica) for d in placed}
    all_metrics.update(metrics or {})
    return ClusterSnapshot(
        at=at,
        nodes=tuple(node_list),
        deployments=tuple(placed),
        metrics=all_metrics,
        interval_seconds=interval_seconds,
    )


def _place(d: ModelDeployment, nodes: list[Node]) -> ModelDeployment:
    """Give `d` READY replicas on free GPUs, updating `nodes` in place (first fit)."""
    if d.replica_states or d.replicas == 0:
        return d
    replicas = []
    for r in range(d.replicas):
        replica_id = f"{d.name}-{r}"
        replica = Replica(id=replica_id, phase=ReplicaPhase.PENDING)
        for i, node in enumerate(nodes):
            free = [
                g.index for g in node.gpus if g.allocated_to is None and g.health == Health.HEALTHY
            ]
            if node.cordoned or len(free) < d.gpus_per_replica:
                continue
            taken = free[: d.gpus_per_replica]
            gpus = tuple(
                g.model_copy(update={"allocated_to": replica_id}) if g.index in taken else g
                for g in node.gpus
            )
            nodes[i] = node.model_copy(update={"gpus": gpus})
            replica = Replica(
                id=replica_id, phase=ReplicaPhase.READY, node=node.name, gpu_indices=tuple(taken)
            )
            break
        replicas.append(replica)
    return d.model_copy(update={"replica_states": tuple(replicas)})


def _metrics(d: ModelDeployment, load: float, rps_per_replica: float) -> ServingMetrics:
    capacity = d.count(ReplicaPhase.READY) * rps_per_replica
    arrival = load * capacity
    return ServingMetrics(
        arrival_rate_rps=arrival,
        served_rate_rps=min(arrival, capacity),
        queue_depth=0,
        running=int(arrival),
        gpu_utilization=min(1.0, load),
        kv_cache_usage=min(1.0, load * 0.8),
        capacity_rps=capacity,
        slo_attainment=1.0 if load <= 1 else 1 / load,
    )


def make_tick_record(
    seq: int,
    *,
    at: datetime | None = None,
    snapshot: ClusterSnapshot | None = None,
    status: ResultStatus = ResultStatus.APPLIED,
    dry_run: bool = False,
) -> TickRecord:
    """A realistic tick: snapshot, forecast, one ScaleDeployment proposal, its Allow
    verdict and an ActionResult with `status`. Times default to T0 + seq minutes, so
    each seq gets its own action id."""
    at = at if at is not None else T0 + timedelta(minutes=seq)
    snap = snapshot if snapshot is not None else make_snapshot(at=at)
    deployment = snap.deployments[0]
    action = ScaleDeployment(
        issued_at=at,
        deployment=deployment.key,
        replicas=deployment.replicas + 1,
        from_replicas=deployment.replicas,
    )
    proposal = Proposal(
        action=action,
        reason="forecast p90 exceeds ready capacity within the cold-start time",
        evidence=(
            Evidence(name="forecast_p90_rps", value=23.5, unit="rps"),
            Evidence(name="capacity_rps", value=20.0, unit="rps"),
        ),
        planner="reactive",
    )
    verdict = Allow(
        action_id=action.id,
        policy_version="v1",
        rules=(RuleHit(rule="max-step", reason="step 1 <= 2", values={"step": 1, "max": 2}),),
    )
    forecast = Forecast(
        key=deployment.key,
        forecaster="last-value",
        made_at=at,
        step_seconds=60.0,
        points=(ForecastPoint(at=at + timedelta(minutes=5), point=20, p10=15, p50=20, p90=23.5),),
    )
    result = ActionResult(action_id=action.id, status=status, message=action.describe(), at=at)
    return TickRecord(
        seq=seq,
        at=at,
        snapshot=snap,
        forecasts=(forecast,),
        planner="reactive",
        proposals=(proposal,),
        verdicts=(verdict,),
        results=(result,),
        dry_run=dry_run,
    )
