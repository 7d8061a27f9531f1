"""Build the model-zoo scenario from the real per-client ServeGen traces.

Run once by hand (it reads `../shared/data`, which CI does not have); its output is
committed, so the scenario runs anywhere:
`gpusteward/scenarios/traces/zoo_<source>.csv` (one servegen-columns file per source,
a column per model and its `:cv`) and `gpusteward/scenarios/model-zoo.yaml`.

Models are real clients (or small groups of them) of four ServeGen workloads, picked
by a rule, not by how a planner does on them. Each client is classed by its 10-minute
windows with traffic: busy (>= 90 % of windows, >= 0.5 req/s), idle for days (< 5 %),
intermittent (the rest).
- m-large (14 days): the 3 busiest busy clients whose peak is at most 8x their mean
  (ServeGen's largest clients spike 20-40x for one window: a fleet of their own, not a
  zoo member) are the production base models: chat-70b v3 and v2, and assist-8b; 16
  intermittent clients with a mean of 0.01-2 req/s, evenly spaced by rank, are
  assist-8b's LoRA fine-tunes; the idle class, evenly spaced by rank, gives chat-70b v1
  (an old version nobody moved off) and 5 experiments (exp-32b-*).
- m-mid (14 days, rates x 0.05: its largest client alone sends 936 req/s): the same
  rules give classify-14b v4 and v3 (production), 8 LoRA fine-tunes and 3 experiments.
  Its 84 windows where every client is 0 are collection gaps (its README), not idle
  time: each is filled with the same window a day earlier.
- deepseek-r1 and mm-image (one day each, repeated every day of the run): the busiest
  client is the production model (reason-32b, vision-11b); intermittent clients evenly
  spaced by rank are fine-tunes; the idle clients summed in groups of five are
  experiments.
A model made of several clients sums their rates; its cv is their rate-weighted mean.
A model whose requests come in bursts of thousands at once (a rate-weighted cv above
`BATCH_CV`) is a batch client: workload batch, a queueing SLO of `BATCH_SLO_SECONDS`
and a queue timeout of `BATCH_TIMEOUT_SECONDS`
(no interactive SLO of a second holds for a client that sends a minute's requests in a
few seconds; m-mid's largest client, classify-14b-v4, has a cv of 18).

    python benchmarks/zoo_scenario.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "gpusteward" / "scenarios"
DATA = ROOT.parent / "shared" / "data"

IMAGE_SECONDS = 30.0
"""Pulling the serving image (vLLM, about 9 GB) onto a node that has its base layers
cached, and starting the container: about 30 s."""
LOAD_GB_PER_SECOND = 1.0
"""Weights read from the cluster's model store (object storage or NFS): about 1 GB/s
into one pod, so a 140 GB model takes 140 s."""
INIT_SECONDS = 40.0
"""Engine start after the weights are in GPU memory: KV-cache profiling and CUDA-graph
capture, 30-60 s for vLLM; 40 s."""


BATCH_CV = 4.0
BATCH_SLO_SECONDS = 60.0
BATCH_TIMEOUT_SECONDS = 900.0  # an offline job's client waits minutes, not two


@dataclass(frozen=True)
class Size:
    """A base model's serving shape on H100-80GB (bf16 weights)."""

    base: str
    params: str
    gpus: int
    gpu_memory_gib: float  # per GPU: weights / gpus + KV cache
    weights_gb: float
    throughput_rps: float  # requests/s one replica serves at its SLO, on this workload
    request_seconds: float  # mean time a request runs (prefill + output tokens x ITL)
    max_request_seconds: float  # the server's max output tokens x ITL
    slo_seconds: float

    @property
    def cold_start_seconds(self) -> float:
        raw = IMAGE_SECONDS + self.weights_gb / LOAD_GB_PER_SECOND + INIT_SECONDS
        return float(5 * math.ceil(raw / 5))


# Output lengths from ServeGen's token distributions: m-large about 100 tokens, m-mid
# about 12, DeepSeek-R1 about 970, mm-image about 100. Inter-token latency on H100:
# 8B 10 ms, 11-14B 15 ms, 32B on two GPUs 30 ms, 70B on four 25 ms.
SIZES = {
    "chat-70b": Size("chat-70b", "70B", 4, 70, 140, 12.0, 3.0, 100.0, 2.0),
    "assist-8b": Size("assist-8b", "8B", 1, 24, 16, 10.0, 1.5, 45.0, 2.0),
    "classify-14b": Size("classify-14b", "14B", 1, 40, 28, 20.0, 0.5, 10.0, 1.0),
    "exp-32b": Size("exp-32b", "32B", 2, 40, 64, 5.0, 3.0, 120.0, 5.0),
    "reason-32b": Size("reason-32b", "32B", 2, 60, 64, 1.0, 30.0, 300.0, 10.0),
    "vision-11b": Size("vision-11b", "11B", 1, 40, 22, 4.0, 2.0, 30.0, 3.0),
}


