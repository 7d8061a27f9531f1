"""The contract suite's backends: every test here runs against each of them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.contract.worlds import (
    World,
    emulated_world,
    real_cluster_available,
    real_world,
    sim_world,
)


@pytest.fixture(
    params=[
        "sim",
        "kubernetes-emulator",
        pytest.param("kubernetes-real", marks=pytest.mark.kube_real),
    ]
)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    if request.param == "sim":
        yield sim_world()
    elif request.param == "kubernetes-emulator":
        with emulated_world(tmp_path) as w:
            yield w
    else:
        why = real_cluster_available()
        if why is not None:
            pytest.skip(why)
        with real_world() as w:
            yield w


@pytest.fixture(params=["sim", "kubernetes-emulator"])
def zoo_world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    """The same backends with a LoRA fine-tune of the model beside it (`FINE_TUNE`)."""
    if request.param == "sim":
        yield sim_world(fine_tune=True)
    else:
        with emulated_world(tmp_path, fine_tune=True) as w:
            yield w
