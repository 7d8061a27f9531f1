"""Operator intent: an announced 3x launch, with and without a model that reads the note.

Runs the daemon on the embedded simulator over `launch-event` (ServeGen m-large, a 3x
launch on day two 09:00-11:00 UTC, announced by a note on the deployment the evening
before), side by side in one process:

- the deterministic planner alone (it cannot read the note);
- the LLM planner with `gpusteward.testing.intent.IntentModel`, a scripted stand-in for a
  model that reads the note (in-process; the real `openai` client over HTTP is covered by
  the tests). Its `schedule` proposal needs a person's approval: a scripted on-call
  approver approves pending schedule requests `--approve-after` minutes after they appear,
  through the same approval store the chat uses, and the launch's scale-up when the
  guard asks a person for it (a step over 16 replicas); nothing else is approved.

Reported: SLO attainment during the event (requests served within SLO / requests
finished, between 09:00 and 11:00), over the whole run, GPU-hours, and when the first
replica above the normal load was Ready. `--json` prints one object with `targets`
(issue #22: attainment during the event with the note-reading model >= 99 %).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console

from agents.llm.planner import LlmPlanner
from benchmarks.targets import print_targets, target
from gpusteward.app.scenario import Scenario, load_scenario
from gpusteward.app.settings import load_settings
from gpusteward.app.wiring_sim import build_sim_run
from gpusteward.core.approvals import ApprovalState
from gpusteward.core.cluster import ModelAccounting, ReplicaPhase, overall_attainment
from gpusteward.core.logs import configure_logging
from gpusteward.core.tick import TickRecord
from gpusteward.sim.spec import ProfileSpec
from gpusteward.testing.intent import IntentModel

SCENARIO = "launch-event"
TARGET = 0.99
SCHEDULED_SCALE_UP = "scheduled capacity"  # agents.scheduled's reason for the scale-up


class EventWatch:
    """Per tick: the accounting at the event's start and end, and the Ready replicas."""

    def __init__(self, start: datetime, end: datetime) -> None:
        self.start, self.end = start, end
        self.at_start: dict[str, ModelAccounting] | None = None
        self.at_end: dict[str, ModelAccounting] | None = None
        self.ready_at_start = 0
        self.schedules: list[str] = []
        self.approved: list[str] = []

    def __call__(self, record: TickRecord) -> None:
        snap = record.snapshot
        if snap is None or snap.accounting is None:
            return
        if self.at_start is None and snap.at >= self.start:
            self.at_start = dict(snap.accounting)
            self.ready_at_start = sum(d.count(ReplicaPhase.READY) for d in snap.deployments)
        if self.at_end is None and snap.at >= self.end:
            self.at_end = dict(snap.accounting)
        for p in record.proposals:  # the same announcement each tick is one action id
            if p.action.kind == "schedule" and p.action.describe() not in self.schedules:
                self.schedules.append(p.action.describe())

    def attainment(self) -> float:
        if self.at_start is None or self.at_end is None:
            raise RuntimeError("the run did not cover the event; check the scenario's duration")
        within = done = 0
        for key, a in self.at_end.items():
            b = self.at_start.get(key, ModelAccounting())
            within += a.served_within_slo - b.served_within_slo
            done += (a.served + a.dropped) - (b.served + b.dropped)
        return within / done if done else 1.0


def held_out(scenario: Scenario) -> Scenario:
    """The same launch on the other ServeGen LLM (m-mid: its own trace, throughput and
    cold start), so nothing is tuned on the trace the scenario ships with."""
    m = scenario.models[0]
    trace = m.trace.model_copy(
        update={
            "file": m.trace.file.with_name("servegen_m-mid_total_rate_10min.csv"),
            "scale": 0.015,
        }
    )
    model = m.model_copy(
        update={
            "trace": trace,
            "gpu_memory_gib": 30.0,
            "cold_start_seconds": 90.0,
            "profile": ProfileSpec(throughput_rps={"H100-80GB": 4.0}),
        }
    )
    return scenario.model_copy(update={"name": "launch-event-m-mid", "models": (model,)})


