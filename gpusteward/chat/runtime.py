"""Assembles the chat for a running daemon: the service, the web app, the Slack app.

Called by the composition root, which passes plain values (no Settings object here).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from fastapi import FastAPI

from gpusteward.chat.identities import Identities
from gpusteward.chat.notes import NoteBook
from gpusteward.chat.service import Answerer, ApprovalService
from gpusteward.chat.store import SqliteApprovalStore
from gpusteward.chat.warnings import WarningBoard
from gpusteward.chat.web import create_web_app
from gpusteward.core.cluster import ClusterSnapshot
from gpusteward.core.errors import SettingsError
from gpusteward.core.ports import Clock


class _Stats(Protocol):
    @property
    def ticks(self) -> int: ...

    @property
    def last_snapshot(self) -> ClusterSnapshot | None: ...

    @property
    def results(self) -> Counter[str]: ...

    def llm_line(self) -> str | None: ...


class RunningDaemon(Protocol):
    """The part of `gpusteward.daemon.loop.Daemon` the chat uses (structural: no import)."""

    @property
    def paused(self) -> bool: ...

    @property
    def stats(self) -> _Stats: ...

    def set_paused(self, paused: bool) -> None: ...


class DaemonStatus:
    """`DaemonView` over a running daemon."""

    def __init__(self, daemon: RunningDaemon) -> None:
        self.daemon = daemon

    def latest_snapshot(self) -> ClusterSnapshot | None:
        return self.daemon.stats.last_snapshot

    def set_paused(self, paused: bool) -> None:
        self.daemon.set_paused(paused)

    def status_lines(self) -> list[str]:
        stats = self.daemon.stats
        snap = stats.last_snapshot
        applied = stats.results.get("applied", 0)
        lines = [
            f"daemon: {stats.ticks} ticks this run, {applied} actions applied, "
            f"{'PAUSED (not acting)' if self.daemon.paused else 'acting'}"
        ]
        llm = stats.llm_line()  # says when the circuit breaker is open, and why
        if llm is not None:
            lines.append(llm)
        if snap is None:
            return [*lines, "no snapshot yet"]
        lines.append(f"last snapshot {snap.at:%Y-%m-%d %H:%M} UTC")
        for d in snap.deployments:
            m = snap.metrics.get(d.key)
            load = f", {m.arrival_rate_rps:.2f} req/s, queue {m.queue_depth}" if m else ""
            lines.append(f"• {d.key}: {d.replicas} replicas{load}")
        return lines


@dataclass
class ChatRuntime:
    service: ApprovalService
    app: FastAPI
    slack: object | None  # a SlackApp when configured

    def close(self) -> None:
        close = getattr(self.slack, "close", None)
        if close is not None:
            close()
        if self.service.notes is not None:
            self.service.notes.close()


def build_chat(
    *,
    store: SqliteApprovalStore,
    people: Path,
    clock: Clock,
    daemon: RunningDaemon | None,
    speed: float | None,
    slack_mode: Literal["off", "http", "socket"] = "off",
    slack_bot_token: str | None = None,
    slack_signing_secret: str | None = None,
    slack_app_token: str | None = None,
    slack_channel: str | None = None,
    slack_api_url: str = "https://slack.com/api/",
    answerer: Answerer | None = None,
    warnings: WarningBoard | None = None,
) -> ChatRuntime:
    service = ApprovalService(
        store,
        Identities.load(people),
        clock,
        DaemonStatus(daemon) if daemon is not None else None,
        speed=speed,
        answerer=answerer,
        notes=NoteBook(store.path),
        warnings=warnings,
    )
    slack = None
    if slack_mode != "off":
        from gpusteward.chat.slack_app import SlackApp  # the Slack SDK loads only when used

        missing = [
            name
            for name, value in (
                ("GPUSTEWARD_SLACK_BOT_TOKEN", slack_bot_token),
                ("GPUSTEWARD_SLACK_CHANNEL", slack_channel),
                (
                    "GPUSTEWARD_SLACK_SIGNING_SECRET"
                    if slack_mode == "http"
                    else "GPUSTEWARD_SLACK_APP_TOKEN",
                    slack_signing_secret if slack_mode == "http" else slack_app_token,
                ),
            )
            if not value
        ]
        if missing:
            raise SettingsError(
                f"slack_mode={slack_mode!r} needs {', '.join(missing)}. Fix: set them, or "
                "GPUSTEWARD_SLACK_MODE=off."
            )
        assert slack_bot_token is not None and slack_channel is not None
        slack = SlackApp(
            service,
            bot_token=slack_bot_token,
            channel=slack_channel,
            signing_secret=slack_signing_secret if slack_mode == "http" else None,
            api_url=slack_api_url,
            app_token=slack_app_token,
        )
        if slack_mode == "socket":
            slack.start_socket_mode()
    app = create_web_app(service, slack=slack if slack_mode == "http" else None)
    return ChatRuntime(service, app, slack)
