"""A file that is not UTF-8 text exits 2 with one message naming the file, the byte
offset and the fix, whichever command reads it; never a traceback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gpusteward.core.errors import InputError
from gpusteward.core.user_files import read_user_file
from policies.document import PACKS_DIR
from tests.cli.conftest import gpusteward, small_scenario

SUITE = PACKS_DIR / "tests" / "default_test.yaml"
ACTION = '{"kind": "scale", "deployment": "serving/chat", "replicas": 5}'

COMMANDS = {
    "policy check": ("policy", "check", "bad.yaml"),
    "policy test": ("policy", "test", "bad.yaml"),
    "policy explain, the action": ("policy", "explain", "bad.yaml", "--fixture", f"{SUITE}:base"),
    "policy explain, the policy": (
        "policy",
        "explain",
        "action.json",
        "--policy",
        "bad.yaml",
        "--fixture",
        f"{SUITE}:base",
    ),
    "runbook run PATH": ("runbook", "run", "bad.yaml", "--dry-run"),
    "eval --cases": ("eval", "--cases", "bad.yaml", "--endpoint", "http://127.0.0.1:9/v1"),
    "a scenario": ("run", "--scenario", "bad.yaml", "--ticks", "1"),
    "a trace": ("forecast", "backtest", "--data", "bad.yaml"),
}


@pytest.mark.parametrize("command", COMMANDS, ids=list(COMMANDS))
def test_a_non_utf8_file_exits_2_naming_file_offset_and_fix(command: str, workdir: Path) -> None:
    (workdir / "bad.yaml").write_bytes(b"\xff\xfe")
    (workdir / "action.json").write_text(ACTION)
    proc = gpusteward(*COMMANDS[command], cwd=workdir)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert re.search(r"bad\.yaml: not UTF-8 text: byte 0xff at offset 0 \(line 1\)", proc.stderr)
    assert "Fix: save it as UTF-8" in proc.stderr


def test_a_non_utf8_chat_people_file_exits_2_naming_it(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (workdir / "s.yaml").write_text(small_scenario(hours=1))
    (workdir / "people.yaml").write_bytes(b"people:\n  - name: J\xe9r\xf4me\n")
    monkeypatch.setenv("GPUSTEWARD_CHAT_PEOPLE", "people.yaml")
    proc = gpusteward("run", "--scenario", "s.yaml", "--ticks", "1", cwd=workdir)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "people.yaml: not UTF-8 text: byte 0xe9 at offset 19 (line 2)" in proc.stderr


def test_a_scenario_whose_policy_file_is_not_utf8_exits_2_naming_it(workdir: Path) -> None:
    (workdir / "bad.yaml").write_bytes(b"name: p\n# caf\xe9\n")
    (workdir / "s.yaml").write_text(small_scenario(hours=1) + "policy: bad.yaml\n")
    proc = gpusteward("run", "--scenario", "s.yaml", "--ticks", "1", cwd=workdir)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "bad.yaml: not UTF-8 text: byte 0xe9 at offset 13 (line 2)" in proc.stderr


def test_a_runbook_and_an_incidents_file_are_read_by_the_one_reader(tmp_path: Path) -> None:
    from runbooks.grading import load_incidents
    from runbooks.model import load_runbook

    bad = tmp_path / "r.yaml"
    bad.write_bytes(b"name: r\n\xff\n")
    with pytest.raises(InputError, match=r"r\.yaml: not UTF-8 text: byte 0xff at offset 8"):
        load_runbook(bad)
    with pytest.raises(InputError, match=r"r\.yaml: not UTF-8 text"):
        load_incidents(bad)
    with pytest.raises(InputError, match=r"nope\.yaml: no such runbook\. Fix: check the path"):
        load_runbook(tmp_path / "nope.yaml")


def test_the_reader_names_the_line_and_offset_of_the_first_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes(b"name: p\nrules: []\n# caf\xe9\n")
    with pytest.raises(InputError, match=r"p\.yaml: not UTF-8 text: byte 0xe9 at offset 23 "):
        read_user_file(path, "policy file")
    with pytest.raises(InputError, match=r"\(line 3\)"):
        read_user_file(path, "policy file")


def test_the_reader_drops_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_bytes(b"\xef\xbb\xbf{}")
    assert read_user_file(path, "action file") == "{}"


def test_a_missing_file_names_what_it_is_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope\.yaml: no such policy file\. Fix: check the path"):
        read_user_file(tmp_path / "nope.yaml", "policy file")
