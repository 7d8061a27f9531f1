"""Which CEL package should evaluate custom policy conditions (issue 4)?

Measures every installed candidate on the same ground: correctness on known-answer
vectors (what policy rules need, answers taken from the CEL language definition),
evaluation speed on a realistic ~30-field activation, and the compile error a
policy author sees for a syntax error. Then measures `policies.cel`, the wrapper over
the chosen package, which is what the policy engine actually pays.

Each candidate runs in its own child process: `common-expression-language` and
`python-cel` both install a top-level `cel` package (only one can live in the venv;
install the other with `pip install --target DIR python-cel` and pass
`--python-cel-path DIR`), and `python-cel` can abort the process with a Rust panic.
This benchmark is the one place that imports several CEL packages; the project
itself imports only the chosen one, in `policies/cel.py`.

    python benchmarks/cel_choice.py [--python-cel-path DIR] [--evals 20000] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script (and in each child): for its sibling
    sys.path.insert(0, str(ROOT))

from benchmarks.cel_candidates import CHOSEN, FACTORIES, Candidate  # noqa: E402
from benchmarks.targets import exit_status, target  # noqa: E402

TARGET_US = 20.0
RULES_PER_VERDICT = 5  # a verdict = one prepared activation + this many conditions

ERROR = object()  # expected outcome: evaluation must fail (not return false)

SMALL_ACTIVATION: dict[str, Any] = {
    "replicas": 4,
    "max_replicas": 8,
    "gpu_util": 0.82,
    "name": "llm-chat",
    "approved": True,
    "owner": None,
    "zones": ["us-east-1a", "us-east-1b"],
    "deployment": {"labels": {"tier": "critical", "team": "ml"}, "replicas": 4},
    "nodes": [
        {"name": "gpu-a", "gpus": 8, "cordoned": False},
        {"name": "gpu-b", "gpus": 4, "cordoned": True},
    ],
}

# (expression, expected value or ERROR, what it checks)
VECTORS: list[tuple[str, object, str]] = [
    ("replicas + 1 == 5", True, "int arithmetic"),
    ("7 / 2 == 3 && 7 % 3 == 1", True, "int division truncates, modulo"),
    ("gpu_util * 100.0 >= 80.0", True, "double arithmetic"),
    ("replicas > 3.5", True, "int vs double ordering (spec: cross-type comparison)"),
    ("replicas == 4.0", True, "int vs double equality (spec: heterogeneous equality)"),
    ("replicas * 2.0 > 7.5", ERROR, "int * double (spec: no such overload, no coercion)"),
    ("double(replicas) * 2.0 > 7.5", True, "explicit double() conversion"),
    ("int(gpu_util * 10.0) == 8", True, "int() truncates a double"),
    ("approved && replicas < max_replicas", True, "&&"),
    ("!approved || replicas > 100", False, "! and ||"),
    ("false && (1 / 0 == 1)", False, "&& short-circuits an error"),
    ("(1 / 0 == 1) || true", True, "|| absorbs an error on the left (commutative)"),
    ("1 / 0 == 1", ERROR, "division by zero is an error"),
    ("name.startsWith('llm')", True, "startsWith"),
    ("name.endsWith('-chat')", True, "endsWith"),
    ("name.contains('m-c')", True, "contains"),
    ("name.matches('^llm-[a-z]+$')", True, "matches (RE2)"),
    ("'us-east-1b' in zones", True, "in on a list"),
    ("'team' in deployment.labels", True, "in on a map (keys)"),
    ("deployment.labels['tier'] == 'critical'", True, "map index"),
    ("deployment.labels.tier == 'critical'", True, "map field selection"),
    ("has(deployment.labels.tier)", True, "has() on a present key"),
    ("has(deployment.labels.owner)", False, "has() on a missing key"),
    ("deployment.labels['owner'] == 'x'", ERROR, "missing key by index is an error"),
    ("deployment.labels.owner == 'x'", ERROR, "missing key by field is an error"),
    ("undeclared_name > 1", ERROR, "unknown variable is an error"),
    ("owner == null", True, "null"),
    ("size(zones) == 2 && size(name) == 8", True, "size() on list and string"),
    ("replicas > 2 ? 'many' : 'few'", "many", "ternary"),
    ("nodes.exists(n, n.cordoned)", True, "exists macro"),
    ("nodes.all(n, n.gpus >= 8)", False, "all macro"),
    (
        "timestamp('2026-11-28T10:00:00Z') + duration('90m') > timestamp('2026-11-28T11:00:00Z')",
        True,
        "timestamp + duration",
    ),
]

SYNTAX_ERROR = "deployment.labels['tier' == 'critical'"

SPEED_EXPRESSION = (
    "deployment.labels['tier'] == 'critical' && replicas + step <= max_replicas"
    " && gpu_util < 0.95 && name.startsWith('llm') && !nodes.exists(n, n.cordoned && n.gpus > 4)"
)


def realistic_activation() -> dict[str, Any]:
    """~30 top-level fields with nested maps and lists, like a scale proposal's context."""
    act: dict[str, Any] = dict(SMALL_ACTIVATION)
    act.update(
        step=2,
        namespace="default",
        model="llama-3.1-70b",
        action="scale",
        min_replicas=1,
        queue_depth=37,
        p95_latency_ms=412.5,
        slo_latency_ms=800.0,
        tokens_per_s=18250.0,
        forecast_rps=[12.5, 14.0, 15.25, 13.0],
        hour=14,
        weekday="saturday",
        gpu_budget=64,
        gpus_allocated=40,
        gpus_per_replica=2,
        gpu_type="H100",
        region="us-east-1",
        cluster="prod-a",
        change_freeze=False,
        requested_by="planner",
        reason="forecast peak in 15 minutes",
        cost_per_hour=98.4,
        annotations={"owner": "ml-platform", "pager": "llm-oncall", "sla": "gold"},
        limits={"max_step": 4, "max_gpus": 16, "cooldown_s": 300},
    )
    act["deployment"] = {
        "labels": {"tier": "critical", "team": "ml", "app": "chat"},
        "replicas": 4,
        "resources": {"gpu": 2, "memory_gib": 160, "cpu": 16},
    }
    act["nodes"] = [
        {"name": f"gpu-{i}", "gpus": 8, "cordoned": False, "labels": {"zone": "us-east-1a"}}
        for i in range(6)
    ]
    return act


