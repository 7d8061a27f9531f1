"""Scenario files: a cluster, its models (profile, SLO, trace), planner, guard, duration, seed.

`load_scenario("quickstart")` finds a shipped scenario; any other argument is a path.
Every problem becomes a `ScenarioError` naming the file, line, field, value and fix.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from pydantic import AwareDatetime, Field, field_validator, model_validator

from agents.reactive import ReactiveConfig
from agents.registry import PlannerConfig
from forecasting.auto import AutoForecasterConfig, LastValueConfig
from gpusteward.core.diagnosis import IncidentLabel
from gpusteward.core.documents import LineMap, load_document, parse_duration
from gpusteward.core.errors import InputError, ScenarioError
from gpusteward.core.model import Frozen
from gpusteward.core.user_files import read_user_file
from gpusteward.sim.spec import ClusterSpec, FaultSpec, ModelSpec, SimSpec
from policies.document import PACKS_DIR

SCENARIO_DIR = Path(__file__).parents[1] / "scenarios"


class Scenario(Frozen):
    name: str = Field(min_length=1)
    description: str = ""
    seed: int = 0
    start: AwareDatetime = Field(description="Virtual start time; trace time 0 maps here.")
    duration: str | int = Field(description="e.g. '1d', '14d', '6h' or seconds")
    tick_seconds: float = Field(default=60.0, gt=0, le=3600, description="Daemon interval")
    sim_step_seconds: float | None = Field(
        default=None, gt=0, description="Simulator step; defaults to tick_seconds."
    )
    cluster: ClusterSpec
    models: tuple[ModelSpec, ...] = Field(min_length=1)
    faults: FaultSpec = FaultSpec()
    planner: PlannerConfig = ReactiveConfig()
    forecaster: AutoForecasterConfig | LastValueConfig = Field(
        default=AutoForecasterConfig(), discriminator="kind"
    )
    policy: str = Field(
        default="default",
        description="Shipped policy pack name, or a policy YAML path relative to this file",
    )
    ground_truth: tuple[IncidentLabel, ...] = Field(
        default=(),
        description="An incident scenario's labels: the red flag it injects, when the "
        "condition begins and when the SLO is first missed (benchmarks/diagnostics.py)",
    )

    @field_validator("duration")
    @classmethod
    def _duration(cls, value: str | int) -> str | int:
        parse_duration(value)
        return value

    @model_validator(mode="after")
    def _steps_fit(self) -> Scenario:
        if self.duration_seconds < self.tick_seconds:
            raise ValueError(
                f"duration {self.duration!r} is shorter than one tick ({self.tick_seconds:g} s): "
                "nothing would run. Fix: a longer duration or a shorter tick_seconds"
            )
        step = self.sim_step_seconds
        if step is not None:
            per = self.tick_seconds / step
            if per < 1 - 1e-9 or abs(per - round(per)) > 1e-6:
                raise ValueError(
                    f"sim_step_seconds {step:g} does not divide tick_seconds "
                    f"{self.tick_seconds:g}: the simulator would fall behind the daemon's "
                    "ticks. Fix: a divisor of tick_seconds (or leave it out: one step a tick)"
                )
        return self

    @property
    def duration_seconds(self) -> float:
        return parse_duration(self.duration)

    @property
    def end(self) -> datetime:
        from datetime import timedelta

        return self.start + timedelta(seconds=self.duration_seconds)

    def sim_spec(self) -> SimSpec:
        return SimSpec(
            start=self.start,
            step_seconds=self.sim_step_seconds or self.tick_seconds,
            seed=self.seed,
            cluster=self.cluster,
            models=self.models,
            faults=self.faults,
        )


def shipped_scenarios() -> list[str]:
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


def resolve_scenario_path(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    shipped = SCENARIO_DIR / f"{name_or_path}.yaml"
    if shipped.exists():
        return shipped
    raise ScenarioError(
        f"scenario {name_or_path!r}: no such file and no shipped scenario of that name. "
        f"Fix: give a path to a .yaml file or one of: {', '.join(shipped_scenarios())}."
    )


def load_scenario(name_or_path: str) -> Scenario:
    path = resolve_scenario_path(name_or_path)
    text = read_user_file(
        path,
        "scenario file",
        error=ScenarioError,
        missing=f"check the path, or use a shipped scenario: {', '.join(shipped_scenarios())}",
    )
    try:
        scenario, lines = load_document(text, str(path), Scenario)
    except InputError as e:
        raise ScenarioError(str(e)) from None
    return _resolve_traces(scenario, path, lines)


def _resolve_traces(scenario: Scenario, path: Path, lines: LineMap) -> Scenario:
    models = []
    for i, m in enumerate(scenario.models):
        where = f"models[{i}].trace.file = '{m.trace.file}'"
        loc: tuple[str | int, ...] = ("models", i, "trace", "file")
        trace_path = _beside(m.trace.file, path, lines, loc, where, _TRACE_FIX)
        update: dict[str, object] = {"trace": m.trace.model_copy(update={"file": trace_path})}
        if m.tokens is not None:
            loc = ("models", i, "tokens", "files")
            files = tuple(
                _beside(f, path, lines, loc, f"models[{i}].tokens.files has '{f}'", _TOKENS_FIX)
                for f in m.tokens.files
            )
            update["tokens"] = m.tokens.model_copy(update={"files": files})
        models.append(m.model_copy(update=update))
    seen: set[str] = set()
    for i, m in enumerate(models):
        if m.key in seen:
            raise ScenarioError(
                f"{path}:{lines.line(('models', i, 'name'))}: models[{i}].name = '{m.name}': "
                f"duplicate deployment {m.key}. Fix: give each model a unique name."
            )
        seen.add(m.key)
    policy = _resolve_policy(scenario.policy, path, lines)
    return scenario.model_copy(update={"models": tuple(models), "policy": str(policy)})


_TRACE_FIX = "give a CSV trace path relative to the scenario file or an absolute path"
_TOKENS_FIX = "give token-length files relative to the scenario file or absolute paths"


def _beside(
    file: Path, path: Path, lines: LineMap, loc: tuple[str | int, ...], field: str, fix: str
) -> Path:
    """`file` (relative to the scenario file `path`, or absolute), resolved; a ScenarioError
    at the field's line when there is no such file."""
    resolved = (file if file.is_absolute() else path.parent / file).resolve()
    if not resolved.is_file():
        raise ScenarioError(
            f"{path}:{lines.line(loc)}: {field}: no such file (looked for {resolved}). Fix: {fix}."
        )
    return resolved


def shipped_packs() -> list[str]:
    return sorted(p.stem for p in PACKS_DIR.glob("*.yaml"))


def _resolve_policy(value: str, path: Path, lines: LineMap) -> Path:
    if value.endswith((".yaml", ".yml")) or "/" in value:
        candidate = Path(value) if Path(value).is_absolute() else path.parent / value
    else:
        candidate = PACKS_DIR / f"{value}.yaml"
    if not candidate.is_file():
        raise ScenarioError(
            f"{path}:{lines.line(('policy',))}: policy = {value!r}: no such policy file "
            f"(looked for {candidate.resolve()}). Fix: name a shipped pack "
            f"({', '.join(shipped_packs())}) or a YAML path relative to the scenario."
        )
    return candidate.resolve()
