"""The built-in web chat: one page, a WebSocket for live cards, and a small JSON API.

Every person logs in with their token (the page keeps it in the browser's local
storage). Cards are pushed to every connected page when a request changes, whichever
channel changed it (web, Slack, the daemon, the expiry sweeper). Decisions and commands
go through `ApprovalService`, off the event loop (SQLite calls block).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from importlib.resources import files
from typing import Annotated, Any, Literal, Protocol

import structlog
from fastapi import FastAPI, Header, HTTPException, Request, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from gpusteward.chat.commands import run_command
from gpusteward.chat.identities import Person, bearer
from gpusteward.chat.service import ApprovalService, Outcome, on_change

log = structlog.get_logger("gpusteward.chat.web")
_STATUS = {None: 200, "forbidden": 403, "conflict": 409, "invalid": 404}
NO_TOKEN = (
    "no token: send 'Authorization: Bearer <token>' with your token from the chat's people "
    "file (GPUSTEWARD_CHAT_PEOPLE)"
)
TOKEN_NOT_VALID = (
    "token not valid: no one in the chat's people file (GPUSTEWARD_CHAT_PEOPLE) has it. "
    "Fix: check it for typos, or ask whoever runs gpusteward for yours"
)
TOKEN_NOT_VALID_SHORT = "token not valid: no one in the chat's people file has it"  # <= 123 B


class SlackEndpoint(Protocol):
    """The Slack app's HTTP entry (signature checks and all); runs in a worker thread."""

    def handle(self, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]: ...


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DecideMessage(_In):
    type: Literal["decide"]
    id: str = Field(min_length=1, max_length=200)
    approve: bool
    comment: str | None = Field(default=None, max_length=2000)
    ref: int = 0


class CommandMessage(_In):
    type: Literal["command"]
    text: str = Field(max_length=4000)
    ref: int = 0


class ThreadPost(_In):
    type: Literal["thread"]
    id: str = Field(min_length=1, max_length=200)
    text: str = Field(default="", max_length=4000)
    ref: int = 0


ClientMessage = Annotated[DecideMessage | CommandMessage | ThreadPost, Field(discriminator="type")]
_CLIENT = TypeAdapter(ClientMessage)


class DecisionBody(_In):
    """The body of `POST /api/approvals/{id}/decision`."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"approve": True}, {"approve": False, "comment": "why"}]}
    )
    approve: bool = Field(description="true approves the request, false rejects it")
    comment: str | None = Field(
        default=None, max_length=2000, description="Why; shown on the card and in the audit log"
    )


class CommandBody(_In):
    """The body of `POST /api/command`."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"text": "/pending"}]})
    text: str = Field(max_length=4000, description="A chat command, e.g. /pending or /why ID")


# What each call's body must be, for the answer to a body of another shape (422).
_BODY_FIX = {
    "/api/approvals/{request_id}/decision": 'send {"approve": true} to approve, or '
    '{"approve": false, "comment": "why"} to reject ("comment" is optional)',
    "/api/command": 'send {"text": "/pending"}: any chat command',
}


class Hub:
    """Connected pages, and the queue of changed request ids to push to them."""

    def __init__(self) -> None:
        self.clients: dict[WebSocket, Person] = {}
        self.queue: asyncio.Queue[tuple[str, bool]] = asyncio.Queue()
        self.loop: asyncio.AbstractEventLoop | None = None

    def push(self, message: dict[str, Any]) -> None:
        """Thread-safe: send `message` to every page (a diagnostics warning's post)."""
        if self.loop is not None and not self.loop.is_closed():
            with contextlib.suppress(RuntimeError):  # loop shutting down
                asyncio.run_coroutine_threadsafe(self.broadcast(message), self.loop)

    def notify(self, request_id: str, thread: bool) -> None:
        """Thread-safe: called by the store after a change commits."""
        if self.loop is not None and not self.loop.is_closed():
            with contextlib.suppress(RuntimeError):  # loop shutting down
                self.loop.call_soon_threadsafe(self.queue.put_nowait, (request_id, thread))

    async def broadcast(self, message: dict[str, Any]) -> None:
        for ws in list(self.clients):
            try:
                await ws.send_json(message)
            except Exception:  # a closed page: forget it
                self.clients.pop(ws, None)


