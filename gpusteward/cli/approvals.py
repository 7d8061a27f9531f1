"""`gpusteward approvals`: the audit log of the approval store — every decision, every
refused attempt, expiries, supersedes and what running an approved action did."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from gpusteward.app.settings import load_settings
from gpusteward.cli.terminal import out
from gpusteward.core.clock import RealClock
from gpusteward.core.errors import InputError, JournalError

if TYPE_CHECKING:
    from gpusteward.chat.records import ApprovalEvent


def approvals_command(
    since: Annotated[
        str, typer.Option(help="How far back (wall clock): e.g. 30m, 6h, 1d, 2w.")
    ] = "1d",
    approvals: Annotated[
        Path | None,
        typer.Option(help="Approval store file; default: the newest under .gpusteward/."),
    ] = None,
    show_all: Annotated[
        bool, typer.Option("--all", help="Also submissions and thread messages.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON event per line.")] = False,
) -> None:
    """List approval decisions and refused attempts (the audit log)."""
    from gpusteward.chat.records import DECISION_KINDS
    from gpusteward.chat.store import SqliteApprovalStore
    from gpusteward.core.documents import parse_duration

    try:
        seconds = parse_duration(since)
    except ValueError as e:
        raise InputError(f"--since {since!r}: {e}") from None
    path = approvals or load_settings().approvals or _newest_store()
    if not path.exists():
        raise JournalError(
            f"{path}: no approval store there. Fix: run `gpusteward run` first, or pass "
            "--approvals with the file it wrote (<journal>.approvals.sqlite)."
        )
    with SqliteApprovalStore(path) as store:
        events = store.events(since=RealClock().now() - timedelta(seconds=seconds))
    if not show_all:
        events = [e for e in events if e.kind in DECISION_KINDS]
    if as_json:
        for event in events:
            print(event.model_dump_json())
        return
    if not events:
        out.print(f"no approval decisions in the last {since} ({path})")
        return
    out.print(_table(events, f"approval audit log, last {since}: {path}"))


def _table(events: list[ApprovalEvent], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for name in ("recorded (UTC)", "daemon time", "event", "request", "who", "via", "detail"):
        table.add_column(name, overflow="fold")
    for e in events:
        table.add_row(
            f"{e.recorded_at:%Y-%m-%d %H:%M:%S}",
            f"{e.at:%Y-%m-%d %H:%M}",
            e.kind.value,
            e.request_id or "",
            e.actor or "",
            e.channel or "",
            e.detail,
        )
    return table


def _newest_store() -> Path:
    found = sorted(Path(".gpusteward").glob("*.approvals.sqlite"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else Path(".gpusteward") / "quickstart.approvals.sqlite"
