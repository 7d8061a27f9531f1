"""The shipped red-flag scenarios: each injects its red flag, its ground truth holds in the
run (the SLO is first missed when the label says), and the diagnostics detect it."""

from __future__ import annotations

import pytest

from gpusteward.app.diagnose_run import detections, run_diagnosed
from gpusteward.app.scenario import SCENARIO_DIR, load_scenario

SCENARIOS = sorted(p.stem for p in SCENARIO_DIR.glob("redflag-*.yaml"))


def test_every_red_flag_has_a_scenario() -> None:
    flags = {label.flag for name in SCENARIOS for label in load_scenario(name).ground_truth}
    assert len(SCENARIOS) == 6 and len(flags) == 6


@pytest.mark.parametrize("name", SCENARIOS)
def test_the_injected_red_flag_is_detected_and_its_label_holds(name: str) -> None:
    scenario = load_scenario(name)
    (found,) = detections(name, scenario, run_diagnosed(scenario))
    assert found.label_holds, (found.label_miss_s, found.measured_miss_s)
    assert found.detected_s is not None, f"{found.flag.value} not detected in {name}"
    assert found.detected_s >= found.begins_s
