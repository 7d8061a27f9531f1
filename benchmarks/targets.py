"""The `targets` list every benchmark reports: how it is printed and what it exits with.

A benchmark computes its figures and, for each one an issue asks for, a target
`{"name", "value", "target", "met"}` (optionally `"detail"`). `--json` prints the list
as it is; the table form prints it with `print_targets` (or `markdown_targets`), one
line each, and the process exits with `exit_status`: 0 only when every target is met.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Iterable, Mapping
from typing import Any

from rich.console import Console

__all__ = ["exit_status", "host", "markdown_targets", "print_targets"]

Target = Mapping[str, Any]


def target(name: str, value: object, wanted: str, met: bool) -> dict[str, Any]:
    """One target: `value` measured, `wanted` what it must be (">= 0.8", "report")."""
    return {"name": name, "value": value, "target": wanted, "met": bool(met)}


def exactly(name: str, value: object, wanted: object) -> dict[str, Any]:
    """A target met when `value` is `wanted`, to the letter (a count, a share of 1.0)."""
    return target(name, value, f"== {wanted}", value == wanted)


def host() -> str:
    """The machine a figure was measured on, as RESULTS.md records it."""
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def print_targets(console: Console, targets: Iterable[Target]) -> None:
    """One line a target: its name, value, what it must be, and MET or NOT MET."""
    for t in targets:
        detail = f" ({t['detail']})" if "detail" in t else ""
        console.print(
            f"target {t['name']}: {t['value']} (target {t['target']}) "
            f"{'MET' if t['met'] else 'NOT MET'}{detail}",
            highlight=False,
        )


def markdown_targets(targets: Iterable[Target]) -> list[str]:
    """The targets as a Markdown table (a blank line first), for RESULTS.md."""
    lines = ["", "| target | value | goal | met |", "|---|---|---|---|"]
    lines += [f"| {t['name']} | {t['value']} | {t['target']} | {t['met']} |" for t in targets]
    return lines


def exit_status(targets: Iterable[Target]) -> int:
    """The benchmark's exit status: 0 when every target is met, else 1."""
    return 0 if all(t["met"] for t in targets) else 1
