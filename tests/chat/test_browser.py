"""The web chat in a real browser (Debian's headless Chromium, driven by Playwright),
against the real `gpusteward run` with its chat: a pending action appears as a card; a
non-approver's click is refused; an approver's click gets it executed in the simulator;
every open page updates live; a screenshot is saved to tests/artifacts/."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from gpusteward.adapters.journal import SqliteJournal
from gpusteward.core.verdicts import ResultStatus
from tests.chat.conftest import TOKENS
from tests.chat.daemon_process import DaemonProcess, write_scenario
from tests.waiting import PATIENCE, wait_for_ticks

pytestmark = pytest.mark.slow
# Every wait on the page (a card's state, a reply, a push) waits for that event, up to a
# deadline for a loaded machine: Playwright's own default (5 s) is a guess that fails there.
UI_PATIENCE_MS = PATIENCE * 1000
expect.set_options(timeout=UI_PATIENCE_MS)
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
# Flags that let Debian's Chromium run as root in a sandboxed, offline machine.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:  # a failure, not a skip: CI installs it (see .ci/run and the Makefile)
        pytest.fail("Debian's chromium is not installed. Fix: apt-get install -y chromium")
    return path


def _open(browser_page: Page, url: str, who: str) -> Page:
    browser_page.set_default_timeout(UI_PATIENCE_MS)  # clicks and page loads, too
    browser_page.goto(f"{url}/?token={TOKENS[who]}")
    expect(browser_page.locator("#conn")).to_have_text("live")
    return browser_page


def test_a_pending_action_is_decided_in_the_browser_and_runs_in_the_simulator(
    tmp_path: Path,
) -> None:
    write_scenario(tmp_path)
    daemon = DaemonProcess(tmp_path, speed=60).start()
    try:
        pending = daemon.wait_for_card("pending")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=chromium(), args=CHROMIUM_ARGS, timeout=UI_PATIENCE_MS
            )
            viewport = {"width": 1400, "height": 900}
            eve = _open(browser.new_page(viewport=viewport), daemon.url, "eve")
            eve_card = eve.locator(f'[data-card-id="{pending["id"]}"]')
            expect(eve_card).to_have_attribute("data-state", "pending")
            expect(eve_card).to_contain_text("scale serving/m-large 2 -> 8")
            ARTIFACTS.mkdir(exist_ok=True)
            eve.screenshot(path=str(ARTIFACTS / "web_chat_pending.png"), full_page=True)
            eve_card.locator("button.approve").click()
            expect(eve.get_by_test_id("reply").last).to_contain_text(
                "eve is not in approver group 'oncall'"
            )
            expect(eve_card).to_have_attribute("data-state", "pending")

            alice = _open(browser.new_page(viewport=viewport), daemon.url, "alice")
            alice_card = alice.locator(f'[data-card-id="{pending["id"]}"]')
            alice_card.locator("button.approve").click()
            expect(alice_card).to_have_attribute("data-state", "approved")
            # eve's page was never reloaded: the card changes there too, up to the execution
            status = eve_card.get_by_test_id("status-line")
            expect(status).to_contain_text("approved by alice via web")
            expect(status).to_contain_text("executed")
            expect(eve_card.locator("button.approve")).to_have_count(0)
            alice_card.locator("button[data-action=why]").click()
            expect(alice.locator("#thread")).to_be_visible()
            alice.screenshot(path=str(ARTIFACTS / "web_chat.png"), full_page=True)
            eve.screenshot(path=str(ARTIFACTS / "web_chat_non_approver.png"), full_page=True)
            browser.close()
        applied_at = _applied_tick(tmp_path / "j.db", pending["id"])
        wait_for_ticks(tmp_path / "j.db", applied_at + 2, proc=daemon.proc, output=daemon.output)
    finally:
        daemon.stop()
    with SqliteJournal(tmp_path / "j.db") as journal:
        results = [r for t in journal.ticks() for r in t.results if r.action_id == pending["id"]]
        assert [r.status for r in results] == [ResultStatus.APPLIED]
        after = next(journal.ticks(applied_at + 1)).snapshot
        assert after is not None
        deployment = after.deployment("serving/m-large")
        assert deployment is not None and deployment.replicas == 8  # the simulator scaled
    assert (ARTIFACTS / "web_chat.png").stat().st_size > 10_000


def _applied_tick(path: Path, action_id: str) -> int:
    with SqliteJournal(path) as journal:
        for tick in journal.ticks():
            if any(r.action_id == action_id for r in tick.results):
                return tick.seq
    raise AssertionError(f"{action_id} has no result in {path}")
