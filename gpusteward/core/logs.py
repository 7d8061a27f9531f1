"""structlog set-up: readable console lines on a terminal, one JSON object per line otherwise."""

from __future__ import annotations

import logging
import sys
from typing import Literal, TextIO, cast

import structlog

LogFormat = Literal["auto", "console", "json"]


class _CurrentStderr:
    """Whatever `sys.stderr` is when a line is written, not when logging was configured
    (a test runner or a redirect may swap it, and close the one it swapped in)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(
    level: str = "info", fmt: LogFormat = "auto", *, auto_console: bool = False
) -> None:
    """`auto` means console lines on a terminal and JSON otherwise; with `auto_console`
    (a finite run whose progress lines are text for a person, such as the simulator's),
    console lines everywhere, coloured only on a terminal. `json` always means JSON."""
    tty = sys.stderr.isatty()
    use_console = fmt == "console" or (fmt == "auto" and (tty or auto_console))
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer(colors=tty)
        if use_console
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=cast(TextIO, _CurrentStderr())),
        cache_logger_on_first_use=False,
    )
