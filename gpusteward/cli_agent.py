"""`gpusteward why ACTION_ID` and `gpusteward eval --endpoint URL`: the LLM planner's
explanations, read back from the journal, and its eval harness against a real endpoint
(configured like `run`: the same settings, then the flags)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from agents.llm.evals.harness import CASES_FILE, load_cases, run_eval
from gpusteward.core.errors import InputError, JournalError
from gpusteward.core.tick import TickRecord
from gpusteward.journal import SqliteJournal
from gpusteward.settings import load_settings
from gpusteward.terminal import out
from gpusteward.user_files import read_user_file
from gpusteward.wiring import latest_journal, llm_client, llm_limits
from policies.document import PACKS_DIR
from policies.engine import RulePolicyEngine, load_policy


def _journal(path: Path | None) -> SqliteJournal:
    if path is None:
        path = latest_journal() or Path(".gpusteward") / "quickstart.db"
    if not path.exists():
        raise JournalError(
            f"{path}: no journal there. Fix: run `gpusteward run` first, or pass --journal."
        )
    return SqliteJournal(path)


def find_proposal(journal: SqliteJournal, action_id: str) -> tuple[TickRecord, int]:
    """The newest tick that proposed `action_id` (an id or a unique prefix), and its index."""
    hits: list[tuple[TickRecord, int]] = []
    for record in journal.ticks():
        for i, p in enumerate(record.proposals):
            if p.action.id == action_id or p.action.id.startswith(action_id):
                hits.append((record, i))
    ids = {r.proposals[i].action.id for r, i in hits}
    if not hits:
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
    return hits[-1]


def why(
    action_id: Annotated[str, typer.Argument(help="Action id (or a unique prefix).")],
    journal: Annotated[Path | None, typer.Option(help="Journal file.")] = None,
) -> None:
    """Why an action was proposed: rationale, evidence, verdict, approval and result."""
    with _journal(journal) as j:
        record, i = find_proposal(j, action_id)
    p = record.proposals[i]
    out.print(f"[bold]{p.action.describe()}[/bold]  ({p.action.id})", highlight=False)
    out.print(f"tick #{record.seq} at {record.at:%Y-%m-%d %H:%M:%S} UTC, planner {p.planner}")
    out.print("rationale: ", end="")
    out.print(p.reason, markup=False, highlight=False)
    if p.evidence:
        table = Table(title="evidence")
        for col in ("name", "value", "unit"):
            table.add_column(col)
        for e in p.evidence:
            table.add_row(e.name, str(e.value), e.unit or "")
        out.print(table)
    forecast = next((f for f in record.forecasts if f.key == p.action.target), None)
    if forecast is not None and forecast.points:
        top = max(forecast.points, key=lambda x: x.p90)
        out.print(
            f"forecast ({forecast.forecaster}): peak p90 {top.p90:.2f} req/s at "
            f"{top.at:%H:%M}" + (" [fallback]" if forecast.fallback else "")
        )
    verdict = next((v for v in record.verdicts if v.action_id == p.action.id), None)
    if verdict is not None:
        out.print(f"verdict: [bold]{verdict.decision}[/bold] (policy {verdict.policy_version})")
        for hit in verdict.rules:
            out.print(f"  [{hit.rule}] ", end="", markup=False)
            out.print(hit.reason, markup=False, highlight=False)
        for hit in verdict.shadow:
            would = (hit.effect or "?").replace("_", " ")
            out.print(f"  shadow ({hit.mode}, would {would}): [{hit.rule}] ", end="", markup=False)
            out.print(hit.reason, markup=False, highlight=False)
    for a in record.approvals:
        if a.proposal.action.id == p.action.id:
            out.print(f"approval {a.id}: {a.state.value} (group {a.approver_group})")
    for r in record.results:
        if r.action_id == p.action.id:
            out.print(f"result: {r.status.value} — ", end="")
            out.print(r.message, markup=False, highlight=False)
    if record.llm is not None:
        llm = record.llm
        out.print(
            f"LLM: {llm.model} at {llm.endpoint}, {len(llm.rounds)} round(s), "
            f"{llm.prompt_tokens + llm.completion_tokens} tokens, outcome {llm.outcome}"
        )
        if llm.fallback_reason:
            out.print("  fell back: ", end="")
            out.print(llm.fallback_reason, markup=False, highlight=False)


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
    report = run_eval(loaded, client, engine, limits)
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
