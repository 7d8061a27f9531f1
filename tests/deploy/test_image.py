"""deploy/Dockerfile builds the image the manifests run, from this repository's files
alone. No container engine runs here, so the build's one project step, `pip install .` on
what the Dockerfile copies, is run on exactly those files; hadolint (`make lint`) checks
the rest."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.deploy.kustomize import ROOT, of_kind, render

DOCKERFILE = ROOT / "deploy" / "Dockerfile"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
IMAGE = "ghcr.io/gpusteward/gpusteward"


def copied_sources() -> list[str]:
    """The build context paths the Dockerfile's COPY lines take (not COPY --from)."""
    out: list[str] = []
    for line in re.findall(r"^COPY (?!--from)(.+)$", DOCKERFILE.read_text(), re.M):
        *sources, _ = line.split()
        out += [s.rstrip("/") for s in sources]
    return out


def test_the_manifests_run_the_image_the_dockerfile_builds() -> None:
    """Same version as pyproject.toml, same user as the Dockerfile's USER."""
    version = PYPROJECT["project"]["version"]
    dockerfile = DOCKERFILE.read_text()
    assert f'org.opencontainers.image.version="{version}"' in dockerfile
    assert f"-t {IMAGE}:{version} ." in dockerfile  # the build command it documents
    user = re.findall(r"^USER (\d+):(\d+)$", dockerfile, re.M)
    assert len(user) == 1, "one numeric USER uid:gid (runAsNonRoot needs a numeric uid)"
    uid = int(user[0][0])
    assert uid != 0
    for workload in of_kind(render(), "StatefulSet", "DaemonSet"):
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsUser"] == uid
        for container in pod["containers"]:
            assert container["image"] == f"{IMAGE}:{version}"


def test_the_dockerfile_copies_every_package_of_the_wheel() -> None:
    packages = PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    assert sorted(set(copied_sources()) - {"pyproject.toml", "README.md"}) == sorted(packages)


@pytest.mark.slow
def test_the_copied_files_alone_build_a_wheel_with_every_tracked_package_file(
    tmp_path: Path,
) -> None:
    context = tmp_path / "src"
    for source in copied_sources():
        if (ROOT / source).is_dir():
            shutil.copytree(
                ROOT / source, context / source, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            context.mkdir(exist_ok=True)
            shutil.copy2(ROOT / source, context / source)
    offline = ["--no-deps", "--no-build-isolation", "--no-index", "--quiet"]
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", *offline, "-w", str(tmp_path / "out"), str(context)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = (tmp_path / "out").glob("gpusteward-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    tracked = subprocess.run(
        ["git", "ls-files", "--", *packages], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert tracked, "git ls-files listed nothing: not a checkout?"
    missing = [
        f
        for f in tracked
        if f not in names and (ROOT / f).exists()  # deleted, not committed
    ]
    assert missing == [], "tracked package files the image would lack"
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    scripts = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "gpusteward = gpusteward.cli.main:main" in scripts  # the image's ENTRYPOINT
