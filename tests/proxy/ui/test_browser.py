"""The admin UI in a real browser: Debian's chromium, headless, driven by Playwright (no
browser is downloaded). Skips without chromium; fails under TOKENWAY_REQUIRE_SERVICES=1.

The walk of issue 16: a wrong key cannot log in; log in; the overview draws its charts
from a seeded database; create a key, use it with the openai SDK, find its request in
Logs and its spend on its page; block it and see the next call refused; a change without
the CSRF token is refused; no page runs inline code (the CSP would block it, and the
console shows no violation); log out. With TOKENWAY_SCREENSHOTS=<dir> each page is saved
there as a PNG (1280x800, and the overview at phone width).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from openai import OpenAI
from tests.conftest import require_service
from tests.proxy.conftest import MASTER_KEY, RunningProxy, proxy_config, running_proxy

from tokenway.emulator import Emulator
from tokenway.proxy.ui.session import SESSION_SECONDS, Sessions
from tokenway.store.base import Limits, SpendRow, TeamRecord

CHROMIUM = "/usr/bin/chromium"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
MODEL = "llama-3.1-8b-instruct"
SEEDED = 36  # rows over the last day


def _playwright() -> Any:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require_service("playwright", "the playwright package is not installed (a dev extra)")
    if not os.path.exists(CHROMIUM):
        require_service("chromium", f"{CHROMIUM} is missing (Debian's chromium package)")
    return sync_playwright


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_playwright = _playwright()
    with sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def ui(emulator: Emulator) -> Iterator[RunningProxy]:
    config = proxy_config(emulator.base_url, proxy_batch_write_at=0.2)
    with running_proxy(config) as running:
        future = asyncio.run_coroutine_threadsafe(_seed(running), running.loop)
        future.result(10)
        yield running


async def _seed(running: RunningProxy) -> None:
    """A day of traffic on two models, a few errors, and a team with a budget."""
    store = running.app.services.store
    research = TeamRecord(
        "research",
        team_alias="Research",
        limits=Limits(max_budget=0.05),
        members_with_roles=[{"user_id": "ana", "role": "admin"}],
    )
    await store.create_team(research)
    now = time.time()
    rows = [
        SpendRow(
            request_id=f"seed-{n}",
            key_hash=None,
            user_id=None,
            team_id="research" if n % 3 else None,
            model_alias=MODEL if n % 2 else "mistral-nemo-12b-instruct",
            deployment=None,
            prompt_tokens=40 + n,
            completion_tokens=20 + 2 * n,
            cost=0.0004 * (1 + n % 5),
            latency_ms=80.0 + n,
            status=500 if n % 9 == 0 else 200,
            error_code="upstream_error" if n % 9 == 0 else None,
            stream=False,
            started_at=now - 3600 * (n % 23) - 60,
        )
        for n in range(SEEDED)
    ]
    await store.add_spend(rows)


class Page:
    """A browser tab on the proxy that records console messages and can save shots."""

    def __init__(self, browser: Any, base: str, viewport: dict[str, int] = DESKTOP) -> None:
        self.base = base
        self.page = browser.new_page(viewport=viewport)
        self.console: list[str] = []
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))

    def goto(self, path: str) -> Any:
        self.page.goto(self.base + path)
        return self.page

    def shot(self, name: str) -> None:
        folder = os.environ.get("TOKENWAY_SCREENSHOTS")
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            self.page.wait_for_timeout(150)
            # caret="initial": the default hides it with an injected <style>
            self.page.screenshot(path=str(Path(folder) / f"{name}.png"), caret="initial")

    def login(self, key: str = MASTER_KEY) -> Any:
        page = self.goto("/ui")
        page.fill("#master_key", key)
        page.click("button[type=submit]")
        return page

    def assert_clean(self) -> None:
        """No inline script or style attribute in the page, and no CSP violation or
        script error on the console."""
        inline = self.page.evaluate(
            "document.querySelectorAll('script:not([src]), [style], style').length"
        )
        assert inline == 0
        bad = [m for m in self.console if "Content Security Policy" in m or "pageerror" in m]
        assert bad == []
        errors = [m for m in self.console if m.startswith("error")]
        assert errors == [], errors


def test_a_wrong_key_cannot_log_in(browser: Any, ui: RunningProxy) -> None:
    tab = Page(browser, ui.url)
    page = tab.login("sk-not-the-master-key")
    page.wait_for_selector("text=not this proxy's master key")
    tab.shot("login")
    assert page.url.endswith("/ui/login")
    assert page.context.cookies() == []
    page.close()


def test_the_admin_walk(browser: Any, ui: RunningProxy) -> None:
    tab = Page(browser, ui.url)
    page = tab.login()
    page.wait_for_selector("h1:text('Overview')")
    bars = page.locator("svg.chart rect.bar:not(.err)")
    assert bars.count() >= 3 * 24
    heights = [float(h) for h in bars.evaluate_all("els => els.map(e => e.getAttribute('height'))")]
    assert sum(1 for h in heights if h > 0) >= 3 * 20  # a bar for most of the seeded hours
    assert page.locator(".stat .value").first.inner_text() == str(SEEDED)
    page.wait_for_selector("text=mistral-nemo-12b-instruct")
    page.wait_for_selector("text=team Research")  # its budget burn
    tab.shot("overview")
    tab.assert_clean()

    # create a key: its secret is shown once
    page.click("nav >> text=Keys")
    page.click("summary:text('Create a key')")
    page.fill("input[name=key_alias]", "browser-key")
    page.fill("input[name=max_budget]", "5")
    page.click("button:text('Create key')")
    secret = page.locator("#new-secret").inner_text()
    assert secret.startswith("sk-")
    tab.shot("keys")

    client = OpenAI(base_url=ui.url + "/v1", api_key=secret, max_retries=0)
    answer = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "a question for the logs"}]
    )
    assert answer.choices[0].message.content

    # its request in Logs (rows are written within a fraction of a second here)
    page.click("nav >> text=Logs")
    page.fill("input[name=key]", secret)  # the filter takes a key's secret or its hash
    rows = page.locator("tbody tr.clickable")
    for _ in range(60):  # filtered, the table holds our row (or none yet), never the seed
        page.click("button:text('Filter')")
        page.wait_for_timeout(250)
        if rows.count() == 1:
            break
    assert rows.count() == 1
    row = rows.first
    tab.shot("logs")
    row.click()
    details = page.locator("#log-details")
    details.wait_for()
    assert MODEL in details.inner_text()
    assert "a question for the logs" not in page.content()  # no prompt text
    tab.shot("log-details")

    # its spend on its page
    page.click("text=This key's page")
    page.wait_for_selector("h1:text('Key browser-key')")
    assert page.locator("#key-requests").inner_text() == "1"
    assert page.locator("#key-spend").inner_text() not in ("$0.00", "–")
    tab.shot("key")

    # block it: the next call is refused
    page.click("#block")
    page.wait_for_selector("#unblock")
    with pytest.raises(openai.APIStatusError) as refused:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert refused.value.status_code in (401, 403)

    # a change without the CSRF token is refused, even from the logged-in page
    status = page.evaluate(
        """async () => (await fetch('/ui/api/key/unblock', {method: 'POST',
            headers: {'content-type': 'application/json'}, body: '{}'})).status"""
    )
    assert status == 403
    tab.console.clear()  # that 403 was asked for

    page.click("nav a[data-page=models]")
    page.wait_for_selector("main h1:text('Models')")
    page.locator("button:text('Test call')").first.click()
    page.wait_for_selector("text=/200 in [0-9.]+ ms/")
    tab.shot("models")
    page.click("nav a[data-page=teams]")
    page.wait_for_selector("main h1:text('Teams and users')")
    page.wait_for_selector("td:text('Research')")
    tab.shot("teams")
    tab.assert_clean()

    page.click("text=Log out")
    page.wait_for_selector("text=You are logged out.")
    assert page.goto(ui.url + "/ui") and page.url.endswith("/ui/login")
    page.close()


def test_an_expired_session_returns_to_the_login_page(browser: Any, ui: RunningProxy) -> None:
    tab = Page(browser, ui.url)
    tab.login().wait_for_selector("h1:text('Overview')")
    page = tab.page
    # a session signed by this master key, that expired a minute ago
    past = Sessions(MASTER_KEY, lambda: time.time() - SESSION_SECONDS - 60)
    expired, _ = past.issue()
    page.context.clear_cookies()
    page.context.add_cookies(
        [{"name": "tokenway_ui", "value": expired, "domain": "127.0.0.1", "path": "/ui"}]
    )
    page.click("nav >> text=Keys")  # its data call gets a 401: back to the login page
    page.wait_for_selector("text=Your session has expired")
    page.close()


def test_public_pages_and_the_phone_width(browser: Any, ui: RunningProxy) -> None:
    tab = Page(browser, ui.url)
    page = tab.goto("/")
    page.wait_for_selector(f"text={MODEL}")
    tab.shot("landing")
    page = tab.goto("/docs")
    page.wait_for_selector("code:text('/v1/chat/completions')")
    tab.shot("docs")
    tab.assert_clean()
    phone = Page(browser, ui.url, PHONE)
    page = phone.login()
    page.wait_for_selector("h1:text('Overview')")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]  # nothing wider than the screen
    phone.shot("overview-phone")
    phone.assert_clean()
    page.close()


def test_the_ui_works_from_the_keyboard(browser: Any, ui: RunningProxy) -> None:
    tab = Page(browser, ui.url)
    page = tab.login()
    page.wait_for_selector("h1:text('Overview')")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    for _ in range(3):  # the brand, Overview, Keys
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Keys"
    page.keyboard.press("Enter")
    page.wait_for_selector("main h1:text('Keys')")
    page.locator("nav a[data-page=logs]").focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("main h1:text('Logs')")  # not the Keys page's rows
    row = page.locator("tbody tr.clickable").first
    row.wait_for()
    row.focus()  # rows are focusable, and Enter opens one
    page.keyboard.press("Enter")
    page.wait_for_selector("#log-details")
    tab.assert_clean()
    page.close()