@dataclass(frozen=True)
class Pick:
    name: str
    size: str
    version: str
    clients: tuple[int, ...]
    production: bool = False
    adapter: bool = False  # a LoRA fine-tune of its base


@dataclass(frozen=True)
class Client:
    id: int
    rates: np.ndarray
    cvs: np.ndarray

    @property
    def active(self) -> float:
        return float(np.mean(self.rates > 0))

    @property
    def mean(self) -> float:
        return float(self.rates.mean())

    @property
    def kind(self) -> str:
        if self.active >= 0.9 and self.mean >= 0.5:
            return "busy"
        return "idle" if self.active < 0.05 else "intermittent"


def read_clients(folder: Path, scale: float = 1.0) -> dict[int, Client]:
    out = {}
    for f in sorted(folder.glob("chunk-*-trace.csv")):
        rows = np.genfromtxt(f, delimiter=",", usecols=(1, 2))
        out[int(f.name.split("-")[1])] = Client(
            int(f.name.split("-")[1]), rows[:, 0] * scale, rows[:, 1]
        )
    if not out:
        raise SystemExit(f"{folder}: no chunk-*-trace.csv files. Fix: --data <shared/data>")
    return out


def fill_collection_gaps(clients: dict[int, Client], per_day: int) -> int:
    """Windows where every client is 0 are collection gaps: fill each with the window a
    day earlier (a day later for the first day). Returns how many were filled."""
    total = sum(c.rates for c in clients.values())
    gaps = np.flatnonzero(total == 0)
    for c in clients.values():
        rates, cvs = c.rates, c.cvs
        for i in gaps:
            j = i - per_day if i >= per_day else i + per_day
            rates[i], cvs[i] = rates[j], cvs[j]
    return len(gaps)


def evenly(items: list[Client], n: int) -> list[Client]:
    """`n` items at evenly spaced ranks (items sorted busiest first)."""
    if n >= len(items):
        return items
    return [items[int((i + 0.5) * len(items) / n)] for i in range(n)]


def by_mean(clients: list[Client]) -> list[Client]:
    return sorted(clients, key=lambda c: (-c.mean, c.id))


def language_picks(
    clients: dict[int, Client],
    prefix: tuple[str, str],
    busy_names: list[tuple[str, str, str]],
    adapters: int,
    experiments: int,
    old_version: tuple[str, str] | None,
) -> list[Pick]:
    base, exp = prefix
    kinds = {
        k: by_mean([c for c in clients.values() if c.kind == k])
        for k in ("busy", "intermittent", "idle")
    }
    steady = [c for c in kinds["busy"] if float(c.rates.max()) <= 8 * c.mean]
    picks = [
        Pick(name, size, version, (c.id,), production=True)
        for (name, size, version), c in zip(busy_names, steady, strict=False)
    ]
    fine = [c for c in kinds["intermittent"] if 0.01 <= c.mean <= 2.0]
    picks += [
        Pick(f"{base}-ft-{i + 1:02d}", base, "v1", (c.id,), adapter=True)
        for i, c in enumerate(evenly(fine, adapters))
    ]
    idle = evenly(kinds["idle"], experiments + (old_version is not None))
    if old_version is not None:
        name, size = old_version
        picks.append(Pick(name, size, "v1", (idle[0].id,)))
        idle = idle[1:]
    picks += [Pick(f"{exp}-{i + 1}", "exp-32b", "v1", (c.id,)) for i, c in enumerate(idle)]
    return picks


def day_picks(clients: dict[int, Client], base: str, fine_tunes: int, groups: int) -> list[Pick]:
    ranked = by_mean([c for c in clients.values() if c.kind != "idle"])
    top, rest = ranked[0], ranked[1:]
    picks = [Pick(base, base, "v1", (top.id,), production=True)]
    picks += [
        Pick(f"{base}-ft-{i + 1:02d}", base, "v1", (c.id,), adapter=True)
        for i, c in enumerate(evenly(rest, fine_tunes))
    ]
    idle = by_mean([c for c in clients.values() if c.kind == "idle"])
    for g in range(groups):
        members = tuple(c.id for c in idle[g * 5 : (g + 1) * 5])
        if members:
            picks.append(Pick(f"{base}-exp-{g + 1}", base, "v1", members))
    return picks


