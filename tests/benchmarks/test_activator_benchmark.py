"""benchmarks/activator.py measures a real wake: its figures come from requests the
proxy held and the model server then answered, each counted where it happened."""

from __future__ import annotations

from tests.helpers import benchmark_module


def test_a_small_wake_and_pass_through_are_measured_from_real_answers() -> None:
    bench = benchmark_module("activator")
    woke = bench.wake(5)
    assert woke["held"] == woke["answered_200"] == woke["model_saw"] == 5
    assert 0 <= woke["first_s"] <= woke["median_s"] <= woke["last_s"]
    through = bench.pass_through(bench.BLOCK)
    assert through["direct"]["n"] == through["proxy"]["n"] == bench.BLOCK
