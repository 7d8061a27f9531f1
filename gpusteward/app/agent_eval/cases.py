"""Eval cases: categories of a GPU serving playbook, each a scenario plus a perturbation,
expanded over a matrix of variants (moment in the trace, load scale, seed) into named
cases (`burst-03`).

The cases file is user input: every problem is an `InputError` naming the file, the line
and the field (`load_cases`). Expansion is deterministic: the same file gives the same
cases, in the same order, with the same names.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Literal

from pydantic import Field

from agents.registry import PlannerConfig
from gpusteward.app.scenario import SCENARIO_DIR
from gpusteward.core.documents import load_document
from gpusteward.core.errors import InputError
from gpusteward.core.model import Frozen
from gpusteward.core.user_files import read_user_file
from policies.document import PACKS_DIR

CASES_FILE = Path(__file__).with_name("cases.yaml")

Perturbation = Literal[
    "none",
    "under-provision",  # the busiest deployment forced down to a third: it runs over SLO
    "over-provision",  # the quietest deployment forced up: it idles
    "fail-spot-node",  # the spot node holding most replicas is preempted
    "fail-gpus",  # half the GPUs of the busiest node fail
    "stale-metrics",  # the busiest deployment's metrics are missing from what planners see
    "inject-label",  # deployment labels carry instructions aimed at the model
    "churn",  # every model scaled up then back down: free GPUs end up scattered
]


class Matrix(Frozen):
    """The variants of a category: their product is the category's cases."""

    warmup_minutes: tuple[int, ...] = Field(
        default=(30,), min_length=1, description="Minutes the deterministic planner runs first."
    )
    shift_minutes: tuple[int, ...] = Field(
        default=(0,), min_length=1, description="Added to every trace's offset: the moment."
    )
    load_scale: tuple[float, ...] = Field(
        default=(1.0,), min_length=1, description="Multiplies every trace's scale."
    )
    seed: tuple[int, ...] = Field(default=(0,), min_length=1, description="Added to the seed.")


class Category(Frozen):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    description: str = Field(min_length=1)
    scenario: str = Field(min_length=1, description="Shipped scenario name, or a YAML path.")
    planner: PlannerConfig | None = Field(
        default=None, description="The deterministic planner, if not the scenario's."
    )
    policy: str | None = Field(default=None, description="Pack name or YAML path.")
    perturbation: Perturbation = "none"
    settle_minutes: int = Field(
        default=0, ge=0, le=60, description="Minutes after the perturbation, nothing executed."
    )
    approver_away: bool = Field(
        default=False, description="Only allowed actions run: nobody answers approvals."
    )
    matrix: Matrix = Matrix()


class CasesFile(Frozen):
    categories: tuple[Category, ...] = Field(min_length=1)


class EvalCase(Frozen):
    """One situation to plan for: the category's setup at one variant of its matrix."""

    name: str
    category: str
    description: str
    scenario: str  # shipped name or absolute path
    planner: PlannerConfig | None
    policy: str | None  # absolute path; None: the scenario's
    perturbation: Perturbation
    settle_minutes: int
    approver_away: bool
    warmup_minutes: int
    shift_minutes: int
    load_scale: float
    seed: int


def load_cases(path: Path = CASES_FILE) -> list[EvalCase]:
    """Every case of the cases file at `path`, expanded."""
    text = read_user_file(path, "eval cases file")
    doc, lines = load_document(text, str(path), CasesFile)
    names: set[str] = set()
    out: list[EvalCase] = []
    for i, c in enumerate(doc.categories):
        if c.name in names:
            raise InputError(
                f"{path}:{lines.line(('categories', i, 'name'))}: categories[{i}].name = "
                f"{c.name!r}: a second category of that name. Fix: give each a unique name."
            )
        names.add(c.name)
        scenario = _scenario(c.scenario, path, f"{path}:{lines.line(('categories', i))}", i)
        policy = None
        if c.policy is not None:
            policy = _policy(c.policy, path, f"{path}:{lines.line(('categories', i))}", i)
        out += expand(c, scenario, policy)
    return out


def expand(category: Category, scenario: str, policy: str | None) -> list[EvalCase]:
    """The category's cases, one per point of its matrix, named `<category>-NN`."""
    m = category.matrix
    points = itertools.product(m.warmup_minutes, m.shift_minutes, m.load_scale, m.seed)
    return [
        EvalCase(
            name=f"{category.name}-{n:02d}",
            category=category.name,
            description=category.description,
            scenario=scenario,
            planner=category.planner,
            policy=policy,
            perturbation=category.perturbation,
            settle_minutes=category.settle_minutes,
            approver_away=category.approver_away,
            warmup_minutes=warmup,
            shift_minutes=shift,
            load_scale=scale,
            seed=seed,
        )
        for n, (warmup, shift, scale, seed) in enumerate(points, start=1)
    ]


def _scenario(value: str, cases: Path, where: str, i: int) -> str:
    if not value.endswith((".yaml", ".yml")):
        if (SCENARIO_DIR / f"{value}.yaml").is_file():
            return value
        shipped = ", ".join(sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml")))
        raise InputError(
            f"{where}: categories[{i}].scenario = {value!r}: no shipped scenario of that "
            f"name. Fix: one of {shipped}, or a YAML path relative to the cases file."
        )
    path = (cases.parent / value).resolve()
    if not path.is_file():
        raise InputError(
            f"{where}: categories[{i}].scenario = {value!r}: no such file (looked for "
            f"{path}). Fix: a path relative to the cases file."
        )
    return str(path)


def _policy(value: str, cases: Path, where: str, i: int) -> str:
    if value.endswith((".yaml", ".yml")):
        path = (cases.parent / value).resolve()
    else:
        path = PACKS_DIR / f"{value}.yaml"
    if not path.is_file():
        raise InputError(
            f"{where}: categories[{i}].policy = {value!r}: no such policy file (looked for "
            f"{path}). Fix: a shipped pack name or a YAML path relative to the cases file."
        )
    return str(path)
