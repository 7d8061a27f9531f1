"""Build the shipped token-length tables of servegen-14d from the real ServeGen files.

Run once by hand (it reads `../shared/data`, which CI does not have); its output is
committed, so the scenario runs anywhere: `gpusteward/scenarios/traces/tokens_<model>.csv`
(the `token-quantiles` format of `gpusteward.sim.token_files`).

ServeGen publishes token-length distributions (`chunk-<client>-dataset.json`, per 6-hour
window) for 5 of m-large's and 4 of m-mid's largest clients. Each window's distribution
is the mixture of those clients, each weighted by its own request rate in that window
(the mean of its `chunk-<client>-trace.csv` rows inside the window), so a client that
sends more requests contributes more of them. The other clients' lengths are not
published; the mixture stands for the whole model.

    python benchmarks/token_tables.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from gpusteward.sim.token_files import servegen_table, write_quantiles

OUT = Path(__file__).resolve().parent.parent / "gpusteward" / "scenarios" / "traces"


def client_weights(folder: Path, clients: list[str], window_s: float, windows: int) -> np.ndarray:
    """Each client's mean request rate per token window: shape (windows, clients)."""
    out = np.zeros((windows, len(clients)))
    for j, client in enumerate(clients):
        rows = np.loadtxt(folder / f"chunk-{client}-trace.csv", delimiter=",", usecols=(0, 1))
        idx = (rows[:, 0] // window_s).astype(int)
        for w in range(windows):
            sel = rows[idx == w, 1]
            out[w, j] = float(sel.mean()) if len(sel) else 0.0
    return out


def build(data: Path, model: str) -> Path:
    folder = data / "servegen" / model
    files = sorted(folder.glob("chunk-*-dataset.json"))
    clients = [f.name.removeprefix("chunk-").removesuffix("-dataset.json") for f in files]
    equal = servegen_table(files)
    weights = client_weights(folder, clients, equal.window_seconds, len(equal.inputs))
    table = servegen_table(files, [list(row) for row in weights])
    out = OUT / f"tokens_{model}.csv"
    write_quantiles(
        table,
        out,
        header=(
            f"Token lengths of ServeGen {model} (alibaba/ServeGen @ f891d11, Apache-2.0): "
            f"clients {', '.join(clients)} mixed per 6-hour window by request rate.\n"
            "Built by benchmarks/token_tables.py; see traces/NOTICE.md."
        ),
    )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    args = parser.parse_args()
    for model in ("m-large", "m-mid"):
        path = build(args.data, model)
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
