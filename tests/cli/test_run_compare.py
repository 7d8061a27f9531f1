"""`gpusteward run --planner KIND --compare KINDS`: the run beside other planners' runs of
the same simulated day, in one table (what `make demo` prints)."""

from pathlib import Path

from tests.cli.conftest import gpusteward, small_scenario


def test_the_run_and_the_compared_planners_share_one_table(workdir: Path) -> None:
    (workdir / "s.yaml").write_text(small_scenario(hours=1))
    proc = gpusteward(
        "run",
        "--scenario",
        "s.yaml",
        "--planner",
        "forecast",
        "--compare",
        "reactive,oracle",
        "--fresh",
        "--journal",
        "j.db",
        cwd=workdir,
    )
    assert proc.returncode == 0, proc.stderr
    table = proc.stdout.split("planners over the same simulated")[1]
    for row in ("forecast planner (the product's)", "HPA-like baseline", "oracle"):
        assert row in table
    assert "SLO attained" in table and "GPU-hours" in table


def test_an_unknown_planner_or_a_single_tick_is_refused_before_the_run(workdir: Path) -> None:
    (workdir / "s.yaml").write_text(small_scenario(hours=1))
    bad = gpusteward("run", "--scenario", "s.yaml", "--compare", "psychic", cwd=workdir)
    assert bad.returncode == 2 and "--compare 'psychic'" in bad.stderr
    bad = gpusteward("run", "--scenario", "s.yaml", "--planner", "psychic", cwd=workdir)
    assert bad.returncode == 2 and "--planner 'psychic'" in bad.stderr
    once = gpusteward(
        "run", "--scenario", "s.yaml", "--compare", "oracle", "--once", "--fresh", cwd=workdir
    )
    assert once.returncode == 2 and "single tick" in once.stderr
