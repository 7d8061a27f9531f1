"""`gpusteward why ACTION_ID`: an action's life read back from the journal and the approval
store beside it (the planner's and the LLM's explanations included). The LLM planner's
eval is `gpusteward.cli.eval`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gpusteward.app.settings import load_settings
from gpusteward.cli.terminal import out
from gpusteward.core.errors import InputError, JournalError

if TYPE_CHECKING:
    from gpusteward.adapters.journal import SqliteJournal
    from gpusteward.chat.store import SqliteApprovalStore


def _journal_path(path: Path | None) -> Path:
    from gpusteward.app.wiring_sim import latest_journal

    path = path or latest_journal() or Path(".gpusteward") / "quickstart.db"
    if not path.exists():
        raise JournalError(
            f"{path}: no journal there. Fix: run `gpusteward run` first, or pass --journal."
        )
    return path


def resolve_action_id(journal: SqliteJournal, action_id: str) -> str:
    """The full id of the proposal that `action_id` (an id or a unique prefix) names."""
    ids: set[str] = set()
    for record in journal.ticks():
        ids.update(p.action.id for p in record.proposals if p.action.id.startswith(action_id))
    if action_id in ids:
        return action_id
    if not ids:
        raise InputError(
            f"action {action_id!r}: no proposal with that id in {journal.path}. Fix: copy an "
            "id from `gpusteward journal --tail` (each proposal's id is in [brackets]; "
            "--tail N reaches further back)."
        )
    if len(ids) > 1:
        raise InputError(
            f"action {action_id!r} matches {len(ids)} ids ({', '.join(sorted(ids)[:5])}). "
            "Fix: give more of the id."
        )
    return ids.pop()


def _approval_store(journal: Path) -> SqliteApprovalStore | None:
    """The approval store of the run that wrote `journal` (where the chat's decisions and
    what came of them are recorded), when there is one."""
    from gpusteward.app.wiring import approvals_path
    from gpusteward.chat.store import SqliteApprovalStore

    path = approvals_path(load_settings(), journal)
    return SqliteApprovalStore(path) if path.exists() else None


def why(
    action_id: Annotated[str, typer.Argument(help="Action id (or a unique prefix).")],
    journal: Annotated[Path | None, typer.Option(help="Journal file.")] = None,
) -> None:
    """An action's life: why it was proposed (rationale, evidence), the verdict, who
    approved it and when, and when it ran with what result."""
    from gpusteward.adapters.journal import SqliteJournal
    from gpusteward.chat.history import action_history, history_lines

    path = _journal_path(journal)
    with SqliteJournal(path) as j:
        full_id = resolve_action_id(j, action_id)
        store = _approval_store(path)
        try:
            history = action_history(full_id, j.ticks(), store)
        finally:
            if store is not None:
                store.close()
    if history is None:  # resolve_action_id found it in the journal, so this cannot happen
        raise JournalError(f"{path}: action {full_id} vanished while it was read; run again")
    lines = history_lines(history)
    out.print(lines[0], style="bold", markup=False, highlight=False)
    for line in lines[1:]:
        out.print(line, markup=False, highlight=False)
