"""Policy test suites (like `gator verify`): fixtures + proposed actions -> expected verdicts.

A suite names fixtures (a compact cluster description turned into a real
`ClusterSnapshot`, with load history, forecasts and recent actions) and cases (one
action or a batch, each with the expected effect, deciding rule ids and a message
pattern). Pure: the caller reads the files and passes their text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import AwareDatetime, Field

from gpusteward.core.actions import ACTION_ADAPTER, Action, Proposal
from gpusteward.core.cluster import (
    ClusterSnapshot,
    Gpu,
    ModelDeployment,
    Node,
    Pool,
    Replica,
    ReplicaPhase,
    ServingMetrics,
    Slo,
    WorkloadClass,
)
from gpusteward.core.documents import load_document
from gpusteward.core.errors import InputError
from gpusteward.core.load import Forecast, ForecastPoint, LoadSeries
from gpusteward.core.model import Frozen
from gpusteward.core.ports import GuardInputs
from gpusteward.core.verdicts import Effect, ExecutedAction, Verdict
from policies.engine import PolicySet, RulePolicyEngine


class NodeFixture(Frozen):
    name: str
    pool: Pool = Pool.ON_PREM
    gpu_type: str = "H100-80GB"
    gpus: int = Field(default=8, ge=1)
    price_per_gpu_hour: float = Field(default=2.5, ge=0)
    cordoned: bool = False


class DeploymentFixture(Frozen):
    name: str
    namespace: str = "serving"
    model: str | None = None
    workload: WorkloadClass = WorkloadClass.REALTIME
    replicas: int = Field(ge=0)
    ready: int | None = Field(default=None, ge=0, description="Default: all placed replicas")
    min_replicas: int = Field(default=1, ge=0)
    max_replicas: int = Field(default=16, ge=0)
    gpus_per_replica: int = Field(default=1, ge=1)
    cold_start_seconds: float = Field(default=120.0, ge=0)
    labels: dict[str, str] = Field(default_factory=dict)
    load_rps: float = Field(default=0.0, ge=0, description="Current arrival rate")
    capacity_rps_per_replica: float = Field(default=5.0, gt=0)
    history_rps: float | None = Field(
        default=None, ge=0, description="Constant request rate over the history window"
    )
    history_days: float = Field(default=8.0, gt=0)
    forecast_p50: float | None = Field(default=None, ge=0)
    forecast_p90: float | None = Field(default=None, ge=0)


class RecentFixture(Frozen):
    action: dict[str, Any]
    seconds_ago: float = Field(ge=0)


class Fixture(Frozen):
    at: AwareDatetime
    interval_seconds: float = Field(default=60.0, gt=0)
    nodes: tuple[NodeFixture, ...] = Field(min_length=1)
    deployments: tuple[DeploymentFixture, ...] = ()
    recent: tuple[RecentFixture, ...] = ()


class Expectation(Frozen):
    effect: Effect
    rules: tuple[str, ...] | None = Field(default=None, description="Deciding rule ids, any order")
    message: str | None = Field(default=None, description="Regex searched in the reasons")
    shadow: tuple[str, ...] | None = Field(default=None, description="warn/audit rules fired")


class Case(Frozen):
    name: str
    fixture: str
    action: dict[str, Any] | None = None
    actions: tuple[dict[str, Any], ...] = ()
    expect: Expectation | None = None
    expects: tuple[Expectation, ...] = ()


class Suite(Frozen):
    name: str
    policy: str | None = Field(default=None, description="Policy file relative to the suite")
    fixtures: dict[str, Fixture]
    cases: tuple[Case, ...] = Field(min_length=1)


@dataclass(frozen=True)
class CaseResult:
    suite: str
    case: str
    passed: bool
    detail: str


def load_suite(text: str, source: str) -> Suite:
    suite, lines = load_document(text, source, Suite)
    for i, case in enumerate(suite.cases):
        where = f"{source}:{lines.line(('cases', i))}: cases[{i}] ({case.name!r})"
        if case.fixture not in suite.fixtures:
            raise InputError(
                f"{where}: fixture {case.fixture!r} is not defined. Fix: use one of "
                f"{', '.join(sorted(suite.fixtures))}."
            )
        n_actions = len(case.actions) + (case.action is not None)
        n_expect = len(case.expects) + (case.expect is not None)
        if n_actions == 0 or n_actions != n_expect or (case.action and case.actions):
            raise InputError(
                f"{where}: give `action` + `expect`, or `actions` + `expects` "
                "of the same length. Fix: one expectation per action."
            )
    return suite


def build_snapshot(fx: Fixture) -> tuple[ClusterSnapshot, GuardInputs]:
    """Turn a fixture into a real snapshot (replicas placed first-fit) and guard inputs."""
    free = {n.name: list(range(n.gpus)) for n in fx.nodes if not n.cordoned}
    owners: dict[tuple[str, int], str] = {}
    deployments, metrics, forecasts, load = [], {}, {}, {}
    for d in fx.deployments:
        key = f"{d.namespace}/{d.name}"
        ready_target = d.replicas if d.ready is None else min(d.ready, d.replicas)
        replicas = []
        for r in range(d.replicas):
            rid = f"{d.name}-{r}"
            node = next((n for n, g in free.items() if len(g) >= d.gpus_per_replica), None)
            if node is None:
                replicas.append(Replica(id=rid, phase=ReplicaPhase.PENDING))
                continue
            taken, free[node] = free[node][: d.gpus_per_replica], free[node][d.gpus_per_replica :]
            owners.update({(node, g): rid for g in taken})
            phase = ReplicaPhase.READY if r < ready_target else ReplicaPhase.LOADING
            replicas.append(Replica(id=rid, phase=phase, node=node, gpu_indices=tuple(taken)))
        deployment = ModelDeployment(
            name=d.name,
            namespace=d.namespace,
            model=d.model or d.name,
            workload=d.workload,
            replicas=d.replicas,
            gpus_per_replica=d.gpus_per_replica,
            gpu_memory_gib_per_replica=40.0,
            min_replicas=d.min_replicas,
            max_replicas=d.max_replicas,
            cold_start_seconds=d.cold_start_seconds,
            slo=Slo(queue_delay_seconds=1.0),
            replica_states=tuple(replicas),
            labels=d.labels,
        )
        deployments.append(deployment)
        ready = deployment.count(ReplicaPhase.READY)
        capacity = ready * d.capacity_rps_per_replica
        metrics[key] = ServingMetrics(
            arrival_rate_rps=d.load_rps,
            served_rate_rps=min(d.load_rps, capacity),
            queue_depth=0,
            capacity_rps=capacity,
            gpu_utilization=min(1.0, d.load_rps / capacity) if capacity else 0.0,
        )
        if d.forecast_p50 is not None or d.forecast_p90 is not None:
            forecasts[key] = _forecast(key, fx, d)
        if d.history_rps is not None:
            points = int(d.history_days * 86_400 // fx.interval_seconds)
            load[key] = LoadSeries(
                key=key,
                start=fx.at - timedelta(seconds=points * fx.interval_seconds),
                step_seconds=fx.interval_seconds,
                values=(d.history_rps,) * points,
            )
    nodes = tuple(
        Node(
            name=n.name,
            pool=n.pool,
            price_per_gpu_hour=n.price_per_gpu_hour,
            cordoned=n.cordoned,
            gpus=tuple(
                Gpu(index=g, type=n.gpu_type, memory_gib=80.0, allocated_to=owners.get((n.name, g)))
                for g in range(n.gpus)
            ),
        )
        for n in fx.nodes
    )
    snapshot = ClusterSnapshot(
        at=fx.at,
        nodes=nodes,
        deployments=tuple(deployments),
        metrics=metrics,
        interval_seconds=fx.interval_seconds,
    )
    recent = tuple(
        ExecutedAction(
            action=_action(r.action, fx.at - timedelta(seconds=r.seconds_ago)),
            at=fx.at - timedelta(seconds=r.seconds_ago),
        )
        for r in fx.recent
    )
    return snapshot, GuardInputs(forecasts=forecasts, load=load, recent=recent)


def _forecast(key: str, fx: Fixture, d: DeploymentFixture) -> Forecast:
    p50 = d.forecast_p50 if d.forecast_p50 is not None else d.forecast_p90 or 0.0
    p90 = d.forecast_p90 if d.forecast_p90 is not None else p50
    step = fx.interval_seconds
    points = tuple(
        ForecastPoint(
            at=fx.at + timedelta(seconds=step * (i + 1)),
            point=p50,
            p10=min(p50, p90),
            p50=p50,
            p90=max(p50, p90),
        )
        for i in range(int(7200 // step))
    )
    return Forecast(key=key, forecaster="fixture", made_at=fx.at, step_seconds=step, points=points)


def _action(data: dict[str, Any], at: Any) -> Action:
    body = {"issued_at": at.isoformat(), **data}
    return ACTION_ADAPTER.validate_python(body)


def run_suite(suite: Suite, policy: PolicySet, source: str = "") -> list[CaseResult]:
    engine = RulePolicyEngine(policy)
    built = {name: build_snapshot(fx) for name, fx in suite.fixtures.items()}
    results = []
    for case in suite.cases:
        snapshot, inputs = built[case.fixture]
        raw = [case.action] if case.action is not None else list(case.actions)
        expects = [case.expect] if case.expect is not None else list(case.expects)
        try:
            proposals = [
                Proposal(action=_action(a, snapshot.at), reason=f"suite case {case.name}")
                for a in raw
            ]
        except Exception as e:
            results.append(CaseResult(suite.name, case.name, False, f"bad action: {e}"))
            continue
        verdicts = engine.evaluate(proposals, snapshot, inputs)
        problems = [p for v, x in zip(verdicts, expects, strict=True) for p in _compare(v, x)]
        detail = (
            "; ".join(problems)
            if problems
            else ", ".join(
                f"{v.decision} by {', '.join(h.rule for h in v.rules)}" for v in verdicts
            )
        )
        results.append(CaseResult(suite.name, case.name, not problems, detail))
    return results


def _compare(verdict: Verdict, expect: Expectation) -> list[str]:
    problems = []
    if verdict.decision != expect.effect:
        problems.append(f"expected {expect.effect}, got {verdict.decision} ({verdict.reason})")
    if expect.rules is not None and set(expect.rules) != {h.rule for h in verdict.rules}:
        problems.append(
            f"expected rules {sorted(expect.rules)}, got {sorted(h.rule for h in verdict.rules)}"
        )
    if expect.message is not None and not re.search(expect.message, verdict.reason):
        problems.append(f"message {expect.message!r} not found in {verdict.reason!r}")
    if expect.shadow is not None and set(expect.shadow) != {h.rule for h in verdict.shadow}:
        problems.append(
            f"expected shadow rules {sorted(expect.shadow)}, got "
            f"{sorted(h.rule for h in verdict.shadow)}"
        )
    return problems
