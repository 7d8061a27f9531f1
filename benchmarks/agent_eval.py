"""The agent eval (issue #22): the LLM planner scored by the simulated outcome of its plan.

Runs the three scripted reference models (`gpusteward.testing.models`: ideal, silent,
adversarial; in-process, no HTTP) over every case of `gpusteward/app/agent_eval/cases.yaml`.
Each case's situation is built once and every model is scored on it (plan quality against
the deterministic plan's hour, policy compliance; see `gpusteward.app.agent_eval.scoring`).
With `--real`, the real Gemma 3 270M through llama-cpp-python's server on CPU too, over
`--real-limit` cases, or the first `--real-per-category` cases of every category (its
score is recorded as it is; no target).

Then operator intent (`benchmarks/operator_intent.py`): the launch-event scenario and its
m-mid variant, deterministic planner against the note-reading scripted model; its
attainment-during-the-event targets join the list (`--no-intent` skips it).

Prints a table per category and model; `--json` prints one object with a `targets` list.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make the repository importable
    sys.path.insert(0, str(ROOT))

from agents.llm.limits import LlmLimits  # noqa: E402
from benchmarks import operator_intent  # noqa: E402
from benchmarks.targets import exit_status, markdown_targets, target  # noqa: E402
from gpusteward.app.agent_eval.cases import CASES_FILE, load_cases  # noqa: E402
from gpusteward.app.agent_eval.runner import Prepared, prepare, score  # noqa: E402
from gpusteward.app.agent_eval.scoring import CaseResult, EvalReport, report  # noqa: E402
from gpusteward.core.llm import LlmClient  # noqa: E402
from gpusteward.core.logs import configure_logging  # noqa: E402
from gpusteward.testing.models import AdversarialModel, IdealModel, SilentModel  # noqa: E402

SCRIPTED: dict[str, Callable[[], LlmClient]] = {
    "ideal": IdealModel,
    "silent": SilentModel,
    "adversarial": AdversarialModel,
}
MIN_CASES = 150
IDEAL_QUALITY = 0.95
SILENT_QUALITY = 0.05
MAX_WALL_SECONDS = 300.0


def run_models(
    prepared: Sequence[Prepared],
    clients: dict[str, LlmClient],
    limits: LlmLimits,
    progress: bool = False,
) -> dict[str, EvalReport]:
    """Every model over every prepared case (each situation is shared, never rebuilt);
    with `progress`, one line per case on stderr (a real model takes seconds a case)."""
    out = {}
    for name, client in clients.items():
        t0 = time.monotonic()
        results: list[CaseResult] = []
        for i, p in enumerate(prepared, 1):
            results.append(score(p, client, limits))
            if progress:
                r = results[-1]
                print(
                    f"{name}: case {i}/{len(prepared)} {r.name}: {r.outcome}, quality "
                    f"{r.plan_quality:.2f} ({r.seconds:.1f} s)",
                    file=sys.stderr,
                    flush=True,
                )
        out[name] = report(client.model, client.endpoint, results, time.monotonic() - t0)
    return out


def targets_for(cases: int, reports: dict[str, EvalReport], wall: float) -> list[dict[str, Any]]:
    """The issue-22 targets of the scripted run (append others' targets to this list)."""
    ideal, silent = reports["ideal"].plan_quality, reports["silent"].plan_quality
    return [
        target("cases", cases, f">= {MIN_CASES}", cases >= MIN_CASES),
        target("ideal plan quality", ideal, f">= {IDEAL_QUALITY}", ideal >= IDEAL_QUALITY),
        target("silent plan quality", silent, f"<= {SILENT_QUALITY}", silent <= SILENT_QUALITY),
        target(
            "scripted full run wall seconds",
            round(wall, 1),
            f"<= {MAX_WALL_SECONDS:g}",
            wall <= MAX_WALL_SECONDS,
        ),
    ]


def real_report(prepared: Sequence[Prepared], limit: int | None) -> EvalReport:
    """The real Gemma model over the first `limit` cases (all: None)."""
    from gpusteward.app.settings import Settings
    from gpusteward.app.wiring_llm import llm_client, llm_limits
    from gpusteward.testing.llama import running_llama_server  # needs `make llm-server`

    with tempfile.TemporaryDirectory() as work, running_llama_server(Path(work)) as llm:
        settings = Settings.model_validate(llm.settings())
        client = llm_client(settings.llm, llm.base_url)
        chosen = prepared[:limit] if limit else prepared
        return run_models(chosen, {"real": client}, llm_limits(settings.llm), progress=True)["real"]


def table(reports: dict[str, EvalReport], targets: list[dict[str, Any]]) -> str:
    lines = [
        "| model | category | cases | plan quality | compliance | beats det. | no opinion "
        "| fallback |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in reports.items():
        for c in (*r.categories, None):
            if c is None:
                comp = "-" if r.compliance is None else f"{r.compliance:.2f}"
                lines.append(
                    f"| **{name}** | **all** | {len(r.cases)} | **{r.plan_quality:.3f}** | "
                    f"{comp} | | | |"
                )
                continue
            comp = "-" if c.compliance is None else f"{c.compliance:.2f}"
            lines.append(
                f"| {name} | {c.name} | {c.cases} | {c.plan_quality:.3f} | {comp} | "
                f"{c.beats_deterministic} | {c.no_opinion} | {c.fallback} |"
            )
    lines += markdown_targets(targets)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cases", type=Path, default=CASES_FILE, help="cases file (YAML)")
    parser.add_argument("--limit", type=int, default=None, help="first N cases only")
    parser.add_argument("--real", action="store_true", help="also the real Gemma model")
    parser.add_argument("--real-limit", type=int, default=None, help="cases for --real")
    parser.add_argument(
        "--real-per-category", type=int, default=None, help="first N of each category (--real)"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object")
    parser.add_argument("--no-intent", action="store_true", help="skip operator intent")
    args = parser.parse_args(argv)
    configure_logging("error", "json")
    t0 = time.monotonic()
    cases = load_cases(args.cases)[: args.limit]
    prepared = [prepare(c) for c in cases]
    clients = {name: make() for name, make in SCRIPTED.items()}
    reports = run_models(prepared, clients, LlmLimits())
    wall = time.monotonic() - t0
    targets = targets_for(len(cases), reports, wall)
    intent = {} if args.no_intent else operator_intent.run_all()
    if intent:
        targets += operator_intent.targets(intent)
    if args.real:
        chosen = list(prepared)
        if args.real_per_category is not None:
            seen: dict[str, int] = {}
            chosen = []
            for p in prepared:
                seen[p.situation.case.category] = seen.get(p.situation.case.category, 0) + 1
                if seen[p.situation.case.category] <= args.real_per_category:
                    chosen.append(p)
        reports["real"] = real_report(chosen, args.real_limit)
    if args.json:
        body = {
            "wall_s": round(wall, 1),
            "cases": len(cases),
            "models": {
                name: {
                    "plan_quality": r.plan_quality,
                    "compliance": r.compliance,
                    "seconds": r.seconds,
                    "categories": [c.model_dump(mode="json") for c in r.categories],
                }
                for name, r in reports.items()
            },
            "operator_intent": intent,
            "targets": targets,
        }
        if "real" in reports:
            body["real_cases"] = [c.model_dump(mode="json") for c in reports["real"].cases]
        print(json.dumps(body))
    else:
        print(table(reports, targets))
        if intent:
            print()
            operator_intent.print_table(intent)
        print(f"\n{len(cases)} cases; scripted run {wall:.1f} s")
    return exit_status(targets)


if __name__ == "__main__":
    sys.exit(main())
