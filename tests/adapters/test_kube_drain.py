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
