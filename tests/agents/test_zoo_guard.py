"""What the zoo's planners propose goes through the guard like any action: a merge the
adapter-merge planner proposes is judged on the guard's own load history (allowed by the
model-zoo policy when it fits, denied when the history says it does not, asked of a person
by the default pack), and a trip to zero is judged on the idle time the guard measures."""

from __future__ import annotations

from datetime import timedelta

from agents.adapter_merge import AdapterMergePlanner
from gpusteward.app.scenario import SCENARIO_DIR
from gpusteward.core.actions import MergeAdapters, Proposal, ScaleDeployment, UnmergeAdapters
from gpusteward.core.cluster import Replica, ReplicaPhase
from gpusteward.core.load import LoadSeries
from gpusteward.core.ports import GuardInputs
from policies.document import PACKS_DIR
from policies.engine import RulePolicyEngine, load_policy
from tests.agents.test_adapter_merge import STEP, T0, _day, _runtime, _snap, _tune

RATES = {"assist": 12.0, "ft-a": 1.0, "ft-b": 9.0, "ft-c": 3.0}


def _engine(path: str) -> RulePolicyEngine:
    file = SCENARIO_DIR / path if path.startswith("policies/") else PACKS_DIR / path
    return RulePolicyEngine(load_policy(file.read_text(), str(file)))


def _history(keys: list[str], rates: dict[str, float], points: int) -> GuardInputs:
    start = T0
    return GuardInputs(
        load={
            k: LoadSeries(
                key=k, start=start, step_seconds=STEP, values=(rates[k.split("/")[1]],) * points
            )
            for k in keys
        }
    )


def _merge_proposal() -> tuple[Proposal, list[str]]:
    deps = [_runtime(), _tune("ft-a"), _tune("ft-b"), _tune("ft-c")]
    days = _day(AdapterMergePlanner(), deps, RATES)
    (proposal,) = next(ps for ps in days if ps)
    assert isinstance(proposal.action, MergeAdapters)
    return proposal, [d.key for d in deps]


def test_a_merge_the_planner_proposes_is_allowed_by_the_zoo_policy_when_it_fits() -> None:
    proposal, keys = _merge_proposal()
    at = T0 + timedelta(days=1)
    snap = _snap(at, [_runtime(), _tune("ft-a"), _tune("ft-b"), _tune("ft-c")], RATES)
    (verdict,) = _engine("policies/zoo.yaml").evaluate([proposal], snap, _history(keys, RATES, 144))
    assert verdict.decision == "allow", verdict.reason
    (default,) = _engine("default.yaml").evaluate([proposal], snap, _history(keys, RATES, 144))
    assert default.decision == "needs_approval"  # the default pack asks a person


def test_a_merge_the_guard_s_history_says_does_not_fit_is_denied_whatever_the_planner_saw() -> None:
    proposal, keys = _merge_proposal()
    snap = _snap(
        T0 + timedelta(days=1), [_runtime(), _tune("ft-a"), _tune("ft-b"), _tune("ft-c")], RATES
    )
    burst = {**RATES, "ft-a": 15.0}  # the guard's own history holds a burst the planner missed
    (verdict,) = _engine("policies/zoo.yaml").evaluate([proposal], snap, _history(keys, burst, 144))
    assert verdict.decision == "deny" and "merge-only-what-fits" in verdict.reason
    assert "peaked at" in verdict.reason


def test_a_trip_to_zero_is_judged_on_the_idle_time_the_guard_measures() -> None:
    tune = _tune("ft-a", labels={"gpusteward.io/scale-to-zero": "allowed"})
    snap = _snap(T0 + timedelta(hours=2), [tune], {"ft-a": 0.0})
    to_zero = Proposal(
        action=ScaleDeployment(deployment=tune.key, replicas=0, issued_at=snap.at),
        planner="scale-to-zero",
        reason="idle",
    )
    engine = _engine("policies/zoo.yaml")
    idle_20_min = _history([tune.key], {"ft-a": 0.0}, 2)  # two 10-minute points of zero
    (early,) = engine.evaluate([to_zero], snap, idle_20_min)
    assert early.decision == "deny" and "zero-only-where-allowed" in early.reason
    idle_hour = _history([tune.key], {"ft-a": 0.0}, 6)
    (late,) = engine.evaluate([to_zero], snap, idle_hour)
    assert late.decision == "allow", late.reason


