"""`gpusteward runbook list|run`: the shipped runbooks, dry-run or run on a simulated cluster.

Every step goes through the guard and the approval path; `--dry-run` shows each step's
verdict before anything runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from gpusteward.cli.terminal import out
from gpusteward.core.errors import InputError
from gpusteward.core.user_files import read_user_file

if TYPE_CHECKING:
    from runbooks.model import Runbook
    from runbooks.runner import DryRunStep


def runbook_arg(name_or_path: str) -> Runbook:
    """The runbook a command line names: a YAML file (read by the one reader of user
    files, so a file that is not UTF-8 is named, not a traceback), or a shipped one."""
    from gpusteward.core.documents import load_document
    from runbooks.model import Runbook, find_runbook

    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        return find_runbook(name_or_path)
    runbook, _ = load_document(read_user_file(path, "runbook"), str(path), Runbook)
    return runbook


def parse_params(values: list[str] | None) -> dict[str, str]:
    out_: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise InputError(f"--param {item!r}: expected NAME=VALUE")
        out_[key.strip()] = value.strip()
    return out_


def print_dry_run(steps: Sequence[DryRunStep]) -> None:
    table = Table(title="dry run: every step's verdict; nothing runs")
    for col in ("step", "action", "verdict", "rules", "preconditions", "verify", "rollback"):
        table.add_column(col)
    for s in steps:
        d = s.model_dump()
        table.add_row(
            d["step"],
            d["action"] or "-",
            d["decision"] or "-",
            ", ".join(d["rules"]) or d["reason"][:80],
            ("holds: " if d["preconditions_hold"] else "FAILS: ") + "; ".join(d["preconditions"]),
            "; ".join(d["verify"]),
            f"{d['rollback']} ({d['rollback_decision']})"
            if d["rollback_decision"]
            else str(d["rollback"]),
        )
    out.print(table)


runbook_app = typer.Typer(
    help="Typed remediation runbooks: list, run (dry-run first).", no_args_is_help=True
)


@runbook_app.command("list")
def runbook_list() -> None:
    """The shipped runbooks and when to use them."""
    from runbooks.model import load_library

    for rb in load_library().values():
        out.print(f"[bold]{rb.name}[/bold]: {rb.description}")
        out.print(f"  when: {rb.when}", highlight=False)
        params = ", ".join(
            f"{n} ({p.type}{', default ' + str(p.default) if p.default is not None else ''})"
            for n, p in rb.parameters.items()
        )
        out.print(
            f"  parameters: {params or 'none'}; steps: {', '.join(s.id for s in rb.steps)}",
            highlight=False,
        )


@runbook_app.command("run")
def runbook_run(
    name: Annotated[str, typer.Argument(help="Runbook name or YAML path.")],
    param: Annotated[list[str] | None, typer.Option(help="NAME=VALUE (repeatable).")] = None,
    scenario: Annotated[
        str, typer.Option(help="Scenario to run it on (simulated).")
    ] = "quickstart",
    at: Annotated[str, typer.Option(help="How far into the scenario, e.g. 6h.")] = "0s",
    dry_run_: Annotated[
        bool, typer.Option("--dry-run", help="Show each step's verdict only.")
    ] = False,
) -> None:
    """Run a runbook on a simulated cluster through the guard and the approval path."""
    from datetime import timedelta

    from gpusteward.app.replay_setup import SimRunbookTarget, policy_file
    from gpusteward.app.scenario import load_scenario
    from gpusteward.chat.in_memory import InMemoryApprovalGate
    from gpusteward.core.documents import parse_duration
    from gpusteward.sim.engine import Simulator
    from runbooks.runner import dry_run, start, summary

    rb = runbook_arg(name)
    loaded = load_scenario(scenario)
    simulator = Simulator(loaded.sim_spec())
    simulator.advance_to(simulator.now + timedelta(seconds=parse_duration(at)))
    target = SimRunbookTarget(simulator)
    engine = policy_file(Path(loaded.policy))
    params = parse_params(param)
    out.print(
        f"runbook {rb.name} on {loaded.name} (simulated) at {simulator.now:%Y-%m-%d %H:%M} UTC"
    )
    print_dry_run(dry_run(rb, params, target.snapshot(), target.guard_inputs(), engine))
    if dry_run_:
        return
    gate = InMemoryApprovalGate()
    run = start(rb, params, target=target, policy=engine, approvals=gate)
    status = run.advance()
    for line in summary(run.events):
        out.print(line, markup=False, highlight=False)
    if status == "waiting_approval" and run.waiting is not None:
        out.print(
            f"waiting for approval {run.waiting.id} (group {run.waiting.approver_group}): this "
            "simulated run ends here; on a live daemon the request waits in the approval chat"
        )
    else:
        out.print(f"status: {status}" + (f" ({run.failure})" if run.failure else ""))
    if status in ("rollback_failed", "failed"):
        raise typer.Exit(1)
