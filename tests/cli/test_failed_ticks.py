"""A run whose ticks all failed is not a success: it exits non-zero and says so; with
`--once` a failed observe is an error, since there is no next attempt."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tests.cli.conftest import gpusteward


def _unreachable_kubeconfig(path: Path) -> Path:
    """A kubeconfig whose API server refuses connections: a loopback port nobody holds."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cluster = {"name": "gone", "cluster": {"server": f"http://127.0.0.1:{port}"}}
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [cluster],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "u"}}],
                "current-context": "gone",
            }
        )
    )
    return path


@pytest.fixture
def unreachable(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GPUSTEWARD_KUBECONFIG", str(_unreachable_kubeconfig(workdir / "kc")))
    monkeypatch.setenv("GPUSTEWARD_INTERVAL_SECONDS", "2")  # not a minute between ticks
    return workdir


def test_a_run_whose_every_tick_failed_a_stage_exits_1_saying_so(unreachable: Path) -> None:
    proc = gpusteward(
        "run", "--backend", "kubernetes", "--dry-run", "--ticks", "2", cwd=unreachable
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "every one of the 2 ticks of this run failed" in proc.stderr, proc.stderr[-3000:]


def test_once_with_an_unreachable_cluster_is_an_error_not_a_retry(unreachable: Path) -> None:
    proc = gpusteward("run", "--backend", "kubernetes", "--dry-run", "--once", cwd=unreachable)
    assert proc.returncode == 1, proc.stderr[-3000:]
    said = next(line for line in proc.stderr.splitlines() if line.startswith("error:"))
    assert "--once" in said and "could not observe the cluster" in said, said
    assert "no next attempt" in said and "Fix:" in said, said