def create_web_app(
    service: ApprovalService,
    *,
    slack: SlackEndpoint | None = None,
    sweep_seconds: float = 1.0,
) -> FastAPI:
    hub = Hub()
    on_change(service.store, hub.notify)
    if service.warnings is not None:
        service.warnings.subscribe(
            lambda p: hub.push({"type": "warning", "kind": p.kind, "text": p.text()})
        )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        hub.loop = asyncio.get_running_loop()
        tasks = [
            asyncio.create_task(_pump(service, hub)),
            asyncio.create_task(_sweep(service, sweep_seconds)),
        ]
        try:
            yield
        finally:
            hub.loop = None
            for task in tasks:
                task.cancel()

    app = FastAPI(title="gpusteward approvals", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.add_exception_handler(RequestValidationError, _bad_request)
    page = files("gpusteward.chat").joinpath("page.html").read_text(encoding="utf-8")

    def person_of(authorization: str | None) -> Person:
        token = bearer(authorization)
        person = service.identities.by_token(token)
        if person is None:
            raise HTTPException(
                401,
                NO_TOKEN if token is None else TOKEN_NOT_VALID,
                headers={"WWW-Authenticate": "Bearer"},
            )
        return person

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return page

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/cards")
    def cards(authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
        person_of(authorization)
        return {"cards": [c.model_dump(mode="json") for c in service.cards()], **_clock(service)}

    @app.post("/api/approvals/{request_id}/decision")
    def decide(
        request_id: str, body: DecisionBody, authorization: Annotated[str | None, Header()] = None
    ) -> JSONResponse:
        person = person_of(authorization)
        out = service.decide(
            person, request_id, approve=body.approve, channel="web", comment=body.comment
        )
        return JSONResponse(out.model_dump(mode="json"), status_code=_STATUS[out.refusal])

    @app.post("/api/command")
    def command(
        body: CommandBody, authorization: Annotated[str | None, Header()] = None
    ) -> JSONResponse:
        person = person_of(authorization)
        out = run_command(service, person, body.text, "web")
        return JSONResponse(out.model_dump(mode="json"), status_code=_STATUS[out.refusal])

    @app.get("/api/approvals/{request_id}/thread")
    def thread(
        request_id: str, authorization: Annotated[str | None, Header()] = None
    ) -> dict[str, Any]:
        person_of(authorization)
        return {"messages": [m.model_dump(mode="json") for m in service.store.thread(request_id)]}

    if slack is not None:
        handler = slack

        @app.post("/slack/events")
        async def slack_events(request: Request) -> Response:
            body = await request.body()
            headers = {k.lower(): v for k, v in request.headers.items()}
            status, out_headers, out = await run_in_threadpool(handler.handle, body, headers)
            return Response(content=out, status_code=status, headers=out_headers)

    @app.websocket("/ws")
    async def ws(websocket: WebSocket, token: str = "") -> None:
        person = service.identities.by_token(token)
        await websocket.accept()  # then close with a code the page can read
        if person is None:  # the page reads the code; the reason is for any other client
            await websocket.close(code=4401, reason=TOKEN_NOT_VALID_SHORT)
            return
        hub.clients[websocket] = person
        try:
            cards = await run_in_threadpool(service.cards)
            await websocket.send_json(
                {
                    "type": "hello",
                    "me": {"name": person.name, "groups": list(person.groups)},
                    "channels": ["approvals"],
                    "cards": [c.model_dump(mode="json") for c in cards],
                    **_clock(service),
                }
            )
            while True:
                raw = await websocket.receive_text()
                await websocket.send_json(await _handle(service, person, raw))
        except WebSocketDisconnect:
            pass
        finally:
            hub.clients.pop(websocket, None)

    return app


async def _handle(service: ApprovalService, person: Person, raw: str) -> dict[str, Any]:
    try:
        msg = _CLIENT.validate_json(raw)
    except ValidationError as e:
        return {
            "type": "reply",
            "ok": False,
            "text": f"bad message: {e.errors()[0]['msg']}",
            "ref": 0,
        }
    if isinstance(msg, ThreadPost):
        messages = await run_in_threadpool(_thread, service, person, msg)
        return {"type": "thread", "id": msg.id, "messages": messages, "ref": msg.ref}
    out: Outcome
    if isinstance(msg, DecideMessage):
        out = await run_in_threadpool(
            lambda: service.decide(
                person, msg.id, approve=msg.approve, channel="web", comment=msg.comment
            )
        )
    else:
        out = await run_in_threadpool(run_command, service, person, msg.text, "web")
    return {"type": "reply", **out.model_dump(mode="json"), "ref": msg.ref}


def _thread(service: ApprovalService, person: Person, msg: ThreadPost) -> list[dict[str, Any]]:
    if msg.text.strip():
        service.store.add_message(
            msg.id, author=person.name, text=msg.text.strip(), now=service.now()
        )
    return [m.model_dump(mode="json") for m in service.store.thread(msg.id)]


async def _pump(service: ApprovalService, hub: Hub) -> None:
    while True:
        request_id, thread = await hub.queue.get()
        try:
            request = await run_in_threadpool(service.store.get, request_id)
            if request is None:
                continue
            card = await run_in_threadpool(service.card, request)
            await hub.broadcast(
                {"type": "card", "card": card.model_dump(mode="json"), **_clock(service)}
            )
            if thread:
                messages = await run_in_threadpool(service.store.thread, request_id)
                await hub.broadcast(
                    {
                        "type": "thread",
                        "id": request_id,
                        "messages": [m.model_dump(mode="json") for m in messages],
                    }
                )
        except Exception as e:  # never let one bad card stop the pushes
            log.error("cannot push a card", request=request_id, error=str(e))


async def _sweep(service: ApprovalService, every: float) -> None:
    """The expiry sweeper: expired cards turn grey without waiting for the next tick; a
    request asked on the latest snapshot keeps the projection made on it."""
    while True:
        await asyncio.sleep(every)
        try:
            await run_in_threadpool(service.store.expire, service.now())
            await run_in_threadpool(service.keep_projections)
        except Exception as e:
            log.error("expiry sweep failed", error=str(e))


async def _bad_request(request: Request, exc: Exception) -> JSONResponse:
    """422 for a request of the wrong shape: the body seen, what is wrong, and the body the
    call takes (FastAPI's default lists pydantic errors and leaves the fix to the reader)."""
    assert isinstance(exc, RequestValidationError)
    route = request.scope.get("route")
    path = route.path if isinstance(route, APIRoute) else request.url.path
    problems = "; ".join(_problem(e) for e in exc.errors())
    seen = "(none)" if exc.body is None else json.dumps(exc.body, default=str)
    seen = seen if len(seen) <= 300 else seen[:300] + "…"
    fix = _BODY_FIX.get(path, "see /openapi.json for what this call takes")
    detail = (
        f"{request.method} {request.url.path}: the body {seen} is not what this call takes "
        f"({problems}). Fix: {fix}."
    )
    return JSONResponse({"detail": detail}, status_code=422)


def _problem(error: Mapping[str, Any]) -> str:
    loc = [str(part) for part in error.get("loc", ())]
    if error.get("type") == "json_invalid":
        return f"the body is not JSON ({error.get('ctx', {}).get('error', 'invalid')})"
    if loc == ["body"]:  # no body, or not an object
        missing = error.get("type") == "missing"
        return "there is no body" if missing else f"the body: {error.get('msg', 'invalid')}"
    name = ".".join(loc[1:]) if loc[:1] == ["body"] else ".".join(loc)
    if error.get("type") == "missing":
        return f"'{name}' is missing"
    if error.get("type") == "extra_forbidden":
        return f"'{name}' is not a field"
    return f"'{name}': {error.get('msg', 'invalid')}"


def _clock(service: ApprovalService) -> dict[str, Any]:
    return {"now": service.now().isoformat(), "speed": service.speed}
