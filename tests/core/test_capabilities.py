"""Capabilities a planner or forecaster may declare are Protocols the daemon checks with
isinstance, not attribute probing: a declared capability is honoured, an absent one is not
assumed, and a false flag is read as false."""

from __future__ import annotations

from agents.composite import CompositePlanner
from agents.consolidation import ConsolidationPlanner
from agents.gpu_choice import GpuChoicePlanner
from forecasting.auto import AutoForecaster
from forecasting.baselines import LastValueForecaster
from gpusteward.core.ports import AtomicPlanner, HearsDropped, Versioned, blocks_on_io
from gpusteward.daemon.loop import _forecaster_id
from gpusteward.testing import StaticPlanner


class _Flag:
    def __init__(self, value: bool) -> None:
        self.blocking_io = value


def test_blocking_io_is_read_from_the_declared_flag_only() -> None:
    assert blocks_on_io(_Flag(True))
    assert not blocks_on_io(_Flag(False))
    assert not blocks_on_io(StaticPlanner([]))  # no flag: not assumed
    assert blocks_on_io(AutoForecaster())
    assert not blocks_on_io(LastValueForecaster())


def test_a_composite_blocks_when_any_member_does() -> None:
    quiet = CompositePlanner(StaticPlanner([]))
    assert not blocks_on_io(quiet)
    loud = CompositePlanner(StaticPlanner([]), [_Flag(True)])  # type: ignore[list-item]
    assert blocks_on_io(loud)


def test_planner_capabilities_are_protocols() -> None:
    assert isinstance(ConsolidationPlanner(), AtomicPlanner)
    assert not isinstance(StaticPlanner([]), AtomicPlanner)
    assert isinstance(GpuChoicePlanner(), HearsDropped)
    assert not isinstance(StaticPlanner([]), HearsDropped)


def test_a_forecaster_id_carries_its_version_when_it_declares_one() -> None:
    assert isinstance(AutoForecaster(), Versioned)
    assert _forecaster_id(AutoForecaster()) == f"{AutoForecaster.name}@2"
    assert _forecaster_id(LastValueForecaster()).endswith("@1")
