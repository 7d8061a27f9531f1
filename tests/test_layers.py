"""The layers are folders, and one layered import contract checks every module.

`pyproject.toml` holds one `layers` contract (top to bottom). These tests fail when a
module sits outside every layer (a new loose `gpusteward/*.py`, a new top-level package),
when a module imports a layer above its own, or when a benchmark imports the CLI.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


def layered_contract() -> dict:
    layered = [c for c in CONFIG["contracts"] if c["type"] == "layers"]
    assert len(layered) == 1, "exactly one layered contract, covering every module"
    return layered[0]


def layers() -> list[list[str]]:
    """Top to bottom; each layer one or more independent packages."""
    return [[name.strip() for name in layer.split("|")] for layer in layered_contract()["layers"]]


def modules() -> list[str]:
    found = []
    for package in CONFIG["root_packages"]:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found.append(".".join(parts))
    return found


def layer_of(module: str) -> int | None:
    for index, layer in enumerate(layers()):
        for package in layer:
            if module == package or module.startswith(package + "."):
                return index
    return None


def test_every_module_sits_in_one_layer() -> None:
    # The root packages' own __init__ (gpusteward, agents, ...) hold only docstrings and
    # re-exports of their own layer; everything else must be inside a listed package.
    roots = set(CONFIG["root_packages"])
    outside = [m for m in modules() if m not in roots and layer_of(m) is None]
    assert not outside, (
        f"modules outside every layer of pyproject.toml's layered contract: {outside}; "
        "move each into the package of its layer (docs/architecture.md) or list it there"
    )


def test_every_listed_layer_exists() -> None:
    names = set(modules())
    missing = [p for layer in layers() for p in layer if p not in names]
    assert not missing, f"layers naming no package: {missing}"


def test_no_module_imports_a_layer_above_its_own() -> None:
    graph = grimp.build_graph(*CONFIG["root_packages"])
    upward = []
    for importer in sorted(graph.modules):
        low = layer_of(importer)
        if low is None:
            continue
        for imported in graph.find_modules_directly_imported_by(importer):
            high = layer_of(imported)
            if high is not None and high < low:
                upward.append(f"{importer} -> {imported}")
    assert upward == []


def test_the_root_package_imports_nothing() -> None:
    tree = ast.parse((ROOT / "gpusteward" / "__init__.py").read_text())
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]


@pytest.mark.parametrize("path", sorted((ROOT / "benchmarks").glob("*.py")), ids=lambda p: p.name)
def test_benchmarks_import_library_code_never_the_cli(path: Path) -> None:
    tree = ast.parse(path.read_text())
    imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in imported if m == "gpusteward.cli" or m.startswith("gpusteward.cli.")]
