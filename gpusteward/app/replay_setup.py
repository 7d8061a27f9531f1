"""Composition for replay, what-if and runbooks: the part of the composition root that
builds what `runbooks` receives through its ports — the recorded planner (an LLM planner
answered from the record), the policy a bundle was judged by, swapped planners,
forecasters and policies, and simulated scenario runs with a series-collecting journal.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from agents.llm.breaker import RecordedGate
from agents.llm.planner import LlmPlanner
from agents.registry import PlannerConfig
from forecasting.auto import AutoForecaster, AutoForecasterConfig, LastValueConfig
from forecasting.baselines import LastValueForecaster
from gpusteward.app.parts import build_planner, load_policy_file
from gpusteward.app.scenario import Scenario
from gpusteward.app.settings import Settings, default_settings
from gpusteward.app.wiring import assemble
from gpusteward.app.wiring_llm import agent_registry, llm_client, llm_limits
from gpusteward.app.wiring_sim import SimBackend
from gpusteward.core.actions import Action
from gpusteward.core.cluster import ClusterSnapshot
from gpusteward.core.errors import InputError
from gpusteward.core.load import LoadHistory
from gpusteward.core.ports import Forecaster, GuardInputs, PolicyEngine
from gpusteward.core.stages import forecast, load_series, observe_load
from gpusteward.core.tick import TickRecord
from gpusteward.core.verdicts import ActionResult, ExecutedAction, ResultStatus
from gpusteward.sim.engine import Simulator
from policies.engine import RulePolicyEngine, load_policy
from runbooks.bundle import IncidentBundle
from runbooks.recorded import RecordedLlmClient, RecordedWhatIf
from runbooks.replay import ReplayPlanner
from runbooks.series import RunOutcome, SeriesJournal

_PLANNER: TypeAdapter[PlannerConfig] = TypeAdapter(PlannerConfig)


def bundle_scenario(bundle: IncidentBundle, where: str) -> Scenario:
    if bundle.scenario is None:
        raise InputError(
            f"{where}: the bundle carries no scenario, so its planner cannot be rebuilt. "
            "Fix: export it from a simulated run's journal with `gpusteward export --scenario`."
        )
    return Scenario.model_validate_json(bundle.scenario)


def bundle_policy(bundle: IncidentBundle, where: str) -> RulePolicyEngine:
    """The policy the bundle's ticks were judged by, from the text it carries."""
    if bundle.policy is None:
        raise InputError(f"{where}: the bundle carries no policy text. Fix: pass --policy FILE.")
    return RulePolicyEngine(load_policy(bundle.policy, bundle.policy_source or where))


def recorded_planner(bundle: IncidentBundle, settings: Settings, where: str) -> ReplayPlanner:
    """The bundle's planner; where the record holds LLM exchanges, the LLM planner answered
    only from the record (no endpoint is contacted), its what-if from recorded projections."""
    base = build_planner(bundle_scenario(bundle, where))
    if not any(t.llm is not None for t in bundle.ticks):
        return ReplayPlanner(base)
    client = RecordedLlmClient()
    whatif = RecordedWhatIf()
    gate = RecordedGate()  # the breaker opens where the record shows it open, not by clock
    # the request parameters the run used, not today's settings (a request must match)
    limits = llm_limits(settings.llm)
    asked = [t.llm for t in bundle.ticks if t.llm is not None and t.llm.rounds]
    if asked:
        limits = limits.model_copy(
            update={
                "max_tokens": asked[0].max_tokens,
                "temperature": asked[0].temperature,
                "tool_choice": asked[0].tool_choice,
            }
        )
    planner = LlmPlanner(
        client=client,
        fallback=base,
        policy=bundle_policy(bundle, where),
        limits=limits,
        whatif=whatif,
        horizon_seconds=settings.forecast_horizon_seconds,
        registry=agent_registry(),
        gate=gate,
        interval_seconds=bundle.interval_seconds,
    )

    def before(record: TickRecord) -> None:
        client.load(record.llm)
        whatif.load(record.llm)
        gate.load(record.llm)

    return ReplayPlanner(
        planner,
        before_tick=before,
        warm=lambda snapshot, forecasts: base.plan(snapshot, forecasts),
        violations=lambda: list(client.violations),
    )


def planner_config(
    kind: str, where: str = "--planner", own: PlannerConfig | None = None
) -> PlannerConfig:
    """A planner of `kind` with its defaults, or `own` (the scenario's) when it is of that
    kind: its settings are kept, not reset."""
    if own is not None and own.kind == kind:
        return own
    try:
        return _PLANNER.validate_python({"kind": kind})
    except ValidationError as e:
        raise InputError(f"{where} {kind!r}: {e.errors()[0]['msg']}") from None


