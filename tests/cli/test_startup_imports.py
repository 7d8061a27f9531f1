"""`gpusteward --help` and every sub-command's `--help` load none of the heavy libraries
(Prophet, pandas, numpy, matplotlib, langgraph, the OpenAI and Kubernetes clients) nor the
layers that import them (the composition root, the simulator, the planners): a command
imports what it runs inside itself (issue 23; the time is in benchmarks/cli_startup.py).

Each check runs in a fresh interpreter, so what another test imported does not count."""

from __future__ import annotations

import json
import subprocess
import sys

from gpusteward.app.agent_eval.cases import CASES_FILE
from gpusteward.cli import eval as cli_eval
from gpusteward.cli import policy as cli_policy
from policies.document import PACKS_DIR
from tests.cli.conftest import ROOT
from tests.waiting import PATIENCE

# third-party packages that cost a second or more between them on import
HEAVY_LIBRARIES = (
    "prophet",
    "cmdstanpy",
    "pandas",
    "numpy",
    "scipy",
    "matplotlib",
    "langgraph",
    "langchain_core",
    "openai",
    "kubernetes",
    "aiohttp",
    "pynvml",
    "prometheus_client",
    "cel_expr_python",
)
# the project's layers that import them: the composition root, simulator, planners, ...
HEAVY_PROJECT = (
    "gpusteward.app.wiring",
    "gpusteward.app.wiring_kube",
    "gpusteward.app.wiring_llm",
    "gpusteward.app.replay_setup",
    "gpusteward.app.scenario",
    "gpusteward.daemon",
    "gpusteward.sim",
    "gpusteward.adapters.kubernetes",
    "agents",
    "forecasting",
    "tools",
    "redflags",
)

# Builds the app, then asks every command of its tree (walked, so a new command is
# covered without editing this list) for --help as a user would; prints the commands
# helped and every module loaded. argv[1:]: modules to import first (the probe's check).
PROBE = """
import importlib, json, sys
import typer.main
from typer.testing import CliRunner

for name in sys.argv[1:]:
    importlib.import_module(name)
from gpusteward.cli.main import app

def paths(command, prefix):
    yield prefix
    if hasattr(command, "list_commands"):  # a group
        ctx = command.context_class(command)
        for name in command.list_commands(ctx):
            yield from paths(command.get_command(ctx, name), [*prefix, name])

helped = []
for path in paths(typer.main.get_command(app), []):
    result = CliRunner().invoke(app, [*path, "--help"])
    if result.exit_code != 0 or "Usage:" not in result.output:
        sys.exit(f"{path} --help: exit {result.exit_code}: {result.output}")
    helped.append(" ".join(path))
print(json.dumps({"helped": helped, "modules": sorted(sys.modules)}))
"""


def _probe(*preload: str) -> tuple[list[str], list[str]]:
    """The commands whose --help the probe built, and the heavy modules then loaded."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *preload],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=PATIENCE,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    heavy = [
        m
        for m in found["modules"]
        if m.split(".")[0] in HEAVY_LIBRARIES
        or any(m == p or m.startswith(f"{p}.") for p in HEAVY_PROJECT)
    ]
    return found["helped"], heavy


def test_every_help_loads_no_heavy_module() -> None:
    helped, heavy = _probe()
    # the walk reached the top, every group and the commands inside the groups
    for command in ("", "run", "eval", "node-agent", "policy explain", "forecast ahead"):
        assert command in helped, helped
    assert len(helped) >= 20, helped
    tops = sorted({m if m.startswith("gpusteward.") else m.split(".")[0] for m in heavy})
    assert tops == [], f"--help imported {tops}: import them inside the command that runs them"


def test_the_probe_sees_a_heavy_module_when_one_is_loaded() -> None:
    _, heavy = _probe("numpy", "gpusteward.app.replay_setup")
    assert "numpy" in heavy and "gpusteward.app.replay_setup" in heavy


def test_the_defaults_help_shows_are_the_files_the_library_names() -> None:
    """`eval --cases` and `policy explain --policy` name the shipped cases and policy pack
    without importing the modules that define where they are."""
    assert cli_eval.CASES_FILE == CASES_FILE and CASES_FILE.is_file()
    assert cli_policy.DEFAULT_POLICY == PACKS_DIR / "default.yaml"
    assert cli_policy.DEFAULT_POLICY.is_file()
