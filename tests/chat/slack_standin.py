"""A local stand-in for the Slack Web API (and response URLs), recording every call.

The Slack app's `WebClient` is pointed at it with `slack_api_url`; it answers the methods
the app uses the way Slack documents them (`{"ok": true, ...}`).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from tests.waiting import wait_for


@dataclass
class Call:
    method: str  # "chat.postMessage", or "response" for a response_url post
    body: dict[str, Any]
    authorization: str


class SlackStandIn:
    def __init__(self, *, update_delay: float = 0.0) -> None:
        self.calls: list[Call] = []
        self.update_delay = update_delay  # seconds chat.update takes (a slow Slack)
        self._lock = threading.Lock()
        self._ts = 0
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                if "json" in (self.headers.get("Content-Type") or ""):
                    body = json.loads(raw or "{}")
                else:
                    body = {k: v[0] for k, v in parse_qs(raw).items()}
                reply = stand_in.answer(self.path, body, self.headers.get("Authorization", ""))
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.api_url = f"http://127.0.0.1:{self.port}/api/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, path: str, body: dict[str, Any], authorization: str) -> dict[str, Any]:
        method = path.removeprefix("/api/") if path.startswith("/api/") else "response"
        with self._lock:
            self.calls.append(Call(method, body, authorization))
            self._ts += 1
            ts = f"1790000000.{self._ts:06d}"
        if method == "chat.update":
            time.sleep(self.update_delay)
        if method == "auth.test":
            return {"ok": True, "user_id": "UBOT", "bot_id": "BBOT", "team_id": "T1", "team": "t"}
        if method in ("chat.postMessage", "chat.update"):
            return {"ok": True, "channel": body.get("channel", "C1"), "ts": body.get("ts", ts)}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": ts}
        return {"ok": True}

    def of(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def wait_for(self, method: str, n: int = 1) -> list[Call]:
        return wait_for(
            lambda: self.of(method) if len(self.of(method)) >= n else None,
            f"stand-in: {n} x {method} called",
            every=0.02,
        )

    def __enter__(self) -> SlackStandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
