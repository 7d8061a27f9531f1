"""The daemon diagnoses every tick: warnings are journaled, exported on /metrics (open
ones as a gauge, each opened one counted) and posted to the chat's board."""

from __future__ import annotations

import asyncio
from pathlib import Path

from gpusteward.core.diagnosis import RedFlag
from gpusteward.scenario import load_scenario
from gpusteward.settings import Settings
from gpusteward.wiring import build_sim_run


def test_a_spot_wave_is_journaled_exported_and_posted(tmp_path: Path) -> None:
    scenario = load_scenario(
        "redflag-spot-wave"
    )  # every spot node reclaimed at 3 h; 185 ticks: 5 min past it
    run = build_sim_run(scenario, Settings(journal=tmp_path / "j.db"), fresh=True, max_ticks=185)
    asyncio.run(run.daemon.run())
    records = list(run.journal.ticks())
    warned = [w for r in records for w in r.warnings if w.flag is RedFlag.QUEUE_GROWTH]
    after_wave = [w for w in warned if (w.opened_at - scenario.start).total_seconds() >= 10_800]
    assert after_wave, "the queue building after the wave was not warned of"
    assert run.exposition is not None
    metrics = run.exposition.render().decode()
    assert 'gpusteward_warnings_opened_total{flag="queue-growth"}' in metrics
    assert 'gpusteward_warning_active{deployment="serving/m-mid",flag="queue-growth"' in metrics
    assert 'gpusteward_stage_seconds_count{stage="diagnose"} 185.0' in metrics
    assert run.warnings is not None
    posted = [p for p in run.warnings.posts() if p.warning.flag is RedFlag.QUEUE_GROWTH]
    assert posted and posted[0].kind == "opened"
    assert len({p.warning.id for p in posted if p.kind == "opened"}) == len(
        {w.id for w in warned}
    )  # each warning posted once, however many ticks it stayed open
    run.journal.close()
