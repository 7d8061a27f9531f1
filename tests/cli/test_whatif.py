"""`gpusteward whatif --load Nx`: where a scenario or a recorded cluster breaks at a
multiple of its load, what would hold the SLO, and the check against the oracle."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gpusteward.app.scenario import load_scenario
from gpusteward.app.whatif.answer import answer, first_misses, pool_exhaustion, sizing_error
from gpusteward.app.whatif.load import (
    LoadQuestion,
    TickFacts,
    oracle_check,
    parse_load,
    parse_window,
    run_whatif,
    whatif_scenario,
)
from gpusteward.core.errors import InputError
from tests.cli.conftest import gpusteward
from tests.cli.replay_bundle import export_bundle

T0 = datetime(2026, 11, 2, tzinfo=UTC)


def test_load_and_window_parse_and_refuse_with_the_fix() -> None:
    assert parse_load("2x") == 2.0 and parse_load("150%") == 1.5 and parse_load("3") == 3.0
    assert parse_window("13d:14d", (0, 1)) == (13 * 86_400, 14 * 86_400)
    assert parse_window(None, (5.0, 6.0)) == (5.0, 6.0)
    with pytest.raises(InputError, match=r"--load 'double'.*e\.g\. 2x"):
        parse_load("double")
    with pytest.raises(InputError, match=r"--window '14d:13d'.*end must come after"):
        parse_window("14d:13d", (0, 1))
    with pytest.raises(InputError, match=r"--window '13d'.*START:END"):
        parse_window("13d", (0, 1))


def test_the_whatif_scenario_moves_the_traces_to_the_window_and_scales_them() -> None:
    base = load_scenario("servegen-14d")
    q = LoadQuestion(base, 2.0, (13 * 86_400.0, 14 * 86_400.0), "servegen-14d")
    scn = whatif_scenario(q)
    assert scn.start == base.start + timedelta(days=13) - timedelta(hours=1)  # warm-up
    assert scn.duration_seconds == 86_400 + 3600
    for old, new in zip(base.models, scn.models, strict=True):
        assert new.trace.scale == pytest.approx(2 * old.trace.scale)
        assert new.trace.offset_seconds == old.trace.offset_seconds + 13 * 86_400 - 3600


def test_a_window_at_the_start_warms_up_on_the_end_of_a_looping_trace() -> None:
    base = load_scenario("servegen-14d")
    scn = whatif_scenario(LoadQuestion(base, 2.0, (0.0, 86_400.0), "servegen-14d"))
    assert scn.start == base.start - timedelta(hours=1)
    for m in scn.models:
        assert m.trace.offset_seconds == 14 * 86_400 - 3600  # the trace's last hour
    fixed = base.model_copy(
        update={
            "models": tuple(
                m.model_copy(update={"trace": m.trace.model_copy(update={"loop": False})})
                for m in base.models
            )
        }
    )
    assert whatif_scenario(LoadQuestion(fixed, 2.0, (0.0, 86_400.0), "x")).start == base.start


def _facts(minute: int, within: int, done: int, free: int, desired: int, placed: int) -> TickFacts:
    return TickFacts(
        T0 + timedelta(minutes=minute),
        {"m": within},
        {"m": done},
        {"m": desired},
        {"m": placed},
        {"m": placed},
        {"spot": 8, "cloud": 8},
        {"spot": 0, "cloud": free},
    )


def test_the_first_miss_is_the_first_trailing_ten_minutes_under_the_target() -> None:
    # 100 requests a minute; from minute 15 on only half within the SLO
    facts, within = [], 0
    for minute in range(30):
        within += 100 if minute < 15 else 50
        facts.append(_facts(minute, within, 100 * (minute + 1), 4, 2, 2))
    (miss,) = first_misses(facts, {"m": 0.99}, 60.0, T0)
    assert miss.at == T0 + timedelta(minutes=15)
    assert miss.attainment == pytest.approx(0.95)
    assert first_misses(facts, {"m": 0.9}, 60.0, T0)[0].at == T0 + timedelta(minutes=17)


def test_a_pool_runs_out_when_it_is_full_while_a_model_that_may_use_it_waits() -> None:
    facts = [_facts(0, 0, 0, 2, 2, 2), _facts(1, 0, 0, 0, 2, 2), _facts(2, 0, 0, 0, 4, 2)]
    out, least = pool_exhaustion(facts, {"m": {"cloud"}})
    assert out is not None and (out.pool, out.at, out.waiting) == ("cloud", facts[2].at, ("m",))
    assert least == {"spot": 0, "cloud": 0}
    # spot is full from the start, but nothing that may run there waits: full, not out
    full, _ = pool_exhaustion(facts[:2], {"m": {"cloud"}})
    assert full is not None and (full.pool, full.at, full.waiting) == ("spot", T0, ())


@pytest.mark.slow
def test_servegen_gpus_needed_at_2x_agree_with_the_oracle_planner() -> None:
    """The sizing's answer on servegen-14d's last 6 hours at 2x load against the oracle
    planner's peak GPUs on an unbounded cluster (which must hold every SLO): within 10 %,
    and per model within one replica."""
    base = load_scenario("servegen-14d")
    q = LoadQuestion(base, 2.0, (13.75 * 86_400, 14 * 86_400.0), "servegen-14d")
    run = run_whatif(q)
    result = answer(run, oracle_check(run))
    oracle = result.oracle
    assert oracle is not None
    for key, target in result.targets.items():
        assert oracle.attainment[key] >= target, key
    assert abs(sizing_error(result)) <= 0.10, (result.peak_gpus_needed, oracle.peak_gpus)
    for need in result.needs:
        assert abs(need.peak_gpus - oracle.peak_gpus_by_model[need.key]) <= 1, need.key
    # at twice its load the configured cluster, planner and policy miss the SLO
    assert not result.holds
    # and the run's per-token figures at that load come with the answer
    assert set(result.tokens) == set(result.targets)
    assert all((k.ttft_p95_seconds or 0) > 0 for k in result.tokens.values())


@pytest.mark.slow
def test_whatif_on_a_recorded_bundle_reports_the_limits_that_bind(tmp_path: Path) -> None:
    """A bundle's cluster (8 GPUs, max 8 replicas) at 4x the tiny scenario's load: it
    needs more replicas than max_replicas and more GPUs than the cluster has; the page
    is written."""
    bundle = export_bundle(tmp_path)
    done = gpusteward(
        "whatif",
        str(bundle),
        "--load",
        "4x",
        "--window",
        "20m:3h",
        "--json",
        "--report",
        "page",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["load"] == 4.0 and not result["holds"]
    kinds = {b["kind"] for b in result["bindings"]}
    assert {"max-replicas", "cluster-gpus"} <= kinds, result["bindings"]
    assert result["gpus_needed"] > 8 and result["first_miss"]["model"] == "serving/m-large"
    page = (tmp_path / "page" / "index.html").read_text()
    assert "first to miss its SLO" in page and page.count("data:image/png;base64,") >= 4


def test_a_bad_load_is_refused_naming_the_input(tmp_path: Path) -> None:
    done = gpusteward("whatif", "servegen-14d", "--load", "-2x", cwd=tmp_path)
    assert done.returncode == 2 and "--load '-2x'" in done.stderr
