"""Reading a simulator checkpoint without running what the bytes name.

`Simulator.checkpoint()` is a pickle of `SimState` (dataclasses, deques, numpy arrays and
random generators). `pickle.loads` would call any function a file names; this reader
resolves only the simulator's and the core's own classes and the handful of library
constructors such a state needs, and refuses anything else with the name it met, so a
journal from elsewhere cannot run code when it is resumed.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

from gpusteward.core.errors import ScenarioError

_PROJECT = ("gpusteward.sim.", "gpusteward.core.")
_LIBRARY = {
    ("collections", "deque"),
    ("collections", "OrderedDict"),
    ("collections", "Counter"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "complex"),
    ("datetime", "datetime"),
    ("datetime", "timedelta"),
    ("datetime", "timezone"),
    ("pathlib", "PosixPath"),
    ("pathlib", "PurePosixPath"),
    ("pathlib", "WindowsPath"),
    ("pathlib", "PureWindowsPath"),
    ("numpy", "dtype"),
    ("numpy", "ndarray"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy.random._pickle", "__generator_ctor"),
    ("numpy.random._pickle", "__bit_generator_ctor"),
    ("numpy.random._pcg64", "PCG64"),
    ("numpy.random.bit_generator", "__pyx_unpickle_SeedSequence"),
    ("numpy.random.bit_generator", "SeedSequence"),
}


class _Reader(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _LIBRARY:
            return super().find_class(module, name)
        if module.startswith(_PROJECT):
            found = super().find_class(module, name)
            if isinstance(found, type):  # a class of ours, never a function
                return found
        raise ScenarioError(
            f"simulator checkpoint names {module}.{name}, which a simulator state never "
            "holds; it was not read. Fix: resume from a journal this project wrote, or "
            "start fresh (--fresh)."
        )


def read_sim_checkpoint(data: bytes) -> Any:
    """The object `Simulator.checkpoint()` pickled, resolving only allowed names."""
    return _Reader(io.BytesIO(data)).load()
