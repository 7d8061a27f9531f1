"""CEL rules are checked against the context's field names when the policy loads: a
misspelt field is refused there (with the nearest name), not denied at every tick."""

from __future__ import annotations

import pytest

from gpusteward.core.actions import ScaleDeployment
from gpusteward.core.errors import InputError
from policies.cel_fields import CONTEXT_FIELDS, unknown_fields
from policies.context import build_context
from policies.document import PACKS_DIR
from policies.engine import load_policy
from policies.facts import BatchState, ClusterFacts
from policies.suites import build_snapshot, load_suite


def _policy(expression: str) -> str:
    return f'name: p\nrules:\n  - id: c\n    kind: cel\n    expression: "{expression}"\n'


def test_misspelt_fields_are_refused_at_load_naming_each_and_the_nearest_field() -> None:
    text = _policy("projected.delta_replica < 0 && blast.pool_shar > 0.5")
    with pytest.raises(InputError) as e:
        load_policy(text, "p.yaml")
    message = str(e.value)
    assert message.startswith("p.yaml:5: rules[0].expression")
    assert "projected.delta_replica: no such field; did you mean projected.delta_replicas?" in (
        message
    )
    assert "blast.pool_shar: no such field; did you mean blast.pool_share?" in message
    assert "Fix:" in message


def test_a_field_with_no_near_name_lists_the_fields_of_its_section() -> None:
    with pytest.raises(InputError, match=r"recent\.zzz: no such field.*recent has: "):
        load_policy(_policy("recent.zzz > 3"), "p.yaml")


@pytest.mark.parametrize(
    "expression",
    [
        "has(load.arrival_rps) && load.arrival_rps > 3.0",
        "has(forecast.p90) && forecast.p90 > 1.0",
        "deployment.labels.tier == 'critical' && has(deployment.labels.team)",
        "deployment.labels['any-key'] == 'x'",
        "action.kind == 'scale' && action.replicas > 3",
        "action.kind == 'move' && action.to_pool == 'spot'",
        "blast.tenants.exists(t, t.startsWith('kube-'))",
        "deployment.name.startsWith('chat')",
        "now . hour < 6",
    ],
)
def test_known_fields_guards_and_label_keys_pass(expression: str) -> None:
    assert unknown_fields(expression) == []


def test_names_inside_string_literals_and_comments_are_not_fields() -> None:
    text = "action.target == 'blast.pool_shar' || action.id == \"now.minute\" // load.x"
    assert unknown_fields(text) == []


def test_a_variable_bound_by_a_macro_is_not_the_section_of_that_name() -> None:
    assert unknown_fields("blast.tenants.exists(now, now.startsWith('a'))") == []


def test_the_field_names_are_those_the_context_builds() -> None:
    suite = load_suite((PACKS_DIR / "tests" / "default_test.yaml").read_text(), "suite")
    snapshot, inputs = build_snapshot(suite.fixtures["base"])
    action = ScaleDeployment(deployment="serving/chat", replicas=6, issued_at=snapshot.at)
    facts = ClusterFacts.from_snapshot(snapshot)
    ctx = build_context(action, facts, inputs, BatchState(), snapshot.metrics)
    activation = ctx.activation()
    assert set(activation) == set(CONTEXT_FIELDS)
    for section, values in activation.items():
        if section == "action":
            assert set(values) <= CONTEXT_FIELDS["action"]
        else:
            assert set(values) == CONTEXT_FIELDS[section], section
