"""Runbooks as tools for the LLM planner agent: it may list them and choose one.

`runbooks` lists the library (what each does, when to use it, its parameters).
`propose_runbook` binds one to this tick's snapshot and proposes each step's action
through the ordinary proposal tools, so every step gets the verdict the guard will give
it (earlier steps counted as allowed) and goes through the same approval path. Chosen by
the agent, the steps are this tick's proposals: the runner's waits, verifications and
rollbacks apply when a person or the daemon runs the runbook (`gpusteward runbook run`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from pydantic import Field

from gpusteward.core.errors import InputError
from runbooks.binding import bind, resolve
from runbooks.model import Runbook
from tools.base import InvalidArgument, Tool, ToolArgs, ToolResult, ToolRow, Unavailable
from tools.context import ToolContext
from tools.propose import PROPOSAL_TOOLS
from tools.text import clean


class RunbookParam(ToolRow):
    name: str
    type: str
    default: str | None = None
    description: str = ""


class RunbookBrief(ToolRow):
    name: str
    description: str
    when: str
    parameters: tuple[RunbookParam, ...]
    steps: tuple[str, ...]


class ListArgs(ToolArgs):
    pass


class RunbookList(ToolResult):
    runbooks: tuple[RunbookBrief, ...]


class ProposeRunbookArgs(ToolArgs):
    name: str = Field(min_length=1, max_length=64)
    parameters: dict[str, str | int | float] = Field(default_factory=dict)
    rationale: str = Field(min_length=1, max_length=800)


class StepVerdict(ToolRow):
    step: str
    action: str
    decision: str
    rules: tuple[str, ...]


class RunbookProposed(ToolResult):
    runbook: str
    steps: tuple[StepVerdict, ...]


def runbook_tools(library: Mapping[str, Runbook]) -> tuple[Tool[ToolArgs], ...]:
    propose = {t.name: t for t in PROPOSAL_TOOLS}

    def list_runbooks(args: ListArgs, ctx: ToolContext) -> RunbookList:
        return RunbookList(
            runbooks=tuple(
                RunbookBrief(
                    name=rb.name,
                    description=rb.description,
                    when=rb.when,
                    parameters=tuple(
                        RunbookParam(
                            name=n,
                            type=p.type,
                            default=None if p.default is None else str(p.default),
                            description=p.description,
                        )
                        for n, p in rb.parameters.items()
                    ),
                    steps=tuple(f"{s.id}: {s.description}" for s in rb.steps),
                )
                for rb in library.values()
            )
        )

    def propose_runbook(args: ProposeRunbookArgs, ctx: ToolContext) -> RunbookProposed:
        rb = library.get(args.name)
        if rb is None:
            raise InvalidArgument("name", "no such runbook", args.name, sorted(library))
        try:
            values = bind(rb, {k: str(v) for k, v in args.parameters.items()}, ctx.snapshot)
        except InputError as e:
            raise InvalidArgument("parameters", str(e), json.dumps(args.parameters)) from None
        out = []
        for step in rb.steps:
            tool = propose[step.call.tool]
            body = dict(resolve(step.call.args, values))  # type: ignore[call-overload]
            body["rationale"] = clean(f"runbook {rb.name}, step {step.id}: {args.rationale}", 800)
            result = tool.run(tool.args.model_validate(body), ctx)
            if not getattr(result, "ok", False):
                raise Unavailable(f"step {step.id} could not be proposed")
            verdict = ctx.verdicts[-1]
            out.append(
                StepVerdict(
                    step=step.id,
                    action=ctx.proposals[-1].action.describe(),
                    decision=verdict.decision,
                    rules=tuple(h.rule for h in verdict.rules),
                )
            )
        return RunbookProposed(runbook=rb.name, steps=tuple(out))

    return (
        Tool(
            "runbooks",
            "The reviewed remediation runbooks: what each does, when to use it, its parameters.",
            ListArgs,
            list_runbooks,  # type: ignore[arg-type]
        ),
        Tool(
            "propose_runbook",
            "Propose running a runbook: each of its steps becomes a proposal, judged by the "
            "guard like any other.",
            ProposeRunbookArgs,
            propose_runbook,  # type: ignore[arg-type]
            kind="propose",
        ),
    )