def _matches(value: object, expected: object) -> bool:
    if isinstance(expected, bool) or isinstance(value, bool):
        return type(value) is type(expected) and value == expected
    return value == expected


def check_vectors(cand: Candidate) -> tuple[int, list[str]]:
    """Run every vector in a fresh context; return (passed, failure notes)."""
    passed, notes = 0, []
    for src, expected, what in VECTORS:
        try:
            outcome: object = cand.evaluate(cand.compile(src), cand.prepare(SMALL_ACTIVATION))
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # python-cel raises pyo3 PanicException (BaseException)
            outcome = ERROR
            detail = f"{type(exc).__name__}: {str(exc).splitlines()[0][:90] if str(exc) else ''}"
        else:
            detail = repr(outcome)
        if (outcome is ERROR and expected is ERROR) or _matches(outcome, expected):
            passed += 1
        else:
            want = "an error" if expected is ERROR else repr(expected)
            notes.append(f"{src}  [{what}]: got {detail}; expected {want}")
    return passed, notes


def measure_speed(cand: Candidate, evals: int) -> dict[str, float]:
    act = realistic_activation()
    prog = cand.compile(SPEED_EXPRESSION)
    ctx = cand.prepare(act)
    if cand.evaluate(prog, ctx) is not True:
        raise AssertionError(f"{cand.name}: speed expression did not evaluate to true")
    for _ in range(min(evals // 10, 500)):  # warm-up
        cand.evaluate(prog, ctx)
    samples = []
    clock = time.perf_counter_ns
    start = clock()
    for _ in range(evals):
        t0 = clock()
        cand.evaluate(prog, ctx)
        samples.append(clock() - t0)
    total_us = (clock() - start) / 1e3
    prep = []
    for _ in range(max(evals // 20, 50)):
        t0 = clock()
        cand.prepare(act)
        prep.append(clock() - t0)
    samples.sort()
    compile_t0 = clock()
    cand.compile(SPEED_EXPRESSION)
    return {
        "us_per_eval": total_us / evals,
        "p50_us": samples[len(samples) // 2] / 1e3,
        "p99_us": samples[int(len(samples) * 0.99)] / 1e3,
        "prepare_us": statistics.median(prep) / 1e3,
        "compile_us": (clock() - compile_t0) / 1e3,
        "verdict_us": statistics.median(prep) / 1e3 + RULES_PER_VERDICT * total_us / evals,
    }


def compile_error(cand: Candidate) -> dict[str, object]:
    try:
        cand.compile(SYNTAX_ERROR)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        text = str(exc)
        return {
            "raises": type(exc).__name__,
            "has_position": any(m in text for m in (":1:", "line 1", "column", "col ")),
            "message": text[:240],
        }
    return {"raises": None, "has_position": False, "message": "compiled without error"}


def run_candidate(key: str, evals: int) -> dict[str, object]:
    try:
        cand = FACTORIES[key]()
    except ImportError as exc:
        return {"name": key, "installed": False, "why": str(exc)}
    passed, notes = check_vectors(cand)
    result: dict[str, object] = {
        "name": cand.name,
        "installed": True,
        "passed": passed,
        "total": len(VECTORS),
        "failures": notes,
        "compile_error": compile_error(cand),
    }
    try:
        result["speed"] = measure_speed(cand, evals)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        result["speed_error"] = f"{type(exc).__name__}: {exc}"
    return result


def run_in_child(key: str, evals: int, extra_path: str | None) -> dict[str, object]:
    env = dict(os.environ)
    if extra_path:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (extra_path, env.get("PYTHONPATH")) if p)
    proc = subprocess.run(
        [sys.executable, __file__, "--candidate", key, "--evals", str(evals)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:]
        return {"name": key, "installed": True, "crashed": f"exit {proc.returncode}: {tail}"}
    parsed: dict[str, object] = json.loads(proc.stdout)
    return parsed


def _row(r: dict[str, Any]) -> list[str]:
    if not r.get("installed"):
        return [r["name"], "not importable", "", "", "", "", "", ""]
    if "crashed" in r:
        return [r["name"], f"crashed: {r['crashed']}", "", "", "", "", "", ""]
    s = r.get("speed")
    speed = (
        [f"{s['us_per_eval']:.2f}", f"{s['p50_us']:.2f}", f"{s['p99_us']:.2f}"]
        if s
        else ["failed", "", ""]
    )
    prep = [f"{s['prepare_us']:.1f}", f"{s['verdict_us']:.1f}"] if s else ["", ""]
    pos = "yes" if r["compile_error"]["has_position"] else "no"
    return [r["name"], f"{r['passed']}/{r['total']}", *speed, *prep, pos]


def print_report(results: list[dict[str, Any]], evals: int) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 140), markup=False, highlight=False)
    table = Table(title=f"CEL candidates — {evals:,} evaluations of the speed rule")
    columns = ("package", "vectors", "µs/eval", "p50 µs", "p99 µs", "prepare µs")
    for col in (*columns, f"verdict µs ({RULES_PER_VERDICT} rules)", "err pos"):
        table.add_column(col, justify="left" if col == "package" else "right", no_wrap=True)
    for r in results:
        table.add_row(*_row(r))
    console.print(table)
    for r in results:
        for note in r.get("failures", []):
            console.print(f"  FAIL {r['name']}: {note}")
        if "compile_error" in r:
            first = str(r["compile_error"]["message"]).splitlines()[0]
            console.print(f"  {r['name']} syntax error → {first}")
    console.print(
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {sys.version[:6]}"
    )


def targets(results: list[dict[str, Any]]) -> list[dict[str, object]]:
    wrapper = next(r for r in results if str(r["name"]).startswith("policies.cel"))
    us = wrapper["speed"]["us_per_eval"] if "speed" in wrapper else None
    return [
        target(
            "chosen CEL package µs per evaluation",
            round(us, 3) if us is not None else None,
            f"<= {TARGET_US:g}",
            us is not None and us <= TARGET_US,
        ),
        target(
            "chosen CEL package correctness vectors passed",
            wrapper.get("passed"),
            "== total",
            wrapper.get("passed") == len(VECTORS),
        ),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--evals", type=int, default=20_000)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--python-cel-path", help="a --target dir holding python-cel")
    parser.add_argument("--candidate", choices=sorted(FACTORIES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.candidate:  # child mode
        print(json.dumps(run_candidate(args.candidate, args.evals)))
        return 0
    results = [
        run_in_child(key, args.evals, args.python_cel_path if key == "python-cel" else None)
        for key in FACTORIES
    ]
    if args.json:
        print(json.dumps({"chosen": CHOSEN, "results": results, "targets": targets(results)}))
    else:
        print_report(results, args.evals)
    return exit_status(targets(results))


if __name__ == "__main__":
    sys.exit(main())
