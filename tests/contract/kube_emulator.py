"""A Kubernetes API emulator over real HTTP on loopback: `kmock`, plus what it lacks.

kmock (by the author of kopf) serves discovery, CRUD, merge patches and watch streams from
an in-memory object store. What gpusteward's adapter needs beyond that is added here, in
one `_handle` override, and is the only emulated behaviour the tests rely on:

- resourceVersion: every write bumps it; a write whose body carries a stale one gets 409
- label selectors (`=`, `==`, `!=`, `in`, `notin`, `key`, `!key`) and `limit` / `continue`
  pagination on lists
- the `scale` subresource as an `autoscaling/v1` Scale object (GET and PATCH)
- PUT (replace), POST conflicts (409 AlreadyExists), and `dryRun=All` (validate, store nothing)
- fault injection: the next N matching requests answer a status (409, 429, 500 ...) or
  stall past the client's read timeout

Still missing, and not relied on: strategic-merge and JSON patches (415 here), field
selectors, watch with label selectors, admission, RBAC (every request is allowed), and
garbage collection of pods.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp.web
import attrs
import kmock
from kmock._internal.k8s import KubernetesError
from kmock._internal.rendering import Request

RESOURCES = {
    "v1/nodes": dict(kind="Node", namespaced=False, verbs={"list", "get", "patch", "watch"}),
    "v1/pods": dict(kind="Pod", namespaced=True, verbs={"list", "get", "patch", "watch"}),
    "apps/v1/deployments": dict(
        kind="Deployment",
        namespaced=True,
        subresources={"scale"},
        verbs={"list", "get", "patch", "delete", "watch"},
    ),
    "coordination.k8s.io/v1/leases": dict(
        kind="Lease", namespaced=True, verbs={"get", "create", "update"}
    ),
}


@dataclass
class Fault:
    """Answer the next `times` requests whose method and path match with `status`, or
    stall them for `stall_seconds` (past the client's read timeout)."""

    method: str
    path: str  # a regular expression searched in the URL path
    status: int | None = None
    stall_seconds: float = 0.0
    times: int = 1
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        return self.hits < self.times and method == self.method and bool(re.search(self.path, path))


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    params: dict[str, str]
    body: Any
    answered: int


@attrs.define(kw_only=True)
class GapFillingEmulator(kmock.KubernetesEmulator):
    faults: list[Fault] = attrs.field(factory=list)
    seen: list[Seen] = attrs.field(factory=list)
    _version: list[int] = attrs.field(factory=lambda: [100])

    async def _handle(self, request: Request) -> aiohttp.web.StreamResponse:
        if request.resource is None or request.params.get("watch") == "true":
            return await super()._handle(request)
        method, path = str(request.method.value), request.url.path
        try:
            fault = next((f for f in self.faults if f.matches(method, path)), None)
            if fault is not None:
                fault.hits += 1
                if fault.stall_seconds:
                    await asyncio.sleep(fault.stall_seconds)
                if fault.status is not None:
                    raise KubernetesError(status=fault.status, reason="Injected", message="fault")
            async with self._lock:
                status, body = await self._serve(request, method)
        except KubernetesError as e:
            self._note(request, method, e.status)
            return await self._render_error(e)
        self._note(request, method, status)
        return aiohttp.web.json_response(body, status=status)

    def _note(self, request: Request, method: str, status: int) -> None:
        body = request.data if request.body else None
        self.seen.append(Seen(method, request.url.path, dict(request.params), body, status))

    # -- the API ----------------------------------------------------------------------

    async def _serve(self, request: Request, method: str) -> tuple[int, Any]:
        res = request.resource
        if not any(res == kmock.resource(r) for r in RESOURCES):
            raise KubernetesError(status=404, reason="NotFound", message=f"no resource {res}")
        if method == "GET" and request.name is None:
            return 200, self._list(request)
        if method == "POST":
            return await self._create(request)
        key = (res, request.namespace, request.name)
        if key not in self._objects or self._objects[key].deleted:
            raise KubernetesError(
                status=404, reason="NotFound", message=f"{request.name} not found"
            )
        current = copy.deepcopy(self._objects[key].raw)
        scale = request.subresource == "scale"
        if method == "GET":
            return 200, _scale_of(current) if scale else current
        dry = request.params.get("dryRun") == "All"
        if method == "DELETE":
            if not dry:
                self._objects[key].delete()
                await self._buses[res].put({"type": "DELETED", "object": current})
            return 200, current
        if method == "PUT":
            new = request.data
        elif method == "PATCH":
            kind = request.headers.get("Content-Type", "")
            if "merge-patch" not in kind:
                raise KubernetesError(status=415, reason="UnsupportedMediaType", message=kind)
            patch = request.data
            if scale:
                rv = (patch.get("metadata") or {}).get("resourceVersion")
                patch = {"spec": {"replicas": patch["spec"]["replicas"]}}
                if rv is not None:
                    patch["metadata"] = {"resourceVersion": rv}
            new = merge_patch(current, patch)
        else:
            raise KubernetesError(status=405, reason="MethodNotAllowed", message=method)
        wanted = (new.get("metadata") or {}).get("resourceVersion")
        have = current["metadata"].get("resourceVersion")
        if wanted is not None and wanted != have:
            raise KubernetesError(
                status=409, reason="Conflict", message=f"resourceVersion {wanted} != {have}"
            )
        new["metadata"]["resourceVersion"] = have if dry else self._next_version()
        if not dry:
            self._objects[key] = new
            await self._buses[res].put({"type": "MODIFIED", "object": new})
        return 200, _scale_of(new) if scale else new

    async def _create(self, request: Request) -> tuple[int, Any]:
        obj = copy.deepcopy(request.data)
        meta = obj.setdefault("metadata", {})
        ns = request.namespace or meta.get("namespace")
        key = (request.resource, ns, meta["name"])
        if key in self._objects and not self._objects[key].deleted:
            raise KubernetesError(status=409, reason="AlreadyExists", message=meta["name"])
        meta["namespace"] = ns
        meta["resourceVersion"] = self._next_version()
        if request.params.get("dryRun") != "All":
            self._objects[key] = obj
            await self._buses[request.resource].put({"type": "ADDED", "object": obj})
        return 201, obj

    def _list(self, request: Request) -> dict[str, Any]:
        match = selector(request.params.get("labelSelector", ""))
        items = sorted(
            (
                obj.raw
                for (res, ns, _), obj in self._objects.items()
                if res == request.resource
                and not obj.deleted
                and (request.namespace is None or ns == request.namespace)
                and match(obj.raw.get("metadata", {}).get("labels") or {})
            ),
            key=lambda o: (o["metadata"].get("namespace") or "", o["metadata"]["name"]),
        )
        start = int(request.params.get("continue") or 0)
        limit = int(request.params.get("limit") or 0) or len(items)
        page = items[start : start + limit]
        more = start + limit < len(items)
        meta = {"resourceVersion": str(self._version[0])}
        if more:
            meta["continue"] = str(start + limit)
        return {"kind": "List", "apiVersion": "v1", "metadata": meta, "items": page}

    def _next_version(self) -> str:
        self._version[0] += 1
        return str(self._version[0])


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def selector(text: str) -> Callable[[dict[str, str]], bool]:
    """A label selector, as the API server parses it (set- and equality-based)."""
    terms: list[Callable[[dict[str, str]], bool]] = []
    for raw in re.split(r",(?![^()]*\))", text):
        term = raw.strip()
        if not term:
            continue
        if m := re.fullmatch(r"([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)", term):
            key, op, values = m[1], m[2], {v.strip() for v in m[3].split(",")}
            if op == "in":
                terms.append(lambda labels, k=key, vs=values: labels.get(k) in vs)
            else:
                terms.append(lambda labels, k=key, vs=values: labels.get(k) not in vs)
        elif m := re.fullmatch(r"([\w./-]+)\s*(!=|==|=)\s*([\w./-]*)", term):
            key, op, value = m[1], m[2], m[3]
            if op == "!=":
                terms.append(lambda labels, k=key, v=value: labels.get(k) != v)
            else:
                terms.append(lambda labels, k=key, v=value: labels.get(k) == v)
        elif term.startswith("!"):
            terms.append(lambda labels, k=term[1:]: k not in labels)
        else:
            terms.append(lambda labels, k=term: k in labels)
    return lambda labels: all(t(labels) for t in terms)


def _scale_of(dep: dict[str, Any]) -> dict[str, Any]:
    meta = dep["metadata"]
    return {
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {k: meta[k] for k in ("name", "namespace", "resourceVersion") if k in meta},
        "spec": {"replicas": dep.get("spec", {}).get("replicas", 0)},
        "status": {"replicas": dep.get("status", {}).get("replicas", 0)},
    }


@dataclass
class EmulatedApiServer:
    """The emulator on a loopback port, served from its own thread and event loop, so the
    synchronous `kubernetes` client (and subprocesses) can call it."""

    url: str = ""
    emulator: GapFillingEmulator = field(init=False)
    _loop: asyncio.AbstractEventLoop = field(init=False)
    _stop: asyncio.Event = field(init=False)
    _thread: threading.Thread = field(init=False)

    def __enter__(self) -> EmulatedApiServer:
        ready = threading.Event()

        async def main() -> None:
            async with GapFillingEmulator() as em, kmock.Server(em) as server:
                for name, info in RESOURCES.items():
                    em.resources[name] = kmock.ResourceInfo(**info)  # type: ignore[arg-type]
                self.emulator, self.url = em, str(server.url).rstrip("/")
                self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
                ready.set()
                await self._stop.wait()

        self._thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the Kubernetes emulator did not start within 10 s")
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)

    def put(self, resource: str, namespace: str | None, obj: dict[str, Any]) -> None:
        """Store an object as it is (a test's seed), with a resourceVersion."""

        async def store() -> None:
            async with self.emulator._lock:
                body = copy.deepcopy(obj)
                body.setdefault("metadata", {})["resourceVersion"] = self.emulator._next_version()
                if namespace is not None:
                    body["metadata"]["namespace"] = namespace
                self.emulator.objects[resource, namespace, body["metadata"]["name"]] = body

        asyncio.run_coroutine_threadsafe(store(), self._loop).result(5)

    def get(self, resource: str, namespace: str | None, name: str) -> dict[str, Any]:
        return copy.deepcopy(self.emulator.objects[resource, namespace, name].raw)

    def fault(self, fault: Fault) -> Fault:
        self.emulator.faults.append(fault)
        return fault

    def writes(self) -> Iterator[Seen]:
        return (s for s in self.emulator.seen if s.method != "GET")

    def kubeconfig(self, path: Path) -> Path:
        cfg = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "emulator", "cluster": {"server": self.url}}],
            "users": [{"name": "tester", "user": {"token": "test"}}],
            "contexts": [
                {"name": "emulator", "context": {"cluster": "emulator", "user": "tester"}}
            ],
            "current-context": "emulator",
        }
        path.write_text(json.dumps(cfg))
        return path
