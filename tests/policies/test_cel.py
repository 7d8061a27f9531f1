"""CEL conditions: compile errors name the source, evaluation follows the CEL spec."""

from __future__ import annotations

import threading

import pytest

from policies.cel import (
    CelCompileError,
    CelEvaluationError,
    CelExpression,
    prepare,
)

ACTIVATION: dict[str, object] = {
    "replicas": 4,
    "max_replicas": 8,
    "gpu_util": 0.82,
    "name": "llm-chat",
    "approved": True,
    "owner": None,
    "ts": "2026-11-28T11:00:00Z",
    "zones": ["us-east-1a", "us-east-1b"],
    "deployment": {"labels": {"tier": "critical", "team": "ml"}},
    "nodes": [
        {"name": "gpu-a", "gpus": 8, "cordoned": False},
        {"name": "gpu-b", "gpus": 4, "cordoned": True},
    ],
}


def _bool(source: str) -> bool:
    return CelExpression.compile(source).evaluate_bool(ACTIVATION)


def test_syntax_error_names_the_expression_and_the_column() -> None:
    source = "deployment.labels['tier' == 'critical'"
    with pytest.raises(CelCompileError) as err:
        CelExpression.compile(source)
    assert repr(source) in str(err.value) and "column 39" in str(err.value)


def test_empty_source_is_a_compile_error() -> None:
    with pytest.raises(CelCompileError, match="empty"):
        CelExpression.compile("   ")


def test_declared_variables_turn_an_unknown_function_into_a_compile_error() -> None:
    with pytest.raises(CelCompileError, match="startWith"):
        CelExpression.compile("name.startWith('llm')", variables=["name"])


def test_without_declared_variables_an_unknown_function_fails_at_evaluation() -> None:
    expr = CelExpression.compile("name.startWith('llm')")
    with pytest.raises(CelEvaluationError, match="No matching overloads"):
        expr.evaluate(ACTIVATION)


def test_compiled_expression_keeps_its_source() -> None:
    assert CelExpression.compile("replicas > 1").source == "replicas > 1"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("replicas + 1 == 5 && 7 / 2 == 3", True),
        ("approved && replicas < max_replicas", True),
        ("!approved || replicas > 100", False),
        ("false && (1 / 0 == 1)", False),
        ("(1 / 0 == 1) || true", True),
        ("name.startsWith('llm') && name.endsWith('-chat') && name.contains('m-c')", True),
        ("name.matches('^llm-[a-z]+$')", True),
        ("'us-east-1b' in zones && 'team' in deployment.labels", True),
        ("deployment.labels['tier'] == 'critical'", True),
        ("has(deployment.labels.tier)", True),
        ("has(deployment.labels.owner)", False),
        ("owner == null", True),
        ("size(zones) == 2", True),
        ("nodes.exists(n, n.cordoned)", True),
        ("nodes.all(n, n.gpus >= 8)", False),
        ("timestamp('2026-11-28T10:00:00Z') + duration('90m') > timestamp(ts)", True),
    ],
)
def test_policy_condition_evaluates_as_the_cel_spec_says(source: str, expected: bool) -> None:
    assert _bool(source) is expected


def test_ternary_returns_the_chosen_branch() -> None:
    assert CelExpression.compile("replicas > 2 ? 'many' : 'few'").evaluate(ACTIVATION) == "many"


@pytest.mark.parametrize(
    "source", ["deployment.labels['owner'] == 'x'", "deployment.labels.owner == 'x'"]
)
def test_missing_map_key_is_an_error_not_false(source: str) -> None:
    with pytest.raises(CelEvaluationError, match="Key not found") as err:
        _bool(source)
    assert repr(source) in str(err.value) and "has(" in str(err.value)


def test_unknown_variable_is_an_error_that_lists_the_activation() -> None:
    with pytest.raises(CelEvaluationError, match=r"replics.*approved, deployment"):
        _bool("replics > 1")


def test_non_boolean_result_of_a_condition_raises() -> None:
    with pytest.raises(CelEvaluationError, match=r"evaluated to 4 \(int\), not a bool"):
        _bool("replicas")


def test_int_and_double_compare_across_types() -> None:
    assert _bool("replicas > 3.5 && replicas == 4.0 && gpu_util < 1")


def test_int_times_double_is_an_error_until_converted() -> None:
    with pytest.raises(CelEvaluationError, match="double"):
        _bool("replicas * 2.0 > 7.5")
    assert _bool("double(replicas) * 2.0 > 7.5")


def test_division_by_zero_is_an_error() -> None:
    with pytest.raises(CelEvaluationError, match="divide by zero"):
        _bool("replicas / 0 > 1")


def test_unsupported_activation_value_is_an_error_naming_the_variable() -> None:
    with pytest.raises(CelEvaluationError, match="'pair'"):
        CelExpression.compile("size(pair) == 2").evaluate({"pair": (1, 2)})


def test_non_string_activation_key_is_rejected() -> None:
    with pytest.raises(CelEvaluationError, match="not a string"):
        prepare({1: "x"})  # type: ignore[dict-item]


def test_one_prepared_activation_serves_several_expressions() -> None:
    prepared = prepare(ACTIVATION)
    rules = [CelExpression.compile(s) for s in ("replicas == 4", "name == 'llm-chat'")]
    assert [r.evaluate_bool(prepared) for r in rules] == [True, True]


def test_concurrent_evaluation_from_threads_gives_the_same_answers() -> None:
    rules = [
        (CelExpression.compile("nodes.exists(n, n.gpus > 6)"), True),
        (CelExpression.compile("deployment.labels.tier == 'batch'"), False),
    ]
    activations = [prepare(ACTIVATION), prepare(dict(ACTIVATION, replicas=9))]
    wrong: list[str] = []

    def work(offset: int) -> None:
        for i in range(3000):
            expr, expected = rules[(i + offset) % 2]
            if expr.evaluate_bool(activations[i % 2]) is not expected:
                wrong.append(expr.source)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []
