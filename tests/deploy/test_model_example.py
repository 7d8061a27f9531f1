"""The example model Deployment (deploy/kubernetes/examples) drains before it is removed:
readiness gates its endpoints, a preStop hook waits for in-flight requests, and the
termination grace period outlasts that wait; gpusteward reads it as a model deployment."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from gpusteward.adapters.kube_objects import KubeDeployment
from gpusteward.adapters.kube_observe import ObserveDefaults, model_deployment

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes" / "examples"


def _example() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((EXAMPLE / "model-deployment.yaml").read_text())
    return data


def test_gpusteward_reads_the_example_as_a_model_that_may_go_to_zero() -> None:
    d = model_deployment(KubeDeployment.model_validate(_example()), [], {}, {}, ObserveDefaults())
    assert (d.model, d.gpus_per_replica, d.min_replicas) == ("chat-70b", 4, 0)
    assert d.cold_start_seconds == 210 and d.slo.queue_delay_seconds == 2


def test_the_pod_drains_within_its_grace_period() -> None:
    pod = _example()["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    script = container["lifecycle"]["preStop"]["exec"]["command"][-1]
    assert "vllm:num_requests_running" in script
    sleep = int(re.search(r"sleep (\d+)", script).group(1))  # type: ignore[union-attr]
    wait = int(re.search(r"time\.time\(\) \+ (\d+)", script).group(1))  # type: ignore[union-attr]
    assert sleep + wait < pod["terminationGracePeriodSeconds"]
