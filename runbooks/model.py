"""The runbook document: typed parameters, captured values, and steps that are tool calls
with preconditions, a verification and a rollback. Loaded from YAML and validated; every
problem names the file, line, field and fix (`gpusteward.core.documents`).

Values in `args` and in checks may be templates: `"{name}"`, or `"{a + b}"` / `"{a - 1}"`
(integers only) over parameters and captured values. Nothing else is evaluated.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal, get_args

from pydantic import Field, model_validator

from gpusteward.core.documents import load_document, parse_duration
from gpusteward.core.errors import InputError
from gpusteward.core.model import Frozen
from gpusteward.core.user_files import read_user_file

LIBRARY_DIR = Path(__file__).parent / "library"
Value = str | int | float | bool
Template = str | int | float | bool
ToolName = Literal[
    "propose_scale",
    "propose_prewarm",
    "propose_move",
    "propose_consolidate",
    "propose_retire",
    "propose_cordon",
]
STEP_TOOLS: tuple[str, ...] = get_args(ToolName)


class Parameter(Frozen):
    type: Literal["deployment", "node", "pool", "int", "number", "str"]
    description: str = ""
    default: Value | None = None
    minimum: int | None = None


class _Check(Frozen):
    description: str = ""


class DeploymentExists(_Check):
    check: Literal["deployment-exists"]
    deployment: Template


class Replicas(_Check):
    """Desired replicas (`ready: true`: ready replicas) of a deployment within bounds."""

    check: Literal["replicas"]
    deployment: Template
    ready: bool = False
    pool: Template | None = Field(default=None, description="Count only replicas on this pool.")
    at_least: Template | None = None
    at_most: Template | None = None


class NodeCordoned(_Check):
    check: Literal["node-cordoned"]
    node: Template
    cordoned: bool = True


class NodeUnhealthy(_Check):
    check: Literal["node-unhealthy-gpus"]
    node: Template
    at_least: Template = 1


class ArrivalRate(_Check):
    check: Literal["arrival-rate"]
    deployment: Template
    at_most: Template | None = None
    at_least: Template | None = None


class PoolUtilisation(_Check):
    check: Literal["pool-utilisation"]
    pool: Template
    at_most: float = Field(gt=0, le=1, description="Share of the pool's GPUs held.")


class Retired(_Check):
    check: Literal["retired"]
    deployment: Template
    retired: bool = True


Check = Annotated[
    DeploymentExists
    | Replicas
    | NodeCordoned
    | NodeUnhealthy
    | ArrivalRate
    | PoolUtilisation
    | Retired,
    Field(discriminator="check"),
]


class Capture(Frozen):
    """A value read from the cluster when the run starts (for verifications and rollbacks)."""

    replicas_of: Template | None = None
    ready_replicas_of: Template | None = None

    @model_validator(mode="after")
    def _one(self) -> Capture:
        if (self.replicas_of is None) == (self.ready_replicas_of is None):
            raise ValueError("give exactly one of replicas_of, ready_replicas_of")
        return self


class ToolCall(Frozen):
    tool: ToolName
    args: dict[str, Template | list[Template]] = Field(default_factory=dict)


class Verify(Frozen):
    checks: tuple[Check, ...] = Field(min_length=1)
    within: str | int = Field(default="10m", description="How long to wait for them to hold.")
    every: str | int = Field(default="1m", description="How often to look.")

    @property
    def within_seconds(self) -> float:
        return parse_duration(self.within)

    @property
    def every_seconds(self) -> float:
        return parse_duration(self.every)


class Step(Frozen):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    description: str = Field(min_length=1)
    call: ToolCall
    precondition: tuple[Check, ...] = ()
    verify: Verify | None = None
    rollback: ToolCall | None = None
    irreversible: bool = Field(
        default=False, description="No rollback exists; such a step must be the last."
    )

    @model_validator(mode="after")
    def _rollback_or_irreversible(self) -> Step:
        if self.rollback is None and not self.irreversible:
            raise ValueError(
                f"step {self.id!r} has no rollback; give one, or mark it irreversible: true"
            )
        return self


class Runbook(Frozen):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    description: str = Field(min_length=1)
    when: str = Field(min_length=1, description="When to use it (shown to people and the agent).")
    parameters: dict[str, Parameter] = Field(default_factory=dict)
    capture: dict[str, Capture] = Field(default_factory=dict)
    steps: tuple[Step, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Runbook:
        ids = [s.id for s in self.steps]
        if len(set(ids)) != len(ids):
            raise ValueError(f"step ids must be unique: {ids}")
        for s in self.steps[:-1]:
            if s.irreversible:
                raise ValueError(f"step {s.id!r} is irreversible but not last; move it to the end")
        known = set(self.parameters) | set(self.capture)
        for name in sorted(_names(self.model_dump(mode="json", include={"capture", "steps"}))):
            if name not in known:
                raise ValueError(
                    f"template name {{{name}}} is neither a parameter nor a captured value; "
                    f"known: {', '.join(sorted(known))}"
                )
        return self


_TEMPLATE = re.compile(r"\{([^{}]*)\}")
_NAME = re.compile(r"[a-z_][a-z0-9_]*")


def _names(node: object) -> set[str]:
    out: set[str] = set()
    if isinstance(node, str):
        for expr in _TEMPLATE.findall(node):
            out.update(_NAME.findall(expr))
    elif isinstance(node, dict):
        for v in node.values():
            out |= _names(v)
    elif isinstance(node, list):
        for v in node:
            out |= _names(v)
    return out


def load_runbook(path: Path) -> Runbook:
    text = read_user_file(path, "runbook", missing="check the path (`gpusteward runbook list`)")
    runbook, _ = load_document(text, str(path), Runbook)
    return runbook


def load_library(folder: Path = LIBRARY_DIR) -> dict[str, Runbook]:
    """Every runbook in `folder`, by name; a name must match its file's stem."""
    out: dict[str, Runbook] = {}
    for path in sorted(folder.glob("*.yaml")):
        runbook = load_runbook(path)
        if runbook.name != path.stem:
            raise InputError(
                f"{path}: name = {runbook.name!r} but the file is {path.name}. Fix: name the "
                f"file {runbook.name}.yaml or the runbook {path.stem!r}."
            )
        out[runbook.name] = runbook
    return out


def find_runbook(name_or_path: str) -> Runbook:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        return load_runbook(path)
    library = load_library()
    if name_or_path not in library:
        raise InputError(
            f"runbook {name_or_path!r}: not in the library. Fix: one of "
            f"{', '.join(sorted(library))}, or a path to a runbook YAML file."
        )
    return library[name_or_path]