def series(clients: dict[int, Client], pick: Pick) -> tuple[np.ndarray, np.ndarray]:
    rates = sum(clients[i].rates for i in pick.clients)
    weighted = sum(clients[i].rates * clients[i].cvs for i in pick.clients)
    cvs = np.divide(weighted, rates, out=np.zeros_like(rates), where=rates > 0)
    return np.asarray(rates), cvs


def _cell(x: float, digits: int) -> str:
    return "0" if x == 0 else f"{x:.{digits}g}"


def write_columns(
    path: Path, columns: dict[str, tuple[np.ndarray, np.ndarray]], window: float
) -> None:
    names = list(columns)
    header = ["window_start_s"] + [h for n in names for h in (n, f"{n}:cv")]
    rows = [",".join(header)]
    length = len(next(iter(columns.values()))[0])
    for i in range(length):
        cells = [f"{i * window:g}"]
        for n in names:
            rate, cv = columns[n][0][i], columns[n][1][i]
            cells += [_cell(float(rate), 4), _cell(float(cv), 2) if rate > 0 else "0"]
        rows.append(",".join(cells))
    path.write_text("\n".join(rows) + "\n")


def model_entry(pick: Pick, source: str, rates: np.ndarray, cvs: np.ndarray) -> dict[str, object]:
    size = SIZES[pick.size]
    peak = float(rates.max())
    cv = float((rates * cvs).sum() / rates.sum()) if rates.sum() > 0 else 1.0
    batch = cv > BATCH_CV
    max_replicas = max(2, math.ceil(1.5 * peak / size.throughput_rps))
    labels = {"gpusteward.io/scale-to-zero": "allowed"}
    if pick.production:
        labels["tier"] = "production"
    if pick.adapter:
        labels["gpusteward.io/base-model"] = size.base
    return {
        "name": pick.name,
        "model": size.base if pick.adapter or pick.name.startswith(size.base) else pick.name,
        "version": pick.name.removeprefix(size.base + "-") if pick.adapter else pick.version,
        "workload": "batch" if batch else "realtime",
        "labels": labels,
        "replicas": min(
            max_replicas, max(1, math.ceil(float(rates[:6].mean()) / size.throughput_rps))
        ),
        "min_replicas": 0,
        "max_replicas": max_replicas,
        "gpus_per_replica": size.gpus,
        "gpu_memory_gib": size.gpu_memory_gib,
        "cold_start_seconds": size.cold_start_seconds,
        "request_seconds": size.request_seconds,
        "max_request_seconds": size.max_request_seconds,
        "termination_grace_seconds": size.max_request_seconds + 30,
        "queue_timeout_seconds": BATCH_TIMEOUT_SECONDS if batch else 120.0,
        "slo": {
            "queue_delay_seconds": BATCH_SLO_SECONDS if batch else size.slo_seconds,
            "attainment_target": 0.99,
        },
        "profile": {"throughput_rps": {"H100-80GB": size.throughput_rps}},
        "trace": {
            "file": f"traces/zoo_{source}.csv",
            "format": "servegen-columns",
            "column": pick.name,
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="the shared data folder")
    args = parser.parse_args(argv)
    root = args.data / "servegen"
    sources = {
        "m-large": read_clients(root / "m-large"),
        "m-mid": read_clients(root / "m-mid", scale=0.05),
        "deepseek-r1": read_clients(root / "deepseek-r1"),
        "mm-image": read_clients(root / "mm-image"),
    }
    filled = fill_collection_gaps(sources["m-mid"], per_day=144)
    picks = {
        "m-large": language_picks(
            sources["m-large"],
            ("assist-8b", "exp-32b"),
            [
                ("chat-70b-v3", "chat-70b", "v3"),
                ("chat-70b-v2", "chat-70b", "v2"),
                ("assist-8b", "assist-8b", "v1"),
            ],
            adapters=16,
            experiments=5,
            old_version=("chat-70b-v1", "chat-70b"),
        ),
        "m-mid": language_picks(
            sources["m-mid"],
            ("classify-14b", "exp-32b-mid"),
            [("classify-14b-v4", "classify-14b", "v4"), ("classify-14b-v3", "classify-14b", "v3")],
            adapters=8,
            experiments=3,
            old_version=None,
        ),
        "deepseek-r1": day_picks(sources["deepseek-r1"], "reason-32b", fine_tunes=5, groups=2),
        "mm-image": day_picks(sources["mm-image"], "vision-11b", fine_tunes=4, groups=1),
    }
    models: list[dict[str, object]] = []
    for source, chosen in picks.items():
        columns = {p.name: series(sources[source], p) for p in chosen}
        write_columns(OUT / "traces" / f"zoo_{source}.csv", columns, 600.0)
        for p in chosen:
            models.append(model_entry(p, source, *columns[p.name]))
            print(
                f"{source:12s} {p.name:22s} clients {','.join(map(str, p.clients))}",
                file=sys.stderr,
            )
    write_scenario(models, filled)
    print(f"{len(models)} models; m-mid gaps filled: {filled}", file=sys.stderr)
    return 0


def _size_table() -> str:
    rows = []
    for s in SIZES.values():
        rows.append(
            f"#   {s.base:13s} {s.params:>4s} {s.gpus} GPU x {s.gpu_memory_gib:>3g} GiB  "
            f"{s.weights_gb:>4g} GB -> cold start {s.cold_start_seconds:>4g} s  "
            f"{s.throughput_rps:>4g} req/s  request {s.request_seconds:g} s "
            f"(<= {s.max_request_seconds:g} s)  SLO {s.slo_seconds:g} s"
        )
    return "\n".join(rows)


HEAD = """# The model zoo: {count} models from real ServeGen clients, 14 days on 24 H100 nodes.
# GENERATED by benchmarks/zoo_scenario.py from ../shared/data (see its docstring for the
# rule that picks each model's clients); edit the script, not this file.
#
# The shape of a real zoo: a few busy production models, many intermittent fine-tunes
# (LoRA adapters of assist-8b, classify-14b, reason-32b and vision-11b, each deployed as
# its own runtime today: the sprawl), and experiments idle for days. Versions of one
# base model: chat-70b v1 (idle, never retired), v2 and v3; classify-14b v3 and v4.
# Rates are the clients' own (m-mid's x 0.05); m-mid's {gaps} collection gaps (every client
# at 0) are filled from the day before. deepseek-r1 and mm-image hold one day of data:
# that day repeats every day of the run (their returns recur exactly: a best case for
# pre-warming, counted apart in benchmarks/zoo.py).
#
# Sizes (bf16 on H100-80GB), and the cold start each implies:
#   cold start = image pull and container start ({image:g} s, base layers cached on the
#   node) + weights from the model store at {rate:g} GB/s + engine start ({init:g} s: KV-cache
#   profiling and CUDA graphs), rounded up to 5 s.
{sizes}
# Throughputs are per replica at the SLO for these request shapes (ServeGen's token
# lengths: m-large ~100 output tokens, m-mid ~12, DeepSeek-R1 ~970, mm-image ~100);
# request times are output tokens x inter-token latency plus prefill, the longest at the
# server's max output tokens. The termination grace period is the longest request + 30 s,
# so a drained replica never kills a request. max_replicas: 1.5 x the trace's peak; at the
# start, the replicas the first hour's mean rate needs (at least one).
# A model whose requests come in bursts (rate-weighted inter-arrival cv > {batch_cv:g}) is a
# batch client: workload batch, queueing SLO {batch_slo:g} s, queue timeout {batch_timeout:g} s
# ({batches} models).
# Labels: every model may go to zero (gpusteward.io/scale-to-zero: allowed); production
# ones (tier: production) only with a person's approval (policies/zoo.yaml).
name: model-zoo
description: "The model zoo: {count} models from real ServeGen clients, 14 days, 192 H100"
seed: 27
start: "2026-11-02T00:00:00+00:00"
duration: 14d
tick_seconds: 60
cluster:
  node_groups:
    - {{name: h100, count: 24, pool: on-prem, region: eu-west, gpu_type: H100-80GB,
       gpus_per_node: 8, gpu_memory_gib: 80, price_per_gpu_hour: 2.49}}
planner:
  kind: composite
  scaling: {{kind: forecast}}
  scale_to_zero: {{}}
  adapter_merge: {{}}
forecaster: {{kind: last-value}}
policy: policies/zoo.yaml
"""


def write_scenario(models: list[dict[str, object]], filled: int) -> None:
    head = HEAD.format(
        count=len(models),
        gaps=filled,
        image=IMAGE_SECONDS,
        rate=LOAD_GB_PER_SECOND,
        init=INIT_SECONDS,
        sizes=_size_table(),
        batch_cv=BATCH_CV,
        batch_slo=BATCH_SLO_SECONDS,
        batch_timeout=BATCH_TIMEOUT_SECONDS,
        batches=sum(1 for m in models if m["workload"] == "batch"),
    )
    lines = [head.rstrip("\n"), "models:"]
    lines += [f"  - {json.dumps(m)}" for m in models]
    (OUT / "model-zoo.yaml").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
