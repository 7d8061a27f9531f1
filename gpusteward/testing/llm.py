"""A scripted OpenAI-compatible chat-completions server, for tests over the real protocol.

`ScriptedLlmServer` listens on 127.0.0.1 (an ephemeral port) and answers
`POST /v1/chat/completions` like an OpenAI-compatible server, so the real `openai`
client talks to it over HTTP. Each request plays the next `Step`: tool calls, a final
reply, or a fault — `timeout` (no answer until the client gives up), `http_500`,
`invalid_json_arguments`, `unknown_tool`, `endless` (a tool call every time, forever),
`malformed_body`. A `responder` callable may choose each step from the request instead
(e.g. a model that obeys whatever instructions the prompt carries). Every request body
is kept in `requests`.

A script that runs out answers HTTP 500 and sets `exhausted`, so a test that talks more
than it scripted says so. Stdlib only; no wall clock except the `timeout` fault's hold.

It refuses what llama-cpp-python's server (0.3.36, the strictest we test against) refuses,
with the same status and error shape, before any step is played: see `request_refusal`.
Refused requests are kept in `requests` too, and their reasons in `rejected`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from gpusteward.core.closing import Closing

FaultKind = Literal[
    "timeout", "http_500", "invalid_json_arguments", "unknown_tool", "endless", "malformed_body"
]


@dataclass(frozen=True)
class Call:
    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)

    def encoded(self) -> str:
        return self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments)


@dataclass(frozen=True)
class Step:
    calls: tuple[Call, ...] = ()
    content: str | None = None
    fault: FaultKind | None = None


def tool_calls(*calls: Call | tuple[str, Mapping[str, Any] | str]) -> Step:
    """A response that calls tools: `tool_calls(("propose_scale", {...}), ...)`."""
    return Step(calls=tuple(c if isinstance(c, Call) else Call(*c) for c in calls))


def reply(text: str = "Done.") -> Step:
    """A final answer without tool calls: ends the model's turn."""
    return Step(content=text)


def fault(kind: FaultKind) -> Step:
    return Step(fault=kind)


Responder = Callable[[dict[str, Any]], Step]


def request_refusal(
    body: Mapping[str, Any], rejects_tool_choice: Collection[str] = ()
) -> str | None:
    """The message of the HTTP 500 that llama-cpp-python's server (0.3.36) answers this
    chat-completions body with, or None when it takes it. Each case was seen on the real
    server; its request validation runs first, then the chat template:

    - an assistant message whose `content` is null: a validation error (it wants a
      string; `""` is taken);
    - a `tool` message without `tool_call_id`: a validation error;
    - an assistant message without `content`: the template reads the key
      (`'dict object' has no attribute 'content'`);
    - a `tool_choice` in `rejects_tool_choice` with tools: an assertion in the handler,
      an empty message (chatml-function-calling and "required").
    """
    messages = body.get("messages")
    if not isinstance(messages, list):
        return "1 validation error:\n  {'type': 'missing', 'loc': ('body', 'messages')}"
    invalid: list[str] = []
    template = None
    for i, m in enumerate(messages):
        role = m.get("role") if isinstance(m, dict) else None
        if role == "assistant" and "content" in m and m["content"] is None:
            invalid.append(
                f"{{'type': 'string_type', 'loc': ('body', 'messages', {i}, "
                "'ChatCompletionRequestAssistantMessage', 'content'), "
                "'msg': 'Input should be a valid string', 'input': None}"
            )
        elif role == "tool" and "tool_call_id" not in m:
            invalid.append(
                f"{{'type': 'missing', 'loc': ('body', 'messages', {i}, "
                "'ChatCompletionRequestToolMessage', 'tool_call_id'), 'msg': 'Field required'}"
            )
        elif role == "assistant" and "content" not in m:
            template = "'dict object' has no attribute 'content'"
    if invalid:
        n = len(invalid)
        return f"{n} validation error{'s' if n > 1 else ''}:\n  " + "\n  ".join(invalid)
    if template is not None:
        return template
    if body.get("tools") and body.get("tool_choice") in rejects_tool_choice:
        return ""
    return None