def run(
    scenario: Scenario, model: IntentModel | None, approve_after_minutes: float
) -> dict[str, Any]:
    event = scenario.models[0].trace.events[0]
    start = scenario.start + timedelta(seconds=event.after_seconds)
    watch = EventWatch(start, start + timedelta(seconds=event.duration_seconds))
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            journal=Path(tmp) / "intent.db",
            llm_base_url="http://127.0.0.1:9/v1" if model is not None else None,
        )
        holder: dict[str, Any] = {}

        def on_tick(record: TickRecord) -> None:
            watch(record)
            store, now = holder["sim"].approvals, record.at
            for request in store.pending(now):
                age = (now - request.created_at).total_seconds() / 60
                p = request.proposal
                schedule = p.action.kind == "schedule" and age >= approve_after_minutes
                if schedule or p.reason.startswith(SCHEDULED_SCALE_UP):
                    store.decide(
                        request.id, approve=True, by="oncall-bot", channel="benchmark", now=now
                    )
                    watch.approved.append(p.action.describe())

        sim = build_sim_run(scenario, settings, fresh=True, on_tick=on_tick)
        holder["sim"] = sim
        if model is not None:
            assert isinstance(sim.daemon.planner, LlmPlanner)
            sim.daemon.planner.client = model
        started = time.perf_counter()
        stats = asyncio.run(sim.daemon.run(tick_first=False))
        wall = time.perf_counter() - started
        assert sim.approvals is not None
        executed = [
            r.state.value for r in sim.approvals.recent(50) if r.state != ApprovalState.PENDING
        ]
        sim.journal.close()
    last = stats.last_snapshot
    accounting = last.accounting if last is not None and last.accounting else {}
    return {
        "ticks": stats.ticks,
        "wall_s": round(wall, 1),
        "event_attainment": round(watch.attainment(), 5),
        "run_attainment": round(overall_attainment(accounting), 5),
        "gpu_hours": round(sum(a.gpu_hours for a in accounting.values()), 1),
        "ready_at_event_start": watch.ready_at_start,
        "schedules_proposed": watch.schedules,
        "schedules_approved": watch.approved,
        "approval_states": executed,
    }


def targets(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for label in ("", " (m-mid)"):
        value = results["note-reading model" + label]["event_attainment"]
        base = results["deterministic" + label]["event_attainment"]
        out.append(
            target(
                f"launch-event{label}: SLO attainment during the announced 3x event, "
                f"note-reading model (deterministic planner: {base:.4f})",
                value,
                f">= {TARGET}",
                value >= TARGET,
            )
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="one JSON object with targets")
    parser.add_argument("--approve-after", type=float, default=30.0, help="minutes")
    args = parser.parse_args()
    configure_logging("error", "json")
    results = run_all(args.approve_after)
    found = targets(results)
    if args.json:
        print(json.dumps({"results": results, "targets": found}))
        return
    print_table(results)


def run_all(approve_after_minutes: float = 30.0) -> dict[str, dict[str, Any]]:
    """Both scenarios (shipped, m-mid), each with and without the note-reading model."""
    shipped = load_scenario(SCENARIO)
    results = {}
    for label, scenario in (("", shipped), (" (m-mid)", held_out(shipped))):
        results["deterministic" + label] = run(scenario, None, approve_after_minutes)
        results["note-reading model" + label] = run(scenario, IntentModel(), approve_after_minutes)
    return results


def print_table(results: dict[str, dict[str, Any]]) -> None:
    found = targets(results)
    print(
        f"{'planner':<28} {'event att.':>10} {'run att.':>9} {'GPU-h':>7} "
        f"{'ready@09:00':>11} {'wall s':>7}"
    )
    for name, r in results.items():
        print(
            f"{name:<28} {r['event_attainment']:>10.4f} {r['run_attainment']:>9.4f} "
            f"{r['gpu_hours']:>7.1f} {r['ready_at_event_start']:>11} {r['wall_s']:>7.1f}"
        )
    for name, r in results.items():
        for s in r["schedules_proposed"][:3]:
            print(f"{name}: proposed {s}")
        for s in r["schedules_approved"][:3]:
            print(f"{name}: approved {s}")
    print_targets(Console(), found)


if __name__ == "__main__":
    main()
