"""The web chat over real HTTP and WebSocket on loopback: login, cards, decisions by the
approver group only, live pushes to every page, and the chat commands."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from gpusteward.chat.records import EventKind
from gpusteward.chat.service import ApprovalService
from gpusteward.chat.web import create_web_app
from gpusteward.core.approvals import ApprovalRequest
from tests.chat.conftest import T0, TOKENS, FakeDaemonView, LiveServer, needs, scale
from tests.waiting import REQUEST_PATIENCE


@pytest.fixture
def live(service: ApprovalService) -> Iterator[LiveServer]:
    with LiveServer(create_web_app(service, sweep_seconds=0.05)) as server:
        yield server


@pytest.fixture
def pending(service: ApprovalService) -> ApprovalRequest:
    return service.store.submit(scale(6), needs(scale(6)), T0)


def _auth(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[who]}"}


def _ws(live: LiveServer, who: str) -> ClientConnection:
    url = f"ws://127.0.0.1:{live.port}/ws?token={TOKENS[who]}"
    return connect(url, open_timeout=REQUEST_PATIENCE)


def _recv(ws: ClientConnection, kind: str, state: str | None = None) -> dict[str, Any]:
    """The next message of `kind` (for cards: in `state`), skipping others."""
    while True:
        msg = json.loads(ws.recv(timeout=REQUEST_PATIENCE))
        if msg["type"] == kind and (state is None or msg["card"]["state"] == state):
            return msg  # type: ignore[no-any-return]


def test_the_page_is_served_and_the_api_needs_a_known_token(live: LiveServer) -> None:
    page = httpx.get(live.url + "/")
    assert page.status_code == 200 and "gpusteward" in page.text and "<script>" in page.text
    assert httpx.get(live.url + "/api/cards").status_code == 401
    assert (
        httpx.get(live.url + "/api/cards", headers={"Authorization": "Bearer nope"}).status_code
        == 401
    )
    with (
        pytest.raises(ConnectionClosed) as closed,
        connect(f"ws://127.0.0.1:{live.port}/ws?token=x") as ws,
    ):
        ws.recv(timeout=REQUEST_PATIENCE)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


def test_a_card_shows_what_why_effect_rules_and_expiry(
    live: LiveServer, pending: ApprovalRequest
) -> None:
    (card,) = httpx.get(live.url + "/api/cards", headers=_auth("eve")).json()["cards"]
    assert card["id"] == pending.id and card["title"] == "scale default/llm-chat 2 -> 6"
    assert card["reason"] == "load needs 6 replicas" and card["rules"][0]["rule"] == "big-step"
    assert card["impact"]["gpus_delta"] == 4 and card["impact"]["cost_per_hour_delta"] == 10.0
    assert "utilisation" in card["impact"]["slo"]
    assert card["expires_at"].startswith("2026-11-02T15:00")


def test_only_the_approver_group_decides_once_and_every_attempt_is_audited(
    live: LiveServer, service: ApprovalService, pending: ApprovalRequest
) -> None:
    url = f"{live.url}/api/approvals/{pending.id}/decision"
    eve = httpx.post(url, json={"approve": True}, headers=_auth("eve"))
    assert eve.status_code == 403 and "not in approver group 'oncall'" in eve.json()["text"]
    alice = httpx.post(url, json={"approve": True, "comment": "go"}, headers=_auth("alice"))
    assert alice.status_code == 200 and alice.json()["ok"]
    bob = httpx.post(url, json={"approve": False}, headers=_auth("bob"))
    assert bob.status_code == 409 and "already approved by alice" in bob.json()["text"]
    events = [(e.kind, e.actor) for e in service.store.events() if e.request_id == pending.id]
    assert events[1:] == [
        (EventKind.REFUSED, "eve"),
        (EventKind.APPROVED, "alice"),
        (EventKind.REFUSED, "bob"),
    ]


def test_a_decision_made_anywhere_is_pushed_live_to_every_page(
    live: LiveServer, pending: ApprovalRequest
) -> None:
    with _ws(live, "eve") as eve_page, _ws(live, "bob") as bob_page:
        hello = _recv(eve_page, "hello")
        assert (
            hello["me"] == {"name": "eve", "groups": []} and hello["cards"][0]["state"] == "pending"
        )
        _recv(bob_page, "hello")
        httpx.post(
            f"{live.url}/api/approvals/{pending.id}/decision",
            json={"approve": True},
            headers=_auth("alice"),
        )
        for page in (eve_page, bob_page):
            card = _recv(page, "card", "approved")["card"]
            assert (card["id"], card["state"], card["decided_by"]) == (
                pending.id,
                "approved",
                "alice",
            )


def test_decisions_and_commands_over_the_websocket(
    live: LiveServer, service: ApprovalService, pending: ApprovalRequest
) -> None:
    with _ws(live, "eve") as eve, _ws(live, "alice") as alice:
        _recv(eve, "hello")
        _recv(alice, "hello")
        eve.send(json.dumps({"type": "decide", "id": pending.id, "approve": True, "ref": 1}))
        refused = _recv(eve, "reply")
        assert not refused["ok"] and refused["refusal"] == "forbidden" and refused["ref"] == 1
        eve.send(json.dumps({"type": "command", "text": "/pause"}))
        assert "only members of 'oncall'" in _recv(eve, "reply")["text"]
        alice.send(json.dumps({"type": "command", "text": "/pending"}))
        assert pending.id in _recv(alice, "reply")["text"]
        alice.send(json.dumps({"type": "command", "text": f"/why {pending.id[:14]}"}))
        why = _recv(alice, "reply")["text"]
        assert "load needs 6 replicas" in why and "big-step" in why and "+4 GPUs" in why
        alice.send(json.dumps({"type": "command", "text": f"/reject {pending.id}"}))
        assert "needs a reason" in _recv(alice, "reply")["text"]
        alice.send(json.dumps({"type": "command", "text": "/pause"}))
        assert "paused" in _recv(alice, "reply")["text"]
        daemon = service.daemon
        assert isinstance(daemon, FakeDaemonView) and daemon.paused and service.store.paused
        alice.send(json.dumps({"type": "command", "text": "/status"}))
        assert "paused: yes" in _recv(alice, "reply")["text"]
        alice.send(json.dumps({"type": "command", "text": "/resume"}))
        assert "acting again" in _recv(alice, "reply")["text"] and not daemon.paused
        alice.send(json.dumps({"type": "thread", "id": pending.id, "text": "looks right"}))
        assert _recv(alice, "thread")["messages"][0]["text"] == "looks right"
        alice.send(json.dumps({"type": "command", "text": f"/approve {pending.id} ship it"}))
        assert _recv(alice, "reply")["ok"]
        alice.send(json.dumps({"type": "command", "text": "why did you scale m-large?"}))
        assert "no" in _recv(alice, "reply")["text"].split("LLM")[1]  # none configured: says so
        alice.send('{"type": "decide", "id": 5}')
        assert not _recv(alice, "reply")["ok"]  # malformed input is answered, not fatal


def test_the_sweeper_pushes_expired_cards(live: LiveServer, service: ApprovalService) -> None:
    from gpusteward.core.clock import VirtualClock

    request = service.store.submit(scale(6), needs(scale(6), expires=60), T0)
    with _ws(live, "bob") as page:
        _recv(page, "hello")
        assert isinstance(service.clock, VirtualClock)
        service.clock.advance(61)
        card = _recv(page, "card", "expired")["card"]
        assert card["id"] == request.id and "waiting" not in card["status_line"]
