"""The top-level packages are this repository's, not same-named installed packages."""

import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["gpusteward", "agents", "redflags", "tools", "policies", "forecasting", "runbooks"]


@pytest.mark.parametrize("name", PACKAGES)
def test_top_level_package_resolves_inside_the_repo(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__file__ is not None
    assert Path(module.__file__).resolve().parent == ROOT / name


def test_every_package_is_listed_in_the_wheel() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    for name in PACKAGES:
        assert f'"{name}"' in text.split("[tool.hatch.build.targets.wheel]")[1].split("\n\n")[0]
