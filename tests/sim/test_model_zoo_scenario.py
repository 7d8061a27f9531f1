"""The shipped model-zoo scenario has the shape of a real zoo, from its shipped traces."""

from __future__ import annotations

from collections import Counter

import numpy as np

from gpusteward.app.scenario import load_scenario
from gpusteward.sim.traces import ArrivalTrace, RateTable


def _activity() -> dict[str, tuple[float, float]]:
    """Per model: share of 10-minute windows with traffic, mean rate."""
    out = {}
    for m in load_scenario("model-zoo").models:
        data = ArrivalTrace(m.trace).data
        assert isinstance(data, RateTable)
        out[m.name] = (float(np.mean(data.rates > 0)), float(data.rates.mean()))
    return out


def test_the_zoo_has_a_few_busy_many_intermittent_and_some_models_idle_for_days() -> None:
    kinds = Counter(
        "busy" if active >= 0.9 and mean >= 0.5 else "idle" if active < 0.05 else "intermittent"
        for active, mean in _activity().values()
    )
    assert 40 <= sum(kinds.values()) <= 100
    assert 3 <= kinds["busy"] <= 10
    assert kinds["intermittent"] >= 20
    assert kinds["idle"] >= 5


def test_cold_starts_grow_with_the_weights_a_replica_loads() -> None:
    models = load_scenario("model-zoo").models
    by_weights = sorted(
        {(m.gpus_per_replica * m.gpu_memory_gib, m.cold_start_seconds) for m in models}
    )
    colds = [c for _, c in by_weights]
    assert colds[0] < colds[-1]
    big = {m.model: m.cold_start_seconds for m in models}
    assert big["chat-70b"] > big["classify-14b"] > big["assist-8b"]


def test_one_base_model_has_several_versions_and_fine_tunes_name_their_base() -> None:
    models = load_scenario("model-zoo").models
    versions = Counter(m.model for m in models)
    assert versions["chat-70b"] >= 3 and versions["assist-8b"] >= 10
    for m in models:
        base = m.labels.get("gpusteward.io/base-model")
        if base is not None:
            assert m.model == base and m.version.startswith("ft-")


def test_every_drain_finishes_within_its_grace_period() -> None:
    for m in load_scenario("model-zoo").models:
        assert m.request_seconds > 0
        assert m.termination_grace_seconds >= m.longest_request_seconds
        assert m.wake_timeout_seconds > m.cold_start_seconds + 60
