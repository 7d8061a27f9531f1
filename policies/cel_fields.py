"""The fields a CEL rule may read (`section.field`, as `policies.context` builds them),
and the load-time check that names a misspelt one with the nearest real name.

CEL's own checker knows the sections (`projected`, `blast`, ...) but not their fields: a
misspelt field compiles, then fails with "Key not found in map" at every evaluation, and
the rule denies every action it matches. Only a section's own fields are checked: a
map whose keys are data (`deployment.labels.tier`) and anything past a field are not.
Pure: no I/O.
"""

from __future__ import annotations

import difflib
import re
import typing

from gpusteward.core.actions import Action

__all__ = ["CONTEXT_FIELDS", "FieldProblem", "unknown_fields"]


def _action_fields() -> frozenset[str]:
    kinds = typing.get_args(typing.get_args(Action)[0])
    names = {name for kind in kinds for name in kind.model_fields}
    return frozenset(names - {"issued_at"} | {"kind", "target", "id"})


# One entry per activation section; `test_the_field_names_are_those_the_context_builds`
# holds it to `policies.context`. `load` and `forecast` may be empty (no metrics, no
# forecast yet): guard them with has(), which this check leaves legal.
CONTEXT_FIELDS: dict[str, frozenset[str]] = {
    "action": _action_fields(),  # every kind's fields; each action has its own kind's
    "deployment": frozenset(
        {
            "name",
            "namespace",
            "model",
            "version",
            "workload",
            "replicas",
            "min_replicas",
            "max_replicas",
            "gpus_per_replica",
            "labels",
            "cold_start_seconds",
            "slo_queue_delay_seconds",
            "pools",
        }
    ),
    "projected": frozenset(
        {
            "replicas_before",
            "replicas_after",
            "delta_replicas",
            "gpus_delta",
            "gpus_after",
            "cluster_gpus",
            "cost_per_hour_after",
        }
    ),
    "blast": frozenset({"gpus", "replicas", "pool_share", "tenants"}),
    "load": frozenset({"arrival_rps", "queue_depth", "gpu_utilization"}),
    "forecast": frozenset({"p50", "p90"}),
    "recent": frozenset({"actions_on_target_1h"}),
    "now": frozenset({"hour", "weekday", "iso"}),
}

_SECTIONS = "|".join(CONTEXT_FIELDS)
# `section.field`, not itself a field of something (`x.now.hour`), not a method call
_REFERENCE = re.compile(rf"(?<![\w.])({_SECTIONS})\s*\.\s*([A-Za-z_]\w*)(?!\w|\s*\()")
# a comprehension macro's bound variable: `list.exists(x, ...)`
_BOUND = re.compile(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,")


class FieldProblem(typing.NamedTuple):
    """`section.field` is not in the context; `nearest` is the likely intended field."""

    section: str
    field: str
    nearest: str | None

    def describe(self) -> str:
        ref = f"{self.section}.{self.field}"
        if self.nearest is not None:
            return f"{ref}: no such field; did you mean {self.section}.{self.nearest}?"
        return f"{ref}: no such field; {self.section} has: " + ", ".join(
            sorted(CONTEXT_FIELDS[self.section])
        )


def unknown_fields(expression: str) -> list[FieldProblem]:
    """Each `section.field` in `expression` whose field the context does not build, in
    order of appearance (string literals and comments are not read)."""
    code = _code_only(expression)
    shadowed = {m.group(1) for m in _BOUND.finditer(code)}
    problems: list[FieldProblem] = []
    for match in _REFERENCE.finditer(code):
        section, field = match.groups()
        known = CONTEXT_FIELDS[section]
        if section in shadowed or field in known:
            continue
        nearest = difflib.get_close_matches(field, sorted(known), n=1, cutoff=0.6)
        problem = FieldProblem(section, field, nearest[0] if nearest else None)
        if problem not in problems:
            problems.append(problem)
    return problems


def _code_only(expression: str) -> str:
    """`expression` with string literals and `//` comments blanked (same length)."""
    out: list[str] = []
    i, n = 0, len(expression)
    while i < n:
        ch = expression[i]
        if expression.startswith("//", i):
            end = expression.find("\n", i)
            end = n if end < 0 else end
        elif ch in "'\"":
            end = _string_end(expression, i, raw=_is_raw(expression, i))
        else:
            out.append(ch)
            i += 1
            continue
        out.append(" " * (end - i))
        i = end
    return "".join(out)


def _is_raw(text: str, quote: int) -> bool:
    prefix = re.search(r"[A-Za-z_]*$", text[:quote])
    return prefix is not None and "r" in prefix.group(0).lower()


def _string_end(text: str, start: int, *, raw: bool) -> int:
    """The index just past the string literal opening at `start` (or the text's end)."""
    quote = text[start] * 3 if text.startswith(text[start] * 3, start) else text[start]
    i = start + len(quote)
    while i < len(text):
        if not raw and text[i] == "\\":
            i += 2
            continue
        if text.startswith(quote, i):
            return i + len(quote)
        if len(quote) == 1 and text[i] == "\n":
            return i
        i += 1
    return len(text)
