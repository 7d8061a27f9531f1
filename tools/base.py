"""A typed tool: a pydantic args model, a typed result, and the function between them.

`ToolRegistry.call` never raises: unparseable JSON, arguments that fail validation, an
unknown tool name and a tool that fails all come back as a `ToolError` naming the field,
the value seen and what is allowed, so the model can correct itself. Schemas are
exported in the OpenAI tools format from the args models.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from gpusteward.core.llm import ToolSpec
from tools.context import ToolContext

A = TypeVar("A", bound=BaseModel)

ToolKind = Literal["read", "propose"]


class ToolArgs(BaseModel):
    """Base of every args model: untrusted input from the model, so unknown keys fail."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ToolRow(BaseModel):
    """A nested part of a tool result."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ToolResult(ToolRow):
    ok: Literal[True] = True


class FieldProblem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    field: str
    problem: str
    value: str | None = None
    allowed: tuple[str, ...] = ()


class ToolError(BaseModel):
    """What the model gets back instead of a traceback."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ok: Literal[False] = False
    tool: str
    error: Literal["invalid_json", "invalid_arguments", "unknown_tool", "unavailable", "refused"]
    message: str
    fields: tuple[FieldProblem, ...] = ()


class InvalidArgument(Exception):
    """Raised inside a tool for a value the schema cannot express (e.g. an unknown name)."""

    def __init__(self, field: str, problem: str, value: str, allowed: Sequence[str] = ()):
        super().__init__(f"{field}={value!r}: {problem}")
        self.problem = FieldProblem(
            field=field, problem=problem, value=value, allowed=tuple(allowed)
        )


class Unavailable(Exception):
    """The tool cannot answer here (e.g. no simulator to run a what-if on)."""


@dataclass(frozen=True)
class Tool(Generic[A]):
    name: str
    description: str
    args: type[A]
    run: Callable[[A, ToolContext], ToolResult]
    kind: ToolKind = "read"

    def spec(self) -> ToolSpec:
        return ToolSpec(name=self.name, description=self.description, parameters=_schema(self.args))


def _schema(model: type[BaseModel]) -> dict[str, object]:
    """The args model's JSON schema, inlined and without titles (smaller prompts)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                return inline(defs[ref.rsplit("/", 1)[-1]])
            out = {k: inline(v) for k, v in node.items() if k not in ("title", "discriminator")}
            if "discriminator" in node:  # each variant must then name its `kind`
                for variant in out.get("oneOf", []):
                    variant["required"] = ["kind", *variant.get("required", [])]
            return out
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    out: dict[str, object] = inline(schema)
    props = out.setdefault("properties", {})
    if isinstance(props, dict):  # a fixed top-level `kind` is implied by the tool's name
        for name in [k for k, v in props.items() if isinstance(v, dict) and "const" in v]:
            if props[name].get("default") == props[name]["const"]:
                del props[name]
    return out


@dataclass(frozen=True)
class ToolOutcome:
    """One call's result as the text sent back to the model, plus what it was."""

    tool: str
    result: ToolResult | ToolError

    @property
    def failed(self) -> bool:
        return isinstance(self.result, ToolError)

    def text(self) -> str:
        return self.result.model_dump_json(exclude_none=True)


class ToolRegistry:
    """The tools one LLM planner may call, by name."""

    def __init__(self, tools: Iterable[Tool[Any]]) -> None:
        self._tools: dict[str, Tool[Any]] = {}
        self._specs: tuple[ToolSpec, ...] | None = None
        for tool in tools:
            if tool.name in self._tools:
                raise ValueError(f"tool {tool.name!r} registered twice; tool names are unique")
            self._tools[tool.name] = tool

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._tools)

    def get(self, name: str) -> Tool[Any] | None:
        return self._tools.get(name)

    def specs(self) -> tuple[ToolSpec, ...]:
        # Built once: generating the JSON schemas costs ~25 ms, and the LLM planner asks
        # for them twice per tick.
        if self._specs is None:
            self._specs = tuple(t.spec() for t in self._tools.values())
        return self._specs

    def openai_tools(self) -> list[dict[str, object]]:
        """The JSON schema of every tool, in the OpenAI chat-completions `tools` format."""
        return [s.openai() for s in self.specs()]

    def call(self, name: str, arguments: str, ctx: ToolContext) -> ToolOutcome:
        tool = self._tools.get(name)
        if tool is None:
            return ToolOutcome(
                name,
                ToolError(
                    tool=name[:64],
                    error="unknown_tool",
                    message=f"no tool named {name[:64]!r}",
                    fields=(
                        FieldProblem(
                            field="name",
                            problem="unknown tool",
                            value=name[:64],
                            allowed=self.names,
                        ),
                    ),
                ),
            )
        try:
            raw = json.loads(arguments or "{}")
        except json.JSONDecodeError as e:
            return ToolOutcome(
                name,
                ToolError(
                    tool=name,
                    error="invalid_json",
                    message=f"arguments are not valid JSON ({e.msg} at char {e.pos}); send a "
                    "JSON object matching the tool's schema",
                ),
            )
        if not isinstance(raw, dict):
            return ToolOutcome(
                name,
                ToolError(
                    tool=name,
                    error="invalid_json",
                    message=f"arguments must be a JSON object, got {type(raw).__name__}",
                ),
            )
        try:
            args = tool.args.model_validate(raw)
        except ValidationError as e:
            return ToolOutcome(name, _invalid(name, tool.args, e))
        try:
            return ToolOutcome(name, tool.run(args, ctx))
        except InvalidArgument as e:
            return ToolOutcome(
                name,
                ToolError(
                    tool=name, error="invalid_arguments", message=str(e), fields=(e.problem,)
                ),
            )
        except Unavailable as e:
            return ToolOutcome(name, ToolError(tool=name, error="unavailable", message=str(e)))
        except Exception as e:  # a tool bug must not reach the model as a traceback
            return ToolOutcome(
                name,
                ToolError(
                    tool=name, error="refused", message=f"the tool failed: {type(e).__name__}"
                ),
            )


def _invalid(name: str, model: type[BaseModel], e: ValidationError) -> ToolError:
    problems = []
    props = model.model_json_schema().get("properties", {})
    for err in e.errors()[:8]:
        field = ".".join(str(p) for p in err["loc"]) or "(arguments)"
        top = str(err["loc"][0]) if err["loc"] else ""
        allowed: tuple[str, ...] = ()
        if err["type"] == "extra_forbidden":
            allowed = tuple(props)
        elif "expected" in (err.get("ctx") or {}):
            allowed = (str(err["ctx"]["expected"]),)
        elif top in props and isinstance(props[top], dict) and "enum" in props[top]:
            allowed = tuple(str(v) for v in props[top]["enum"])
        value = err.get("input")
        problems.append(
            FieldProblem(
                field=field,
                problem=err["msg"],
                value=None if value is None else json.dumps(value, default=str)[:120],
                allowed=allowed,
            )
        )
    fields = ", ".join(p.field for p in problems)
    return ToolError(
        tool=name,
        error="invalid_arguments",
        message=f"invalid arguments for {name}: {fields}",
        fields=tuple(problems),
    )
