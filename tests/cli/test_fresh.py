"""`run --fresh` starts over only once every input is valid, and moves the old journal
(and its approval store) aside, saying where, rather than deleting it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.cli.conftest import gpusteward, small_scenario
from tests.waiting import journal_ticks


def _bad_people_file(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (workdir / "people.yaml").write_text("people: []\n")
    monkeypatch.setenv("GPUSTEWARD_CHAT_PEOPLE", "people.yaml")
    return "s.yaml"


def _bad_policy(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (workdir / "p.yaml").write_text("name: broken\nrules: 3\n")
    (workdir / "t.yaml").write_text((workdir / "s.yaml").read_text() + "policy: p.yaml\n")
    return "t.yaml"


def _bad_trace(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (workdir / "huge.csv").write_text("window_start_s,total_rate_rps,active_clients\n0,1e300,3\n")
    text = re.sub(r"file: .*", "file: huge.csv", (workdir / "s.yaml").read_text())
    (workdir / "t.yaml").write_text(text)
    return "t.yaml"


def _bad_setting(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("GPUSTEWARD_FORECAST_HORIZON_SECONDS", str(13 * 3600))  # > 720 ticks
    return "s.yaml"


BAD_INPUTS = {
    "people file": _bad_people_file,
    "policy": _bad_policy,
    "trace": _bad_trace,
    "setting": _bad_setting,
}


@pytest.fixture
def recorded(workdir: Path) -> Path:
    """A journal of 2 ticks at j.db, as an earlier run left it."""
    (workdir / "s.yaml").write_text(small_scenario(hours=2))
    first = gpusteward(
        "run", "--scenario", "s.yaml", "--journal", "j.db", "--ticks", "2", cwd=workdir
    )
    assert first.returncode == 0, first.stderr
    assert journal_ticks(workdir / "j.db") == 2
    return workdir


@pytest.mark.parametrize("bad", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_an_invalid_input_stops_fresh_before_the_journal_is_touched(
    recorded: Path, bad: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = BAD_INPUTS[bad](recorded, monkeypatch)
    proc = gpusteward("run", "--scenario", scenario, "--journal", "j.db", "--fresh", cwd=recorded)
    assert proc.returncode == 2, proc.stderr
    assert journal_ticks(recorded / "j.db") == 2, proc.stderr
    assert not list(recorded.glob("*.bak")), "nothing is moved aside by a run that never starts"


def test_fresh_moves_the_old_journal_aside_and_says_where(recorded: Path) -> None:
    proc = gpusteward(
        "run", "--scenario", "s.yaml", "--journal", "j.db", "--fresh", "--ticks", "1", cwd=recorded
    )
    assert proc.returncode == 0, proc.stderr
    kept = re.search(r"moved the old journal aside to (\S+\.bak)", proc.stderr)
    assert kept is not None, proc.stderr
    assert journal_ticks(recorded / kept.group(1)) == 2
    assert journal_ticks(recorded / "j.db") == 1


def test_a_chat_that_cannot_start_leaves_no_coroutine_unawaited(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (workdir / "s.yaml").write_text(small_scenario(hours=2))
    (workdir / "people.yaml").write_text(
        "people:\n  - {name: alice, token: change-me-alice-0001, groups: [oncall]}\n"
    )
    monkeypatch.setenv("GPUSTEWARD_CHAT_PEOPLE", "people.yaml")
    monkeypatch.setenv("GPUSTEWARD_SLACK_MODE", "http")  # without its tokens: refused
    proc = gpusteward("run", "--scenario", "s.yaml", "--ticks", "1", cwd=workdir)
    assert proc.returncode == 2, proc.stderr
    assert "GPUSTEWARD_SLACK_BOT_TOKEN" in proc.stderr
    assert "never awaited" not in proc.stderr, proc.stderr
