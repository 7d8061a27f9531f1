"""Pods as replicas: a loading pod's expected time to ready, from its start time."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from gpusteward.adapters.kube_objects import KubeDeployment, KubePod
from gpusteward.adapters.kube_observe import ObserveDefaults, model_deployment, place_pods
from gpusteward.core.cluster import ReplicaPhase
from gpusteward.core.errors import InputError
from gpusteward.testing import T0
from tests.contract.worlds import kube_deployment, kube_pod


def _loading(name: str, started: str | None) -> dict[str, Any]:
    pod = kube_pod(name, "h100-1")
    pod["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}]}
    if started is not None:
        pod["status"]["startTime"] = started
    return pod


def test_a_loading_pod_is_expected_ready_a_cold_start_after_it_started() -> None:
    dep = kube_deployment()
    dep["metadata"].setdefault("annotations", {})["gpusteward.io/cold-start-seconds"] = "180"
    raw = [
        kube_pod("m-0", "h100-0"),
        _loading("m-1", (T0 - timedelta(seconds=50)).isoformat().replace("+00:00", "Z")),
        _loading("m-2", (T0 - timedelta(seconds=500)).isoformat()),
        _loading("m-3", None),
        _loading("m-4", "not a time"),
    ]
    pods = [KubePod.model_validate(p) for p in raw]
    _, indices = place_pods(pods)
    d = model_deployment(
        KubeDeployment.model_validate(dep), pods, indices, {}, ObserveDefaults(), T0
    )
    by_id = {r.id: r for r in d.replica_states}
    assert by_id["m-0"].phase is ReplicaPhase.READY and by_id["m-0"].ready_in_seconds == 0
    assert by_id["m-1"].phase is ReplicaPhase.LOADING
    assert by_id["m-1"].ready_in_seconds == 130.0
    # overdue (crash-looping?), or no readable start time: not counted on this cold start
    assert by_id["m-2"].ready_in_seconds == 180.0
    assert by_id["m-3"].ready_in_seconds == 180.0 and by_id["m-4"].ready_in_seconds == 180.0


def test_the_intent_annotation_is_the_deployments_note_and_bad_windows_name_the_annotation() -> (
    None
):
    dep = kube_deployment(
        **{"gpusteward.io/intent": "launch at 09:00 UTC tomorrow, 3x for 2 hours"}
    )
    d = model_deployment(KubeDeployment.model_validate(dep), [], {}, {}, ObserveDefaults(), T0)
    assert d.intent == "launch at 09:00 UTC tomorrow, 3x for 2 hours"
    assert d.capacity_windows == ()
    bad = kube_deployment(**{"gpusteward.io/capacity-windows": '[{"replicas": 0}]'})
    with pytest.raises(InputError) as e:
        model_deployment(KubeDeployment.model_validate(bad), [], {}, {}, ObserveDefaults(), T0)
    assert "gpusteward.io/capacity-windows" in str(e.value) and "Fix:" in str(e.value)
