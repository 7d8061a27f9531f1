"""`gpusteward replay` on a damaged incident bundle: exit 2 with one message saying it is
a damaged bundle (not a scenario), where, and the fix."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

from tests.cli.conftest import gpusteward
from tests.cli.replay_bundle import export_bundle


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_bundle(tmp_path_factory.mktemp("replay"))


def _refused(proc_stderr: str, returncode: int) -> str:
    assert returncode == 2, proc_stderr
    assert "Traceback" not in proc_stderr
    assert "scenario" not in proc_stderr.split("Fix:")[0]  # not reported as a scenario
    return proc_stderr


def test_a_bundle_whose_gzip_header_is_damaged_is_named_a_damaged_bundle(
    bundle: Path, tmp_path: Path
) -> None:
    damaged = tmp_path / "inc.bundle"
    damaged.write_bytes(b"XX" + bundle.read_bytes()[2:])
    proc = gpusteward("replay", str(damaged), cwd=tmp_path)
    err = _refused(proc.stderr, proc.returncode)
    assert (
        "inc.bundle: a damaged incident bundle: byte 0 is 58 58, not the gzip header 1f 8b" in err
    )
    assert "Fix: export it again" in err


def test_an_empty_bundle_file_is_named_a_damaged_bundle(tmp_path: Path) -> None:
    (tmp_path / "inc.bundle").write_bytes(b"")
    proc = gpusteward("replay", "inc.bundle", cwd=tmp_path)
    err = _refused(proc.stderr, proc.returncode)
    assert "inc.bundle: a damaged incident bundle: the file is empty" in err


def test_a_binary_file_without_a_bundle_name_is_taken_as_a_damaged_bundle(
    bundle: Path, tmp_path: Path
) -> None:
    damaged = tmp_path / "incident"
    damaged.write_bytes(b"\0\0" + bundle.read_bytes()[2:])
    proc = gpusteward("replay", str(damaged), cwd=tmp_path)
    err = _refused(proc.stderr, proc.returncode)
    assert "incident: a damaged incident bundle: byte 0 is 00 00" in err


def test_a_bundle_without_its_compression_says_how_to_compress_it(
    bundle: Path, tmp_path: Path
) -> None:
    plain = tmp_path / "inc.json"
    with gzip.open(bundle, "rb") as f, plain.open("wb") as out:
        shutil.copyfileobj(f, out)
    proc = gpusteward("replay", str(plain), cwd=tmp_path)
    err = _refused(proc.stderr, proc.returncode)
    assert "inc.json: an incident bundle's JSON without its gzip compression" in err
    assert "gzip -k" in err
