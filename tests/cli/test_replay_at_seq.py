"""`gpusteward replay BUNDLE --runbook NAME --at-seq N`: a tick outside the bundle is
refused naming the bundle's ticks (exit 2), never replaced by another one."""

from __future__ import annotations

from pathlib import Path

import pytest

from runbooks.bundle import read_bundle
from tests.cli.conftest import gpusteward
from tests.cli.replay_bundle import export_bundle

RUNBOOK = ("--runbook", "prewarm-before-launch", "--param", "deployment=serving/m-large")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_bundle(tmp_path_factory.mktemp("replay"))


def _ticks(bundle: Path) -> tuple[int, int]:
    seqs = [t.seq for t in read_bundle(bundle).ticks if t.snapshot is not None]
    return seqs[0], seqs[-1]


@pytest.mark.parametrize("at", ["-5", "before", "after"])
def test_at_seq_outside_the_bundle_is_refused_naming_its_ticks(bundle: Path, at: str) -> None:
    first, last = _ticks(bundle)
    seq = {"before": str(first - 1), "after": str(last + 1)}.get(at, at)
    proc = gpusteward("replay", str(bundle), *RUNBOOK, "--at-seq", seq, cwd=bundle.parent)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "dry-run on recorded tick" not in proc.stdout
    assert f"--at-seq {seq}: {bundle} records ticks #{first} to #{last}" in proc.stderr
    assert f"Fix: a tick from {first} to {last}" in proc.stderr


def test_at_seq_inside_the_bundle_dry_runs_on_that_tick(bundle: Path) -> None:
    first, _ = _ticks(bundle)
    proc = gpusteward(
        "replay", str(bundle), *RUNBOOK, "--at-seq", str(first + 2), cwd=bundle.parent
    )
    assert proc.returncode == 0, proc.stderr
    assert f"dry-run on recorded tick #{first + 2} " in proc.stdout
