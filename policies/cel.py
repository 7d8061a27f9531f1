"""CEL conditions for policy rules: compile once, evaluate against plain-value activations.

The only module that imports the CEL package (`cel-expr-python`, Google's CEL C++
runtime; chosen in `benchmarks/cel_choice.py`, issue 4). Pure: no I/O, no clock.

Semantics are the CEL specification's, which differ from Python's in ways a rule
author meets: no implicit int/double arithmetic (`replicas * 2.0` is an error; write
`double(replicas) * 2.0`), though comparisons across int and double work
(`replicas > 3.5`); a missing map key or unknown variable is an error, never false
(guard with `has(m.key)` or `'key' in m`); `&&` and `||` absorb an error when the other
side decides the result.

Errors::

    CelError
    ├── CelCompileError      the source does not parse (or, with `variables`, check)
    └── CelEvaluationError   evaluation failed, or a condition was not a bool

Thread safety: a compiled `CelExpression` and a `PreparedActivation` are read-only and
may be evaluated from several threads at once. Compile at policy-load time.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from functools import lru_cache
from typing import Any, cast

from cel_expr_python import cel as _cel

__all__ = [
    "CelCompileError",
    "CelError",
    "CelEvaluationError",
    "CelExpression",
    "PreparedActivation",
    "prepare",
]

SPEC_URL = "https://github.com/google/cel-spec/blob/master/doc/langdef.md"

# Type checking off: the activation's shape is the rule engine's, not known here.
_UNCHECKED_ENV: Any = _cel.NewEnv()
_ERROR_TYPE: Any = _cel.Type.ERROR
_POSITION = re.compile(r"<input>:(\d+):(\d+): (.*)")
_STATUS_PREFIX = re.compile(r"^[A-Z_]+: ")
_STATUS_SUFFIX = re.compile(r"\s*\[[A-Z_]+\]$")
_HINTS: tuple[tuple[str, str], ...] = (
    ("Key not found in map", "guard the lookup with has(map.key) or 'key' in map"),
    ("No value with name", "pass that variable in the activation, or fix its spelling"),
    (
        "No matching overloads found",
        "CEL does not convert between types: use double(x), int(x) or string(x), "
        "and check the function name",
    ),
    (
        "Non-CEL value type",
        "activation values must be None, bool, int, float, str, bytes, list or dict "
        "(pass times as RFC 3339 strings and use timestamp(x))",
    ),
    ("divide by zero", "guard the divisor, e.g. d != 0 && n / d > 2"),
)


class CelError(Exception):
    """Base of every error this module raises."""


class CelCompileError(CelError):
    """The CEL source does not compile; the message names the source, position and fix."""


class CelEvaluationError(CelError):
    """Evaluating a compiled expression failed, or a condition's result was not a bool."""


class PreparedActivation:
    """An activation converted once for the CEL runtime; evaluate any number of expressions.

    Top-level values are copied at `prepare` time; nested lists and dicts are read when
    evaluated, so do not mutate them while this object is in use.
    """

    __slots__ = ("_activation", "names")

    def __init__(self, activation: Any, names: tuple[str, ...]) -> None:
        self._activation = activation
        self.names = names


def prepare(activation: Mapping[str, object]) -> PreparedActivation:
    """Convert `activation` (variable name -> plain value) once, for several evaluations."""
    for key in activation:
        if not isinstance(key, str):
            raise CelEvaluationError(
                f"activation key {key!r} ({type(key).__name__}) is not a string; "
                "activation keys are CEL variable names, e.g. 'replicas'"
            )
    converted = _UNCHECKED_ENV.Activation(
        activation if isinstance(activation, dict) else dict(activation)
    )
    return PreparedActivation(converted, tuple(activation))


@lru_cache(maxsize=64)
def _checked_env(variables: frozenset[str]) -> Any:
    return _cel.NewEnv(variables=dict.fromkeys(variables, _cel.Type.DYN))


def _compile_error(source: str, raw: str) -> CelCompileError:
    lines = [_STATUS_SUFFIX.sub("", text) for text in raw.splitlines()]
    found = _POSITION.search(lines[0]) if lines else None
    if found:
        line, column, what = found.groups()
        where = f"line {line}, column {column}: {what}"
    else:
        where = _STATUS_PREFIX.sub("", lines[0] if lines else raw)
    excerpt = "".join(
        f"\n    {text.strip().removeprefix('| ')}" for text in lines[1:3] if "|" in text
    )
    return CelCompileError(
        f"CEL expression {source!r} does not compile: {where}{excerpt}\n"
        f"Fix the expression at that position; CEL syntax: {SPEC_URL}"
    )


class CelExpression:
    """A compiled CEL expression. Build with `CelExpression.compile(source)`."""

    __slots__ = ("_program", "source")

    def __init__(self, source: str, program: Any) -> None:
        self.source = source
        self._program = program

    def __repr__(self) -> str:
        return f"CelExpression({self.source!r})"

    @classmethod
    def compile(cls, source: str, variables: Collection[str] | None = None) -> CelExpression:
        """Parse `source`; raise CelCompileError naming the position and the fix.

        With `variables` (the names the activation will hold), the expression is also
        type-checked: an unknown variable or function (a typo such as `startWith`) fails
        here, at load time, instead of at every evaluation.
        """
        if not isinstance(source, str) or not source.strip():
            raise CelCompileError(
                f"CEL expression {source!r} is empty or not a string; "
                "write a condition such as \"deployment.labels['tier'] == 'critical'\""
            )
        try:
            if variables is None:
                program = _UNCHECKED_ENV.compile(source, disable_check=True)
            else:
                program = _checked_env(frozenset(variables)).compile(source)
        except RuntimeError as exc:
            raise _compile_error(source, str(exc)) from exc
        return cls(source, program)

    def evaluate(self, activation: Mapping[str, object] | PreparedActivation) -> object:
        """Evaluate against an activation; raise CelEvaluationError on any CEL error."""
        if not isinstance(activation, PreparedActivation):
            activation = prepare(activation)
        value = self._program.eval(activation._activation)
        if value.type() == _ERROR_TYPE:
            raise self._evaluation_error(str(value.value()), activation.names)
        return cast(object, value.plain_value())

    def evaluate_bool(self, activation: Mapping[str, object] | PreparedActivation) -> bool:
        """Evaluate a condition; a result that is not a bool raises CelEvaluationError."""
        result = self.evaluate(activation)
        if type(result) is not bool:
            raise CelEvaluationError(
                f"CEL condition {self.source!r} evaluated to {result!r} "
                f"({type(result).__name__}), not a bool; a condition must be true or false, "
                "e.g. compare the value: x == 'critical' or size(x) > 0"
            )
        return result

    def _evaluation_error(self, message: str, names: tuple[str, ...]) -> CelEvaluationError:
        what = _STATUS_PREFIX.sub("", message)
        fix = next((hint for marker, hint in _HINTS if marker in message), None)
        detail = f"; fix: {fix}" if fix else ""
        if "No value with name" in message:
            detail += f" (the activation has: {', '.join(sorted(names)) or 'no variables'})"
        return CelEvaluationError(f"CEL expression {self.source!r} failed: {what}{detail}")