def test_an_unmerge_is_allowed_once_the_runtime_has_outgrown_the_merge_and_denied_before() -> None:
    deps = [
        _runtime(adapters=("default/ft-a",)),
        _tune("ft-a", replicas=0, routed_to="default/assist"),
    ]
    keys = [d.key for d in deps]
    at = T0 + timedelta(days=1)
    outgrown = _snap(at, deps, {"assist": 25.0})
    (proposal,) = AdapterMergePlanner().plan(outgrown, {})
    assert isinstance(proposal.action, UnmergeAdapters)
    engine = _engine("policies/zoo.yaml")
    history = _history(keys, {"assist": 25.0, "ft-a": 0.0}, 144)
    (verdict,) = engine.evaluate([proposal], outgrown, history)
    assert verdict.decision == "allow", verdict.reason
    (default,) = _engine("default.yaml").evaluate([proposal], outgrown, history)
    assert default.decision == "allow", default.reason  # it relieves an overloaded runtime
    burst = _history(keys, {"assist": 20.0, "ft-a": 0.0}, 144)
    burst.load["default/assist"] = burst.load["default/assist"].model_copy(
        update={"values": (20.0,) * 143 + (25.0,)}  # one tick past the limit: a burst
    )
    (held,) = engine.evaluate([proposal], outgrown, burst)
    assert held.decision == "deny" and "merge-only-what-fits" in held.reason
    assert "the merge still fits" in held.reason


def test_a_handover_unmerge_is_allowed_at_any_rate_once_its_adapter_serves_on_its_own() -> None:
    """The burst above, but ft-a has a Ready replica of its own (started before its
    unmerge): no request waits for it, so the unmerge is not judged on the runtime's rate."""
    ready = Replica(id="a-0", phase=ReplicaPhase.READY, node="gpu-node-0", gpu_indices=(7,))
    deps = [
        _runtime(adapters=("default/ft-a",)),
        _tune("ft-a", replicas=1, routed_to="default/assist", replica_states=(ready,)),
    ]
    keys = [d.key for d in deps]
    snap = _snap(T0 + timedelta(days=1), deps, {"assist": 20.0})
    unmerge = Proposal(
        action=UnmergeAdapters(
            base_model="assist-8b",
            sources=("default/ft-a",),
            runtime="default/assist",
            issued_at=snap.at,
        ),
        planner="adapter-merge",
        reason="handover",
    )
    fits = _history(keys, {"assist": 20.0, "ft-a": 6.0}, 144)
    (verdict,) = _engine("policies/zoo.yaml").evaluate([unmerge], snap, fits)
    assert verdict.decision == "allow", verdict.reason
    loading = ready.model_copy(update={"phase": ReplicaPhase.LOADING})
    waiting = [
        deps[0],
        _tune("ft-a", replicas=1, routed_to="default/assist", replica_states=(loading,)),
    ]
    (held,) = _engine("policies/zoo.yaml").evaluate(
        [unmerge], _snap(T0 + timedelta(days=1), waiting, {"assist": 20.0}), fits
    )
    assert held.decision == "deny" and "the merge still fits" in held.reason


def test_a_burst_exactly_a_window_old_is_out_of_the_guard_s_window_as_of_the_planner_s() -> None:
    """The planner forgets a point once it is a whole window old; so does the guard. With
    145 ten-minute points the oldest is exactly a day old: a burst there does not deny the
    merge, the same burst one point later does."""
    proposal, keys = _merge_proposal()
    snap = _snap(
        T0 + timedelta(days=1), [_runtime(), _tune("ft-a"), _tune("ft-b"), _tune("ft-c")], RATES
    )
    engine = _engine("policies/zoo.yaml")
    for burst_at, decision in ((0, "allow"), (1, "deny")):
        history = _history(keys, RATES, 145)
        values = [RATES["ft-a"]] * 145
        values[burst_at] = 15.0
        history.load["default/ft-a"] = history.load["default/ft-a"].model_copy(
            update={"values": tuple(values)}
        )
        (verdict,) = engine.evaluate([proposal], snap, history)
        assert verdict.decision == decision, (burst_at, verdict.reason)
