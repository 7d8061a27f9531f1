"""`gpusteward approvals --since`: lists decisions and refused attempts from the store."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gpusteward.chat.store import DecisionRefused, SqliteApprovalStore
from gpusteward.cli.main import app
from tests.chat.conftest import T0, later, needs, scale
from tests.cli.conftest import gpusteward


def _store_with_history(path: Path) -> str:
    with SqliteApprovalStore(path) as s:
        r = s.submit(scale(6), needs(scale(6)), T0)
        s.refuse(r.id, by="eve", channel="web", reason="eve is not in oncall", now=later(1))
        s.decide(r.id, approve=True, by="alice", channel="slack", now=later(2), comment="ok")
        with contextlib.suppress(DecisionRefused):
            s.decide(r.id, approve=False, by="bob", channel="web", now=later(3))
        return r.id


def test_the_audit_lists_decisions_and_refusals_but_not_submissions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rid = _store_with_history(tmp_path / "a.sqlite")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    out = runner.invoke(app, ["approvals", "--since", "1d", "--approvals", "a.sqlite"])
    assert out.exit_code == 0, out.output
    assert "approval audit log" in out.output and "alice" in out.output and "eve" in out.output
    assert "submitted" not in out.output
    as_json = runner.invoke(app, ["approvals", "--json", "--approvals", "a.sqlite"])
    events = [json.loads(line) for line in as_json.output.splitlines()]
    assert [(e["kind"], e["actor"], e["request_id"]) for e in events] == [
        ("refused", "eve", rid),
        ("approved", "alice", rid),
        ("refused", "bob", rid),
    ]
    assert events[1]["channel"] == "slack" and "already approved by alice" in events[2]["detail"]
    everything = runner.invoke(app, ["approvals", "--all", "--approvals", "a.sqlite"])
    assert "submitted" in everything.output


def test_a_bad_since_or_a_missing_store_exits_2_with_a_fix(tmp_path: Path) -> None:
    """Through the real entry point, which turns input errors into exit code 2."""
    bad = gpusteward("approvals", "--since", "yesterday", cwd=tmp_path)
    assert bad.returncode == 2 and "--since 'yesterday'" in bad.stderr and "'6h'" in bad.stderr
    missing = gpusteward("approvals", "--approvals", "nope.sqlite", cwd=tmp_path)
    assert missing.returncode == 2 and "no approval store there. Fix" in missing.stderr
