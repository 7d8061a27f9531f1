"""What the chat server answers a missing or wrong token, over HTTP and the WebSocket:
a wrong token is told it is not valid, and how to get a right one."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from gpusteward.chat.service import ApprovalService
from gpusteward.chat.web import create_web_app
from tests.chat.conftest import LiveServer

REQUEST_PATIENCE = 60.0  # s: one request to a local server on a loaded machine


@pytest.fixture
def live(service: ApprovalService) -> Iterator[LiveServer]:
    with LiveServer(create_web_app(service)) as server:
        yield server


def test_a_wrong_token_over_http_is_told_it_is_not_valid(live: LiveServer) -> None:
    wrong = httpx.get(
        live.url + "/api/cards",
        headers={"Authorization": "Bearer not-anyones-token"},
        timeout=REQUEST_PATIENCE,
    )
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    assert "token not valid" in wrong.json()["detail"] and "people file" in wrong.json()["detail"]
    missing = httpx.get(live.url + "/api/cards", timeout=REQUEST_PATIENCE)
    assert missing.status_code == 401 and "no token" in missing.json()["detail"]


def test_a_wrong_token_over_the_websocket_is_closed_saying_it_is_not_valid(
    live: LiveServer,
) -> None:
    url = f"ws://127.0.0.1:{live.port}/ws?token=not-anyones-token"
    with (
        pytest.raises(ConnectionClosed) as closed,
        connect(url, open_timeout=REQUEST_PATIENCE) as ws,
    ):
        ws.recv(timeout=REQUEST_PATIENCE)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    assert closed.value.rcvd.reason.startswith("token not valid")