def swapped_planner(
    bundle: IncidentBundle,
    settings: Settings,
    where: str,
    *,
    kind: str | None,
    llm_endpoint: str | None,
    policy: PolicyEngine,
) -> ReplayPlanner:
    """A what-if planner: another deterministic planner kind, and/or the LLM planner at
    another endpoint over it (real calls; its what-if tool has no simulator here)."""
    scenario = bundle_scenario(bundle, where)
    if kind is not None:
        own = scenario.planner
        scenario = scenario.model_copy(update={"planner": planner_config(kind, own=own)})
    base = build_planner(scenario)
    if llm_endpoint is None:
        return ReplayPlanner(base)
    client = llm_client(settings.llm, llm_endpoint)
    planner = LlmPlanner(
        client=client,
        fallback=base,
        policy=policy,
        limits=llm_limits(settings.llm),
        horizon_seconds=settings.forecast_horizon_seconds,
        registry=agent_registry(),
    )
    return ReplayPlanner(planner, warm=lambda s, f: base.plan(s, f))


def forecaster_for(
    kind: str, own: AutoForecasterConfig | LastValueConfig | None = None
) -> Forecaster:
    """A forecaster of `kind`; with `own` (the scenario's) of that kind, its settings."""
    if kind == "auto":
        return AutoForecaster(
            own if isinstance(own, AutoForecasterConfig) else AutoForecasterConfig()
        )
    if kind == "last-value":
        return LastValueForecaster()
    raise InputError(f"--forecaster {kind!r}: expected 'auto' or 'last-value'")


def policy_file(path: Path) -> RulePolicyEngine:
    return load_policy_file(path)


# -- simulated scenario runs ---------------------------------------------------------------


@dataclass
class ScenarioVariant:
    """One way to run a scenario: its own planner, forecaster or policy where given."""

    label: str
    planner: str | None = None
    forecaster: str | None = None
    policy: Path | None = None


def run_scenario(
    scenario: Scenario,
    variant: ScenarioVariant,
    *,
    max_ticks: int | None = None,
    tick_first: bool = True,
    journal: SeriesJournal | None = None,
) -> RunOutcome:
    """Run the scenario on a fresh simulator (virtual clock, nothing real touched), keeping
    only the per-tick series a report needs (no journal file, no checkpoints). The first
    tick comes at the start (`tick_first`) or one interval in, as `gpusteward run` has it."""
    if variant.planner is not None:
        config = planner_config(variant.planner, own=scenario.planner)
        scenario = scenario.model_copy(update={"planner": config})
    forecaster = (
        forecaster_for(variant.forecaster, scenario.forecaster) if variant.forecaster else None
    )
    if journal is None:
        journal = SeriesJournal(scenario.sim_spec().models, label=variant.label)
    run = assemble(
        SimBackend(scenario),
        scenario,
        default_settings(),
        journal=journal,
        max_ticks=max_ticks,
        forecaster=forecaster,
        policy_file=variant.policy,
        diagnose=None,  # the planners are compared, not the diagnostics
    )
    asyncio.run(run.daemon.run(tick_first=tick_first))
    return journal.outcome(scenario.name, run.daemon.policy.version, run.daemon.planner.name)


# -- runbooks on the simulator --------------------------------------------------------------


class SimRunbookTarget:
    """`runbooks.runner.RunbookTarget` on a simulator: waiting advances the virtual clock;
    the guard gets the load history, last-value forecasts and the actions run so far."""

    def __init__(
        self,
        simulator: Simulator,
        *,
        forecaster: Forecaster | None = None,
        horizon_seconds: float = 900.0,
    ) -> None:
        self.simulator = simulator
        self.forecaster = forecaster or LastValueForecaster()
        self.horizon_seconds = horizon_seconds
        step = simulator.spec.step_seconds
        self.history = LoadHistory(step, int(8 * 86_400 // step))
        self.recent: list[ExecutedAction] = []
        self.results: list[ActionResult] = []
        self._snapshot = simulator.snapshot()
        self._observed: datetime | None = None
        self._observe()

    def _observe(self) -> None:
        snap = self._snapshot
        if self._observed == snap.at:
            return
        self._observed = snap.at
        observe_load(self.history, snap)

    def snapshot(self) -> ClusterSnapshot:
        return self._snapshot

    def guard_inputs(self) -> GuardInputs:
        load = load_series(self.history)
        made = forecast(self.forecaster, load, self.horizon_seconds)
        forecasts = {f.key: f for f in made.forecasts}
        return GuardInputs(forecasts=forecasts, load=load, recent=tuple(self.recent))

    def execute(self, action: Action) -> ActionResult:
        result = self.simulator.execute(action)
        self.results.append(result)
        if result.status == ResultStatus.APPLIED:
            self.recent.append(ExecutedAction(action=action, at=result.at))
        # As in the daemon, an action is observed on the next step's snapshot (the
        # simulator's snapshot at the same instant may not show it yet).
        self.wait(self.simulator.spec.step_seconds)
        return result

    def wait(self, seconds: float) -> None:
        self.simulator.advance_to(self.simulator.now + timedelta(seconds=seconds))
        self._snapshot = self.simulator.snapshot()
        self._observe()
