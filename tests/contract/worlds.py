"""The same small cluster, three ways: the simulator, the Kubernetes emulator, a real cluster.

Two nodes `h100-0` / `h100-1` with 4 x H100 (80 GiB) each; one model deployment
`serving/m` (model `m`) at 2 replicas of 1 GPU, bounds 0..16, cold start 120 s, queueing
SLO 2 s, both replicas running on `h100-0`. With `fine_tune`, also `serving/m-ft`, a LoRA
fine-tune of `m` (label `gpusteward.io/base-model: m`) at 1 replica, on `h100-1`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpusteward.adapters.kube_cluster import KubeClusterConfig, KubernetesCluster
from gpusteward.adapters.kubernetes import connect
from gpusteward.core.clock import VirtualClock
from gpusteward.core.ports import ClusterSource, Executor
from gpusteward.sim.cluster import SimulatedCluster
from gpusteward.sim.engine import Simulator
from tests.contract.kube_emulator import EmulatedApiServer
from tests.sim.conftest import START, model, node_group, sim_spec

NAMESPACE, NAME, MODEL = "serving", "m", "m"
DEPLOYMENT = f"{NAMESPACE}/{NAME}"
FINE_TUNE = f"{NAMESPACE}/m-ft"
BASE_LABEL = {"gpusteward.io/base-model": MODEL}
NODES = ("h100-0", "h100-1")
GPU_TYPE = "H100"


@dataclass
class World:
    """One backend behind both ports, with a virtual clock and the sleeps it asked for."""

    name: str
    source: ClusterSource
    executor: Executor
    clock: VirtualClock
    server: EmulatedApiServer | None = None
    cluster: KubernetesCluster | None = None
    slept: list[float] = field(default_factory=list)


def sim_world(fine_tune: bool = False) -> World:
    tune = model("m-ft", model=MODEL, version="ft", labels=BASE_LABEL, replicas=1, max_replicas=16)
    spec = sim_spec(
        models=[model(NAME, replicas=2, min_replicas=0, max_replicas=16)]
        + ([tune] if fine_tune else []),
        groups=[node_group("h100", count=2, gpu_type=GPU_TYPE)],
    )
    clock = VirtualClock(START)
    cluster = SimulatedCluster(Simulator(spec), clock)
    return World("sim", cluster, cluster, clock)


def kube_node(name: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "nvidia.com/gpu.product": GPU_TYPE,
                "nvidia.com/gpu.memory": "81920",
                "topology.kubernetes.io/region": "eu-west",
                **labels,
            },
            "annotations": {"gpusteward.io/price-per-gpu-hour": "2.0"},
        },
        "spec": {},
        "status": {
            "capacity": {"nvidia.com/gpu": "4"},
            "allocatable": {"nvidia.com/gpu": "4"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def kube_deployment(
    name: str = NAME,
    replicas: int = 2,
    extra_labels: dict[str, str] | None = None,
    **annotations: str,
) -> dict[str, Any]:
    labels = {"gpusteward.io/model": MODEL, "app": name, **(extra_labels or {})}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "labels": labels,
            "annotations": {
                "gpusteward.io/min-replicas": "0",
                "gpusteward.io/max-replicas": "16",
                "gpusteward.io/cold-start-seconds": "120",
                "gpusteward.io/slo-queue-delay-seconds": "2.0",
                "gpusteward.io/gpu-memory-gib": "40",
                **annotations,
            },
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "vllm",
                            "image": "vllm/vllm-openai",
                            "resources": {"limits": {"nvidia.com/gpu": "1"}},
                        }
                    ]
                },
            },
        },
    }


def kube_pod(name: str, node: str, deployment: str = NAME) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "labels": {"gpusteward.io/model": MODEL, "app": deployment},
        },
        "spec": {
            "nodeName": node,
            "containers": [{"name": "vllm", "resources": {"limits": {"nvidia.com/gpu": "1"}}}],
        },
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
    }


def seed(server: EmulatedApiServer, fine_tune: bool = False) -> None:
    for node in NODES:
        server.put("v1/nodes", None, kube_node(node))
    server.put("apps/v1/deployments", NAMESPACE, kube_deployment())
    for i in range(2):
        server.put("v1/pods", NAMESPACE, kube_pod(f"{NAME}-{i}", NODES[0]))
    if fine_tune:
        server.put("apps/v1/deployments", NAMESPACE, kube_deployment("m-ft", 1, BASE_LABEL))
        server.put("v1/pods", NAMESPACE, kube_pod("m-ft-0", NODES[1], "m-ft"))


@contextmanager
def emulated_world(tmp: Path, fine_tune: bool = False, **config: Any) -> Iterator[World]:
    with EmulatedApiServer() as server:
        seed(server, fine_tune)
        api = connect(server.kubeconfig(tmp / "kubeconfig"), timeout=(2.0, 0.5), page_size=2)
        clock = VirtualClock(START)
        world = World("kubernetes-emulator", clock=clock, source=None, executor=None)  # type: ignore[arg-type]
        settings = {"adapter_router": True, **config}  # the emulator stands for a routed cluster
        cluster = KubernetesCluster(
            api, clock, KubeClusterConfig(**settings), sleep=world.slept.append
        )
        world.source = world.executor = world.cluster = cluster
        world.server = server
        yield world


def real_cluster_available() -> str | None:
    """Why the real-cluster run is skipped, or None when it may run."""
    if not os.environ.get("GPUSTEWARD_TEST_KUBECONFIG"):
        return (
            "set GPUSTEWARD_TEST_KUBECONFIG to a kubeconfig whose cluster has nodes named "
            "h100-0 / h100-1 and a Deployment serving/m seeded as in tests/contract/worlds.py"
        )
    return None


@contextmanager
def real_world() -> Iterator[World]:
    """A real API server, opt-in: the same adapter and suite, no emulator."""
    api = connect(Path(os.environ["GPUSTEWARD_TEST_KUBECONFIG"]))
    clock = VirtualClock(START)
    cluster = KubernetesCluster(api, clock, KubeClusterConfig(namespaces=(NAMESPACE,)))
    yield World("kubernetes-real", cluster, cluster, clock, cluster=cluster)
