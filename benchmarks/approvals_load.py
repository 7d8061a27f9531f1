"""Approval chat under load: 50 concurrent web-chat clients race to decide 200 pending
approvals; every decision must be taken exactly once, and every page must see every card
change live.

Setup: one approval store (SQLite, WAL) with `--pending` requests, served by the real
web chat (FastAPI + uvicorn) in a separate process on loopback. `--clients` WebSocket
clients connect at once (80 % of them in the approver group, the rest not) and each
tries to decide *every* request, in its own random order, approving or rejecting at
random — `clients x pending` attempts in all. Checked afterwards, from the store and
from what the clients received:

- exactly one successful decision per request (one ok reply, one approved/rejected
  audit line, `decided_by` = the client that got the ok); every other attempt refused;
- non-approvers never decide;
- every client saw every request's final state pushed live over its WebSocket.

Reported: attempts per second and decision round-trip latency (p50 / p95 / p99).

    python benchmarks/approvals_load.py [--clients 50] [--pending 200] [--seed 7] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table
from websockets.asyncio.client import ClientConnection, connect

from benchmarks.targets import exactly, exit_status, host, target
from gpusteward.chat.identities import Identities
from gpusteward.chat.records import EventKind
from gpusteward.chat.server import make_server
from gpusteward.chat.service import ApprovalService
from gpusteward.chat.store import SqliteApprovalStore
from gpusteward.chat.web import create_web_app
from gpusteward.core.actions import Proposal, ScaleDeployment
from gpusteward.core.clock import VirtualClock
from gpusteward.core.logs import configure_logging
from gpusteward.core.verdicts import NeedsApproval, RuleHit

T0 = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
TARGET_P95_MS = 500.0
APPROVER_SHARE = 0.8


def _token(i: int) -> str:
    return f"load-client-token-{i:04d}-xxxxxxxx"


def prepare(workdir: Path, clients: int, pending: int) -> list[str]:
    """People file and a store holding `pending` requests (distinct targets)."""
    approvers = round(clients * APPROVER_SHARE)
    people = ["pause_group: oncall", "people:"]
    for i in range(clients):
        groups = "[oncall]" if i < approvers else "[]"
        people.append(f"  - {{name: c{i}, token: {_token(i)}, groups: {groups}}}")
    (workdir / "people.yaml").write_text("\n".join(people) + "\n")
    ids = []
    with SqliteApprovalStore(workdir / "approvals.sqlite") as store:
        for i in range(pending):
            action = ScaleDeployment(
                deployment=f"serving/model-{i}", replicas=4, from_replicas=2, issued_at=T0
            )
            proposal = Proposal(action=action, reason=f"load test request {i}")
            verdict = NeedsApproval(
                action_id=action.id,
                policy_version="load@1",
                approver_group="oncall",
                expires_in_seconds=86_400,
                rules=(RuleHit(rule="big-step", reason="load test"),),
            )
            ids.append(store.submit(proposal, verdict, T0).id)
    return ids


def serve(workdir: str, port: int) -> None:
    """The server process: the real web chat over the store (clock frozen at T0)."""
    configure_logging("error", "json")  # one line per refusal would time the terminal
    store = SqliteApprovalStore(Path(workdir) / "approvals.sqlite")
    identities = Identities.load(Path(workdir) / "people.yaml")
    service = ApprovalService(store, identities, VirtualClock(T0), None, speed=None)
    make_server(create_web_app(service, sweep_seconds=5.0), "127.0.0.1", port).run()


class Client:
    def __init__(self, index: int, url: str, ids: list[str], rng: random.Random) -> None:
        self.index, self.url = index, url
        self.order = ids[:]
        rng.shuffle(self.order)
        self.approve = [rng.random() < 0.5 for _ in ids]
        self.latencies: list[float] = []
        self.ok: list[str] = []
        self.refused = 0
        self.final: dict[str, str] = {}  # request id -> last state pushed to this page
        self._replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.decided_at = self.final_at = 0.0

    async def run(self, start: asyncio.Event) -> None:
        async with connect(f"{self.url}?token={_token(self.index)}", max_size=2**24) as ws:
            reader = asyncio.create_task(self._read(ws))
            await start.wait()
            for ref, (rid, approve) in enumerate(zip(self.order, self.approve, strict=True), 1):
                future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
                self._replies[ref] = future
                sent = time.perf_counter()
                msg = {"type": "decide", "id": rid, "approve": approve, "ref": ref}
                await ws.send(json.dumps(msg))
                reply = await asyncio.wait_for(future, 30)
                self.latencies.append(time.perf_counter() - sent)
                if reply["ok"]:
                    self.ok.append(rid)
                else:
                    self.refused += 1
            self.decided_at = time.perf_counter()
            await self.wait_final(len(self.order), timeout=30)
            self.final_at = time.perf_counter()
            reader.cancel()

    async def wait_final(self, n: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sum(1 for s in self.final.values() if s != "pending") >= n:
                return
            await asyncio.sleep(0.05)

    async def _read(self, ws: ClientConnection) -> None:
        async for raw in ws:
            msg = json.loads(raw)
            if msg["type"] == "reply" and msg["ref"] in self._replies:
                self._replies.pop(msg["ref"]).set_result(msg)
            elif msg["type"] == "hello":
                self.final.update({c["id"]: c["state"] for c in msg["cards"]})
            elif msg["type"] == "card":
                self.final[msg["card"]["id"]] = msg["card"]["state"]


async def drive(url: str, ids: list[str], clients: int, seed: int) -> tuple[list[Client], float]:
    rng = random.Random(seed)
    crowd = [Client(i, url, ids, random.Random(rng.random())) for i in range(clients)]
    start = asyncio.Event()
    tasks = [asyncio.create_task(c.run(start)) for c in crowd]
    await asyncio.sleep(1.0)  # let every client connect and read its hello
    began = time.perf_counter()
    start.set()
    await asyncio.gather(*tasks)
    return crowd, time.perf_counter() - began


def check(workdir: Path, ids: list[str], crowd: list[Client], clients: int) -> dict[str, Any]:
    approvers = {f"c{i}" for i in range(round(clients * APPROVER_SHARE))}
    winners = {rid: f"c{c.index}" for c in crowd for rid in c.ok}
    ok_replies = sum(len(c.ok) for c in crowd)
    with SqliteApprovalStore(workdir / "approvals.sqlite") as store:
        decisions = Counter(
            e.request_id
            for e in store.events()
            if e.kind in (EventKind.APPROVED, EventKind.REJECTED)
        )
        refused = sum(1 for e in store.events() if e.kind == EventKind.REFUSED)
        states = {rid: store.get(rid) for rid in ids}
    decided_once = sum(1 for rid in ids if decisions[rid] == 1)
    consistent = sum(
        1
        for rid, r in states.items()
        if r is not None
        and r.state.value in ("approved", "rejected")
        and r.decided_by == winners.get(rid)
    )
    saw_all = sum(1 for c in crowd if all(c.final.get(rid) not in (None, "pending") for rid in ids))
    return {
        "requests": len(ids),
        "decided_exactly_once": decided_once,
        "decided_more_than_once": sum(1 for n in decisions.values() if n > 1),
        "ok_replies": ok_replies,
        "winner_matches_store": consistent,
        "non_approver_decisions": sum(1 for w in winners.values() if w not in approvers),
        "refused_attempts_audited": refused,
        "clients_saw_every_final_card": saw_all,
    }


def run(clients: int, pending: int, seed: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        ids = prepare(workdir, clients, pending)
        port = _free_port()
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(workdir), "--port", str(port)],
            cwd=Path(__file__).resolve().parents[1],
        )
        try:
            _wait_healthy(f"http://127.0.0.1:{port}/healthz")
            crowd, elapsed = asyncio.run(drive(f"ws://127.0.0.1:{port}/ws", ids, clients, seed))
        finally:
            server.terminate()
            server.wait(10)
        result = check(workdir, ids, crowd, clients)
    latencies = sorted(x * 1000 for c in crowd for x in c.latencies)
    attempts = len(latencies)
    return {
        **result,
        "clients": clients,
        "attempts": attempts,
        "elapsed_s": elapsed,
        "attempts_per_s": attempts / elapsed if elapsed else 0.0,
        "latency_p50_ms": statistics.median(latencies),
        "latency_p95_ms": latencies[int(0.95 * (attempts - 1))],
        "latency_p99_ms": latencies[int(0.99 * (attempts - 1))],
    }


def targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    n, c = r["requests"], r["clients"]
    return [
        exactly("requests decided exactly once", r["decided_exactly_once"], n),
        exactly("requests decided more than once", r["decided_more_than_once"], 0),
        exactly("successful replies (one per request)", r["ok_replies"], n),
        exactly("winner's reply matches the store's decided_by", r["winner_matches_store"], n),
        exactly("decisions by non-approvers", r["non_approver_decisions"], 0),
        exactly("refused attempts audited", r["refused_attempts_audited"], r["attempts"] - n),
        exactly(
            "clients that saw every card's final state live", r["clients_saw_every_final_card"], c
        ),
        target(
            "decision round trip p95 (ms)",
            round(r["latency_p95_ms"], 1),
            f"<= {TARGET_P95_MS:.0f}",
            r["latency_p95_ms"] <= TARGET_P95_MS,
        ),
        target("decision attempts per second", round(r["attempts_per_s"], 1), "report", True),
    ]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"the chat server did not answer on {url}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--pending", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--serve", metavar="DIR", help=argparse.SUPPRESS)  # the server process
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.port)
        return 0
    r = run(args.clients, args.pending, args.seed)
    ts = targets(r)
    machine = host()
    if args.json:
        rounded = {k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()}
        print(
            json.dumps(
                {"benchmark": "approvals_load", "machine": machine, **rounded, "targets": ts}
            )
        )
    else:
        table = Table(
            title=f"approval chat load: {args.clients} clients x {args.pending} pending ({machine})"
        )
        for col in ("measure", "value", "target", "met"):
            table.add_column(col)
        for t in ts:
            table.add_row(t["name"], str(t["value"]), t["target"], "yes" if t["met"] else "NO")
        Console().print(table)
        Console().print(
            f"{r['attempts']} attempts in {r['elapsed_s']:.2f} s; latency p50 "
            f"{r['latency_p50_ms']:.1f} ms, p95 {r['latency_p95_ms']:.1f} ms, "
            f"p99 {r['latency_p99_ms']:.1f} ms"
        )
    return exit_status(ts)


if __name__ == "__main__":
    sys.exit(main())
