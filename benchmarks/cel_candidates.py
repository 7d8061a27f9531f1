"""The CEL candidates of `cel_choice.py`: how to drive each package (compile a source,
prepare an activation, evaluate), one adapter per package, and the project's own wrapper.
Each adapter imports its package only when called: `cel_choice` runs one per child process.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHOSEN = "cel-expr-python"


@dataclass(frozen=True)
class Candidate:
    """How to drive one package: compile(src), prepare(activation), evaluate(prog, ctx)."""

    name: str
    module: str
    compile: Callable[[str], Any]
    prepare: Callable[[dict[str, Any]], Any]
    evaluate: Callable[[Any, Any], Any]  # returns a plain value or raises


class EvalFailed(Exception):
    """A candidate reported an evaluation error as a value instead of raising."""


def _hardbyte() -> Candidate:
    import cel  # common-expression-language

    if not hasattr(cel, "compile"):
        raise ImportError("the installed `cel` package is python-cel, not this one")
    return Candidate(
        "common-expression-language",
        "cel",
        cel.compile,
        cel.Context,
        lambda prog, ctx: prog.execute(ctx),
    )


def _python_cel() -> Candidate:
    import cel  # python-cel (cel-rust bindings)

    if hasattr(cel, "compile"):
        raise ImportError(
            "`cel` here is common-expression-language; install python-cel with"
            " `pip install --target DIR python-cel` and pass --python-cel-path DIR"
        )
    return Candidate(
        "python-cel", "cel", cel.Program, cel.Context, lambda prog, ctx: prog.execute(ctx)
    )


def _celpy() -> Candidate:
    import celpy
    from celpy import celtypes

    env = celpy.Environment()

    def plain(value: Any) -> Any:
        if isinstance(value, celpy.CELEvalError):
            raise EvalFailed(str(value.args[0] if value.args else value))
        if isinstance(value, celtypes.BoolType):
            return bool(value)
        for cel_type, py_type in (
            (celtypes.IntType, int),
            (celtypes.DoubleType, float),
            (celtypes.StringType, str),
        ):
            if isinstance(value, cel_type):
                return py_type(value)
        return value

    return Candidate(
        "cel-python",
        "celpy",
        lambda src: env.program(env.compile(src)),
        celpy.json_to_cel,
        lambda prog, ctx: plain(prog.evaluate(ctx)),
    )


def _google() -> Candidate:
    from cel_expr_python import cel as gcel

    env = gcel.NewEnv()  # undeclared variables: compile with the type checker off

    def evaluate(prog: Any, act: Any) -> Any:
        value = prog.eval(act)
        if value.type() == gcel.Type.ERROR:
            raise EvalFailed(str(value.value()))
        return value.plain_value()

    return Candidate(
        "cel-expr-python",
        "cel_expr_python",
        lambda src: env.compile(src, disable_check=True),
        env.Activation,
        evaluate,
    )


def _wrapper() -> Candidate:
    sys.path.insert(0, str(ROOT))
    from policies.cel import CelExpression, prepare

    return Candidate(
        f"policies.cel (over {CHOSEN})",
        "policies.cel",
        CelExpression.compile,
        prepare,
        lambda expr, prepared: expr.evaluate(prepared),
    )


FACTORIES: dict[str, Callable[[], Candidate]] = {
    "common-expression-language": _hardbyte,
    "cel-python": _celpy,
    "cel-expr-python": _google,
    "python-cel": _python_cel,
    "policies.cel": _wrapper,
}
