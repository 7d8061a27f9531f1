"""The slice of the Kubernetes API that gpusteward uses, as a Protocol, and its errors.

`gpusteward.adapters.kubernetes.KubernetesApi` implements it with the official client;
`kube_cluster` and `lease` depend only on this, so their logic reads without the SDK.
Errors (drawn once):

ClusterUnavailable (Retryable)   429, 5xx, timeouts, refused connections
ApiConflict (Retryable)          409: resourceVersion changed, or the name already exists
ApiNotFound (Permanent)          404: no such object
ActionRejected (Permanent)       400 / 403 / 422: the server refuses the request as asked
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from gpusteward.adapters.kube_objects import (
    KubeDeployment,
    KubeLease,
    KubeNode,
    KubePod,
    KubeScale,
)
from gpusteward.core.errors import Permanent, Retryable

MergePatch = Mapping[str, object]
"""A JSON merge patch (RFC 7386) body: nested mappings; None deletes a key."""


class ApiConflict(Retryable):
    """409 Conflict: someone changed the object since it was read (or it exists already)."""


class ApiNotFound(Permanent):
    """404 Not Found: the object (or its kind) does not exist on the server."""


class KubeApi(Protocol):
    """Reads return typed views; writes take merge patches and honour `dry_run`
    (server-side: `dryRun=All`, the server validates and changes nothing)."""

    def list_nodes(self) -> Sequence[KubeNode]: ...

    def list_deployments(
        self, namespace: str | None, label_selector: str
    ) -> Sequence[KubeDeployment]: ...

    def list_pods(self, namespace: str | None, label_selector: str) -> Sequence[KubePod]: ...

    def get_deployment(self, namespace: str, name: str) -> KubeDeployment: ...

    def get_node(self, name: str) -> KubeNode: ...

    def patch_deployment(
        self, namespace: str, name: str, patch: MergePatch, *, dry_run: bool
    ) -> KubeDeployment: ...

    def patch_scale(
        self,
        namespace: str,
        name: str,
        replicas: int,
        resource_version: str | None,
        *,
        dry_run: bool,
    ) -> KubeScale: ...

    def patch_node(self, name: str, patch: MergePatch, *, dry_run: bool) -> KubeNode: ...

    def patch_pod(
        self, namespace: str, name: str, patch: MergePatch, *, dry_run: bool
    ) -> KubePod: ...

    def delete_deployment(self, namespace: str, name: str, *, dry_run: bool) -> None: ...

    def get_lease(self, namespace: str, name: str) -> KubeLease | None: ...

    def create_lease(self, namespace: str, lease: KubeLease) -> KubeLease: ...

    def replace_lease(self, namespace: str, lease: KubeLease) -> KubeLease: ...
