"""Bad scenarios exit 2 with one message naming file, field, value and fix; no traceback."""

from pathlib import Path

import pytest

from tests.cli.conftest import gpusteward, small_scenario

CASES = {
    "unknown field": (
        ("    cold_start_seconds: 120\n", "    cold_start_seconds: 120\n    coldstart: 5\n"),
        [r"bad.yaml:\d+: models\[0\]\.coldstart = 5: unknown field", "Allowed here:"],
    ),
    "negative replicas": (
        ("    replicas: 2\n", "    replicas: -1\n"),
        [r"bad.yaml:16: models\[0\]\.replicas = -1", "greater than or equal to 0", "Fix:"],
    ),
    "missing trace file": (
        ("file: /", "file: /nonexistent/"),
        [r"bad.yaml:\d+: models\[0\]\.trace\.file = '/nonexistent/.*': no such file", "Fix:"],
    ),
    "bad duration": (
        ("duration: 2h", "duration: two hours"),
        [r"bad.yaml:4: duration = 'two hours'", "unit s, m, h, d or w"],
    ),
    "malformed yaml": (
        ("tick_seconds: 60\n", "tick_seconds: 60\n  oops: [\n"),
        [r"bad.yaml:\d+: not valid YAML"],
    ),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_invalid_scenario_exits_2_naming_file_field_value_and_fix(case: str, workdir: Path) -> None:
    (old, new), patterns = CASES[case]
    text = small_scenario()
    assert old in text
    (workdir / "bad.yaml").write_text(text.replace(old, new, 1))
    proc = gpusteward("run", "--scenario", "bad.yaml", cwd=workdir)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    import re

    for pattern in patterns:
        assert re.search(pattern, proc.stderr), (pattern, proc.stderr)


def test_unknown_scenario_name_lists_the_shipped_ones(workdir: Path) -> None:
    proc = gpusteward("run", "--scenario", "nope", cwd=workdir)
    assert proc.returncode == 2
    assert "quickstart" in proc.stderr and "servegen-14d" in proc.stderr


def test_bad_speed_flag_exits_2(workdir: Path) -> None:
    proc = gpusteward("run", "--speed", "fast", cwd=workdir)
    assert proc.returncode == 2 and "--speed 'fast'" in proc.stderr


def test_status_without_a_journal_says_how_to_get_one(workdir: Path) -> None:
    proc = gpusteward("status", cwd=workdir)
    assert proc.returncode == 2 and "run `gpusteward run` first" in proc.stderr


def test_a_horizon_too_long_for_the_tick_is_refused_at_start(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (workdir / "s.yaml").write_text(small_scenario(hours=1))
    monkeypatch.setenv("GPUSTEWARD_FORECAST_HORIZON_SECONDS", str(13 * 3600))
    proc = gpusteward("run", "--scenario", "s.yaml", cwd=workdir)
    assert proc.returncode == 2
    assert "FORECAST_HORIZON_SECONDS=46800 is 780 ticks of 60 s" in proc.stderr
    assert "Fix: a horizon of at most 43200 s" in proc.stderr
