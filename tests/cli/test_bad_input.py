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
    # from a probe of scenario settings: each was accepted, and the run went wrong
    "a scale past what the arrival draws take": (
        ("      scale: 0.02\n", "      scale: 1e16\n"),
        [r"models\[0\]\.trace\.scale = '1e16'", "less than or equal to 1000000"],
    ),
    "a burstiness no trace has": (
        ("      scale: 0.02\n", "      scale: 0.02\n      burstiness_cv: 1e12\n"),
        [r"models\[0\]\.trace\.burstiness_cv", "less than or equal to 100"],
    ),
    "a cold start of years": (
        ("    cold_start_seconds: 120\n", "    cold_start_seconds: 1e9\n"),
        [r"models\[0\]\.cold_start_seconds", "less than or equal to 86400"],
    ),
    "a duration shorter than a tick": (
        ("duration: 2h\ntick_seconds: 60", "duration: 60\ntick_seconds: 3600"),
        [r"duration 60 is shorter than one tick \(3600 s\)", "Fix:"],
    ),
    "a simulator step that does not divide the tick": (
        ("tick_seconds: 60\n", "tick_seconds: 60\nsim_step_seconds: 600\n"),
        [r"sim_step_seconds 600 does not divide tick_seconds 60", "Fix:"],
    ),
    "an offset past a trace that does not loop": (
        (
            "      scale: 0.02\n",
            "      scale: 0.02\n      offset_seconds: 1728000\n      loop: false\n",
        ),
        [r"offset_seconds 1728000 is past the trace's end", "Fix:"],
    ),
    "contradictory quantile bounds": (
        (
            "tick_seconds: 60\n",
            "tick_seconds: 60\nplanner: {kind: forecast, min_quantile: 0.95, max_quantile: 0.7}\n",
        ),
        [r"min_quantile 0.95 is above max_quantile 0.7", "Fix:"],
    ),
    "a quantile the bounds would clamp": (
        ("tick_seconds: 60\n", "tick_seconds: 60\nplanner: {kind: forecast, quantile: 0.55}\n"),
        [r"quantile 0.55 is outside \[min_quantile 0.6", "Fix:"],
    ),
    "descending drop buckets": (
        (
            "tick_seconds: 60\n",
            "tick_seconds: 60\nplanner: {kind: forecast, drop_buckets: [-0.1, -0.2]}\n",
        ),
        [r"drop_buckets \[-0.1, -0.2\]: expected ascending"],
    ),
    "a forecast shorter than the forecast planner's lead": (
        (
            "    cold_start_seconds: 120\n",
            "    cold_start_seconds: 1800\n",
        ),
        [
            r"the forecast planner sizes for the load 1860 s ahead",
            "Fix: a horizon of at least 1860",
        ],
    ),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_invalid_scenario_exits_2_naming_file_field_value_and_fix(case: str, workdir: Path) -> None:
    (old, new), patterns = CASES[case]
    text = small_scenario()
    assert old in text
    if case == "a forecast shorter than the forecast planner's lead":
        text = text.replace("tick_seconds: 60\n", "tick_seconds: 60\nplanner: {kind: forecast}\n")
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
