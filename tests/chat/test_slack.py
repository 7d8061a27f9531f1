"""The Slack app over its real HTTP endpoint: signed requests from "Slack" (valid, bad
signature, stale, replayed, retried, non-approver, double click, slash commands), and
outgoing Web API calls to a local stand-in server carrying the Block Kit cards."""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest

from gpusteward.chat.records import EventKind
from gpusteward.chat.service import ApprovalService
from gpusteward.chat.slack_app import SlackApp
from gpusteward.chat.web import create_web_app
from gpusteward.core.approvals import ApprovalRequest, ApprovalState
from tests.chat.conftest import T0, LiveServer, needs, scale
from tests.chat.slack_standin import SlackStandIn
from tests.waiting import REQUEST_PATIENCE

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


class Rig:
    def __init__(self, service: ApprovalService, stand_in: SlackStandIn, live: LiveServer) -> None:
        self.service, self.stand_in, self.live = service, stand_in, live
        self.url = live.url + "/slack/events"

    def submit(self) -> ApprovalRequest:
        request = self.service.store.submit(scale(6), needs(scale(6)), T0)
        self.stand_in.wait_for("chat.postMessage")
        return request

    def click(
        self,
        user: str,
        request_id: str,
        *,
        action: str = "approve",
        n: int = 1,
        **kw: Any,
    ) -> httpx.Response:
        payload = {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower()},
            "team": {"id": "T1"},
            "api_app_id": "A1",
            "trigger_id": f"trigger-{user}-{n}",
            "channel": {"id": "C1"},
            "container": {"type": "message", "channel_id": "C1", "message_ts": "1790000000.000001"},
            "response_url": f"http://127.0.0.1:{self.stand_in.port}/response/1",
            "actions": [
                {
                    "type": "button",
                    "action_id": action,
                    "block_id": f"decide:{request_id}",
                    "value": request_id,
                    "action_ts": f"1790000100.{n:06d}",
                }
            ],
        }
        return self.send("payload=" + quote(json.dumps(payload)), **kw)

    def command(self, user: str, text: str, n: int = 1) -> httpx.Response:
        body = urlencode(
            {
                "command": "/gpusteward",
                "text": text,
                "user_id": user,
                "team_id": "T1",
                "channel_id": "C1",
                "trigger_id": f"cmd-{user}-{n}",
                "response_url": f"http://127.0.0.1:{self.stand_in.port}/response/{n}",
            }
        )
        return self.send(body)

    def send(
        self,
        body: str,
        *,
        secret: str = SECRET,
        age: float = 0.0,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        hdrs = headers or signed(body, secret=secret, age=age)
        return httpx.post(self.url, content=body.encode(), headers=hdrs, timeout=REQUEST_PATIENCE)

    def events(self, request_id: str) -> list[tuple[EventKind, str | None]]:
        return [
            (e.kind, e.actor) for e in self.service.store.events() if e.request_id == request_id
        ]


def signed(body: str, *, secret: str = SECRET, age: float = 0.0) -> dict[str, str]:
    ts = str(int(time.time() - age))
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


def blocks_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = body["blocks"]
    return json.loads(blocks) if isinstance(blocks, str) else blocks  # type: ignore[no-any-return]


@pytest.fixture
def rig(service: ApprovalService) -> Iterator[Rig]:
    with SlackStandIn() as stand_in:
        slack = SlackApp(
            service,
            bot_token="xoxb-test-token",
            channel="C1",
            signing_secret=SECRET,
            api_url=stand_in.api_url,
        )
        with LiveServer(create_web_app(service, slack=slack)) as live:
            yield Rig(service, stand_in, live)
        slack.close()


def test_a_submitted_request_is_posted_as_a_block_kit_card(rig: Rig) -> None:
    request = rig.submit()
    (post,) = rig.stand_in.of("chat.postMessage")
    assert post.authorization == "Bearer xoxb-test-token" and post.body["channel"] == "C1"
    blocks = blocks_of(post.body)
    assert blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "scale default/llm-chat 2 -> 6"},
    }
    assert "load needs 6 replicas" in blocks[1]["text"]["text"]
    assert "+4 GPUs" in blocks[1]["fields"][0]["text"]
    assert "big-step" in blocks[2]["text"]["text"]
    (actions,) = [b for b in blocks if b["type"] == "actions"]
    assert [(e["action_id"], e["value"], e.get("style")) for e in actions["elements"]] == [
        ("approve", request.id, "primary"),
        ("reject", request.id, "danger"),
        ("why", request.id, None),
    ]
    assert request.id in post.body["text"]  # the notification fallback


