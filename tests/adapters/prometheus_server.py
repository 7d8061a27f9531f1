"""A real Prometheus (Debian's `prometheus` package) on loopback, over a TSDB backfilled
by `promtool tsdb create-blocks-from openmetrics`."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.waiting import PATIENCE, REQUEST_PATIENCE, wait_for


def require_prometheus() -> tuple[str, str]:
    """Paths of `prometheus` and `promtool`; skip (or fail in CI) when they are missing."""
    found = shutil.which("prometheus"), shutil.which("promtool")
    if None in found:
        message = (
            "the Debian `prometheus` package is not installed (prometheus and promtool); "
            "`make test` installs it (apt-get install -y prometheus)"
        )
        if os.environ.get("GPUSTEWARD_REQUIRE_PROMETHEUS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return found[0] or "", found[1] or ""


def backfill(openmetrics: str, tsdb: Path, workdir: Path) -> None:
    _, promtool = require_prometheus()
    source = workdir / "backfill.om"
    source.write_text(openmetrics)
    done = subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(tsdb)],
        capture_output=True,
        text=True,
        timeout=PATIENCE,
    )
    assert done.returncode == 0, f"promtool failed: {done.stderr[-2000:]}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_prometheus(tsdb: Path, workdir: Path, scrape: str | None = None) -> Iterator[str]:
    """Serve `tsdb` (and scrape `scrape`, host:port, every second if given); yields the URL."""
    prometheus, _ = require_prometheus()
    port = _free_port()
    jobs = (
        f"scrape_configs:\n  - job_name: target\n    scrape_interval: 1s\n"
        f"    static_configs:\n      - targets: ['{scrape}']\n"
        if scrape
        else "scrape_configs: []\n"
    )
    config = workdir / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 15s\n" + jobs)
    log = (workdir / "prometheus.log").open("w")
    proc = subprocess.Popen(
        [
            prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={tsdb}",
            "--storage.tsdb.retention.time=3650d",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=REQUEST_PATIENCE) as r:
                return r.status == 200
        except OSError:  # not listening yet
            return False

    try:
        wait_for(ready, "prometheus ready", proc=proc, output=workdir / "prometheus.log")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=PATIENCE)
        log.close()
