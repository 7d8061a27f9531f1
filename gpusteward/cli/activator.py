"""`gpusteward activator`: the wake-on-request proxy in front of models that may scale to
zero (`gpusteward/adapters/activator.py`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gpusteward.cli.terminal import out
from gpusteward.core.errors import SettingsError
from gpusteward.core.logs import configure_logging


def activator(
    routes: Annotated[
        Path,
        typer.Option(help="Routes file (YAML): model, namespace and upstream of each model."),
    ],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "0.0.0.0",
    port: Annotated[int, typer.Option(help="Port for the API and /metrics.", min=1)] = 8080,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error.")] = "info",
) -> None:
    """Hold requests for a model at zero while it wakes; report them for the daemon.

    Clients call this proxy instead of the models. A request whose model has no ready
    replica is held (counted in vllm:num_requests_waiting on /metrics, which the daemon
    reads through Prometheus to wake the model) and sent when the model serves.
    """
    import uvicorn

    from gpusteward.adapters.activator import Activator
    from gpusteward.adapters.activator_config import load_routes

    configure_logging(log_level, "auto")
    config = load_routes(routes)
    proxy = Activator(config)
    server = uvicorn.Server(
        uvicorn.Config(proxy.app, host=host, port=port, log_level="warning", access_log=False)
    )
    out.print(
        f"activator: {len(config.routes)} model(s) "
        f"({', '.join(r.model for r in config.routes)}); API and /metrics on {host}:{port}",
        highlight=False,
    )
    server.run()
    if not server.started:
        raise SettingsError(
            f"activator: cannot listen on {host}:{port} (in use or not allowed). Fix: --port "
            "with a free port"
        )
