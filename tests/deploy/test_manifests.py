"""What a new user's `kubectl apply -k deploy/kubernetes` gets: the rendered objects set
only settings the daemon has, serve the chat with a people file, keep the journal and the
approvals on a PersistentVolumeClaim, and give every process a writable /tmp under a
read-only root file system. (test_image.py: the image they run.)"""

from __future__ import annotations

from typing import Any

from gpusteward.app.settings import Settings
from tests.deploy.kustomize import of_kind, render


def pods() -> list[dict[str, Any]]:
    return [w["spec"]["template"]["spec"] for w in of_kind(render(), "StatefulSet", "DaemonSet")]


def daemon_pod() -> dict[str, Any]:
    (pod,) = [p for p in pods() if p["containers"][0]["args"][0] == "run"]
    return pod


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container.get("env", [])}


def mount_for(pod: dict[str, Any], path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The (volumeMount, volume) a file at `path` lies on: the longest mount path above it."""
    mounts = [
        m for m in pod["containers"][0]["volumeMounts"] if path.startswith(m["mountPath"] + "/")
    ]
    assert mounts, f"{path}: on no volume (the root file system is read-only)"
    mount = max(mounts, key=lambda m: len(m["mountPath"]))
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    return mount, volume


def test_every_gpusteward_variable_in_the_manifests_is_a_setting() -> None:
    fields = set(Settings.model_fields)
    for pod in pods():
        for container in pod["containers"]:
            for name in env_of(container):
                if name.startswith("GPUSTEWARD_"):
                    assert name.removeprefix("GPUSTEWARD_").lower() in fields, name


def test_the_chat_is_served_with_a_people_file_from_a_secret() -> None:
    pod = daemon_pod()
    env = env_of(pod["containers"][0])
    people = env.get("GPUSTEWARD_CHAT_PEOPLE")
    assert people, "GPUSTEWARD_CHAT_PEOPLE unset: `run` serves no chat on the chat port"
    assert env["GPUSTEWARD_CHAT_HOST"] == "0.0.0.0"
    mount, volume = mount_for(pod, people)
    assert mount.get("readOnly") is True
    assert volume.get("secret", {}).get("secretName") == "gpusteward-people", volume
    assert people.removeprefix(mount["mountPath"] + "/") == "people.yaml"  # the Secret's key


def test_the_journal_and_the_approvals_live_on_a_persistent_volume_claim() -> None:
    """An emptyDir dies with the pod: the approvals and the journal must not."""
    objects, pod = render(), daemon_pod()
    claims = {c["metadata"]["name"] for c in of_kind(objects, "PersistentVolumeClaim")}
    env = env_of(pod["containers"][0])
    journal = mount_for(pod, env["GPUSTEWARD_JOURNAL"])
    approvals = mount_for(pod, env["GPUSTEWARD_APPROVALS"])
    for _, volume in (journal, approvals):
        assert volume.get("persistentVolumeClaim", {}).get("claimName") in claims, volume
    # One writer per journal (each replica its own, by its stable name); one approval store
    # shared by the replicas, so a standby that takes over sees the pending requests.
    assert "$(GPUSTEWARD_IDENTITY)" in journal[0]["subPathExpr"]
    assert "subPathExpr" not in approvals[0]
    (daemon,) = of_kind(objects, "StatefulSet")
    if daemon["spec"]["replicas"] > 1:  # SQLite's WAL works between processes on one host
        (term,) = pod["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert term["topologyKey"] == "kubernetes.io/hostname"
        assert (
            term["labelSelector"]["matchLabels"].items()
            <= daemon["spec"]["template"]["metadata"]["labels"].items()
        )


def test_a_read_only_root_file_system_comes_with_a_writable_tmp() -> None:
    """Prophet's cmdstan writes its fit files to /tmp, and matplotlib (which the CLI
    imports) stops the process at start without a writable cache directory there."""
    for pod in pods():
        for container in pod["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            tmps = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
            assert len(tmps) == 1, f"{container['name']}: no volume at /tmp"
            (volume,) = [v for v in pod["volumes"] if v["name"] == tmps[0]["name"]]
            assert "emptyDir" in volume and not tmps[0].get("readOnly")
