"""The CLI's consoles: rich on a terminal, and wide enough in a pipe, CI or a log file
that tables never truncate a column."""

from __future__ import annotations

import sys

from rich.console import Console

out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)
