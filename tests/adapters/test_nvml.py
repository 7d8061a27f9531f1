"""The NVML collector, replaying the real H200 recording; the node agent's CLI and /metrics."""

from __future__ import annotations

import statistics
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

from gpusteward.adapters.exposition import NodeGpuExposition
from gpusteward.adapters.nvml import NvmlCollector, NvmlUnavailable, PynvmlBackend
from gpusteward.adapters.nvml_replay import RecordedNvml
from tests.waiting import PATIENCE

FIXTURE = Path(__file__).resolve().parents[3] / "shared/fixtures/nvml_h200_idle_load_idle.json"
pytestmark = pytest.mark.skipif(not FIXTURE.exists(), reason=f"recording missing: {FIXTURE}")


def replay() -> tuple[RecordedNvml, NvmlCollector, list[float], list]:  # type: ignore[type-arg]
    nvml = RecordedNvml(FIXTURE)
    collector = NvmlCollector(nvml).open()
    costs, readings = [], []
    for k in range(len(nvml.data["samples"])):
        nvml.select(k)
        before = nvml.cost_us
        readings.append(collector.sweep()[0])
        costs.append(nvml.cost_us - before)
    return nvml, collector, costs, readings


def test_a_sweep_costs_under_a_millisecond_per_gpu_on_the_recorded_h200() -> None:
    """Sum of the recorded per-call times of the calls one sweep makes (median sweep)."""
    nvml, _, costs, _ = replay()
    assert statistics.median(costs) < 1000, costs
    assert "pcie_tx_kbs" not in nvml.calls and "energy_mj" not in nvml.calls  # ~20 ms, ~4 ms


def test_the_replayed_load_shows_in_utilisation_power_and_gpm_tensor_activity() -> None:
    _, collector, _, readings = replay()
    assert collector.devices[0].name == "NVIDIA H200" and collector.devices[0].gpm
    idle, busy = readings[3], max(readings, key=lambda r: r.utilization or 0)
    assert idle.utilization == 0 and busy.utilization is not None and busy.utilization > 0.9
    assert busy.power_watts is not None and busy.power_watts > 2 * (idle.power_watts or 0)
    assert busy.gpm["tensor_active"] > 90 and 10 < busy.gpm["dram_bw_util"] < 30
    assert readings[0].gpm == {}  # GPM needs two samples
    assert busy.memory_total_bytes == 150754820096 and busy.ecc_dbe_volatile == 0


def test_unsupported_fields_are_not_asked_again() -> None:
    nvml = RecordedNvml(FIXTURE)
    data = nvml.data
    for sample in data["samples"]:
        sample["dyn"]["temp_c"] = {"v": "ERR NVMLError_NotSupported", "ok": False, "us": 5.0}
    collector = NvmlCollector(nvml).open()
    first, second = collector.sweep()[0], collector.sweep()[0]
    assert first.temperature_c is None and "temperature" in first.unsupported
    assert nvml.calls.count("temp_c") == 1 and second.temperature_c is None


def test_without_a_driver_the_collector_says_so() -> None:
    with pytest.raises(NvmlUnavailable, match="no NVIDIA driver"):
        NvmlCollector(PynvmlBackend()).open()


@pytest.mark.skipif(Path("/dev/nvidiactl").exists(), reason="this machine has an NVIDIA driver")
def test_node_agent_exits_with_a_clear_message_without_a_driver() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gpusteward.cli.main", "node-agent", "--port", "0"],
        capture_output=True, text=True, timeout=PATIENCE,
    )  # fmt: skip
    assert done.returncode == 3
    assert "no NVIDIA driver" in done.stderr and "Traceback" not in done.stderr


def test_node_agent_metrics_expose_the_sweep() -> None:
    nvml = RecordedNvml(FIXTURE)
    collector = NvmlCollector(nvml).open()
    nvml.select(20)
    readings = collector.sweep()
    nvml.select(21)
    readings = collector.sweep()
    server = NodeGpuExposition(lambda: readings, lambda: 0.0002).serve("127.0.0.1", 0)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics") as r:
            text = r.read().decode()
    finally:
        server.close()
    assert 'gpusteward_gpu_utilization_ratio{gpu="0",modelName="NVIDIA H200"' in text
    assert 'metric="tensor_active"' in text and "gpusteward_nvml_sweep_seconds 0.0002" in text


@pytest.mark.gpu
def test_on_a_real_gpu_a_sweep_takes_under_a_millisecond_per_gpu() -> None:
    try:
        collector = NvmlCollector().open()
    except NvmlUnavailable as e:
        pytest.skip(f"needs an NVIDIA GPU: {e}")
    collector.sweep()
    times = []
    for _ in range(20):
        collector.sweep()
        times.append(collector.last_sweep_seconds / max(1, len(collector.devices)))
    collector.close()
    assert statistics.median(times) < 1e-3, times


def test_serve_node_agent_stops_on_request() -> None:
    from gpusteward.cli.cluster import serve_node_agent

    stop = threading.Event()
    stop.set()
    serve_node_agent("127.0.0.1", 0, 0.01, stop, NvmlCollector(RecordedNvml(FIXTURE)))
