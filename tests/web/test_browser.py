"""The status page in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright;
no browser download): the grid shows the group's servers; a service going down on SEC1 turns
its cell red on the open page without a reload (SSE); the drill-down shows the reason; a page
bound to an address other than loopback refuses an unauthenticated browser; the operator
suspends from the page and the viewer cannot."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError
from tests.web.site import PASSWORDS, Served, Site, free_port, serve, web_section

from atlas_ha.sync.suspension import suspended

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (.ci/setup)"),
]
VIEWPORT = {"width": 1280, "height": 800}
SCREENSHOTS = Path(os.environ.get("ATLAS_HA_SCREENSHOTS", "/var/tmp/atlas-ha-screenshots"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


def open_page(browser: Browser, served: Served, user: str | None) -> Page:
    credentials = {"username": user, "password": PASSWORDS[user]} if user else None
    context = browser.new_context(http_credentials=credentials, viewport=VIEWPORT)
    return context.new_page()


def test_the_grid_shows_the_servers_and_a_failure_arrives_live(
    browser: Browser, site: Site, page: Served
) -> None:
    tab = open_page(browser, page, "bob")
    tab.goto(page.url + "/")
    headers = [h.strip() for h in tab.locator("table.grid thead th a").all_inner_texts()]
    assert headers == ["PRI", "SEC1", "SEC2"]
    cell = tab.locator('td[data-cell="SEC1/app"]')
    assert "st-OK" in cell.get_attribute("class")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SCREENSHOTS / "top-ok.png"), full_page=True)
    tab.wait_for_function("() => window.atlasLive === true", timeout=5000)
    tab.evaluate("() => { window.notReloaded = true; }")
    site.listeners["SEC1"].stop()  # the service goes down on SEC1 ...
    site.verify()  # ... the Verifier's next round records it
    recorded = time.monotonic()
    tab.wait_for_function(
        "() => document.querySelector('td[data-cell=\"SEC1/app\"]').classList"
        ".contains('st-CRITICAL')",
        timeout=5000,
    )
    latency = time.monotonic() - recorded
    assert latency <= 1.0, f"the change reached the open page after {latency:.2f} s"
    assert tab.evaluate("() => window.notReloaded") is True
    assert "Connection refused" in cell.inner_text()
    assert tab.inner_text("#banner-word") == "NO-GO"
    sec1 = tab.locator('#readiness li[data-sec="SEC1"]')
    assert "NOT ready" in sec1.inner_text() and "app CRITICAL" in sec1.inner_text()
    assert "st-OK" in tab.locator('td[data-cell="SEC2/app"]').get_attribute("class")
    tab.screenshot(path=str(SCREENSHOTS / "top-critical.png"), full_page=True)
    cell.locator("a").click()  # the drill-down
    tab.wait_for_url("**/service/app#SEC1")
    section = tab.locator("section#SEC1")
    assert "CRITICAL" in section.inner_text()
    assert f"127.0.2.12:{site.port}: Connection refused" in section.inner_text()


def test_a_page_bound_beyond_loopback_refuses_an_unauthenticated_browser(
    browser: Browser, site: Site
) -> None:
    # 127.0.0.2 is not 127.0.0.1/::1/localhost: the page treats it as a remote address
    served = serve(
        site.configure(web_section(f"127.0.0.2:{free_port('127.0.0.2')}", {"alice": "operator"}))
    )
    try:
        anonymous = open_page(browser, served, None)
        with pytest.raises(PlaywrightError, match="ERR_INVALID_AUTH_CREDENTIALS"):
            anonymous.goto(served.url + "/")  # headless: the 401's login prompt cannot show
        answer = anonymous.request.get(served.url + "/")
        assert answer.status == 401 and "SEC1" not in answer.text()
        assert "Basic" in answer.headers["www-authenticate"]
        alice = open_page(browser, served, "alice")
        assert alice.goto(served.url + "/").status == 200
        assert "SEC1" in alice.content()
    finally:
        served.background.stop()


def test_the_operator_suspends_from_the_page_and_the_viewer_cannot(
    browser: Browser, site: Site, page: Served
) -> None:
    viewer = open_page(browser, page, "bob")
    viewer.goto(page.url + "/")
    assert viewer.locator("#suspend").count() == 0
    # a viewer's forged form (the page's own cookie, a token it could not have) is refused
    answer = viewer.request.post(
        page.url + "/actions/suspend", form={"reason": "forged", "csrf": "0" * 64}
    )
    assert answer.status == 403 and suspended(site.pri()) is None
    operator = open_page(browser, page, "alice")
    operator.goto(page.url + "/")
    operator.fill("#reason", "swapping SEC2's disk")
    operator.click("#suspend")
    operator.wait_for_selector("#resume")
    flag = suspended(site.pri())
    assert flag is not None and "swapping SEC2's disk" in flag["reason"]
    assert "The Synchronizer is suspended." in operator.inner_text(".done")
    # the same POST without its CSRF field is refused, with the operator's own credentials
    missing = operator.request.post(page.url + "/actions/resume", form={})
    assert missing.status == 403 and suspended(site.pri()) is not None
    operator.click("#resume")
    operator.wait_for_selector("#suspend")
    assert suspended(site.pri()) is None
