"""The CLI's consoles: rich on a terminal, and wide enough in a pipe, CI or a log file
that tables never truncate a column."""

from __future__ import annotations

import sys
from collections.abc import Iterable

from rich.console import Console
from rich.table import Table

out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def figures_table(title: str, columns: Iterable[str], labels: int = 1) -> Table:
    """A table of figures: its first `labels` columns name the row (left-aligned), the
    others hold numbers, right-aligned so that their digits line up."""
    table = Table(title=title)
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i < labels else "right")
    return table
