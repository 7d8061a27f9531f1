"""Runs the real `gpusteward run` (with its chat) in a subprocess, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.chat.conftest import ASK_POLICY, PEOPLE_YAML, TOKENS, free_port
from tests.cli.conftest import small_scenario

GPUSTEWARD_RUN = (sys.executable, "-m", "gpusteward.cli", "run", "--scenario", "s.yaml")


def write_scenario(workdir: Path) -> None:
    """One model on a real trace; the static-peak planner proposes one scale-up, which the
    policy sends to a human (oncall)."""
    scenario = small_scenario(hours=24) + "planner: {kind: static-peak}\npolicy: ask.yaml\n"
    (workdir / "s.yaml").write_text(scenario)
    (workdir / "ask.yaml").write_text(ASK_POLICY)
    (workdir / "people.yaml").write_text(PEOPLE_YAML)


class DaemonProcess:
    def __init__(self, workdir: Path, *, speed: int = 60, port: int | None = None) -> None:
        self.workdir, self.speed = workdir, speed
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> DaemonProcess:
        env = {
            **os.environ,
            "GPUSTEWARD_LOG_FORMAT": "json",
            "GPUSTEWARD_CHAT_PEOPLE": "people.yaml",
            "GPUSTEWARD_CHAT_PORT": str(self.port),
        }
        self.proc = subprocess.Popen(
            [*GPUSTEWARD_RUN, "--journal", "j.db", "--speed", str(self.speed)],
            cwd=self.workdir,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"gpusteward run exited: {self.proc.stderr.read()}")  # type: ignore[union-attr]
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the chat of gpusteward run never answered on {self.url}")

    def get(self, path: str, who: str = "alice") -> Any:
        r = httpx.get(self.url + path, headers={"Authorization": f"Bearer {TOKENS[who]}"})
        r.raise_for_status()
        return r.json()

    def post(self, path: str, body: dict[str, Any], who: str = "alice") -> httpx.Response:
        return httpx.post(
            self.url + path, json=body, headers={"Authorization": f"Bearer {TOKENS[who]}"}
        )

    def wait_for_card(self, state: str, *, outcome: str | None = None, timeout: float = 30) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for card in self.get("/api/cards")["cards"]:
                if card["state"] == state and (outcome is None or card["outcome"] == outcome):
                    return card
            time.sleep(0.1)
        raise AssertionError(f"no {state} card (outcome {outcome}) within {timeout} s")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill(signal.SIGTERM)
