"""`gpusteward eval --endpoint URL`: the LLM planner's outcome-scored eval against a real
endpoint (configured like `run`: the same settings, then the flags). Each case's plan is
scored by its simulated next hour against the deterministic plan's, and by policy
compliance (`gpusteward.app.agent_eval`); a fallback or an empty answer scores 0."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from gpusteward.app import agent_eval
from gpusteward.app.settings import load_settings
from gpusteward.cli.terminal import err, out
from gpusteward.core.errors import InputError
from gpusteward.core.logs import configure_logging

if TYPE_CHECKING:
    from gpusteward.app.agent_eval.cases import EvalCase
    from gpusteward.app.agent_eval.scoring import CaseResult, EvalReport

WORST = 5  # cases shown with their text and tool calls

# `agent_eval.cases.CASES_FILE`, the --cases default `--help` shows, named without importing
# that module: it loads the planners and the simulator, which `--help` does not need
# (tests/cli/test_startup_imports.py checks that the two agree)
CASES_FILE = Path(agent_eval.__path__[0]) / "cases.yaml"


def select(cases: list[EvalCase], categories: list[str], limit: int | None) -> list[EvalCase]:
    """The cases of `categories` (all: empty), the first `limit` of them."""
    known = sorted({c.category for c in cases})
    unknown = [c for c in categories if c not in known]
    if unknown:
        raise InputError(
            f"eval: --category {unknown[0]!r}: no such category. Fix: one of {', '.join(known)}."
        )
    chosen = [c for c in cases if not categories or c.category in categories]
    return chosen[:limit] if limit is not None else chosen


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
    category: Annotated[
        list[str] | None, typer.Option(help="Only this category (repeatable).")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most N cases.")] = None,
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
    """Score the LLM planner on simulated cases against a real endpoint.

    Each case's plan runs for the next simulated hour; quality is its SLO attainment and
    GPU-hours against the deterministic plan's (a fallback or an empty answer scores 0),
    compliance is whether the guard denied none of its proposals. Client and limits come
    from the settings `run` uses (GPUSTEWARD_LLM_*); a flag wins.
    """
    from gpusteward.app.agent_eval.cases import load_cases
    from gpusteward.app.agent_eval.runner import run_eval
    from gpusteward.app.wiring_llm import llm_client, llm_limits
    from gpusteward.core.llm import LlmUnavailable

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
    llm = settings.llm
    if llm.base_url is None:
        raise InputError(
            "eval: no endpoint (--endpoint unset and GPUSTEWARD_LLM_BASE_URL unset). Fix: pass "
            "--endpoint http://HOST:PORT/v1 or export GPUSTEWARD_LLM_BASE_URL."
        )
    chosen = select(load_cases(cases), category or [], limit)
    client = llm_client(llm, llm.base_url)
    try:  # an endpoint that does not answer is an error, not a score for the fallback
        client.ready(timeout_seconds=max(llm.ready_timeout_seconds, 5.0))
    except LlmUnavailable as e:
        raise LlmUnavailable(
            f"eval: {e}. Nothing was scored. Fix: start the model server, or pass --endpoint "
            "with the URL it serves (…/v1)."
        ) from None

    def progress(i: int, n: int, r: CaseResult) -> None:
        err.print(
            f"case {i}/{n} {r.name}: {r.outcome}, quality {r.plan_quality:.2f}",
            markup=False,
            highlight=False,
        )

    # each case's outcome is in the report; the planner's per-case warnings would repeat it
    configure_logging("error", settings.log_format)
    report = run_eval(chosen, client, llm_limits(llm), progress)
    failed = [c for c in report.cases if (c.reason or "").startswith("LLM call failed")]
    if report.cases and len(failed) == len(report.cases):
        raise LlmUnavailable(
            f"eval: every case's model call failed (first: {failed[0].reason}). Nothing was "
            "scored. Fix: check the server's log, the model name and the timeout."
        )
    if as_json:
        print(report.model_dump_json())
        return
    show(report)


def show(report: EvalReport) -> None:
    table = Table(title=f"eval: {report.model} at {report.endpoint}")
    for col in ("category", "cases", "plan quality", "compliance", "beats det.", "no opinion"):
        table.add_column(col)
    table.add_column("fallback")
    for c in report.categories:
        comp = "-" if c.compliance is None else f"{c.compliance:.2f}"
        table.add_row(
            c.name,
            str(c.cases),
            f"{c.plan_quality:.2f}",
            comp,
            str(c.beats_deterministic),
            str(c.no_opinion),
            str(c.fallback),
        )
    out.print(table)
    comp = "-" if report.compliance is None else f"{report.compliance:.2f}"
    out.print(
        f"plan quality {report.plan_quality:.3f}, compliance {comp}, over "
        f"{len(report.cases)} case(s) in {report.seconds:.0f} s"
    )
    for r in sorted(report.cases, key=lambda r: r.plan_quality)[:WORST]:
        out.print(f"\n{r.name} ({r.outcome}, quality {r.plan_quality:.2f}): {r.description}")
        lines = [f"  reason: {r.reason}"] if r.reason else []
        lines.append(f"  deterministic plan: {'; '.join(r.deterministic_plan) or '-'}")
        lines.append(f"  model plan: {'; '.join(r.model_plan) or '-'}")
        lines += [f"  tool call: {c.name} {c.arguments[:200]}" for c in r.tool_calls]
        lines.append(f"  answer: {r.answer[:300]!r}")
        for line in lines:
            out.print(line, markup=False, highlight=False)
