"""A journal is bound to its scenario's id; the fields issue 26 added to scenarios leave
the id as it was while they hold their defaults, so a journal written before resumes."""

from __future__ import annotations

import json

from gpusteward.app.parts import _added_at_default, scenario_id
from gpusteward.app.scenario import load_scenario

ADDED = {"ground_truth"}
ADDED_IN_MODELS = {"batch_efficiency", "artifact_transfer_seconds", "tokens"}


def _body(name: str) -> tuple[dict, dict]:  # type: ignore[type-arg]
    s = load_scenario(name)
    full = json.loads(s.model_dump_json(exclude={"description"}))
    kept = json.loads(s.model_dump_json(exclude=_added_at_default(s)))
    return full, kept


def test_added_fields_at_their_defaults_are_left_out_and_nothing_else() -> None:
    full, kept = _body("quickstart")
    for key in ADDED:
        full.pop(key)
    full["faults"].pop("spot_wave_after_seconds")
    full["planner"].pop("scale_up_stabilisation_seconds")
    for m in full["models"]:
        for key in ADDED_IN_MODELS:
            m.pop(key)
    assert kept == full


def test_a_scenario_that_uses_an_added_field_is_told_apart() -> None:
    full, kept = _body("redflag-batch-misfit")  # batch_efficiency 0.35, ground truth, HPA
    assert kept["ground_truth"] == full["ground_truth"]
    assert kept["models"][0]["batch_efficiency"] == 0.35
    assert "tokens" not in kept["models"][0]  # unused here: left out
    assert scenario_id(load_scenario("redflag-batch-misfit")).startswith("redflag-batch-misfit@")
