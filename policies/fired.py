"""What a rule check returns when it fires: the values it saw and its message."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from policies.context import ActionContext

Value = float | int | str | bool | None


@dataclass(frozen=True)
class Fired:
    values: dict[str, Value]
    message: str


Check = Callable[[Any, ActionContext], Fired | None]
