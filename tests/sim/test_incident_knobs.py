"""The simulator's knobs for incident scenarios (issue 26): a batch too small for the GPU,
artifacts in another region, a scheduled spot wave."""

from __future__ import annotations

import json
from pathlib import Path

from gpusteward.core.cluster import Pool
from gpusteward.sim.engine import Simulator
from gpusteward.sim.spec import FaultSpec
from tests.sim.conftest import model, node_group, sim_spec, write_total_trace


def test_a_mis_sized_batch_serves_its_share_with_its_gpus_that_share_busy(tmp_path: Path) -> None:
    trace = write_total_trace(tmp_path / "flat.csv", [50.0] * 12)  # far past capacity
    spec = sim_spec(
        [
            model(
                trace=trace,
                replicas=2,
                cold_start_seconds=0,
                batch_efficiency=0.35,
                trace_kw={"scale": 1.0},
            )
        ]
    )
    sim = Simulator(spec)
    sim.advance_to(spec.start.replace(minute=10))
    m = sim.snapshot().metrics["serving/m"]
    assert abs(m.capacity_rps - 2 * 2.0 * 0.35) < 1e-9  # 2 replicas x 2 req/s x 35 %
    assert abs(m.gpu_utilization - 0.35) < 1e-9 and m.queue_depth > 0


def test_artifacts_in_another_region_lengthen_the_cold_start_there_only() -> None:
    groups = (
        node_group("near", region="us-east", count=1, gpus_per_node=1),
        node_group("far", region="eu-west", count=1, gpus_per_node=1, price_per_gpu_hour=3.0),
    )
    m = model(
        replicas=2,
        cold_start_seconds=120,
        artifact_transfer_seconds=600,
        labels={"gpusteward.io/artifact-region": "us-east"},
    )
    sim = Simulator(sim_spec([m], groups))
    sim.step()
    by_node = {r.node: r for r in sim.snapshot().deployments[0].replica_states}
    assert by_node["near-0"].ready_in_seconds == 60.0  # 120 s, one 60 s step gone
    assert by_node["far-0"].ready_in_seconds == 660.0  # 120 + 600 s


def test_a_spot_wave_takes_every_spot_node_at_its_time_and_no_other() -> None:
    groups = (
        node_group("spot", pool=Pool.SPOT, count=2, price_per_gpu_hour=0.5),
        node_group("h100", count=1),
    )
    faults = FaultSpec(spot_wave_after_seconds=600, spot_outage_seconds=1800)
    sim = Simulator(sim_spec([model(replicas=4, cold_start_seconds=60)], groups, faults=faults))
    for _ in range(10):
        sim.step()
    before = sim.snapshot()
    assert all(g.health.value == "healthy" for n in before.nodes for g in n.gpus)
    sim.step()
    after = sim.snapshot()
    failed = {n.name for n in after.nodes if all(g.health.value == "failed" for g in n.gpus)}
    assert failed == {"spot-0", "spot-1"}
    replicas = after.deployments[0].replica_states
    assert replicas and all(r.node in (None, "h100-0") for r in replicas)  # re-placed on-prem


def test_the_knobs_at_their_defaults_leave_a_checkpoint_s_digest_as_before() -> None:
    """A checkpoint written before the knobs existed still resumes: unused, they are not
    part of the spec's digest; used, they are."""
    from gpusteward.sim.engine import _digest
    from gpusteward.sim.spec import added_at_default

    plain = sim_spec()
    body = json.loads(plain.model_dump_json(exclude=added_at_default(plain)))
    assert "spot_wave_after_seconds" not in body["faults"]
    assert not {"batch_efficiency", "artifact_transfer_seconds", "tokens"} & set(body["models"][0])
    knobbed = sim_spec([model(batch_efficiency=0.5)])
    assert _digest(knobbed) != _digest(plain)
    assert _digest(sim_spec(faults=FaultSpec(spot_wave_after_seconds=60))) != _digest(plain)
