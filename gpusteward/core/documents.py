"""Typed YAML documents with line-precise errors.

`load_document(text, source, Model)` parses YAML, validates it against a pydantic model
and turns every problem into one `InputError` whose lines read
`scenario.yaml:12: models[0].replicas = -1: Input should be >= 0. Fix: ...`.
Parsing text is not I/O: callers read the file and pass its text in.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Sequence
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from gpusteward.core.errors import InputError

M = TypeVar("M", bound=BaseModel)
Loc = tuple[str | int, ...]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)?\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}


def parse_duration(value: str | int | float) -> float:
    """'90' / '90s' / '15m' / '6h' / '14d' / '1w' -> seconds. Raises ValueError with the fix."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        m = _DURATION.match(str(value))
        if not m:
            raise ValueError(
                f"duration {value!r} is not understood; write a number of seconds or a number "
                "with a unit s, m, h, d or w (e.g. '90s', '6h', '14d')"
            )
        seconds = float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(f"duration {value!r} must be positive and finite")
    return seconds


class LineMap:
    """Maps a document path (('models', 0, 'replicas')) to its 1-based line."""

    def __init__(self, root: yaml.Node | None) -> None:
        self._lines: dict[Loc, int] = {}
        if root is not None:
            self._walk(root, ())

    def _walk(self, node: yaml.Node, path: Loc) -> None:
        self._lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                k = key.value
                self._lines[(*path, k)] = key.start_mark.line + 1
                self._walk(value, (*path, k))
                self._lines[(*path, k)] = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._walk(item, (*path, i))

    def line(self, loc: Sequence[str | int]) -> int:
        path = tuple(loc)
        while path:
            if path in self._lines:
                return self._lines[path]
            path = path[:-1]
        return self._lines.get((), 1)


def dotted(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(document)"


def load_document(text: str, source: str, model: type[M]) -> tuple[M, LineMap]:
    """Parse and validate; raise `InputError` listing every problem with its line."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(e, "problem", None) or str(e)
        raise InputError(
            f"{source}:{line}: not valid YAML: {problem}. Fix the syntax there."
        ) from None
    lines = LineMap(root)
    if not isinstance(data, dict):
        raise InputError(
            f"{source}:1: expected a mapping of fields at the top level, got "
            f"{type(data).__name__}. Fix: start the file with 'name: ...'."
        )
    try:
        return model.model_validate(data), lines
    except ValidationError as e:
        errors = e.errors()
        locs = [tuple(err["loc"]) for err in errors]
        problems = [
            _explain(err, source, lines, model, data)
            for err in errors
            # a container "too short after validation" only echoes its items' own errors
            if not (err["type"] == "too_short" and _has_deeper(tuple(err["loc"]), locs))
        ]
        raise InputError("\n".join(problems)) from None


def _has_deeper(loc: Loc, locs: list[Loc]) -> bool:
    return any(len(o) > len(loc) and o[: len(loc)] == loc for o in locs)


def _explain(err: Any, source: str, lines: LineMap, model: type[BaseModel], data: object) -> str:
    raw = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    loc = _without_union_tags(raw, data)
    where = f"{source}:{lines.line(loc)}: {dotted(loc)}"
    msg = err["msg"].removeprefix("Value error, ")
    kind = err["type"]
    if kind == "missing":
        return f"{where}: required field is missing. Fix: add '{loc[-1]}: ...'."
    if kind == "extra_forbidden":
        allowed = _allowed_fields(model, raw[:-1])
        hint = f" Allowed here: {', '.join(allowed)}." if allowed else ""
        return (
            f"{where} = {_short(err.get('input'))}: unknown field. "
            f"Fix: remove it or correct the spelling.{hint}"
        )
    return (
        f"{where} = {_short(err.get('input'))}: {msg}. Fix: change {dotted(loc)} to a valid value."
    )


def _without_union_tags(loc: Loc, data: object) -> Loc:
    """Drop the discriminator tags pydantic puts in a location ('rules', 1, 'max-step', ...)
    by walking the document: a step that is not a key there but the item's tag is skipped."""
    out: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part not in node and part in node.values():
            continue
        out.append(part)
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            node = None
    return tuple(out)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _allowed_fields(model: type[BaseModel], loc: Loc) -> list[str]:
    current: Any = model
    for part in loc:
        current = _unwrap(current, part)
        if current is None:
            return []
    if isinstance(current, type) and issubclass(current, BaseModel):
        return sorted(current.model_fields)
    return []


def _unwrap(annotation: Any, part: str | int) -> Any:
    """Follow one path step through a model field, container or tagged union annotation."""
    members = _union_members(annotation)
    if members and isinstance(part, str):
        for member in members:
            field = member.model_fields.get("kind") or member.model_fields.get("decision")
            if field is not None and part in typing.get_args(field.annotation):
                return member
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if not isinstance(part, str) or part not in annotation.model_fields:
            return None
        return _strip_optional(annotation.model_fields[part].annotation)
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (tuple, list) and args:
        return _strip_optional(args[0])
    if origin is dict and len(args) == 2:
        return _strip_optional(args[1])
    return None


def _union_members(annotation: Any) -> list[type[BaseModel]]:
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [
            a
            for a in typing.get_args(annotation)
            if isinstance(a, type) and issubclass(a, BaseModel)
        ]
    return []


def _strip_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        models = [a for a in typing.get_args(annotation) if a is not type(None)]
        return models[0] if len(models) == 1 else annotation
    if typing.get_origin(annotation) is typing.Annotated:
        return _strip_optional(typing.get_args(annotation)[0])
    return annotation
