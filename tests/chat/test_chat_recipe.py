"""The README's approval-chat recipe, step by step, ends with a card on screen: its
people file, its command (the chat-demo scenario, whose day asks for approval in its
first minutes) and its URL, in Debian's headless Chromium."""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from tests.chat.test_browser import ARTIFACTS, CHROMIUM_ARGS, chromium
from tests.waiting import PATIENCE, REQUEST_PATIENCE, wait_for

pytestmark = pytest.mark.slow
README = Path(__file__).resolve().parents[2] / "README.md"
UI_PATIENCE_MS = PATIENCE * 1000  # a deadline for a loaded machine, not a guess


def _recipe() -> tuple[str, list[str], str]:
    """The README's people file, `run` arguments and chat URL."""
    text = README.read_text()
    people = re.search(r"cat > people\.yaml <<'YAML'\n(.*?)\nYAML\n", text, re.S)
    run = re.search(
        r"^GPUSTEWARD_CHAT_PEOPLE=people\.yaml \.venv/bin/gpusteward (run .*)$", text, re.M
    )
    url = re.search(r"Open (http://127\.0\.0\.1:8787/\?token=\S+) \(", text)
    assert people and run and url, "the README's chat recipe: people.yaml, run, open URL"
    return people.group(1), shlex.split(run.group(1)), url.group(1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_readmes_chat_recipe_ends_with_a_card_on_screen(tmp_path: Path) -> None:
    people, args, url = _recipe()
    (tmp_path / "people.yaml").write_text(people)
    port = _free_port()  # the recipe's 8787 may be taken on a shared machine
    url = url.replace(":8787/", f":{port}/")
    env = {
        **os.environ,
        "GPUSTEWARD_CHAT_PEOPLE": "people.yaml",
        "GPUSTEWARD_CHAT_PORT": str(port),
        "GPUSTEWARD_LOG_FORMAT": "json",
    }
    output = tmp_path / "run.err"
    with output.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gpusteward.cli.main", *args],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:

        def healthy() -> bool:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=REQUEST_PATIENCE)
            except httpx.HTTPError:  # not listening yet
                return False
            return health.status_code == 200

        wait_for(healthy, f"the recipe's chat on port {port}", proc=proc, output=output)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=chromium(), args=CHROMIUM_ARGS, timeout=UI_PATIENCE_MS
            )
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(UI_PATIENCE_MS)
            page.goto(url)
            card = page.locator('[data-card-id][data-state="pending"]').first
            expect(card).to_contain_text("scale serving/m-large", timeout=UI_PATIENCE_MS)
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "chat_recipe_card.png"), full_page=True)
            browser.close()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=PATIENCE)
