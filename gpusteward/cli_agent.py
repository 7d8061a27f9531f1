"""`gpusteward why ACTION_ID` and `gpusteward eval --endpoint URL`: an action's life read
back from the journal and the approval store beside it (the planner's and the LLM's
explanations included), and the LLM planner's eval harness against a real endpoint
(configured like `run`: the same settings, then the flags)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from agents.llm.evals.harness import CASES_FILE, load_cases, run_eval
from gpusteward.chat.history import action_history, history_lines
from gpusteward.chat.store import SqliteApprovalStore
from gpusteward.core.errors import InputError, JournalError
from gpusteward.core.llm import LlmUnavailable
from gpusteward.journal import SqliteJournal
from gpusteward.settings import load_settings
from gpusteward.terminal import out
from gpusteward.user_files import read_user_file
from gpusteward.wiring import approvals_path, latest_journal
from gpusteward.wiring_llm import llm_client, llm_limits
from policies.document import PACKS_DIR
from policies.engine import RulePolicyEngine, load_policy


def _journal_path(path: Path | None) -> Path:
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
    path = approvals_path(load_settings(), journal)
    return SqliteApprovalStore(path) if path.exists() else None


def why(
    action_id: Annotated[str, typer.Argument(help="Action id (or a unique prefix).")],
    journal: Annotated[Path | None, typer.Option(help="Journal file.")] = None,
) -> None:
    """An action's life: why it was proposed (rationale, evidence), the verdict, who
    approved it and when, and when it ran with what result."""
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


def eval_cmd(
    endpoint: Annotated[
        str | None,
        typer.Option(help="OpenAI-compatible base URL, e.g. .../v1 [GPUSTEWARD_LLM_BASE_URL]"),
    ] = None,
    model: Annotated[str | None, typer.Option(help="Model name [GPUSTEWARD_LLM_MODEL].")] = None,
    api_key_env: Annotated[
        str | None, typer.Option(help="Env var holding the API key [GPUSTEWARD_LLM_API_KEY_ENV].")
    ] = None,
    cases: Annotated[Path, typer.Option(help="Eval cases (YAML).")] = CASES_FILE,
    policy: Annotated[Path, typer.Option(help="Policy file.")] = PACKS_DIR / "default.yaml",
    timeout: Annotated[
        float | None, typer.Option(help="Seconds per model call [GPUSTEWARD_LLM_TIMEOUT_SECONDS].")
    ] = None,
    max_rounds: Annotated[
        int | None, typer.Option(help="Tool rounds per case [GPUSTEWARD_LLM_MAX_TOOL_ROUNDS].")
    ] = None,
    max_tokens: Annotated[
        int | None, typer.Option(help="Completion tokens per call [GPUSTEWARD_LLM_MAX_TOKENS].")
    ] = None,
    wall_seconds: Annotated[
        float | None, typer.Option(help="Seconds per case [GPUSTEWARD_LLM_WALL_SECONDS].")
    ] = None,
    temperature: Annotated[
        str | None, typer.Option(help="A number, or 'none' [GPUSTEWARD_LLM_TEMPERATURE].")
    ] = None,
    tool_choice: Annotated[
        str | None, typer.Option(help="auto, required, none [GPUSTEWARD_LLM_TOOL_CHOICE].")
    ] = None,
    tool_results: Annotated[
        str | None, typer.Option(help="tool or user [GPUSTEWARD_LLM_TOOL_RESULTS].")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON report.")] = False,
) -> None:
    """Score the LLM planner on scenario cases against a real endpoint.

    Client and limits come from the settings `run` uses (GPUSTEWARD_LLM_*); a flag wins.
    """
    settings = load_settings(
        llm_base_url=endpoint,
        llm_model=model,
        llm_api_key_env=api_key_env,
        llm_timeout_seconds=timeout,
        llm_max_tool_rounds=max_rounds,
        llm_max_tokens=max_tokens,
        llm_wall_seconds=wall_seconds,
        llm_temperature=temperature,
        llm_tool_choice=tool_choice,
        llm_tool_results=tool_results,
    )
    if settings.llm_base_url is None:
        raise InputError(
            "eval: no endpoint (--endpoint unset and GPUSTEWARD_LLM_BASE_URL unset). Fix: pass "
            "--endpoint http://HOST:PORT/v1 or export GPUSTEWARD_LLM_BASE_URL."
        )
    try:
        loaded = load_cases(read_user_file(cases, "eval cases file"))
        engine = RulePolicyEngine(load_policy(read_user_file(policy, "policy file"), str(policy)))
    except OSError as e:
        raise InputError(f"cannot read {e.filename}: {e.strerror}. Fix: check the path.") from None
    client = llm_client(settings, settings.llm_base_url)
    limits = llm_limits(settings)
    try:  # an endpoint that does not answer is an error, not a score for the fallback
        client.ready(timeout_seconds=max(settings.llm_ready_timeout_seconds, 5.0))
    except LlmUnavailable as e:
        raise LlmUnavailable(
            f"eval: {e}. Nothing was scored. Fix: start the model server, or pass --endpoint "
            "with the URL it serves (…/v1)."
        ) from None
    report = run_eval(loaded, client, engine, limits)
    failed = [c for c in report.cases if (c.fallback_reason or "").startswith("LLM call failed")]
    if report.cases and len(failed) == len(report.cases):
        raise LlmUnavailable(
            f"eval: every case's model call failed (first: {failed[0].fallback_reason}). "
            "Nothing was scored. Fix: check the server's log, the model name and the timeout."
        )
    if as_json:
        body = report.model_dump(mode="json")
        body["score"] = report.score
        print(json.dumps(body))
        return
    table = Table(title=f"eval: {client.model} at {client.endpoint}")
    for col in ("case", "proposals", "right kind", "in policy", "harmless", "fallback", "s"):
        table.add_column(col)
    for c in report.cases:
        table.add_row(
            c.case,
            "; ".join(c.proposals) or "-",
            _mark(c.right_kind),
            _mark(c.within_policy),
            _mark(c.harmless),
            (c.fallback_reason or "")[:60],
            f"{c.seconds:.1f}",
        )
    out.print(table)
    out.print(f"score: {report.score:.2f} over {len(report.cases)} case(s)")


def _mark(ok: bool) -> str:
    return "yes" if ok else "[red]no[/red]"
