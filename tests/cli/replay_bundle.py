"""A real incident bundle for the replay tests: 20 ticks of a small scenario, exported
from the 11th on by the real CLI."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import gpusteward, small_scenario


def export_bundle(folder: Path) -> Path:
    (folder / "s.yaml").write_text(small_scenario(hours=1))
    run = gpusteward(
        "run", "--scenario", "s.yaml", "--ticks", "20", "--journal", "j.db", cwd=folder
    )
    assert run.returncode == 0, run.stderr
    export = gpusteward(
        "export",
        "--journal",
        "j.db",
        "--scenario",
        "s.yaml",
        "--from",
        "2026-11-02T00:10:00+00:00",
        "--warmup",
        "3",
        "-o",
        "inc.bundle",
        cwd=folder,
    )
    assert export.returncode == 0, export.stderr
    return folder / "inc.bundle"
