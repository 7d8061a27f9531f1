"""Runs the real `gpusteward run` (with its chat) in a subprocess, for end-to-end tests."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.chat.conftest import ASK_POLICY, PEOPLE_YAML, TOKENS, free_port
from tests.cli.conftest import small_scenario
from tests.waiting import PATIENCE, REQUEST_PATIENCE, wait_for

GPUSTEWARD_RUN = (sys.executable, "-m", "gpusteward.cli.main", "run", "--scenario", "s.yaml")
_STARTS = itertools.count()


def write_scenario(workdir: Path) -> None:
    """One model on a real trace; the static-peak planner proposes one scale-up, which the
    policy sends to a human (oncall). Its request expires after the whole 24 h run, not
    after ASK_POLICY's hour: at speed 60 an hour is one real minute, which a loaded machine
    can spend starting a browser, and the card would expire under the test."""
    scenario = small_scenario(hours=24) + "planner: {kind: static-peak}\npolicy: ask.yaml\n"
    (workdir / "s.yaml").write_text(scenario)
    assert "expires: 1h" in ASK_POLICY
    (workdir / "ask.yaml").write_text(ASK_POLICY.replace("expires: 1h", "expires: 48h"))
    (workdir / "people.yaml").write_text(PEOPLE_YAML)


class DaemonProcess:
    def __init__(self, workdir: Path, *, speed: int = 60, port: int | None = None) -> None:
        self.workdir, self.speed = workdir, speed
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[str] | None = None
        # stderr goes to a file (a pipe nobody reads stops the daemon once full), one per
        # start: a restarted daemon keeps the first one's output
        self.output = workdir / f"gpusteward-run-{next(_STARTS)}.err"

    def start(self) -> DaemonProcess:
        env = {
            **os.environ,
            "GPUSTEWARD_LOG_FORMAT": "json",
            "GPUSTEWARD_CHAT_PEOPLE": "people.yaml",
            "GPUSTEWARD_CHAT_PORT": str(self.port),
        }
        with self.output.open("w") as err:
            self.proc = subprocess.Popen(
                [*GPUSTEWARD_RUN, "--journal", "j.db", "--speed", str(self.speed)],
                cwd=self.workdir,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=err,
                text=True,
            )
        wait_for(
            self._healthy,
            f"the chat of gpusteward run answering on {self.url}",
            proc=self.proc,
            output=self.output,
        )
        return self

    def _healthy(self) -> bool:
        try:
            return httpx.get(self.url + "/healthz", timeout=REQUEST_PATIENCE).status_code == 200
        except httpx.HTTPError:  # not listening yet
            return False

    def get(self, path: str, who: str = "alice") -> Any:
        r = httpx.get(
            self.url + path,
            headers={"Authorization": f"Bearer {TOKENS[who]}"},
            timeout=REQUEST_PATIENCE,
        )
        r.raise_for_status()
        return r.json()

    def post(self, path: str, body: dict[str, Any], who: str = "alice") -> httpx.Response:
        return httpx.post(
            self.url + path,
            json=body,
            headers={"Authorization": f"Bearer {TOKENS[who]}"},
            timeout=REQUEST_PATIENCE,
        )

    def wait_for_card(self, state: str, *, outcome: str | None = None) -> Any:
        def card() -> Any:
            for c in self.get("/api/cards")["cards"]:
                if c["state"] == state and (outcome is None or c["outcome"] == outcome):
                    return c
            return None

        return wait_for(
            card, f"a {state} card (outcome {outcome})", proc=self.proc, output=self.output
        )

    def kill(self, sig: int = signal.SIGKILL) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)
        self.proc.wait(timeout=PATIENCE)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill(signal.SIGTERM)
