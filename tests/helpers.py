"""Small things several test folders share: benchmark scripts loaded as modules, and a
request log in the Azure trace format."""

from __future__ import annotations

import importlib.util
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def benchmark_module(name: str) -> ModuleType:
    """benchmarks/<name>.py, loaded once as the module `bench_<name>` (it is a script)."""
    module_name = f"bench_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, ROOT / f"benchmarks/{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def azure_requests_csv(path: Path, minutes: int, seed: int = 3) -> Path:
    """An Azure-format request log (TIMESTAMP,ContextTokens,GeneratedTokens): a few
    requests a second for `minutes`, ramping up."""
    rng = np.random.default_rng(seed)
    start = datetime(2023, 11, 16, 18, 0, tzinfo=UTC)
    rows = ["TIMESTAMP,ContextTokens,GeneratedTokens"]
    for minute in range(minutes):
        for s in np.sort(rng.uniform(0, 60, rng.poisson(90 + 3 * minute))):
            at = start + timedelta(minutes=minute, seconds=float(s))
            rows.append(f"{at.strftime('%Y-%m-%d %H:%M:%S.%f')}0,800,150")
    path.write_text("\n".join(rows) + "\n")
    return path