def test_an_approvers_click_is_acknowledged_at_once_even_when_deciding_is_slow(
    rig: Rig, tmp_path: Any
) -> None:
    """Slack retries a click not answered within 3 s, so the answer must not wait for the
    decision: another writer holds the store until the click is answered. A handler that
    decided first could not answer at all (it would wait on the store until its busy
    timeout and decide nothing); a timer releasing the store instead would race a busy
    machine. (The store is not read meanwhile: its reads queue behind the waiting write.)"""
    request = rig.submit()
    blocker = sqlite3.connect(rig.service.store.path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the store ...
    try:
        response = rig.click("UALICE", request.id)  # ... until the click is answered
    finally:
        blocker.execute("COMMIT")
    assert response.status_code == 200
    update = rig.stand_in.wait_for("chat.update")[0]
    done = rig.service.store.get(request.id)
    assert done is not None and (done.state, done.decided_by, done.channel) == (
        ApprovalState.APPROVED,
        "alice",
        "slack",
    )
    blocks = blocks_of(update.body)
    assert not [b for b in blocks if b["type"] == "actions"]  # buttons gone
    assert "approved by alice via slack" in json.dumps(blocks)
    assert (update.body["channel"], update.body["ts"]) == ("C1", "1790000000.000001")


def test_a_bad_signature_is_refused_and_decides_nothing(rig: Rig) -> None:
    request = rig.submit()
    assert rig.click("UALICE", request.id, secret="not-the-secret").status_code == 401
    assert rig.service.store.pending(T0) and rig.events(request.id) == [(EventKind.SUBMITTED, None)]


def test_a_stale_timestamp_is_refused_even_with_a_valid_signature(rig: Rig) -> None:
    request = rig.submit()
    assert rig.click("UALICE", request.id, age=6 * 60).status_code == 401
    assert rig.events(request.id) == [(EventKind.SUBMITTED, None)]


def test_a_replayed_or_retried_delivery_is_acknowledged_and_handled_once(rig: Rig) -> None:
    request = rig.submit()
    payload = "payload=" + quote(
        json.dumps(
            {
                "type": "block_actions",
                "user": {"id": "UEVE"},
                "team": {"id": "T1"},
                "trigger_id": "trigger-replayed",
                "channel": {"id": "C1"},
                "actions": [{"action_id": "approve", "value": request.id, "action_ts": "1.5"}],
            }
        )
    )
    headers = signed(payload)
    assert rig.send(payload, headers=headers).status_code == 200
    assert rig.send(payload, headers=headers).status_code == 200  # the same bytes again
    retry = {**signed(payload), "X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    assert rig.send(payload, headers=retry).status_code == 200
    rig.stand_in.wait_for("chat.postEphemeral")
    time.sleep(0.3)
    assert len(rig.stand_in.of("chat.postEphemeral")) == 1
    assert rig.events(request.id).count((EventKind.REFUSED, "eve")) == 1


def test_a_non_approvers_click_is_refused_with_an_ephemeral_message(rig: Rig) -> None:
    request = rig.submit()
    assert rig.click("UEVE", request.id).status_code == 200
    (eph,) = rig.stand_in.wait_for("chat.postEphemeral")
    assert (eph.body["user"], eph.body["channel"]) == ("UEVE", "C1")
    assert "eve is not in approver group 'oncall'" in eph.body["text"]
    assert [r.id for r in rig.service.store.pending(T0)] == [request.id]
    assert rig.click("UNKNOWN1", request.id).status_code == 200  # not in the people file
    assert (
        "slack:UNKNOWN1 is not in approver group"
        in rig.stand_in.wait_for("chat.postEphemeral", 2)[1].body["text"]
    )


def test_a_double_click_decides_once_and_tells_the_second_clicker(rig: Rig) -> None:
    request = rig.submit()
    assert rig.click("UALICE", request.id, n=1).status_code == 200
    rig.stand_in.wait_for("chat.update")
    assert rig.click("UBOB", request.id, action="reject", n=2).status_code == 200
    (eph,) = rig.stand_in.wait_for("chat.postEphemeral")
    assert eph.body["user"] == "UBOB" and "already approved by alice via slack" in eph.body["text"]
    kinds = rig.events(request.id)
    assert kinds.count((EventKind.APPROVED, "alice")) == 1
    assert (EventKind.REJECTED, "bob") not in kinds and (EventKind.REFUSED, "bob") in kinds


def test_slash_commands_answer_through_the_response_url_and_can_decide(rig: Rig) -> None:
    request = rig.submit()
    assert rig.command("UEVE", "pending").status_code == 200
    (answer,) = rig.stand_in.wait_for("response")
    assert request.id in answer.body["text"] and answer.body["response_type"] == "ephemeral"
    assert rig.command("UBOB", f"reject {request.id} too big for a Friday", n=2).status_code == 200
    rig.stand_in.wait_for("response", 2)
    done = rig.service.store.get(request.id)
    assert done is not None and (done.state, done.decided_by, done.comment) == (
        ApprovalState.REJECTED,
        "bob",
        "too big for a Friday",
    )


def test_why_answers_in_the_cards_thread(rig: Rig) -> None:
    request = rig.submit()
    assert rig.click("UEVE", request.id, action="why").status_code == 200
    posts = rig.stand_in.wait_for("chat.postMessage", 2)
    assert posts[1].body["thread_ts"] == posts[0].body.get("ts", "1790000000.000001")
    assert "load needs 6 replicas" in posts[1].body["text"]
