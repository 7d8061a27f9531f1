"""benchmarks/<name>.py loaded beside the running benchmark, once.

The benchmarks are scripts, not a package (each runs as `python benchmarks/x.py` too), and
a report or suite module may import the script that loads it back; loading it by path
under its own name keeps one copy of each, whichever way the script was started.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def sibling(name: str) -> ModuleType:
    """benchmarks/<name>.py, loaded once under `name`."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
        assert spec is not None and spec.loader is not None
        sys.modules[name] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules[name]
