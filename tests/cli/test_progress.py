"""Progress of a simulated run in a pipe: a line every 10 % of the ticks being run."""

from __future__ import annotations

import re
from pathlib import Path

from tests.cli.conftest import gpusteward, small_scenario


def test_a_short_ticks_run_reports_progress_over_its_own_ticks(workdir: Path) -> None:
    (workdir / "s.yaml").write_text(small_scenario(hours=24))  # 1,440 ticks; 5 are run
    proc = gpusteward("run", "--scenario", "s.yaml", "--ticks", "5", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    done = re.findall(r"tiny: (\d+)% \((\d+)/5 ticks", proc.stderr)
    assert [int(n) for _, n in done] == [1, 2, 3, 4, 5], proc.stderr
    assert done[-1][0] == "100"
