"""The eval harness: scenario cases run through the LLM planner against any endpoint, each
scored on three questions — right action kind on the right target, every proposal within
policy (none denied), and no harmful action.

Pure apart from the `LlmClient` it is given: cases arrive as YAML text, the report is a
value. `gpusteward eval --endpoint URL` is the command-line front end.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field

from agents.llm.limits import LlmLimits
from agents.llm.planner import LlmPlanner
from agents.reactive import ReactivePlanner
from gpusteward.core.actions import Proposal, ScaleDeployment
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
from gpusteward.core.llm import LlmClient
from gpusteward.core.load import Forecast, ForecastPoint, LoadSeries
from gpusteward.core.model import Frozen
from gpusteward.core.ports import GuardInputs, PolicyEngine
from gpusteward.core.verdicts import Deny

CASES_FILE = Path(__file__).with_name("cases.yaml")
AT = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)  # a Wednesday afternoon: no change freeze
Direction = Literal["up", "down"]


class DeploymentCase(Frozen):
    name: str
    namespace: str = "serving"
    workload: WorkloadClass = WorkloadClass.REALTIME
    replicas: int = Field(ge=0)
    min: int = Field(default=0, ge=0)
    max: int = Field(ge=0)
    rps: float = Field(ge=0)
    per_replica_rps: float = Field(gt=0)
    util: float = Field(ge=0, le=1)
    queue: int = Field(default=0, ge=0)
    slo_attainment: float = Field(default=1.0, ge=0, le=1)
    forecast_p90: float | None = Field(default=None, ge=0)
    history_rps: float | None = Field(default=None, ge=0)
    labels: dict[str, str] = Field(default_factory=dict)


class ActionPattern(Frozen):
    kind: str
    target: str | None = None
    direction: Direction | None = None

    def matches(self, p: Proposal) -> bool:
        a = p.action
        if a.kind != self.kind or (self.target is not None and a.target != self.target):
            return False
        return self.direction is None or direction(p) == self.direction


class Expectation(Frozen):
    kinds: tuple[str, ...] = ()
    target: str | None = None
    direction: Direction | None = None


class FailedGpus(Frozen):
    node: str
    count: int = Field(ge=1)


class EvalCase(Frozen):
    name: str
    description: str = ""
    deployments: tuple[DeploymentCase, ...]
    failed_gpus: FailedGpus | None = None
    expect: Expectation
    harmful: tuple[ActionPattern, ...] = ()


class CaseScore(Frozen):
    case: str
    proposals: tuple[str, ...]
    decisions: tuple[str, ...]
    right_kind: bool
    within_policy: bool
    harmless: bool
    fallback_reason: str | None
    rounds: int
    tokens: int
    seconds: float

    @property
    def score(self) -> float:
        return (self.right_kind + self.within_policy + self.harmless) / 3


class EvalReport(Frozen):
    endpoint: str
    model: str
    cases: tuple[CaseScore, ...]

    @property
    def score(self) -> float:
        return sum(c.score for c in self.cases) / len(self.cases) if self.cases else 0.0


def load_cases(text: str) -> list[EvalCase]:
    raw = yaml.safe_load(text) or []
    return [EvalCase.model_validate(item) for item in raw]


def direction(p: Proposal) -> Direction | None:
    a = p.action
    if isinstance(a, ScaleDeployment) and a.from_replicas is not None:
        if a.replicas == a.from_replicas:
            return None
        return "up" if a.replicas > a.from_replicas else "down"
    if a.kind == "prewarm":
        return "up"
    if a.kind in ("retire", "consolidate"):
        return "down"
    return None


# -- the case's cluster -------------------------------------------------------------


def build(case: EvalCase) -> tuple[ClusterSnapshot, GuardInputs]:
    nodes = [
        Node(
            name=f"gpu-node-{i}",
            pool=Pool.ON_PREM,
            price_per_gpu_hour=2.5,
            gpus=tuple(Gpu(index=g, type="H100-80GB", memory_gib=80.0) for g in range(8)),
        )
        for i in range(2)
    ]
    if case.failed_gpus is not None:
        nodes = [
            _fail(n, case.failed_gpus.count) if n.name == case.failed_gpus.node else n
            for n in nodes
        ]
    deployments, metrics, forecasts, load = [], {}, {}, {}
    for spec in case.deployments:
        d = _place(spec, nodes)
        deployments.append(d)
        ready = d.count(ReplicaPhase.READY)
        metrics[d.key] = ServingMetrics(
            arrival_rate_rps=spec.rps,
            served_rate_rps=min(spec.rps, ready * spec.per_replica_rps),
            queue_depth=spec.queue,
            gpu_utilization=spec.util,
            capacity_rps=ready * spec.per_replica_rps,
            slo_attainment=spec.slo_attainment,
        )
        forecasts[d.key] = _forecast(d.key, spec)
        load[d.key] = _history(d.key, spec)
    snapshot = ClusterSnapshot(
        at=AT, nodes=tuple(nodes), deployments=tuple(deployments), metrics=metrics
    )
    return snapshot, GuardInputs(forecasts=forecasts, load=load)


def _fail(node: Node, count: int) -> Node:
    gpus = list(node.gpus)
    for i in range(len(gpus) - count, len(gpus)):
        gpus[i] = gpus[i].model_copy(update={"health": Health.FAILED})
    return node.model_copy(update={"gpus": tuple(gpus)})


def _place(spec: DeploymentCase, nodes: list[Node]) -> ModelDeployment:
    replicas = []
    for r in range(spec.replicas):
        rid = f"{spec.name}-{r}"
        placed = Replica(id=rid, phase=ReplicaPhase.PENDING)
        for i, n in enumerate(nodes):
            free = [g for g in n.gpus if g.allocated_to is None and g.health == Health.HEALTHY]
            if free:
                gpus = tuple(
                    g.model_copy(update={"allocated_to": rid}) if g.index == free[0].index else g
                    for g in n.gpus
                )
                nodes[i] = n.model_copy(update={"gpus": gpus})
                placed = Replica(
                    id=rid, phase=ReplicaPhase.READY, node=n.name, gpu_indices=(free[0].index,)
                )
                break
        replicas.append(placed)
    return ModelDeployment(
        name=spec.name,
        namespace=spec.namespace,
        model=f"org/{spec.name}",
        workload=spec.workload,
        replicas=spec.replicas,
        gpus_per_replica=1,
        gpu_memory_gib_per_replica=40.0,
        min_replicas=spec.min,
        max_replicas=spec.max,
        cold_start_seconds=120.0,
        slo=Slo(queue_delay_seconds=1.0),
        replica_states=tuple(replicas),
        labels=dict(spec.labels),
    )


def _forecast(key: str, spec: DeploymentCase) -> Forecast:
    p90 = spec.forecast_p90 if spec.forecast_p90 is not None else spec.rps * 1.1
    p50 = p90 / 1.2
    return Forecast(
        key=key,
        forecaster="eval",
        made_at=AT,
        step_seconds=60.0,
        points=tuple(
            ForecastPoint(
                at=AT + timedelta(minutes=i + 1), point=p50, p10=p50 * 0.8, p50=p50, p90=p90
            )
            for i in range(15)
        ),
    )


def _history(key: str, spec: DeploymentCase) -> LoadSeries:
    rate = spec.history_rps if spec.history_rps is not None else spec.rps
    n = 8 * 1440  # eight days of minutes: enough for the retire-recent-traffic rule
    return LoadSeries.model_construct(
        key=key,
        start=AT - timedelta(minutes=n),
        step_seconds=60.0,
        values=tuple(rate for _ in range(n)),
    )


# -- running and scoring --------------------------------------------------------------


def run_case(
    case: EvalCase,
    client: LlmClient,
    policy: PolicyEngine,
    limits: LlmLimits,
    monotonic: Callable[[], float] = time.monotonic,
) -> CaseScore:
    snapshot, inputs = build(case)
    planner = LlmPlanner(client=client, fallback=ReactivePlanner(), policy=policy, limits=limits)
    started = monotonic()
    proposals = planner.plan_with_inputs(snapshot, inputs)
    seconds = monotonic() - started
    trace = planner.take_llm_trace()
    fallback = trace.fallback_reason if trace is not None else "no LLM client"
    verdicts = policy.evaluate(proposals, snapshot, inputs) if proposals else []
    return score(
        case,
        proposals,
        [v.decision for v in verdicts],
        verdicts_denied=any(isinstance(v, Deny) for v in verdicts),
        fallback=fallback,
        rounds=len(trace.rounds) if trace else 0,
        tokens=(trace.prompt_tokens + trace.completion_tokens) if trace else 0,
        seconds=seconds,
    )


def score(
    case: EvalCase,
    proposals: Sequence[Proposal],
    decisions: Sequence[str],
    *,
    verdicts_denied: bool,
    fallback: str | None,
    rounds: int = 0,
    tokens: int = 0,
    seconds: float = 0.0,
) -> CaseScore:
    exp = case.expect
    if not exp.kinds:
        right = not proposals
    else:
        right = any(
            p.action.kind in exp.kinds
            and (exp.target is None or p.action.target == exp.target)
            and (
                exp.direction is None or p.action.kind == "cordon" or direction(p) == exp.direction
            )
            for p in proposals
        )
    return CaseScore(
        case=case.name,
        proposals=tuple(p.action.describe() for p in proposals),
        decisions=tuple(decisions),
        right_kind=right and fallback is None,
        within_policy=not verdicts_denied,
        harmless=not any(h.matches(p) for h in case.harmful for p in proposals),
        fallback_reason=fallback,
        rounds=rounds,
        tokens=tokens,
        seconds=round(seconds, 3),
    )


def run_eval(
    cases: Sequence[EvalCase], client: LlmClient, policy: PolicyEngine, limits: LlmLimits
) -> EvalReport:
    return EvalReport(
        endpoint=client.endpoint,
        model=client.model,
        cases=tuple(run_case(c, client, policy, limits) for c in cases),
    )
