"""Restart durability: `gpusteward run` killed (SIGKILL) with a request pending, restarted,
then approved — the action runs exactly once; the audit log lists it all."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gpusteward.adapters.journal import SqliteJournal
from gpusteward.core.verdicts import ResultStatus
from tests.chat.daemon_process import DaemonProcess, write_scenario
from tests.waiting import PATIENCE

pytestmark = pytest.mark.slow
AUDIT = (sys.executable, "-m", "gpusteward.cli.main", "approvals", "--since", "1d", "--json")


def test_a_request_pending_at_a_kill_is_approved_after_restart_and_runs_once(
    tmp_path: Path,
) -> None:
    write_scenario(tmp_path)
    first = DaemonProcess(tmp_path, speed=60).start()
    try:
        pending = first.wait_for_card("pending")
    finally:
        first.kill(signal.SIGKILL)
    second = DaemonProcess(tmp_path, speed=60, port=first.port).start()
    try:
        (card,) = [c for c in second.get("/api/cards")["cards"] if c["state"] == "pending"]
        assert card["id"] == pending["id"]  # the same request, not a new one
        assert second.post(f"/api/approvals/{card['id']}/decision", {"approve": True}).is_success
        again = second.post(f"/api/approvals/{card['id']}/decision", {"approve": True}, "bob")
        assert again.status_code == 409
        second.wait_for_card("approved", outcome="applied")
    finally:
        second.stop()
    with SqliteJournal(tmp_path / "j.db") as journal:
        results = [r for t in journal.ticks() for r in t.results if r.action_id == pending["id"]]
        assert [r.status for r in results] == [ResultStatus.APPLIED]
    audit = subprocess.run(
        [*AUDIT, "--approvals", "j.approvals.sqlite"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=PATIENCE,
        check=True,
    )
    events = [json.loads(line) for line in audit.stdout.splitlines()]
    mine = [(e["kind"], e["actor"]) for e in events if e["request_id"] == pending["id"]]
    assert mine == [("approved", "alice"), ("refused", "bob"), ("outcome", "daemon")]
