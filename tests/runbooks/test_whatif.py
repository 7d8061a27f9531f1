"""What-if on the recorded 2-day bundle under a stricter policy: exactly the actions a
hand computation says would have been denied or sent for approval, and nothing runs."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from gpusteward.cli.main import app
from gpusteward.core.actions import ScaleDeployment
from policies.document import PACKS_DIR
from runbooks.bundle import read_bundle
from tests.runbooks.conftest import Recording

STRICTER = """
  - id: at-most-eleven
    kind: cel
    description: never more than 11 replicas of anything
    match: {actions: [scale]}
    expression: projected.replicas_after >= 12
    effect: deny
  - id: small-steps
    kind: max-step
    match: {actions: [scale, prewarm]}
    per_action: 2
    effect: needs_approval
"""


def stricter_policy(folder: Path) -> Path:
    text = (PACKS_DIR / "default.yaml").read_text().replace("name: default", "name: strict", 1)
    path = folder / "strict.yaml"
    path.write_text(text.rstrip() + "\n" + STRICTER)
    return path


def test_what_if_names_exactly_the_actions_a_stricter_policy_denies_or_holds(
    recording: Recording, tmp_path: Path
) -> None:
    bundle = read_bundle(recording.bundle)
    # By hand: every recorded scale the default policy allowed is denied by at-most-eleven
    # when it goes to 12 or more, otherwise held for approval by small-steps when it moves
    # more than 2 replicas, otherwise still allowed.
    deny, hold = set(), set()
    for tick in bundle.ticks:
        for p, v in zip(tick.proposals, tick.verdicts, strict=True):
            a = p.action
            assert isinstance(a, ScaleDeployment) and v.decision == "allow"
            assert a.from_replicas is not None
            if a.replicas >= 12:
                deny.add(a.id)
            elif abs(a.replicas - a.from_replicas) > 2:
                hold.add(a.id)
    assert deny and hold  # the recording exercises both
    result = CliRunner().invoke(
        app, ["replay", str(recording.bundle), "--policy", str(stricter_policy(tmp_path)), "--json"]
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert "nothing was executed" in body["notice"]
    changes = body["changes"]
    assert {c["action_id"] for c in changes if c["whatif"] == "deny"} == deny
    assert {c["action_id"] for c in changes if c["whatif"] == "needs_approval"} == hold
    assert len(changes) == len(deny) + len(hold)
    assert all(c["recorded"] == "allow" for c in changes)
    assert all("at-most-eleven" in c["rules"] for c in changes if c["whatif"] == "deny")
    assert all(c["rules"] == ["small-steps"] for c in changes if c["whatif"] == "needs_approval")
    assert body["whatif_policy"].startswith("strict@")


def test_the_same_policy_changes_nothing(recording: Recording) -> None:
    default = PACKS_DIR / "default.yaml"
    result = CliRunner().invoke(
        app, ["replay", str(recording.bundle), "--policy", str(default), "--json"]
    )
    body = json.loads(result.stdout)
    assert body["changes"] == []


def test_what_if_with_another_planner_diffs_proposals(recording: Recording) -> None:
    result = CliRunner().invoke(
        app, ["replay", str(recording.bundle), "--planner", "kpa", "--json"]
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["label"] == "planner kpa"
    assert any(c["recorded"] == "not proposed" for c in body["changes"])
    assert any(c["whatif"] == "not proposed" for c in body["changes"])
