"""Serving a run: the daemon's loop with `/metrics` beside it (GPUSTEWARD_METRICS_PORT)
and, with GPUSTEWARD_CHAT_PEOPLE set, the approval chat (web, and Slack when configured)
— the same for every backend."""

from __future__ import annotations

from collections.abc import Coroutine
from pathlib import Path

import structlog

from gpusteward.adapters.exposition import DaemonExposition, MetricsServer
from gpusteward.app.settings import Settings
from gpusteward.app.wiring import Run
from gpusteward.app.wiring_llm import journal_answerer
from gpusteward.chat.store import SqliteApprovalStore
from gpusteward.chat.warnings import WarningBoard
from gpusteward.core.ports import Clock
from gpusteward.daemon.loop import Daemon
from gpusteward.daemon.run_stats import RunStats

log = structlog.get_logger("gpusteward.app.serving")


def serve_metrics(exposition: DaemonExposition, settings: Settings) -> MetricsServer | None:
    """Serve `/metrics` on GPUSTEWARD_METRICS_HOST:GPUSTEWARD_METRICS_PORT, when a port is
    set (either backend)."""
    metrics = settings.metrics
    if metrics.port is None:
        return None
    server = exposition.serve(metrics.host, metrics.port)
    log.info("serving /metrics", host=metrics.host, port=server.port)
    return server


async def run_service(
    run: Run, settings: Settings, *, once: bool = False, tick_first: bool = True
) -> RunStats:
    """Run the daemon of a service run (either backend), its `/metrics` served when
    GPUSTEWARD_METRICS_PORT is set; with GPUSTEWARD_CHAT_PEOPLE set, the approval chat
    beside it."""
    server = serve_metrics(run.exposition, settings) if run.exposition is not None else None
    try:
        main = run.daemon.run(once=once, tick_first=tick_first)
        if run.journal_path is None:
            return await main
        return await serve_chat_beside(
            main,
            settings,
            run.approvals,
            run.daemon,
            run.clock,
            run.journal_path,
            run.parts.speed,
            warnings=run.warnings,
        )
    finally:
        if server is not None:
            server.close()


async def serve_chat_beside(
    main: Coroutine[object, object, RunStats],
    settings: Settings,
    store: SqliteApprovalStore | None,
    daemon: Daemon,
    clock: Clock,
    journal_path: Path,
    speed: float | None,
    *,
    warnings: WarningBoard | None = None,
) -> RunStats:
    """Await `main` (the daemon's run); with GPUSTEWARD_CHAT_PEOPLE set and a store, serve
    the approval chat over `store` beside it (the sim and Kubernetes backends alike)."""
    chat_settings, slack = settings.chat, settings.slack
    if chat_settings.people is None or store is None:
        return await main
    from gpusteward.chat.runtime import build_chat  # FastAPI loads only when serving
    from gpusteward.chat.server import serve_beside

    secret = {
        name: value.get_secret_value() if value is not None else None
        for name, value in (
            ("bot", slack.bot_token),
            ("signing", slack.signing_secret),
            ("app", slack.app_token),
        )
    }
    try:
        chat = build_chat(
            store=store,
            people=chat_settings.people,
            clock=clock,
            daemon=daemon,
            speed=speed,
            slack_mode=slack.mode,
            slack_bot_token=secret["bot"],
            slack_signing_secret=secret["signing"],
            slack_app_token=secret["app"],
            slack_channel=slack.channel,
            slack_api_url=slack.api_url,
            answerer=journal_answerer(settings.llm, journal_path),
            warnings=warnings,
        )
    except BaseException:
        main.close()  # never started: no 'coroutine was never awaited' on the way out
        raise
    try:
        return await serve_beside(main, chat.app, chat_settings.host, chat_settings.port)
    finally:
        chat.close()
