"""The wake-on-request proxy: what it adds to a request, and how fast it releases the
requests it held once the model serves (issue 27: a wake takes at most the model's cold
start plus one tick; the proxy's part must fit well inside that tick).

All on loopback over real HTTP (uvicorn servers, an httpx client), in one process:

1. pass-through: `--requests` sequential chat completions to a ready model server
   stand-in, directly and through the proxy, alternating in blocks; the latency each way
   and the difference;
2. a wake: `--held` concurrent requests sent while nothing listens on the model's port
   (a Service with no ready pod); once the proxy holds them all, the model server starts;
   the time from its first answer to /health until each held request is answered.

    python -m benchmarks.activator [--requests 600] [--held 200] [--json]

Targets: every held request answered 200 after the wake; the last one within one tick
(60 s) of the model serving. Reported: the proxy's added latency per request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from benchmarks.targets import exit_status, host, print_targets, target
from gpusteward.adapters.activator import Activator
from gpusteward.adapters.activator_config import ActivatorConfig
from gpusteward.core.logs import configure_logging
from gpusteward.testing.model_server import ModelServerStandIn, free_port, serving

TICK_SECONDS = 60.0
BLOCK = 50  # requests per block; direct and proxied blocks alternate
BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def _config(port: int) -> ActivatorConfig:
    return ActivatorConfig.model_validate(
        {
            "routes": [
                {"model": "m", "namespace": "bench", "upstream": f"http://127.0.0.1:{port}"}
            ],
            "max_held": 10_000,
        }
    )


def _ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)


def pass_through(requests: int) -> dict[str, Any]:
    port = free_port()
    with (
        serving(ModelServerStandIn().app, port) as model,
        serving(Activator(_config(port)).app, free_port()) as proxy,
        httpx.Client(timeout=60) as client,
    ):
        timed: dict[str, list[float]] = {"direct": [], "proxy": []}
        for url in (model, proxy):  # warm both connections
            client.post(f"{url}/v1/chat/completions", json=BODY).raise_for_status()
        for i in range(2 * max(1, requests // BLOCK)):
            name, url = ("direct", model) if i % 2 == 0 else ("proxy", proxy)
            for _ in range(BLOCK):
                started = time.perf_counter()
                client.post(f"{url}/v1/chat/completions", json=BODY).raise_for_status()
                timed[name].append(time.perf_counter() - started)
    out: dict[str, Any] = {
        name: {"n": len(v), "p50_ms": _ms(v, 0.5), "p99_ms": _ms(v, 0.99)}
        for name, v in timed.items()
    }
    out["added_p50_ms"] = round(out["proxy"]["p50_ms"] - out["direct"]["p50_ms"], 2)
    return out


async def _held_wake(held: int, model_port: int, proxy: str, activator: Activator) -> Any:
    limits = httpx.Limits(max_connections=held + 10)
    async with httpx.AsyncClient(timeout=600, limits=limits) as client:
        answered: list[tuple[float, int]] = []

        async def ask() -> None:
            r = await client.post(f"{proxy}/v1/chat/completions", json=BODY)
            answered.append((time.perf_counter(), r.status_code))

        tasks = [asyncio.create_task(ask()) for _ in range(held)]
        while activator.upstreams["m"].counts.held < held:  # every request held
            await asyncio.sleep(0.05)
        stand_in = ModelServerStandIn()
        with serving(stand_in.app, model_port) as model:
            async with httpx.AsyncClient() as probe:  # the model serves from this instant
                while (await probe.get(f"{model}/health")).status_code != 200:
                    pass
            ready = time.perf_counter()
            await asyncio.gather(*tasks)
        waits = [t - ready for t, _ in answered]
        return {
            "held": held,
            "answered_200": sum(1 for _, s in answered if s == 200),
            "model_saw": len(stand_in.requests),
            "first_s": round(min(waits), 3),
            "median_s": round(statistics.median(waits), 3),
            "last_s": round(max(waits), 3),
        }


def wake(held: int) -> dict[str, Any]:
    model_port = free_port()
    activator = Activator(_config(model_port))
    with serving(activator.app, free_port()) as proxy:
        return asyncio.run(_held_wake(held, model_port, proxy, activator))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=600, help="pass-through requests each way")
    parser.add_argument("--held", type=int, default=200, help="requests held for one wake")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if args.requests < BLOCK or not 1 <= args.held <= 5000:
        parser.error(f"--requests >= {BLOCK} and 1 <= --held <= 5000")
    configure_logging("error", "json")
    through, woke = pass_through(args.requests), wake(args.held)
    targets = [
        target(
            "held requests answered 200 after the wake",
            f"{woke['answered_200']} / {woke['held']}",
            "all",
            woke["answered_200"] == woke["held"] == woke["model_saw"],
        ),
        target(
            "last held request answered after the model serves (s)",
            woke["last_s"],
            f"<= {TICK_SECONDS:g} (one tick)",
            woke["last_s"] <= TICK_SECONDS,
        ),
        target(
            "added latency per passed-through request, p50 (ms)",
            through["added_p50_ms"],
            "report",
            True,
        ),
    ]
    if args.json:
        print(
            json.dumps({"pass_through": through, "wake": woke, "host": host(), "targets": targets})
        )
        return exit_status(targets)
    console = Console()
    table = Table(title="chat completions on loopback, sequential")
    for col in ("path", "requests", "p50 (ms)", "p99 (ms)"):
        table.add_column(col, justify="right")
    for name in ("direct", "proxy"):
        t = through[name]
        table.add_row(name, str(t["n"]), f"{t['p50_ms']:.2f}", f"{t['p99_ms']:.2f}")
    console.print(table)
    console.print(
        f"wake: {woke['held']} held requests, answered {woke['first_s']} s (first), "
        f"{woke['median_s']} s (median), {woke['last_s']} s (last) after the model served; "
        f"the model saw {woke['model_saw']} ({host()})"
    )
    print_targets(console, targets)
    return exit_status(targets)


if __name__ == "__main__":
    sys.exit(main())
