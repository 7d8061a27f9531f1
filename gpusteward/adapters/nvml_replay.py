"""An `NvmlBackend` that replays a recording of a real GPU (no driver, no `pynvml`).

The recording (`../shared/fixtures/nvml_h200_idle_load_idle.json`: one H200, 40
one-second samples) holds, per call, the value NVML returned, whether it was supported
and how long the call took. `select(k)` picks the sample the next sweep reads; `cost_us`
adds up the recorded time of every call made, so a collector's sweep cost on the real
GPU can be computed without one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gpusteward.adapters.nvml import Unsupported

STATIC, DYNAMIC = "static", "dyn"


class RecordedNvml:
    def __init__(self, path: Path) -> None:
        self.data = json.loads(path.read_text())
        self.sample = 0
        self.cost_us = 0.0
        self.calls: list[str] = []

    def select(self, k: int) -> None:
        self.sample = k

    def _field(self, section: str, name: str) -> Any:
        src = self.data[STATIC] if section == STATIC else self.data["samples"][self.sample]["dyn"]
        entry = src[name]
        self.cost_us += float(entry["us"])
        self.calls.append(name)
        if not entry["ok"]:
            raise Unsupported(f"{name}: {entry['v']}")
        return entry["v"]

    def init(self) -> None:
        self.cost_us += float(self.data["init_us"])

    def shutdown(self) -> None:
        pass

    def device_count(self) -> int:
        return int(self.data["count"])

    def handle(self, index: int) -> Any:
        return index

    def name(self, h: Any) -> str:
        return str(self._field(STATIC, "name"))

    def uuid(self, h: Any) -> str:
        return str(self._field(STATIC, "uuid"))

    def utilization(self, h: Any) -> tuple[int, int]:
        v = self._field(DYNAMIC, "util")
        return int(v["gpu"]), int(v["memory"])

    def memory(self, h: Any) -> tuple[int, int]:
        v = self._field(DYNAMIC, "mem")
        return int(v["used"]), int(v["total"])

    def power_mw(self, h: Any) -> int:
        return int(self._field(DYNAMIC, "power_mw"))

    def temperature_c(self, h: Any) -> int:
        return int(self._field(DYNAMIC, "temp_c"))

    def clocks_mhz(self, h: Any) -> tuple[int, int]:
        return int(self._field(DYNAMIC, "clock_sm")), int(self._field(DYNAMIC, "clock_mem"))

    def ecc_dbe_volatile(self, h: Any) -> int:
        return int(self._field(DYNAMIC, "ecc_dbe_volatile"))

    def throttle_reasons(self, h: Any) -> int:
        return int(self._field(DYNAMIC, "throttle"))

    def gpm_supported(self, h: Any) -> bool:
        return bool(self._field(STATIC, "gpm_supported")["isSupportedDevice"])

    def gpm_sample(self, h: Any) -> Any:
        return self.sample  # the recording holds metrics, not raw samples (cost not recorded)

    def gpm_metrics(self, before: Any, after: Any, names: Sequence[str]) -> list[float]:
        recorded = self.data["samples"][int(after)]["gpm"]
        return [float(recorded[n]) for n in names]
