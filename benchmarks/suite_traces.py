"""Derive the scaling suite's extra traces from the shared ServeGen and Azure data.

Run once by hand (it reads `../shared/data`, which CI does not have); its output is
committed under `benchmarks/traces/` so `benchmarks/scaling.py --suite` runs anywhere.

- ServeGen: each model's clients split into two disjoint halves by client id (even,
  odd), each half summed per 600 s window into a total like the shipped ones
  (`window_start_s,total_rate_rps,active_clients`). The halves are new "models": fewer
  clients, so jumpier load than their model's total (peak / mean 4.1-5.2 against
  1.9-3.0), and the two halves of a model share no client. The split is fixed by id
  parity, not chosen by how a planner does on it.
- Azure LLM inference traces (about an hour of requests each): copied unchanged.

    python benchmarks/suite_traces.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "traces"
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def client_rates(folder: Path) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """client id -> (window starts, rates) of every `chunk-<id>-trace.csv` in `folder`."""
    out = {}
    for f in sorted(folder.glob("chunk-*-trace.csv")):
        rows = [line.split(",") for line in f.read_text().splitlines() if line.strip()]
        starts = np.array([float(r[0]) for r in rows])
        rates = np.array([float(r[1]) for r in rows])
        out[int(f.name.split("-")[1])] = (starts, rates)
    return out


def write_total(path: Path, starts: np.ndarray, parts: list[np.ndarray]) -> None:
    total = np.sum(parts, axis=0)
    active = np.sum([p > 0 for p in parts], axis=0)
    lines = ["window_start_s,total_rate_rps,active_clients"]
    lines += [f"{s:.0f},{r:.4f},{a}" for s, r, a in zip(starts, total, active, strict=True)]
    path.write_text("\n".join(lines) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="the shared data folder")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    for model in ("m-large", "m-mid"):
        clients = client_rates(args.data / "servegen" / model)
        starts = next(iter(clients.values()))[0]
        for name, parity in (("even", 0), ("odd", 1)):
            parts = [r for cid, (s, r) in clients.items() if cid % 2 == parity]
            out = OUT / f"servegen_{model}_{name}_total_rate_10min.csv"
            write_total(out, starts, parts)
            print(f"{out.name}: {len(parts)} clients")
    shutil.copyfile(
        args.data / "servegen" / "LICENSE-Apache-2.0.txt", OUT / "LICENSE-Apache-2.0.txt"
    )
    for kind in ("code", "conv"):
        src = args.data / "azure_llm_2023" / f"AzureLLMInferenceTrace_{kind}.csv"
        shutil.copyfile(src, OUT / src.name)
        print(f"{src.name}: copied")
    return 0


if __name__ == "__main__":
    sys.exit(main())
