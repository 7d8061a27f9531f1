"""The web chat's page in a real browser (Debian's headless Chromium, driven by
Playwright) against the chat server alone: what a card's projections say, and what the
page says to a token the server does not know."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from gpusteward.chat.service import ApprovalService
from gpusteward.chat.web import create_web_app
from gpusteward.core.verdicts import ActionResult, ResultStatus
from gpusteward.testing import make_deployment, make_snapshot
from tests.chat.conftest import T0, TOKENS, FakeDaemonView, LiveServer, later, needs, scale
from tests.chat.test_browser import CHROMIUM_ARGS, chromium

pytestmark = pytest.mark.slow
PATIENCE_MS = 300_000  # a loaded 2-core machine: wait for the event, not for a guess
expect.set_options(timeout=PATIENCE_MS)


@pytest.fixture
def live(service: ApprovalService) -> Iterator[LiveServer]:
    with LiveServer(create_web_app(service, sweep_seconds=0.05)) as server:
        yield server


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        launched = pw.chromium.launch(
            executable_path=chromium(), args=CHROMIUM_ARGS, timeout=PATIENCE_MS
        )
        yield launched
        launched.close()


def _page(browser: Browser, url: str) -> Page:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.set_default_timeout(PATIENCE_MS)
    page.goto(url)
    return page


def test_an_executed_card_shows_the_projection_made_when_it_was_asked_only(
    live: LiveServer, service: ApprovalService, browser: Browser
) -> None:
    proposal = scale(6)
    request = service.store.submit(proposal, needs(proposal), T0)
    service.card(request)  # drawn on the snapshot it was asked on (T0: 60 % utilised)
    alice = service.identities.by_token(TOKENS["alice"])
    assert service.decide(alice, request.id, approve=True, channel="web").ok
    ran = ActionResult(action_id=request.id, status=ResultStatus.APPLIED, at=later(1))
    service.store.record_results([ran], later(1))
    assert isinstance(service.daemon, FakeDaemonView)
    six = make_deployment("llm-chat", replicas=6)
    service.daemon.snapshot = make_snapshot(at=later(2), deployments=[six], load=0.9)
    page = _page(browser, f"{live.url}/?token={TOKENS['alice']}")
    card = page.locator(f'[data-card-id="{request.id}"]')
    expect(card).to_have_attribute("data-state", "approved")
    expect(card).to_contain_text("projected when asked (14:00 UTC)")
    expect(card.get_by_test_id("projected-asked")).to_contain_text("+4 GPUs")
    expect(card.get_by_test_id("projected-asked")).to_contain_text("utilisation 60% -> 20%")
    expect(card.get_by_test_id("projected-now")).to_have_count(0)


def test_a_wrong_token_is_told_it_is_not_valid_on_the_sign_in_box(
    live: LiveServer, browser: Browser
) -> None:
    page = _page(browser, f"{live.url}/?token=not-anyones-token")
    expect(page.locator("#login")).to_be_visible()
    expect(page.get_by_test_id("login-error")).to_contain_text("That token is not valid")
    expect(page.locator("#conn")).to_have_text("signed out: token not valid")
    page.locator("#token").fill(TOKENS["alice"])  # the right one signs in
    page.locator("#login-form button").click()
    expect(page.locator("#conn")).to_have_text("live")
    expect(page.get_by_test_id("login-error")).to_be_hidden()
