"""Two daemons against the same emulated API server: only the Lease holder acts."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from gpusteward.adapters.kube_api import KubeApi
from gpusteward.adapters.kube_cluster import ACTION_IDS, KubernetesCluster
from gpusteward.adapters.kube_objects import KubeLease
from gpusteward.adapters.kubernetes import connect
from gpusteward.adapters.lease import LeaseConfig, LeaseElector
from gpusteward.core.actions import Proposal
from gpusteward.core.clock import VirtualClock
from gpusteward.core.cluster import ClusterSnapshot
from gpusteward.core.load import Forecast
from gpusteward.core.tick import TickRecord
from gpusteward.core.verdicts import ResultStatus
from gpusteward.daemon.loop import Daemon
from tests.adapters.daemons import AlternatingScaler, kube_daemon
from tests.contract.kube_emulator import EmulatedApiServer, Fault
from tests.contract.worlds import NAME, NAMESPACE, seed
from tests.sim.conftest import START
from tests.waiting import REQUEST_PATIENCE

LEASE = LeaseConfig(namespace=NAMESPACE, lease_seconds=15, renew_deadline_seconds=10)


class Replica:
    """One daemon process: its own client, cluster adapter and elector; a shared clock."""

    def __init__(self, identity: str, server: EmulatedApiServer, clock: VirtualClock, tmp: Path):
        api = connect(
            server.kubeconfig(tmp / f"{identity}.kubeconfig"),
            timeout=(REQUEST_PATIENCE, REQUEST_PATIENCE),  # faults answer 503s, never stall
        )
        self.api = api
        self.elector = LeaseElector(
            api, clock, LeaseConfig(**{**LEASE.__dict__, "identity": identity})
        )
        self.cluster = KubernetesCluster(api, clock, sleep=lambda s: None)
        self.daemon: Daemon = kube_daemon(self.cluster, clock, leadership=self.elector)

    def tick(self) -> TickRecord:
        return asyncio.run(self.daemon.tick())


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[EmulatedApiServer, VirtualClock, Replica, Replica]]:
    with EmulatedApiServer() as server:
        seed(server)
        clock = VirtualClock(START)
        yield (
            server,
            clock,
            Replica("a", server, clock, tmp_path),
            Replica("b", server, clock, tmp_path),
        )


def applied(record: TickRecord) -> int:
    return sum(r.status is ResultStatus.APPLIED for r in record.results)


def action_ids(server: EmulatedApiServer) -> list[str]:
    dep = server.get("apps/v1/deployments", NAMESPACE, NAME)
    return dep["metadata"]["annotations"].get(ACTION_IDS, "").split()


def test_only_the_lease_holder_acts_and_a_standby_takes_over_when_it_stops(cluster) -> None:  # type: ignore[no-untyped-def]
    server, clock, a, b = cluster
    assert a.elector.step() and not b.elector.step()
    written: list[str] = []
    for _ in range(5):  # a renews every tick; b keeps campaigning and never wins
        ra, rb = a.tick(), b.tick()
        assert applied(ra) == 1 and rb.results == () and rb.proposals == ()
        written += [r.action_id for r in ra.results]
        clock.advance(5)
        assert a.elector.step() and not b.elector.step()
    assert action_ids(server) == written  # every write came from a, once each
    lease = server.get("coordination.k8s.io/v1/leases", NAMESPACE, "gpusteward-leader")
    assert lease["spec"]["holderIdentity"] == "a"

    clock.advance(10)  # a stops renewing (hung, partitioned): within its renew deadline ...
    assert not a.elector.is_leader()  # ... it stops calling itself leader
    assert applied(a.tick()) == 0  # so its next tick does not act
    assert not b.elector.step()  # b waits a whole lease duration from its last sighting
    clock.advance(6)
    assert b.elector.step() and not a.elector.step()  # b takes over; a sees b's fresh lease
    assert applied(b.tick()) == 1 and applied(a.tick()) == 0
    lease = server.get("coordination.k8s.io/v1/leases", NAMESPACE, "gpusteward-leader")
    assert (lease["spec"]["holderIdentity"], lease["spec"]["leaseTransitions"]) == ("b", 1)


class LosesLeaseWhilePlanning(AlternatingScaler):
    """Plans slowly: the renew deadline passes while it thinks."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__()
        self.clock = clock

    def plan(self, snapshot: ClusterSnapshot, forecasts: Mapping[str, Forecast]) -> list[Proposal]:
        self.clock.advance(11)
        return super().plan(snapshot, forecasts)


def test_losing_the_lease_mid_tick_stops_the_remaining_actions(cluster) -> None:  # type: ignore[no-untyped-def]
    server, clock, a, _ = cluster
    assert a.elector.step()
    a.daemon.planner = LosesLeaseWhilePlanning(clock)
    record = a.tick()
    assert len(record.proposals) == 1
    assert [r.status for r in record.results] == [ResultStatus.SUPERSEDED]
    assert "leader lease" in record.results[0].message
    assert action_ids(server) == []


class StaleLeaseReads:
    """Reads a lease as it was before another candidate wrote it (a lost race)."""

    def __init__(self, api: KubeApi, stale: KubeLease) -> None:
        self.api, self.stale = api, stale

    def get_lease(self, namespace: str, name: str) -> KubeLease | None:
        return self.stale

    def replace_lease(self, namespace: str, lease: KubeLease) -> KubeLease:
        return self.api.replace_lease(namespace, lease)


def test_two_candidates_racing_for_an_expired_lease_cannot_both_win(cluster) -> None:  # type: ignore[no-untyped-def]
    server, clock, a, b = cluster
    assert a.elector.step()
    clock.advance(16)
    expired = a.api.get_lease(NAMESPACE, "gpusteward-leader")
    assert expired is not None
    assert b.elector.step() is False  # first sighting: b starts its wait
    clock.advance(16)
    c = LeaseElector(
        StaleLeaseReads(a.api, expired),  # type: ignore[arg-type]
        clock,
        LeaseConfig(**{**LEASE.__dict__, "identity": "c"}),
    )
    c.step()  # c's first sighting of the stale record
    clock.advance(16)
    assert b.elector.step()  # b writes with the current resourceVersion and wins
    assert not c.step()  # c writes with the stale one: 409, not leader
    assert any(s.answered == 409 and s.method == "PUT" for s in server.emulator.seen)


def test_an_api_outage_keeps_the_leader_only_until_its_renew_deadline(cluster) -> None:  # type: ignore[no-untyped-def]
    server, clock, a, _ = cluster
    assert a.elector.step()
    server.fault(Fault("GET", r"/leases/gpusteward-leader$", status=503, times=99))
    clock.advance(4)
    assert a.elector.step()  # renewal failed, but the deadline has not passed
    clock.advance(7)
    assert not a.elector.step()
