"""The wake-on-request proxy (`gpusteward activator`): a request for a model at zero
replicas is held while a replica starts, not failed.

Clients call the proxy instead of the model. Each OpenAI-API request's JSON `model` picks
a route (`activator_config`): the model's namespace and its Service. A request to a ready
upstream is passed through as it is (a streamed answer streams). One whose upstream
refuses the connection (a Service with no ready pod: the model is at zero) is *held*:

- it counts in `vllm:num_requests_waiting{namespace, model_name}` on the proxy's
  `/metrics` — the series the daemon reads through Prometheus to wake a model at zero
  (`agents/scale_to_zero.py`: a request held for a model at zero wakes it);
- the proxy probes the upstream's `ready_path` every `probe_seconds` while anything waits,
  and sends the held requests once it answers 200;
- a request waits at most `hold_seconds`, and at most `max_held` wait per model; past
  either it gets a 503 with `Retry-After` and a message that says which.
- a client that hangs up while held is dropped from the count, and its request is never
  sent (`gpusteward_activator_abandoned_total`).

Only a request that never reached the upstream (the connection failed) is held and sent
again: once it was sent, its answer — an error too — is the client's, since a
completion is not idempotent. Errors are OpenAI-shaped (`{"error": {"message", "type"}}`),
so an OpenAI client shows the message.

Prometheus must keep the proxy's own `namespace` label, which names the model's
namespace (`honor_labels: true`; `deploy/kubernetes/optional/activator.yaml`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import structlog
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route as Path

from gpusteward.adapters.activator_config import ActivatorConfig, Route
from gpusteward.adapters.exposition_activator import ActivatorMetrics, HeldCounts

log = structlog.get_logger("gpusteward.adapters.activator")

# Headers that belong to one connection, not to the request or answer passed on.
_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)


class _Gone(Exception):
    """The client hung up while its request was held."""


class _Refused(Exception):
    """The request cannot be served; `response` says why."""

    def __init__(self, status: int, kind: str, message: str, retry_after: int | None = None):
        super().__init__(message)
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        body = {"error": {"message": message, "type": kind, "code": status}}
        self.response = JSONResponse(body, status_code=status, headers=headers)


@dataclass
class _Upstream:
    """One route's upstream: whether it last answered, and the requests waiting for it."""

    route: Route
    counts: HeldCounts
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    prober: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self.ready.set()  # until a connection fails, assume it serves


