"""Invariants of the policy engine over random snapshots and actions (Hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpusteward.core.actions import (
    CordonNode,
    MoveDeployment,
    PrewarmReplicas,
    Proposal,
    RetireModel,
    ScaleDeployment,
)
from gpusteward.core.cluster import Pool
from gpusteward.core.verdicts import Allow, Deny
from policies.engine import RulePolicyEngine, load_policy
from policies.suites import DeploymentFixture, Fixture, NodeFixture, build_snapshot

AT = datetime(2026, 11, 4, 10, 0, tzinfo=UTC)
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def clusters(draw: st.DrawFn) -> Fixture:
    price = draw(st.sampled_from([0.5, 1.1, 2.5]))
    nodes = tuple(
        NodeFixture(
            name=f"n{i}",
            gpus=draw(st.integers(1, 8)),
            price_per_gpu_hour=price,
            pool=draw(st.sampled_from([Pool.ON_PREM, Pool.SPOT, Pool.TRAINING])),
        )
        for i in range(draw(st.integers(1, 5)))
    )
    deployments = tuple(
        DeploymentFixture(
            name=f"d{i}",
            namespace=draw(st.sampled_from(["serving", "batch", "kube-system"])),
            replicas=draw(st.integers(0, 6)),
            min_replicas=0,
            max_replicas=12,
            gpus_per_replica=draw(st.integers(1, 2)),
            load_rps=draw(st.floats(0, 50)),
            history_rps=draw(st.floats(0, 5)),
            forecast_p90=draw(st.floats(0, 60)),
            labels=draw(st.sampled_from([{}, {"tier": "critical"}])),
        )
        for i in range(draw(st.integers(1, 4)))
    )
    return Fixture(at=AT, nodes=nodes, deployments=deployments)


@st.composite
def actions(draw: st.DrawFn, fixture: Fixture) -> list[Proposal]:
    keys = [f"{d.namespace}/{d.name}" for d in fixture.deployments] + ["serving/ghost"]
    out = []
    for _ in range(draw(st.integers(1, 8))):
        key = draw(st.sampled_from(keys))
        kind = draw(st.sampled_from(["scale", "scale", "prewarm", "move", "retire", "cordon"]))
        if kind == "scale":
            action = ScaleDeployment(
                deployment=key, replicas=draw(st.integers(0, 14)), issued_at=AT
            )
        elif kind == "prewarm":
            action = PrewarmReplicas(deployment=key, count=draw(st.integers(1, 4)), issued_at=AT)
        elif kind == "move":
            action = MoveDeployment(
                deployment=key, to_pool=draw(st.sampled_from(list(Pool))), issued_at=AT
            )
        elif kind == "retire":
            action = RetireModel(deployment=key, issued_at=AT)
        else:
            action = CordonNode(
                node=draw(st.sampled_from([n.name for n in fixture.nodes])), issued_at=AT
            )
        out.append(Proposal(action=action, reason="property test"))
    return out


def engine(rules: str, unmatched: str = "needs_approval") -> RulePolicyEngine:
    text = f"name: prop\ndefaults: {{unmatched: {unmatched}}}\nrules:\n{rules}"
    return RulePolicyEngine(load_policy(text, "prop.yaml"))


BUDGETS = {
    "gpu": "  - {{id: gpus, kind: gpu-budget, max_gpus: {gpus}}}\n  - {{id: ok, kind: allow}}\n",
    "cost": "  - {{id: cost, kind: cost-budget, max_usd_per_hour: {usd}}}\n"
    "  - {{id: ok, kind: allow}}\n",
    "both": "  - {{id: gpus, kind: gpu-budget, max_gpus: {gpus}}}\n"
    "  - {{id: cost, kind: cost-budget, max_usd_per_hour: {usd}}}\n  - {{id: ok, kind: allow}}\n",
}


@FAST
@given(
    data=st.data(),
    which=st.sampled_from(sorted(BUDGETS)),
    gpus=st.integers(0, 30),
    usd=st.floats(0, 60),
)
def test_no_allow_takes_the_cluster_over_a_gpu_or_cost_budget(
    data: st.DataObject, which: str, gpus: int, usd: float
) -> None:
    if which == "gpu":
        usd = float("inf")
    elif which == "cost":
        gpus = 10**6
    fixture = data.draw(clusters())
    snapshot, inputs = build_snapshot(fixture)
    proposals = data.draw(actions(fixture))
    rules = BUDGETS[which].format(gpus=gpus, usd=usd)
    verdicts = engine(rules).evaluate(proposals, snapshot, inputs)
    price = fixture.nodes[0].price_per_gpu_hour
    replicas = {d.key: d.replicas for d in snapshot.deployments}
    per = {d.key: d.gpus_per_replica for d in snapshot.deployments}
    held = sum(replicas[k] * per[k] for k in replicas)
    for proposal, verdict in zip(proposals, verdicts, strict=True):
        if not isinstance(verdict, Allow):
            continue
        a = proposal.action
        if isinstance(a, ScaleDeployment | PrewarmReplicas | RetireModel):
            new = (
                a.replicas
                if isinstance(a, ScaleDeployment)
                else replicas[a.deployment] + a.count
                if isinstance(a, PrewarmReplicas)
                else 0
            )
            grew = new > replicas[a.deployment]
            held += (new - replicas[a.deployment]) * per[a.deployment]
            replicas[a.deployment] = new
            if grew:
                assert held <= gpus, (held, gpus)
                assert held * price <= usd + 1e-9, (held * price, usd)


@FAST
@given(
    data=st.data(),
    others=st.lists(
        st.sampled_from(
            [
                "  - {id: ok, kind: allow}",
                "  - {id: ask, kind: allow, effect: needs_approval}",
                "  - {id: step, kind: max-step, per_action: 1, effect: needs_approval}",
                "  - {id: shadow-deny, kind: allow, effect: deny, mode: audit}",
            ]
        ),
        unique=True,
    ),
)
def test_a_matching_deny_always_wins(data: st.DataObject, others: list[str]) -> None:
    fixture = data.draw(clusters())
    snapshot, inputs = build_snapshot(fixture)
    proposals = data.draw(actions(fixture))
    deny = "  - {id: no-scale, kind: cel, expression: \"action.kind == 'scale'\", effect: deny}"
    rules = "\n".join([*others, deny]) + "\n"
    for proposal, verdict in zip(
        proposals, engine(rules).evaluate(proposals, snapshot, inputs), strict=True
    ):
        if proposal.action.kind == "scale":
            assert isinstance(verdict, Deny)
            known = proposal.action.target in {d.key for d in snapshot.deployments}
            assert {h.rule for h in verdict.rules} == (
                {"no-scale"} if known else {"unknown-target"}
            )


@FAST
@given(data=st.data())
def test_an_exception_in_any_rule_yields_deny(data: st.DataObject) -> None:
    fixture = data.draw(clusters())
    snapshot, inputs = build_snapshot(fixture)
    proposals = data.draw(actions(fixture))
    # an allow rule whose CEL condition fails at run time (missing map key) must deny
    rules = (
        "  - {id: ok, kind: allow}\n"
        "  - {id: broken, kind: cel, effect: allow, "
        'expression: "deployment.labels.no_such_label == 1"}\n'
    )
    for verdict in engine(rules).evaluate(proposals, snapshot, inputs):
        assert isinstance(verdict, Deny)
        assert {h.rule for h in verdict.rules} <= {"broken", "unknown-target"}


@FAST
@given(data=st.data())
def test_verdicts_are_deterministic_for_the_same_inputs_and_policy(data: st.DataObject) -> None:
    fixture = data.draw(clusters())
    snapshot, inputs = build_snapshot(fixture)
    proposals = data.draw(actions(fixture))
    text = (
        "  - {id: ok, kind: allow, match: {actions: [scale, prewarm]}}\n"
        "  - {id: budget, kind: gpu-budget, max_share: 0.5}\n"
        "  - {id: cap, kind: capacity-change-cap, max_share: 0.3, effect: needs_approval}\n"
        "  - {id: tier, kind: cel, expression: \"deployment != null && 'tier' in "
        'deployment.labels", effect: needs_approval, match: {actions: [move]}}\n'
    )
    first, second = engine(text), engine(text)
    assert first.version == second.version
    assert first.evaluate(proposals, snapshot, inputs) == second.evaluate(
        proposals, snapshot, inputs
    )


@FAST
@given(
    data=st.data(),
    mode=st.sampled_from(["audit", "warn"]),
    effect=st.sampled_from(["deny", "needs_approval", "allow"]),
)
def test_audit_and_warn_rules_never_change_a_verdict_but_are_recorded(
    data: st.DataObject, mode: str, effect: str
) -> None:
    fixture = data.draw(clusters())
    snapshot, inputs = build_snapshot(fixture)
    proposals = data.draw(actions(fixture))
    base = (
        "  - {id: ok, kind: allow, match: {actions: [scale]}}\n"
        "  - {id: budget, kind: gpu-budget, max_share: 0.6}\n"
    )
    shadow = f"  - {{id: shadow, kind: allow, effect: {effect}, mode: {mode}}}\n"
    plain = engine(base).evaluate(proposals, snapshot, inputs)
    with_shadow = engine(base + shadow).evaluate(proposals, snapshot, inputs)
    for before, after in zip(plain, with_shadow, strict=True):
        assert after.decision == before.decision
        assert after.rules == before.rules
        if before.rules[0].rule != "unknown-target":
            assert [h.rule for h in after.shadow] == ["shadow"]
            assert after.shadow[0].mode == mode and after.shadow[0].effect == effect