def _server_error(message: str) -> bytes:
    """llama-cpp-python's error body for an HTTP 500."""
    return json.dumps(
        {
            "error": {
                "message": message,
                "type": "internal_server_error",
                "param": None,
                "code": None,
            }
        }
    ).encode()


class ScriptedLlmServer(Closing):
    def __init__(
        self,
        script: Iterable[Step] = (),
        *,
        responder: Responder | None = None,
        model: str = "scripted-model",
        hold_seconds: float = 5.0,
        rejects_tool_choice: Collection[str] = (),
    ) -> None:
        """`rejects_tool_choice`: `tool_choice` values answered with an HTTP 500 and an
        empty message, as llama-cpp-python's chatml-function-calling does to "required"."""
        self.script = list(script)
        self.responder = responder
        self.model = model
        self.hold_seconds = hold_seconds
        self.rejects_tool_choice = frozenset(rejects_tool_choice)
        self.requests: list[dict[str, Any]] = []
        self.rejected: list[str] = []
        self.exhausted = False
        self._released = threading.Event()
        self._lock = threading.Lock()
        self._calls = 0
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def start(self) -> ScriptedLlmServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._released.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> ScriptedLlmServer:
        return self.start()

    # -- playing the script ---------------------------------------------------------

    def _refusal(self, body: dict[str, Any]) -> str | None:
        """The 500's message when the real server would refuse `body`, else None."""
        message = request_refusal(body, self.rejects_tool_choice)
        if message is not None:
            with self._lock:
                self.requests.append(body)
                self.rejected.append(message)
        return message

    def _next(self, body: dict[str, Any]) -> Step | None:
        with self._lock:
            self.requests.append(body)
            if self.responder is not None:
                return self.responder(body)
            if self._calls < len(self.script):
                step = self.script[self._calls]
            elif self.script and self.script[-1].fault == "endless":
                step = self.script[-1]
            else:
                self.exhausted = True
                return None
            self._calls += 1
            return step

    def _completion(self, step: Step, n: int) -> dict[str, Any]:
        calls = list(step.calls)
        if step.fault == "invalid_json_arguments":
            calls = [Call("propose_scale", '{"deployment": "serving/x", "replicas": 3,,')]
        elif step.fault == "unknown_tool":
            calls = [Call("execute_shell", {"command": "kubectl delete ns serving"})]
        elif step.fault == "endless":
            calls = [Call("cluster_summary", {})]
        message: dict[str, Any] = {"role": "assistant", "content": step.content}
        if calls:
            message["tool_calls"] = [
                {
                    "id": f"call_{n}_{i}",
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.encoded()},
                }
                for i, c in enumerate(calls)
            ]
        return {
            "id": f"chatcmpl-scripted-{n}",
            "object": "chat.completion",
            "created": 0,
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": "tool_calls" if calls else "stop",
                }
            ],
            "usage": {
                "prompt_tokens": 100,
                "completion_tokens": 20,
                "total_tokens": 120,
            },
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet in tests
                return

            def _send(self, status: int, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, b'{"error": {"message": "not found"}}')
                    return
                try:
                    body = json.loads(raw)
                except json.JSONDecodeError:
                    self._send(400, b'{"error": {"message": "request body is not JSON"}}')
                    return
                refusal = server._refusal(body)
                if refusal is not None:
                    self._send(500, _server_error(refusal))
                    return
                step = server._next(body)
                n = len(server.requests)
                if step is None:
                    msg = f"scripted server: script exhausted after {server._calls} step(s)"
                    self._send(500, _server_error(msg))
                    return
                if step.fault == "timeout":
                    server._released.wait(server.hold_seconds)
                    return  # the client has given up by now; close without answering
                if step.fault == "http_500":
                    self._send(500, b'{"error": {"message": "scripted internal error"}}')
                    return
                if step.fault == "malformed_body":
                    self._send(200, b'{"choices": "not a list"}')
                    return
                self._send(200, json.dumps(server._completion(step, n)).encode())

        return Handler