class Activator:
    """The proxy's state and ASGI app (`app`)."""

    def __init__(self, config: ActivatorConfig, client: httpx.AsyncClient | None = None):
        self.config = config
        self.upstreams = {
            r.model: _Upstream(r, HeldCounts(r.namespace, r.label)) for r in config.routes
        }
        self._client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(
                connect=config.connect_timeout_seconds,
                read=config.read_timeout_seconds,
                write=60.0,
                pool=None,
            ),
            follow_redirects=False,
        )
        self.metrics = ActivatorMetrics(self.held_counts)
        self.app = Starlette(
            routes=[
                Path("/metrics", self._metrics, methods=["GET"]),
                Path("/healthz", self._healthz, methods=["GET"]),
                Path("/v1/models", self._models, methods=["GET"]),
                Path("/{path:path}", self._proxy, methods=["POST"]),
            ],
            lifespan=self._lifespan,
        )

    @contextlib.asynccontextmanager
    async def _lifespan(self, _: Starlette) -> AsyncIterator[None]:
        yield
        await self.close()

    async def close(self) -> None:
        for up in self.upstreams.values():
            if up.prober is not None:
                up.prober.cancel()
        await self._client.aclose()

    def held_counts(self) -> list[HeldCounts]:
        return [u.counts for u in self.upstreams.values()]

    # -- endpoints ----------------------------------------------------------------------

    async def _metrics(self, _: Request) -> Response:
        body, content_type = self.metrics.exposition()
        return Response(body, media_type=content_type)

    async def _healthz(self, _: Request) -> Response:
        return PlainTextResponse("ok")

    async def _models(self, _: Request) -> Response:
        data = [
            {"id": r.model, "object": "model", "owned_by": "gpusteward-activator"}
            for r in self.config.routes
        ]
        return JSONResponse({"object": "list", "data": data})

    async def _proxy(self, request: Request) -> Response:
        try:
            body = await self._body(request)
            up = self._upstream(request.url.path, body)
            return await self._serve(up, request, body)
        except _Refused as e:
            return e.response
        except _Gone:
            return Response(status_code=499)  # nobody reads it: the connection is closed

    # -- a request's way through ---------------------------------------------------------

    async def _body(self, request: Request) -> bytes:
        limit = self.config.max_body_bytes
        chunks, size = [], 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    break
                chunks.append(chunk)
        except ClientDisconnect:
            raise _Gone from None
        if size > limit:
            raise _Refused(
                413,
                "invalid_request_error",
                f"request body over {limit:,} bytes; fix: a smaller request, or raise "
                "max_body_bytes in the routes file",
            )
        return b"".join(chunks)

    def _upstream(self, path: str, body: bytes) -> _Upstream:
        try:
            doc = json.loads(body)
        except (UnicodeDecodeError, ValueError) as e:
            raise _Refused(
                400,
                "invalid_request_error",
                f"POST {path}: the body is not JSON ({e}); fix: send the OpenAI API's JSON "
                "request with its `model`",
            ) from None
        model = doc.get("model") if isinstance(doc, dict) else None
        if not isinstance(model, str) or not model:
            raise _Refused(
                400,
                "invalid_request_error",
                f"POST {path}: the body has no `model` string; fix: name one of "
                f"{', '.join(sorted(self.upstreams))}",
            )
        up = self.upstreams.get(model)
        if up is None:
            raise _Refused(
                404,
                "model_not_found",
                f"model {model!r} has no route here; known: {', '.join(sorted(self.upstreams))}. "
                "Fix: a model from that list, or add a route for it to the routes file",
            )
        return up

    async def _serve(self, up: _Upstream, request: Request, body: bytes) -> Response:
        deadline = time.monotonic() + self.config.hold_seconds
        holding = False
        try:
            while True:
                if up.ready.is_set():
                    try:
                        return await self._send(up.route, request, body)
                    except (httpx.ConnectError, httpx.ConnectTimeout) as e:
                        if up.ready.is_set():
                            log.info(
                                "upstream not serving: holding its requests",
                                model=up.route.model,
                                upstream=up.route.upstream,
                                error=str(e) or type(e).__name__,
                            )
                        up.ready.clear()  # nothing was sent: safe to hold and send again
                if not holding:
                    self._hold(up)
                    holding = True
                self._probe(up)
                left = deadline - time.monotonic()
                if not await self._wait_ready(up, request, left):
                    raise _Refused(
                        503,
                        "model_waking",
                        f"model {up.route.model!r} did not start serving within "
                        f"{self.config.hold_seconds:g} s (the request was held, never sent); "
                        "fix: retry later, or check why its replicas do not become ready",
                        retry_after=60,
                    )
        finally:
            if holding:
                up.counts.held -= 1

    async def _wait_ready(self, up: _Upstream, request: Request, seconds: float) -> bool:
        """Until the upstream serves (True) or `seconds` pass (False); a client that hangs
        up meanwhile ends the wait (`_Gone`): its request is never sent."""
        ready = asyncio.ensure_future(up.ready.wait())
        gone = asyncio.ensure_future(_hung_up(request))
        try:
            done, _ = await asyncio.wait(
                (ready, gone), timeout=max(seconds, 0.0), return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            ready.cancel()
            gone.cancel()
        if gone in done and ready not in done:
            up.counts.abandoned += 1
            raise _Gone
        if ready in done:
            return True
        up.counts.timed_out += 1
        return False

    def _hold(self, up: _Upstream) -> None:
        if up.counts.held >= self.config.max_held:
            up.counts.refused_full += 1
            raise _Refused(
                503,
                "model_waking",
                f"model {up.route.model!r} is starting and already holds "
                f"{self.config.max_held} requests; fix: retry later (or raise max_held)",
                retry_after=30,
            )
        up.counts.held += 1
        up.counts.held_total += 1

    def _probe(self, up: _Upstream) -> None:
        if up.prober is None or up.prober.done():
            up.prober = asyncio.create_task(self._probe_until_ready(up))

    async def _probe_until_ready(self, up: _Upstream) -> None:
        url = up.route.upstream + up.route.ready_path
        while up.counts.held > 0 and not up.ready.is_set():
            try:
                r = await self._client.get(url, timeout=self.config.connect_timeout_seconds)
                if r.status_code == 200:
                    log.info("upstream serving: sending held requests", model=up.route.model)
                    up.ready.set()
                    return
            except httpx.HTTPError:
                pass  # not listening yet
            await asyncio.sleep(self.config.probe_seconds)

    async def _send(self, route: Route, request: Request, body: bytes) -> Response:
        url = route.upstream + request.url.path
        if request.url.query:
            url += "?" + request.url.query
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _HOP]
        upstream = await self._client.send(
            self._client.build_request(request.method, url, headers=headers, content=body),
            stream=True,
        )
        answer = [(k, v) for k, v in upstream.headers.items() if k.lower() not in _HOP]
        return StreamingResponse(
            upstream.aiter_raw(),
            status_code=upstream.status_code,
            headers=dict(answer),
            background=BackgroundTask(upstream.aclose),
        )


async def _hung_up(request: Request) -> None:
    """Returns when the client closes the connection (the body was read already)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass
