"""The official `kubernetes` client behind the `KubeApi` port: the only module that imports it.

Every call has a (connect, read) timeout, the client's own retries are off (the caller
retries whole read-modify-write operations, see `kube_cluster`), lists are paginated,
patches are JSON merge patches, and SDK errors become the project's error types.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from pydantic import BaseModel, ValidationError

from gpusteward.adapters.kube_api import ApiConflict, ApiNotFound, MergePatch
from gpusteward.adapters.kube_objects import (
    KubeDeployment,
    KubeLease,
    KubeNode,
    KubePod,
    KubeScale,
)
from gpusteward.core.errors import ActionRejected, ClusterUnavailable, Permanent, SettingsError

M = TypeVar("M", bound=BaseModel)
MERGE_PATCH = "application/merge-patch+json"


def connect(
    kubeconfig: Path | None = None,
    context: str | None = None,
    *,
    timeout: tuple[float, float] = (5.0, 15.0),
    page_size: int = 500,
) -> KubernetesApi:
    """A client from a kubeconfig file (or `$KUBECONFIG` / `~/.kube/config`), falling back to
    the in-cluster service account; `SettingsError` naming both places when neither works."""
    cfg = client.Configuration()
    try:
        if kubeconfig is not None or context is not None:
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=str(kubeconfig) if kubeconfig else None,
                context=context,
                client_configuration=cfg,
            )
        else:
            try:
                config.load_kube_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
            except (ConfigException, FileNotFoundError, TypeError):
                config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
    except (ConfigException, FileNotFoundError, TypeError) as e:
        where = kubeconfig or "$KUBECONFIG / ~/.kube/config"
        raise SettingsError(
            f"kubernetes backend: no usable cluster config in {where} nor in-cluster ({e}). "
            "Fix: set GPUSTEWARD_KUBECONFIG or KUBECONFIG, or run inside a pod with a "
            "service account."
        ) from None
    cfg.retries = 0  # gpusteward retries whole operations itself
    return KubernetesApi(client.ApiClient(cfg), timeout=timeout, page_size=page_size)


class KubernetesApi:
    """`KubeApi` over `kubernetes.client`. Thread-safe as far as the client is."""

    def __init__(
        self,
        api_client: client.ApiClient,
        *,
        timeout: tuple[float, float] = (5.0, 15.0),
        page_size: int = 500,
    ) -> None:
        self.core = client.CoreV1Api(api_client)
        self.apps = client.AppsV1Api(api_client)
        self.coordination = client.CoordinationV1Api(api_client)
        self.timeout = timeout
        self.page_size = page_size
        self.host = api_client.configuration.host

    # -- reads -----------------------------------------------------------------------

    def list_nodes(self) -> Sequence[KubeNode]:
        return self._list(KubeNode, "nodes", self.core.list_node)

    def list_deployments(
        self, namespace: str | None, label_selector: str
    ) -> Sequence[KubeDeployment]:
        every, one = (
            self.apps.list_deployment_for_all_namespaces,
            self.apps.list_namespaced_deployment,
        )
        return self._list_in(namespace, KubeDeployment, "deployments", every, one, label_selector)

    def list_pods(self, namespace: str | None, label_selector: str) -> Sequence[KubePod]:
        every, one = self.core.list_pod_for_all_namespaces, self.core.list_namespaced_pod
        return self._list_in(namespace, KubePod, "pods", every, one, label_selector)

    def get_deployment(self, namespace: str, name: str) -> KubeDeployment:
        what = f"deployment {namespace}/{name}"
        return self._call(
            KubeDeployment, what, self.apps.read_namespaced_deployment, name, namespace
        )

    def get_node(self, name: str) -> KubeNode:
        return self._call(KubeNode, f"node {name}", self.core.read_node, name)

    def get_lease(self, namespace: str, name: str) -> KubeLease | None:
        try:
            return self._call(
                KubeLease,
                f"lease {namespace}/{name}",
                self.coordination.read_namespaced_lease,
                name,
                namespace,
            )
        except ApiNotFound:
            return None

    # -- writes ----------------------------------------------------------------------

    def patch_deployment(
        self, namespace: str, name: str, patch: MergePatch, *, dry_run: bool
    ) -> KubeDeployment:
        return self._call(
            KubeDeployment,
            f"patch deployment {namespace}/{name}",
            self.apps.patch_namespaced_deployment,
            name,
            namespace,
            dict(patch),
            _content_type=MERGE_PATCH,
            **_dry(dry_run),
        )

    def patch_scale(
        self,
        namespace: str,
        name: str,
        replicas: int,
        resource_version: str | None,
        *,
        dry_run: bool,
    ) -> KubeScale:
        body: dict[str, Any] = {"spec": {"replicas": replicas}}
        if resource_version is not None:  # optimistic concurrency: 409 if it moved on
            body["metadata"] = {"resourceVersion": resource_version}
        return self._call(
            KubeScale,
            f"scale deployment {namespace}/{name}",
            self.apps.patch_namespaced_deployment_scale,
            name,
            namespace,
            body,
            _content_type=MERGE_PATCH,
            **_dry(dry_run),
        )

    def patch_node(self, name: str, patch: MergePatch, *, dry_run: bool) -> KubeNode:
        return self._call(
            KubeNode,
            f"patch node {name}",
            self.core.patch_node,
            name,
            dict(patch),
            _content_type=MERGE_PATCH,
            **_dry(dry_run),
        )

    def patch_pod(self, namespace: str, name: str, patch: MergePatch, *, dry_run: bool) -> KubePod:
        return self._call(
            KubePod,
            f"patch pod {namespace}/{name}",
            self.core.patch_namespaced_pod,
            name,
            namespace,
            dict(patch),
            _content_type=MERGE_PATCH,
            **_dry(dry_run),
        )

    def delete_deployment(self, namespace: str, name: str, *, dry_run: bool) -> None:
        self._request(
            f"delete deployment {namespace}/{name}",
            self.apps.delete_namespaced_deployment,
            name,
            namespace,
            **_dry(dry_run),
        )

    def create_lease(self, namespace: str, lease: KubeLease) -> KubeLease:
        return self._call(
            KubeLease,
            f"create lease {namespace}/{lease.metadata.name}",
            self.coordination.create_namespaced_lease,
            namespace,
            _lease_body(lease),
        )

    def replace_lease(self, namespace: str, lease: KubeLease) -> KubeLease:
        return self._call(
            KubeLease,
            f"replace lease {namespace}/{lease.metadata.name}",
            self.coordination.replace_namespaced_lease,
            lease.metadata.name,
            namespace,
            _lease_body(lease),
        )

    # -- plumbing ----------------------------------------------------------------------

    def _list(
        self, model: type[M], what: str, fn: Callable[..., Any], *args: Any, **kw: Any
    ) -> list[M]:
        """Every page of a list (`limit` + `continue`), parsed into `model`."""
        out: list[M] = []
        token: str | None = None
        while True:
            page = self._request(what, fn, *args, limit=self.page_size, _continue=token, **kw)
            out.extend(_parse(model, item, what) for item in page.get("items") or ())
            token = (page.get("metadata") or {}).get("continue") or None
            if token is None:
                return out

    def _list_in(
        self,
        namespace: str | None,
        model: type[M],
        what: str,
        every: Callable[..., Any],
        one: Callable[..., Any],
        label_selector: str,
    ) -> list[M]:
        """`_list` over every namespace (`every`), or over `namespace` alone (`one`)."""
        if namespace is None:
            return self._list(model, what, every, label_selector=label_selector)
        return self._list(
            model, f"{what} in {namespace}", one, namespace, label_selector=label_selector
        )

    def _call(self, model: type[M], what: str, fn: Callable[..., Any], *args: Any, **kw: Any) -> M:
        return _parse(model, self._request(what, fn, *args, **kw), what)

    def _request(self, what: str, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        try:
            response = fn(*args, _preload_content=False, _request_timeout=self.timeout, **kw)
            return json.loads(response.data or b"{}")
        except ApiException as e:
            raise _translate(e, what, self.host) from e
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise ClusterUnavailable(
                f"{what}: Kubernetes API at {self.host} unreachable or too slow "
                f"({type(e).__name__}: {e})"
            ) from e


def _parse(model: type[M], data: Any, what: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        name = (data.get("metadata") or {}).get("name") if isinstance(data, dict) else None
        raise Permanent(
            f"{what}: object {name!r} does not look like a {model.__name__} ({e.errors()[0]})"
        ) from None


def _dry(dry_run: bool) -> dict[str, str]:
    return {"dry_run": "All"} if dry_run else {}


def _lease_body(lease: KubeLease) -> dict[str, Any]:
    body = lease.model_dump(mode="json", by_alias=True, exclude_none=True)
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", **body}


def _translate(e: ApiException, what: str, host: str) -> Exception:
    status = e.status or 0
    detail = _reason(e)
    if status == 409:
        return ApiConflict(f"{what}: conflict ({detail}); re-read and retry")
    if status == 404:
        return ApiNotFound(f"{what}: not found on {host} ({detail})")
    if status == 429 or status >= 500 or status == 0:
        return ClusterUnavailable(f"{what}: API server answered {status} ({detail})")
    return ActionRejected(
        f"{what}: API server refused with {status} ({detail}). Fix: check the object and "
        "the daemon's RBAC (deploy/ lists the verbs it needs)."
    )


def _reason(e: ApiException) -> str:
    try:
        body = json.loads(e.body or b"{}")
        return str(body.get("message") or e.reason)
    except (ValueError, AttributeError):
        return str(e.reason)
