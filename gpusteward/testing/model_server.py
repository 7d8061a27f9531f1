"""An OpenAI-API model server stand-in, and a real uvicorn server for any ASGI app, on
loopback: what the wake-on-request proxy is tested and measured against
(`tests/adapters/test_activator.py`, `benchmarks/activator.py`).

`ModelServerStandIn` answers `/health` and `POST /v1/chat/completions` (JSON, or a stream
of server-sent events when the body asks for `stream`), naming the model and the request's
`x-client` header; it keeps every request body. The real llama-cpp-python server stands
behind the proxy in `tests/agent/test_real_model_activator.py`.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

__all__ = ["ModelServerStandIn", "free_port", "serving"]


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(app: Any, port: int, *, start_seconds: float = 300.0) -> Iterator[str]:
    """`app` on a real uvicorn server on 127.0.0.1:`port`, in a thread; yields its URL.
    Fails when it is not listening within `start_seconds` or stops first."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_seconds
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"no server listening on 127.0.0.1:{port} (in use?)")
        time.sleep(0.01)  # a real server starting in another thread: nothing to await
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=start_seconds)


class ModelServerStandIn:
    """`app`: /health, and chat completions that say `<model> via <x-client>`; `fail_with`
    answers every completion with that HTTP status instead."""

    def __init__(self, fail_with: int | None = None) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail_with = fail_with
        self.app = Starlette(
            routes=[
                Route("/health", self._health),
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
            ]
        )

    async def _health(self, _: Request) -> Response:
        return PlainTextResponse("ok")

    async def _chat(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        if self.fail_with is not None:
            return JSONResponse({"error": {"message": "boom"}}, status_code=self.fail_with)
        said = f"{body['model']} via {request.headers.get('x-client', '?')}"
        if not body.get("stream"):
            return JSONResponse(_completion(body["model"], said))

        async def events() -> AsyncIterator[bytes]:
            for word in said.split():
                piece = _completion(body["model"], word + " ", chunk=True)
                yield f"data: {json.dumps(piece)}\n\n".encode()
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")


def _completion(model: str, text: str, *, chunk: bool = False) -> dict[str, Any]:
    """A chat completion saying `text`, or (`chunk`) one streamed piece of one."""
    choice: dict[str, Any] = {"index": 0}
    if chunk:
        choice |= {"delta": {"content": text}, "finish_reason": None}
    else:
        choice |= {"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    kind = "chat.completion.chunk" if chunk else "chat.completion"
    body = {"id": "c1", "object": kind, "created": 0, "model": model, "choices": [choice]}
    return body if chunk else {**body, "usage": usage}
