"""Without an LLM endpoint the run says, at the default log level, who decides instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import gpusteward, small_scenario


def test_a_run_without_an_llm_endpoint_says_so_at_the_default_log_level(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GPUSTEWARD_LLM_BASE_URL", raising=False)
    monkeypatch.delenv("GPUSTEWARD_LOG_LEVEL", raising=False)
    (workdir / "s.yaml").write_text(small_scenario(hours=1))
    proc = gpusteward("run", "--scenario", "s.yaml", "--ticks", "1", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    said = [line for line in proc.stderr.splitlines() if "no LLM endpoint configured" in line]
    assert len(said) == 1 and "GPUSTEWARD_LLM_BASE_URL" in said[0], proc.stderr
