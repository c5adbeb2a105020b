"""End to end in headless Chromium: the demo console shows a popup as the agent types a canned repeat.

Drives Debian's /usr/bin/chromium with the playwright package (never `playwright install`);
skipped when that browser is missing. .ci/run installs it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.service.test_api import CANNED

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (apt-get install chromium)")]


def test_typing_a_canned_repeat_shows_a_popup(live_server, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    base, key = live_server
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            page = browser.new_page()
            page.goto(f"{base}/console#key={key}")
            expect(page.locator("#status")).to_contain_text("live", timeout=15_000)
            turns = page.locator("#turns .turn")
            expect(turns.first).to_be_visible()
            assert turns.count() >= 2  # a conversation was preloaded
            # the agent types, key by key, the reply it already sent once
            page.locator("#draft").press_sequentially(CANNED, delay=15)
            popup = page.locator('.popup[data-flag="boilerplate"]')
            expect(popup).to_be_visible(timeout=10_000)
            expect(popup.locator(".suggestion")).not_to_be_empty()
            page.screenshot(path=str(tmp_path / "console.png"))
            # dismissing the popup is stored as feedback
            with page.expect_response(lambda r: r.url.endswith("/v1/feedback")) as resp:
                popup.get_by_role("button", name="Not a problem").click()
            assert resp.value.status == 201
            expect(popup).to_have_count(0)
        finally:
            browser.close()
