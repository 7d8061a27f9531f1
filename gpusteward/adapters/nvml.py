"""The NVML node collector (`pynvml`, imported only here).

One sweep reads, per GPU: utilisation, memory, power, temperature, SM / memory clocks,
volatile uncorrected ECC errors, clock-event (throttle) reasons, and GPM metrics (tensor
activity, DRAM bandwidth, SM utilisation, PCIe TX / RX) where the GPU supports GPM
(Hopper and later). It deliberately leaves out `nvmlDeviceGetPcieThroughput` (about
20 ms a call: it samples a window; GPM's PCIe metrics replace it) and the energy counter
(about 4 ms a call on the recorded H200; power is read instead), so a sweep stays under
1 ms per GPU. A field the GPU answers `NotSupported` for is not asked again.

`NvmlBackend` is the seam: `PynvmlBackend` calls the library; `nvml_replay.RecordedNvml`
replays a recording of a real GPU.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import pynvml

from gpusteward.core.errors import GpustewardError

T = TypeVar("T")

GPM_METRICS = {
    "tensor_active": "NVML_GPM_METRIC_ANY_TENSOR_UTIL",
    "dram_bw_util": "NVML_GPM_METRIC_DRAM_BW_UTIL",
    "sm_util": "NVML_GPM_METRIC_SM_UTIL",
    "pcie_tx_mb_per_s": "NVML_GPM_METRIC_PCIE_TX_PER_SEC",
    "pcie_rx_mb_per_s": "NVML_GPM_METRIC_PCIE_RX_PER_SEC",
}
"""What GPM reports (percent for utilisations, MB/s for PCIe), by the name used here."""


class NvmlUnavailable(GpustewardError):
    """No NVIDIA driver / NVML library on this machine."""


class Unsupported(Exception):
    """The GPU does not support this query."""


class NvmlBackend(Protocol):
    """The NVML calls the collector makes; `Unsupported` where the GPU says NotSupported."""

    def init(self) -> None: ...

    def shutdown(self) -> None: ...

    def device_count(self) -> int: ...

    def handle(self, index: int) -> Any: ...

    def name(self, h: Any) -> str: ...

    def uuid(self, h: Any) -> str: ...

    def utilization(self, h: Any) -> tuple[int, int]: ...  # (gpu %, memory %)

    def memory(self, h: Any) -> tuple[int, int]: ...  # (used, total) bytes

    def power_mw(self, h: Any) -> int: ...

    def temperature_c(self, h: Any) -> int: ...

    def clocks_mhz(self, h: Any) -> tuple[int, int]: ...  # (SM, memory)

    def ecc_dbe_volatile(self, h: Any) -> int: ...

    def throttle_reasons(self, h: Any) -> int: ...

    def gpm_supported(self, h: Any) -> bool: ...

    def gpm_sample(self, h: Any) -> Any: ...

    def gpm_metrics(self, before: Any, after: Any, names: Sequence[str]) -> list[float]:
        """GPM metrics by NVML constant name (`NVML_GPM_METRIC_...`)."""
        ...


@dataclass(frozen=True)
class GpuReading:
    index: int
    uuid: str
    name: str
    utilization: float | None = None  # 0..1
    memory_utilization: float | None = None  # 0..1 (memory-controller busy)
    memory_used_bytes: int | None = None
    memory_total_bytes: int | None = None
    power_watts: float | None = None
    temperature_c: float | None = None
    sm_clock_mhz: int | None = None
    memory_clock_mhz: int | None = None
    ecc_dbe_volatile: int | None = None
    throttle_reasons: int | None = None  # NVML clocks-event reason bitmask
    gpm: dict[str, float] = field(default_factory=dict)
    unsupported: tuple[str, ...] = ()


@dataclass
class _Device:
    index: int
    handle: Any
    uuid: str
    name: str
    gpm: bool
    last_sample: Any = None
    unsupported: set[str] = field(default_factory=set)


class NvmlCollector:
    """Opens NVML once, then `sweep()` reads every GPU."""

    def __init__(self, backend: NvmlBackend | None = None) -> None:
        self.backend = backend or PynvmlBackend()
        self.devices: list[_Device] = []
        self.last_sweep_seconds = 0.0

    def open(self) -> NvmlCollector:
        b = self.backend
        try:
            b.init()
        except NvmlUnavailable:
            raise
        except Exception as e:
            raise NvmlUnavailable(_no_driver(e)) from None
        self.devices = []
        for i in range(b.device_count()):
            h = b.handle(i)
            try:
                gpm = b.gpm_supported(h)
            except Unsupported:
                gpm = False
            self.devices.append(_Device(i, h, b.uuid(h), b.name(h), gpm))
        return self

    def close(self) -> None:
        self.backend.shutdown()

    def sweep(self) -> list[GpuReading]:
        started = time.perf_counter()
        readings = [self._read(d) for d in self.devices]
        self.last_sweep_seconds = time.perf_counter() - started
        return readings

    def _read(self, d: _Device) -> GpuReading:
        b, h = self.backend, d.handle
        util = self._ask(d, "utilization", lambda: b.utilization(h))
        mem = self._ask(d, "memory", lambda: b.memory(h))
        power = self._ask(d, "power", lambda: b.power_mw(h))
        clocks = self._ask(d, "clocks", lambda: b.clocks_mhz(h))
        return GpuReading(
            index=d.index,
            uuid=d.uuid,
            name=d.name,
            utilization=util[0] / 100 if util else None,
            memory_utilization=util[1] / 100 if util else None,
            memory_used_bytes=mem[0] if mem else None,
            memory_total_bytes=mem[1] if mem else None,
            power_watts=power / 1000 if power is not None else None,
            temperature_c=self._ask(d, "temperature", lambda: b.temperature_c(h)),
            sm_clock_mhz=clocks[0] if clocks else None,
            memory_clock_mhz=clocks[1] if clocks else None,
            ecc_dbe_volatile=self._ask(d, "ecc", lambda: b.ecc_dbe_volatile(h)),
            throttle_reasons=self._ask(d, "throttle", lambda: b.throttle_reasons(h)),
            gpm=self._gpm(d),
            unsupported=tuple(sorted(d.unsupported)),
        )

    def _gpm(self, d: _Device) -> dict[str, float]:
        """GPM metrics between the previous sweep's sample and this one's (empty on the
        first sweep, or where GPM is unsupported)."""
        if not d.gpm or "gpm" in d.unsupported:
            return {}
        sample = self._ask(d, "gpm", lambda: self.backend.gpm_sample(d.handle))
        before, d.last_sample = d.last_sample, sample
        if before is None or sample is None:
            return {}
        values = self._ask(
            d, "gpm", lambda: self.backend.gpm_metrics(before, sample, list(GPM_METRICS.values()))
        )
        return dict(zip(GPM_METRICS, values, strict=True)) if values else {}

    @staticmethod
    def _ask(d: _Device, name: str, call: Callable[[], T]) -> T | None:
        if name in d.unsupported:
            return None
        try:
            return call()
        except Unsupported:
            d.unsupported.add(name)
            return None


def _no_driver(e: Exception) -> str:
    return (
        f"NVML cannot start ({type(e).__name__}: {e}): no NVIDIA driver on this machine, or "
        "the container cannot see it. Fix: run the node agent on a GPU node with the NVIDIA "
        "container toolkit (deploy/ schedules it only there), or do not run it here."
    )


class PynvmlBackend:
    """`NvmlBackend` over the `pynvml` module (nvidia-ml-py)."""

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return fn(*args)
        except pynvml.NVMLError_NotSupported:
            raise Unsupported(fn.__name__) from None

    def init(self) -> None:
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as e:
            raise NvmlUnavailable(_no_driver(e)) from None

    def shutdown(self) -> None:
        pynvml.nvmlShutdown()

    def device_count(self) -> int:
        return int(pynvml.nvmlDeviceGetCount())

    def handle(self, index: int) -> Any:
        return pynvml.nvmlDeviceGetHandleByIndex(index)

    def name(self, h: Any) -> str:
        return str(pynvml.nvmlDeviceGetName(h))

    def uuid(self, h: Any) -> str:
        return str(pynvml.nvmlDeviceGetUUID(h))

    def utilization(self, h: Any) -> tuple[int, int]:
        u = self._call(pynvml.nvmlDeviceGetUtilizationRates, h)
        return int(u.gpu), int(u.memory)

    def memory(self, h: Any) -> tuple[int, int]:
        m = self._call(pynvml.nvmlDeviceGetMemoryInfo, h)
        return int(m.used), int(m.total)

    def power_mw(self, h: Any) -> int:
        return int(self._call(pynvml.nvmlDeviceGetPowerUsage, h))

    def temperature_c(self, h: Any) -> int:
        return int(self._call(pynvml.nvmlDeviceGetTemperature, h, pynvml.NVML_TEMPERATURE_GPU))

    def clocks_mhz(self, h: Any) -> tuple[int, int]:
        sm = self._call(pynvml.nvmlDeviceGetClockInfo, h, pynvml.NVML_CLOCK_SM)
        mem = self._call(pynvml.nvmlDeviceGetClockInfo, h, pynvml.NVML_CLOCK_MEM)
        return int(sm), int(mem)

    def ecc_dbe_volatile(self, h: Any) -> int:
        return int(
            self._call(
                pynvml.nvmlDeviceGetTotalEccErrors,
                h,
                pynvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED,
                pynvml.NVML_VOLATILE_ECC,
            )
        )

    def throttle_reasons(self, h: Any) -> int:
        return int(self._call(pynvml.nvmlDeviceGetCurrentClocksEventReasons, h))

    def gpm_supported(self, h: Any) -> bool:
        return bool(self._call(pynvml.nvmlGpmQueryDeviceSupport, h).isSupportedDevice)

    def gpm_sample(self, h: Any) -> Any:
        sample = pynvml.nvmlGpmSampleAlloc()
        self._call(pynvml.nvmlGpmSampleGet, h, sample)
        return sample

    def gpm_metrics(self, before: Any, after: Any, names: Sequence[str]) -> list[float]:
        ids = [getattr(pynvml, n) for n in names]
        req = pynvml.c_nvmlGpmMetricsGet_t()
        req.version = pynvml.NVML_GPM_METRICS_GET_VERSION
        req.numMetrics = len(ids)
        req.sample1, req.sample2 = before, after
        for i, metric in enumerate(ids):
            req.metrics[i].metricId = metric
        self._call(pynvml.nvmlGpmMetricsGet, req)
        pynvml.nvmlGpmSampleFree(before)  # `after` is the next sweep's `before`
        return [float(req.metrics[i].value) for i in range(len(ids))]
