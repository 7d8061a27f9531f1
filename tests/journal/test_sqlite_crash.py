"""SqliteJournal after a crash, and when opened for the wrong scenario.

The crash test runs a writer in a subprocess that appends as fast as it can, SIGKILLs
it mid-stream, and reopens the file: every committed tick must be there and decode,
seqs must be contiguous from 0, and the checkpoint must belong to the last tick.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import gpusteward
from gpusteward.adapters.journal import SqliteJournal
from gpusteward.core.errors import JournalError
from gpusteward.testing import make_snapshot, make_tick_record

REPO_ROOT = Path(gpusteward.__file__).resolve().parents[1]
WRITER_SNAPSHOT = make_snapshot(nodes=8, gpus_per_node=8)  # as built in WRITER

# Appends forever, printing each committed seq. The 64 KiB checkpoint spans many
# pages, so a kill lands inside a multi-page transaction most of the time.
WRITER = """
import sys
from pathlib import Path
from gpusteward.adapters.journal import SqliteJournal
from gpusteward.testing import make_snapshot, make_tick_record

journal = SqliteJournal(Path(sys.argv[1]), scenario_id="crash-test")
snapshot = make_snapshot(nodes=8, gpus_per_node=8)
seq = journal.next_seq()
while True:
    journal.append(make_tick_record(seq, snapshot=snapshot), checkpoint=seq.to_bytes(8) * 8192)
    print(seq, flush=True)
    seq += 1
"""


def run_writer_and_kill(path: Path, appends: int) -> int:
    """Start the writer, SIGKILL it once `appends` more ticks are committed; last seq seen."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    try:
        seen = 0
        last = -1
        while seen < appends:
            line = proc.stdout.readline()
            if not line:
                pytest.fail(f"writer exited early with rc={proc.wait()}")
            last = int(line)
            seen += 1
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
        return last
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")
def test_reopening_after_sigkill_keeps_every_committed_tick_and_nothing_partial(
    db_path: Path,
) -> None:
    committed = -1
    for appends in (40, 150, 300):  # three crashes, each resuming where the last ended
        committed = run_writer_and_kill(db_path, appends)

        with SqliteJournal(db_path, scenario_id="crash-test") as journal:
            records = list(journal.ticks())  # decodes every record
            n = journal.count()
            assert n > committed  # nothing the writer saw committed is lost
            assert [r.seq for r in records] == list(range(n))
            assert journal.next_seq() == n
            assert journal.latest_checkpoint() == (n - 1).to_bytes(8) * 8192
            assert journal.executed_action_ids() == {r.results[0].action_id for r in records}
            assert records[-1] == make_tick_record(n - 1, snapshot=WRITER_SNAPSHOT)


# -- scenario binding ---------------------------------------------------------------


def test_opening_with_another_scenario_names_file_both_ids_and_fix(db_path: Path) -> None:
    SqliteJournal(db_path, scenario_id="quickstart").close()

    with pytest.raises(JournalError) as info:
        SqliteJournal(db_path, scenario_id="servegen-14d")

    message = str(info.value)
    for part in (str(db_path), "'quickstart'", "'servegen-14d'", "--journal", "--fresh"):
        assert part in message


def test_a_journal_without_scenario_refuses_a_scenario(db_path: Path) -> None:
    SqliteJournal(db_path).close()

    with pytest.raises(JournalError, match="records no scenario"):
        SqliteJournal(db_path, scenario_id="quickstart")


def test_opening_with_the_same_or_no_scenario_reads_the_stored_one(db_path: Path) -> None:
    with SqliteJournal(db_path, scenario_id="quickstart") as j:
        j.append(make_tick_record(0))

    for asked in ("quickstart", None):
        with SqliteJournal(db_path, scenario_id=asked) as j:
            assert (j.scenario_id, j.count()) == ("quickstart", 1)
