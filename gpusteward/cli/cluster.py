"""CLI for real clusters: `run --backend kubernetes` (called from `gpusteward run`) and
`gpusteward node-agent` (the NVML collector as a Prometheus exporter on a GPU node)."""

from __future__ import annotations

import signal
import threading
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from gpusteward.cli.terminal import out
from gpusteward.core.errors import ClusterUnavailable, RunFailed
from gpusteward.core.logs import configure_logging

if TYPE_CHECKING:
    from gpusteward.adapters.nvml import GpuReading, NvmlCollector
    from gpusteward.app.scenario import Scenario
    from gpusteward.app.settings import Settings
    from gpusteward.core.tick import TickRecord


def print_tick(record: TickRecord) -> None:
    """One line per proposal: what, the verdict and its rules, and what happened."""
    results = {r.action_id: r for r in record.results}
    mode = " (dry run)" if record.dry_run else ""
    out.print(
        f"tick #{record.seq} {record.at:%Y-%m-%d %H:%M:%S} UTC{mode}: "
        f"{len(record.proposals)} proposal(s)",
        highlight=False,
    )
    for proposal, verdict in zip(record.proposals, record.verdicts, strict=False):
        result = results.get(proposal.action.id)
        outcome = f" -> {result.status.value}: {result.message}" if result else ""
        out.print(
            f"  {proposal.action.describe()} [{verdict.decision}: {verdict.reason}] "
            f"because {proposal.reason}{outcome}",
            highlight=False,
            soft_wrap=True,
        )
    for e in record.errors:
        out.print(f"  {e.stage.value} failed: {e.error_type}: {e.message}", highlight=False)


def run_kubernetes(
    scenario: Scenario, settings: Settings, *, once: bool, ticks: int | None
) -> None:
    """The daemon against the cluster in the kubeconfig; in dry-run mode every write is a
    server-side dry run and no lease is taken, so nothing in the cluster changes. Actions
    that need approval wait in the durable store beside the journal; with
    GPUSTEWARD_CHAT_PEOPLE set, the approval chat is served beside the daemon."""
    import asyncio

    from gpusteward.app.serving import run_service
    from gpusteward.app.wiring_kube import build_kube_run

    run = build_kube_run(scenario, settings, max_ticks=ticks, on_tick=print_tick)
    run.start()
    try:
        asyncio.run(run_service(run, settings, once=once))
    finally:
        run.close()
    stats = run.daemon.stats
    out.print(
        f"{stats.ticks} tick(s), {stats.proposals} proposal(s); results "
        f"{dict(stats.results) or 'none'}; journal {run.journal_path}",
        highlight=False,
    )
    if once and stats.ticks and stats.last_snapshot is None:
        raise ClusterUnavailable(
            f"--once: the tick could not observe the cluster ({stats.last_error}), and --once "
            "runs one tick: there is no next attempt. Fix: make the Kubernetes API of "
            "GPUSTEWARD_KUBECONFIG (or $KUBECONFIG; context GPUSTEWARD_KUBE_CONTEXT) reachable "
            "from here, then run again; without --once the daemon tries again every tick."
        )
    if (failed := stats.every_tick_failed(run.journal_path)) is not None:
        raise RunFailed(failed)


def node_agent(
    port: Annotated[int, typer.Option(help="Port of /metrics.")] = 9401,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "0.0.0.0",
    interval: Annotated[float, typer.Option(help="Seconds between GPM samples.")] = 1.0,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error.")] = "info",
) -> None:
    """Serve this node's GPU metrics (NVML) for Prometheus; exits 3 without an NVIDIA driver."""
    from gpusteward.adapters.nvml import NvmlUnavailable

    configure_logging(log_level, "auto")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        serve_node_agent(host, port, interval, stop)
    except NvmlUnavailable as e:
        Console(stderr=True).print(f"[red]error:[/red] {e}", highlight=False)
        raise typer.Exit(3) from None
    except KeyboardInterrupt:
        pass


def serve_node_agent(
    host: str,
    port: int,
    interval: float,
    stop: threading.Event,
    collector: NvmlCollector | None = None,
) -> None:
    """Sweep every `interval` seconds (GPM needs a sample each time) and serve the latest."""
    from gpusteward.adapters.exposition import NodeGpuExposition
    from gpusteward.adapters.nvml import NvmlCollector

    nvml = (collector or NvmlCollector()).open()
    latest: list[GpuReading] = nvml.sweep()
    server = NodeGpuExposition(lambda: latest, lambda: nvml.last_sweep_seconds).serve(host, port)
    out.print(f"node agent: {len(nvml.devices)} GPU(s), /metrics on {host}:{server.port}")
    try:
        while not stop.wait(interval):
            latest = nvml.sweep()
    finally:
        server.close()
        nvml.close()
