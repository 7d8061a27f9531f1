"""Drain before removing on Kubernetes: a scale-down marks the pods to go with
controller.kubernetes.io/pod-deletion-cost (cordoned node first, then the newest), a
terminating pod is seen as draining (not as capacity), and merging adapters needs a
router the operator declared."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from gpusteward.adapters.kube_cluster import KubeClusterConfig, KubernetesCluster
from gpusteward.adapters.kube_drain import DELETION_COST, REMOVE_FIRST, removal_marks
from gpusteward.adapters.kube_objects import KubeDeployment, KubePod
from gpusteward.adapters.kube_observe import ObserveDefaults, model_deployment, place_pods
from gpusteward.adapters.kubernetes import connect
from gpusteward.core.actions import MergeAdapters, ScaleDeployment
from gpusteward.core.clock import VirtualClock
from gpusteward.core.cluster import ReplicaPhase
from gpusteward.core.verdicts import ResultStatus
from gpusteward.testing import T0
from tests.contract.kube_emulator import EmulatedApiServer
from tests.contract.worlds import DEPLOYMENT, FINE_TUNE, MODEL, kube_deployment, kube_pod, seed
from tests.sim.conftest import START


def _pod(name: str, node: str, created: str, **meta: Any) -> KubePod:
    raw = kube_pod(name, node)
    raw["metadata"].update({"creationTimestamp": created, **meta})
    return KubePod.model_validate(raw)


def test_pods_on_a_cordoned_node_go_first_then_the_newest() -> None:
    pods = [
        _pod("m-a", "h100-0", "2026-11-02T08:00:00Z"),
        _pod("m-b", "h100-0", "2026-11-02T09:00:00Z"),
        _pod("m-c", "h100-1", "2026-11-02T07:00:00Z"),
    ]
    assert removal_marks(pods, 2, cordoned={"h100-1"}) == {"m-c": REMOVE_FIRST}
    assert removal_marks(pods, 1, cordoned=()) == {"m-b": REMOVE_FIRST, "m-a": REMOVE_FIRST}
    assert removal_marks(pods, 3, cordoned=()) == {}


def test_an_unready_pod_goes_by_itself_and_a_stale_mark_is_cleared() -> None:
    unready = kube_pod("m-x", "h100-0")
    unready["status"] = {"phase": "Pending"}
    marked = _pod(
        "m-a", "h100-0", "2026-11-02T08:00:00Z", annotations={DELETION_COST: REMOVE_FIRST}
    )
    pods = [KubePod.model_validate(unready), marked, _pod("m-b", "h100-0", "2026-11-02T09:00:00Z")]
    # one goes: the unready one, with no mark needed; m-a's old mark would take it too
    assert removal_marks(pods, 2, cordoned=()) == {"m-a": None}


def test_a_terminating_pod_is_draining_until_its_deletion_deadline() -> None:
    deadline = (T0 + timedelta(seconds=75)).isoformat()
    raw = [kube_pod("m-0", "h100-0"), kube_pod("m-1", "h100-0")]
    raw[1]["metadata"]["deletionTimestamp"] = deadline
    pods = [KubePod.model_validate(p) for p in raw]
    holders, indices = place_pods(pods)
    dep = KubeDeployment.model_validate(kube_deployment())
    d = model_deployment(dep, pods, indices, {}, ObserveDefaults(), T0)
    assert [r.id for r in d.replica_states] == ["m-0"]
    (draining,) = d.draining
    assert draining.phase is ReplicaPhase.DRAINING and draining.drain_ends_in_seconds == 75.0
    assert holders["h100-0"] == ["m-0", "m-1"]  # its GPU is held until it is gone


def test_a_scale_down_marks_the_pod_to_remove_before_the_replicas_drop(tmp_path: Path) -> None:
    with EmulatedApiServer() as server:
        seed(server)
        cluster = KubernetesCluster(
            connect(server.kubeconfig(tmp_path / "kubeconfig")), VirtualClock(START)
        )
        now = cluster.clock.now()
        result = cluster.execute(ScaleDeployment(issued_at=now, deployment=DEPLOYMENT, replicas=1))
        assert result.status is ResultStatus.APPLIED and "1 pod(s) marked" in result.message
        costs = {
            name: server.get("v1/pods", "serving", name)["metadata"]
            .get("annotations", {})
            .get(DELETION_COST)
            for name in ("m-0", "m-1")
        }
        assert costs == {"m-0": None, "m-1": REMOVE_FIRST}
        paths = [s.path for s in server.emulator.seen if s.method == "PATCH"]
        assert paths.index("/api/v1/namespaces/serving/pods/m-1") < paths.index(
            "/apis/apps/v1/namespaces/serving/deployments/m/scale"
        )


def test_merging_adapters_without_a_declared_router_is_refused_naming_the_fix(
    tmp_path: Path,
) -> None:
    with EmulatedApiServer() as server:
        seed(server, fine_tune=True)
        cluster = KubernetesCluster(
            connect(server.kubeconfig(tmp_path / "kubeconfig")),
            VirtualClock(START),
            KubeClusterConfig(adapter_router=False),
        )
        merge = MergeAdapters(
            base_model=MODEL, sources=(FINE_TUNE,), into=DEPLOYMENT, issued_at=START
        )
        result = cluster.execute(merge)
        assert result.status is ResultStatus.FAILED
        assert "GPUSTEWARD_KUBE_ADAPTER_ROUTER=true" in result.message
        assert server.get("apps/v1/deployments", "serving", "m-ft")["spec"]["replicas"] == 1


def _terminating(server: EmulatedApiServer, name: str, node: str, app: str, ends: str) -> None:
    """What the ReplicaSet controller leaves after removing a pod: the pod, still running its
    preStop hook, with the deadline the API server set (deletion time + grace period)."""
    raw = kube_pod(name, node, app)
    raw["metadata"]["deletionTimestamp"] = ends
    raw["metadata"]["deletionGracePeriodSeconds"] = 75
    server.put("v1/pods", "serving", raw)


def test_the_snapshot_shows_a_terminating_pod_draining_on_its_gpu_and_not_as_capacity(
    tmp_path: Path,
) -> None:
    with EmulatedApiServer() as server:
        seed(server)
        _terminating(server, "m-1", "h100-0", "m", (START + timedelta(seconds=75)).isoformat())
        cluster = KubernetesCluster(
            connect(server.kubeconfig(tmp_path / "kubeconfig")), VirtualClock(START)
        )
        snap = cluster.snapshot()
        d = snap.deployment(DEPLOYMENT)
        assert d is not None
        assert [r.id for r in d.replica_states] == ["m-0"]
        assert d.count(ReplicaPhase.READY) == 1  # what the planners count as capacity
        (drain,) = d.draining
        assert (drain.id, drain.node, drain.drain_ends_in_seconds) == ("m-1", "h100-0", 75.0)
        node = next(n for n in snap.nodes if n.name == "h100-0")
        assert [g.allocated_to for g in node.gpus] == ["m-0", "m-1", None, None]
        # a scale-down now counts only the pod that stays: nothing left to mark
        result = cluster.execute(
            ScaleDeployment(issued_at=START, deployment=DEPLOYMENT, replicas=1)
        )
        assert result.status is ResultStatus.APPLIED and "marked" not in result.message


def test_a_merged_fine_tune_is_seen_routed_with_its_old_pod_draining(tmp_path: Path) -> None:
    with EmulatedApiServer() as server:
        seed(server, fine_tune=True)
        cluster = KubernetesCluster(
            connect(server.kubeconfig(tmp_path / "kubeconfig")),
            VirtualClock(START),
            KubeClusterConfig(adapter_router=True),
        )
        merge = MergeAdapters(
            base_model=MODEL, sources=(FINE_TUNE,), into=DEPLOYMENT, issued_at=START
        )
        assert cluster.execute(merge).status is ResultStatus.APPLIED
        # the controller removes the fine-tune's pod; it drains for its grace period
        _terminating(
            server, "m-ft-0", "h100-1", "m-ft", (START + timedelta(seconds=40)).isoformat()
        )
        snap = cluster.snapshot()
        base, tune = snap.deployment(DEPLOYMENT), snap.deployment(FINE_TUNE)
        assert base is not None and tune is not None
        assert base.adapters == (FINE_TUNE,) and base.routed_to is None
        assert tune.routed_to == DEPLOYMENT and tune.replicas == 0 and tune.replica_states == ()
        assert [(r.id, r.drain_ends_in_seconds) for r in tune.draining] == [("m-ft-0", 40.0)]
        # later the pod is gone: nothing holds the fine-tune's GPU
        server.emulator.objects["v1/pods", "serving", "m-ft-0"].delete()
        snap = cluster.snapshot()
        tune = snap.deployment(FINE_TUNE)
        assert tune is not None and tune.draining == () and tune.routed_to == DEPLOYMENT
        node = next(n for n in snap.nodes if n.name == "h100-1")
        assert all(g.allocated_to is None for g in node.gpus)
