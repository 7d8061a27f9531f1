"""The real openb cluster for tests: where the shared data lives, a skip marker for when
it is absent, and the policy benchmark module that builds a snapshot from it."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from tests.helpers import benchmark_module

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "openb"

requires_openb = pytest.mark.skipif(
    not (DATA / "openb_node_list_gpu_node.csv").is_file(),
    reason=f"openb trace absent at {DATA} (the shared data folder beside the repo)",
)


def policy_benchmark() -> ModuleType:
    """benchmarks/policy.py, loaded as a module (it is a script, not a package)."""
    return benchmark_module("policy")
