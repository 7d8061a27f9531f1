"""The RBAC in deploy/ grants exactly what the adapter uses: every request the Kubernetes
adapter and the leader election make against the emulated API, no more, no less. The grants
are read from what `kubectl kustomize` renders, as the cluster would get them."""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

import pytest
import yaml

from gpusteward.adapters.kube_cluster import KubeClusterConfig, KubernetesCluster
from gpusteward.adapters.kubernetes import connect
from gpusteward.adapters.lease import LeaseConfig, LeaseElector
from gpusteward.core.actions import (
    CordonNode,
    MoveDeployment,
    PrewarmReplicas,
    RetireModel,
    ScaleDeployment,
)
from gpusteward.core.clock import VirtualClock
from tests.adapters.daemons import kube_daemon
from tests.contract.kube_emulator import EmulatedApiServer, Seen
from tests.contract.worlds import DEPLOYMENT, GPU_TYPE, NAMESPACE, NODES, seed
from tests.deploy.kustomize import DEPLOY, Manifest, named, of_kind, render
from tests.sim.conftest import START

Grant = tuple[str, str, str]  # (api group, resource, verb)


def granted(objects: tuple[Manifest, ...]) -> set[Grant]:
    out: set[Grant] = set()
    for role in of_kind(objects, "Role", "ClusterRole"):
        for rule in role["rules"]:
            for g in rule["apiGroups"]:
                for r in rule["resources"]:
                    out |= {(g, r, v) for v in rule["verbs"]}
    return out


def with_optional_delete(tmp: Path) -> tuple[Manifest, ...]:
    """The base with optional/allow-delete.yaml added to its resources, as its comment says."""
    copy = shutil.copytree(DEPLOY, tmp / "kubernetes")
    kustomization = yaml.safe_load((copy / "kustomization.yaml").read_text())
    kustomization["resources"].append("optional/allow-delete.yaml")
    (copy / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return render(copy)


def grant_of(seen: Seen) -> Grant:
    m = re.fullmatch(
        r"/(?:api|apis/(?P<group>[^/]+))/v1(?:/namespaces/[^/]+)?/(?P<res>[^/]+)"
        r"(?:/(?P<name>[^/]+)(?:/(?P<sub>[^/]+))?)?",
        seen.path,
    )
    assert m is not None, seen.path
    resource = m["res"] + (f"/{m['sub']}" if m["sub"] else "")
    verb = {"PATCH": "patch", "PUT": "update", "POST": "create", "DELETE": "delete"}.get(
        seen.method, "get" if m["name"] else "list"
    )
    if seen.params.get("watch") == "true":
        verb = "watch"
    return (m["group"] or "", resource, verb)


def exercise(tmp: Path, *, allow_delete: bool) -> set[Grant]:
    """Everything the adapter can do: observe, each action kind (live and dry run), win,
    renew, lose and release a lease, and a daemon tick."""
    with EmulatedApiServer() as server:
        seed(server)
        api = connect(server.kubeconfig(tmp / "kubeconfig"))
        clock = VirtualClock(START)
        cluster = KubernetesCluster(api, clock, KubeClusterConfig(allow_delete=allow_delete))
        now = clock.now()
        actions = [
            ScaleDeployment(issued_at=now, deployment=DEPLOYMENT, replicas=3),
            PrewarmReplicas(issued_at=now, deployment=DEPLOYMENT, count=1),
            MoveDeployment(issued_at=now, deployment=DEPLOYMENT, to_gpu_type=GPU_TYPE),
            CordonNode(issued_at=now, node=NODES[1]),
            RetireModel(issued_at=now, deployment=DEPLOYMENT),
            RetireModel(issued_at=now, deployment=DEPLOYMENT, delete=True),
        ]
        for dry in (True, False):
            cluster.snapshot()
            for action in actions:
                cluster.execute(action, dry_run=dry)
        lease = LeaseConfig(namespace=NAMESPACE)
        a = LeaseElector(api, clock, LeaseConfig(**{**lease.__dict__, "identity": "a"}))
        b = LeaseElector(api, clock, LeaseConfig(**{**lease.__dict__, "identity": "b"}))
        a.step(), b.step(), a.step()
        a.release()
        b.step()
        asyncio.run(kube_daemon(cluster, clock, leadership=b).tick())
        return {grant_of(s) for s in server.emulator.seen}


@pytest.fixture(scope="module")
def used(tmp_path_factory: pytest.TempPathFactory) -> set[Grant]:
    return exercise(tmp_path_factory.mktemp("rbac"), allow_delete=False)


def test_the_base_rbac_grants_exactly_what_the_adapter_uses(used: set[Grant]) -> None:
    base = granted(render())
    assert base - used == set(), "granted but never used"
    assert used - base == set(), "used but not granted"


def test_deletion_needs_the_optional_role_and_only_adds_delete(tmp_path: Path) -> None:
    with_delete = exercise(tmp_path, allow_delete=True)
    rendered = granted(with_optional_delete(tmp_path))
    assert rendered - granted(render()) == {("apps", "deployments", "delete")}
    assert with_delete == rendered


def test_each_binding_names_a_rendered_service_account_in_its_namespace() -> None:
    """The grants reach the daemon: every subject is a ServiceAccount the base creates,
    in the namespace the kustomization puts it in, and the Lease Role is in the namespace
    the daemon's lease lives in (its own: GPUSTEWARD_LEASE_NAMESPACE = metadata.namespace)."""
    objects = render()
    accounts = {
        (a["metadata"]["namespace"], a["metadata"]["name"])
        for a in of_kind(objects, "ServiceAccount")
    }
    for binding in of_kind(objects, "RoleBinding", "ClusterRoleBinding"):
        for s in binding["subjects"]:
            assert (s["namespace"], s["name"]) in accounts, binding["metadata"]["name"]
    daemon = named(objects, "StatefulSet", "gpusteward")
    lease_role = named(objects, "Role", "gpusteward-leader-election")
    assert lease_role["metadata"]["namespace"] == daemon["metadata"]["namespace"]
    env = {e["name"]: e for e in daemon["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["GPUSTEWARD_LEASE_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == (
        "metadata.namespace"
    )


def test_the_node_agent_gets_no_api_access() -> None:
    objects = render()
    pod = named(objects, "DaemonSet", "gpusteward-node-agent")["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    bound = [
        s["name"]
        for b in of_kind(objects, "RoleBinding", "ClusterRoleBinding")
        for s in b["subjects"]
    ]
    assert pod["serviceAccountName"] not in bound


def test_every_file_in_the_kustomization_exists_parses_and_lies_under_its_root() -> None:
    """kustomize refuses a file outside the kustomization's folder ("is not in or below")."""
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    generated = [f for g in kustomization["configMapGenerator"] for f in g["files"]]
    for name in [*kustomization["resources"], *generated]:
        path = (DEPLOY / name).resolve()
        assert path.is_relative_to(DEPLOY), f"{name}: not in or below {DEPLOY}"
        assert list(yaml.safe_load_all(path.read_text())), name
