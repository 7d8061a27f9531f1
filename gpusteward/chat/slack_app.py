"""The Slack app (`slack_bolt`): cards in Block Kit, buttons, `/gpusteward` commands.

The only module that imports a Slack SDK. Requests arrive over HTTP (`/slack/events` on
the chat port; bolt verifies each signature: HMAC-SHA256 with the signing secret and a
timestamp at most 5 minutes old) or over Socket Mode. Each is acknowledged at once and
handled after (bolt answers Slack as soon as `ack()` runs, well within 3 s). A delivery
seen before (Slack's retries, a replayed request) is acknowledged and dropped. The
clicker is looked up by Slack user id and checked against the approver group by
`ApprovalService`; refusals are sent back as an ephemeral message.

Cards are posted to the configured channel when a request is submitted and updated in
place when it changes, from one background thread, so the daemon never waits on Slack.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import structlog
from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from gpusteward.chat.commands import run_command
from gpusteward.chat.records import ApprovalEvent, EventKind
from gpusteward.chat.service import ApprovalService
from gpusteward.chat.slack_blocks import APPROVE, REJECT, WHY, card_blocks, fallback_text
from gpusteward.core.approvals import ApprovalState

log = structlog.get_logger("gpusteward.chat.slack")
_REF = "slack"


class SlackApp:
    def __init__(
        self,
        service: ApprovalService,
        *,
        bot_token: str,
        channel: str,
        signing_secret: str | None = None,
        api_url: str = "https://slack.com/api/",
        app_token: str | None = None,
    ) -> None:
        self.service, self.channel = service, channel
        self.client = WebClient(token=bot_token, base_url=api_url, timeout=10)
        self.app = App(
            client=self.client,
            signing_secret=signing_secret,
            process_before_response=False,  # answer Slack on ack(), work afterwards
            token_verification_enabled=False,  # no auth.test call at start-up
            request_verification_enabled=signing_secret is not None,
        )
        self._app_token = app_token
        self._socket: SocketModeHandler | None = None
        self._seen = _Seen(keep_seconds=600.0)  # Slack retries within minutes
        self._outbox = ThreadPoolExecutor(max_workers=1, thread_name_prefix="slack-post")
        self._register()
        service.store.subscribe(self._on_event)
        if service.warnings is not None:  # each warning once, then its resolve message
            service.warnings.subscribe(
                lambda p: self._send(
                    lambda: self.client.chat_postMessage(channel=self.channel, text=p.text())
                )
            )

    # -- HTTP mode ------------------------------------------------------------------------

    def handle(self, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        """One HTTP request from Slack; bolt checks its signature and timestamp first."""
        given: dict[str, str | Sequence[str]] = dict(headers)
        response: BoltResponse = self.app.dispatch(
            BoltRequest(body=body.decode("utf-8", "replace"), headers=given)
        )
        out_headers = {k: ", ".join(v) for k, v in response.headers.items()}
        return response.status, out_headers, str(response.body or "").encode()

    # -- Socket Mode -----------------------------------------------------------------------

    def start_socket_mode(self) -> None:
        if not self._app_token:
            raise ValueError("Socket Mode needs an app-level token (xapp-...): set slack_app_token")
        self._socket = SocketModeHandler(self.app, self._app_token, web_client=self.client)
        self._socket.connect()  # type: ignore[no-untyped-call]  # returns at once; the client runs on its own threads

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()  # type: ignore[no-untyped-call]
        self._outbox.shutdown(wait=True)

    def flush(self) -> None:
        """Wait until every card post / update queued so far has been sent (tests)."""
        self._outbox.submit(lambda: None).result(timeout=30)

    # -- listeners ---------------------------------------------------------------------------

    def _register(self) -> None:
        app = self.app
        app.middleware(self._drop_repeats)
        app.action(APPROVE)(self._on_button(approve=True))
        app.action(REJECT)(self._on_button(approve=False))
        app.action(WHY)(self._on_why)
        app.command("/gpusteward")(self._on_command)

    def _drop_repeats(self, body: dict[str, Any], next: Callable[[], None]) -> BoltResponse | None:
        key = _delivery_key(body)
        if key is not None and not self._seen.first_time(key):
            log.info("repeated Slack delivery dropped", key=key)
            return BoltResponse(status=200, body="")
        next()
        return None

    def _on_button(self, *, approve: bool) -> Callable[..., None]:
        def handler(ack: Callable[[], None], body: dict[str, Any], action: dict[str, Any]) -> None:
            ack()
            user = str(body.get("user", {}).get("id", ""))
            person = self.service.identities.by_slack(user)
            comment = None if approve else "rejected in Slack"
            out = self.service.decide(
                person,
                str(action.get("value", "")),
                approve=approve,
                channel="slack",
                comment=comment,
                actor=f"slack:{user}",
            )
            if not out.ok:
                self._ephemeral(_channel_of(body) or self.channel, user, out.text)

        return handler

    def _on_why(
        self, ack: Callable[[], None], body: dict[str, Any], action: dict[str, Any]
    ) -> None:
        ack()
        request_id = str(action.get("value", ""))
        person = self.service.identities.by_slack(str(body.get("user", {}).get("id", "")))
        out = run_command(self.service, person, f"/why {request_id}", "slack")
        ref = self.service.store.ref(request_id, _REF)
        channel, ts = ref.split(" ", 1) if ref else (self.channel, None)
        self._send(
            lambda: self.client.chat_postMessage(channel=channel, thread_ts=ts, text=out.text)
        )

    def _on_command(
        self, ack: Callable[[], None], command: dict[str, Any], respond: Callable[..., Any]
    ) -> None:
        ack()
        user = str(command.get("user_id", ""))
        person = self.service.identities.by_slack(user)
        text = str(command.get("text", "")).strip()
        out = run_command(self.service, person, f"/{text}" if text else "/help", "slack")
        respond(text=out.text, response_type="ephemeral")

    # -- posting cards ---------------------------------------------------------------------

    def _on_event(self, event: ApprovalEvent) -> None:
        if event.request_id is None or event.kind in (EventKind.REFUSED, EventKind.THREAD):
            return
        request_id = event.request_id
        self._outbox.submit(self._sync_card, request_id, event.kind)

    def _sync_card(self, request_id: str, kind: EventKind) -> None:
        try:
            request = self.service.store.get(request_id)
            if request is None:
                return
            ref = self.service.store.ref(request_id, _REF)
            card = self.service.card(request)
            blocks, text = card_blocks(card), fallback_text(card)
            if ref is None:
                if kind != EventKind.SUBMITTED or request.state != ApprovalState.PENDING:
                    return  # never posted (e.g. auto-rejected): nothing to update
                reply = self.client.chat_postMessage(channel=self.channel, text=text, blocks=blocks)
                self.service.store.set_ref(request_id, _REF, f"{reply['channel']} {reply['ts']}")
            else:
                channel, ts = ref.split(" ", 1)
                self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
        except SlackApiError as e:
            log.error(
                "Slack refused a card", request=request_id, error=str(e.response.get("error"))
            )
        except Exception as e:  # Slack down: the card is in the web chat and the store
            log.error("cannot post a card to Slack", request=request_id, error=str(e))

    def _ephemeral(self, channel: str, user: str, text: str) -> None:
        self._send(lambda: self.client.chat_postEphemeral(channel=channel, user=user, text=text))

    def _send(self, call: Callable[[], Any]) -> None:
        def run() -> None:
            try:
                call()
            except Exception as e:
                log.error("Slack call failed", error=str(e))

        self._outbox.submit(run)


class _Seen:
    """Delivery keys seen recently, in memory: checking one never waits on a disk or a
    lock held elsewhere, so the acknowledgement is never late. (A decision is exactly-once
    in the store anyway; this keeps a retry from posting its answer twice.)"""

    def __init__(self, keep_seconds: float) -> None:
        self._keep = keep_seconds
        self._at: dict[str, float] = {}
        self._lock = threading.Lock()

    def first_time(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            if len(self._at) > 10_000:
                self._at = {k: t for k, t in self._at.items() if now - t < self._keep}
            seen = self._at.get(key)
            if seen is not None and now - seen < self._keep:
                return False
            self._at[key] = now
            return True


def _delivery_key(body: dict[str, Any]) -> str | None:
    """What identifies one delivery across Slack's retries and replays."""
    if body.get("event_id"):
        return f"event:{body['event_id']}"
    if body.get("trigger_id"):
        return f"trigger:{body['trigger_id']}"
    actions = body.get("actions") or []
    if actions and actions[0].get("action_ts"):
        user = body.get("user", {}).get("id", "")
        return f"action:{user}:{actions[0]['action_ts']}"
    return None


def _channel_of(body: dict[str, Any]) -> str | None:
    channel = body.get("channel") or body.get("container") or {}
    value = channel.get("id") or channel.get("channel_id")
    return str(value) if value else None
