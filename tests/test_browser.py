import pytest

from scrapeline.settings import BrowserSettings
from scrapers.browser import BrowserUnavailable, resolve_driver, start_browser
from scrapers.tab import Tab


def test_configured_driver_path_that_is_not_a_driver(tmp_path):
    with pytest.raises(BrowserUnavailable) as caught:
        resolve_driver(BrowserSettings(driver_path=str(tmp_path / "nope")))
    message = str(caught.value)
    assert "[browser] driver_path" in message and "apt-get install -y chromium chromium-driver" in message


def test_no_driver_anywhere_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    # webdriver-manager's download must fail at once, not wait for a network that is not there.
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.setenv("WDM_LOCAL", "1")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(BrowserUnavailable) as caught:
        resolve_driver(BrowserSettings())
    message = str(caught.value)
    assert message.startswith("No ChromeDriver found: [browser] driver_path is empty, there is no `chromedriver` on PATH")
    assert "webdriver-manager could not fetch one" in message


def test_remote_url_that_does_not_answer(chromium):
    with pytest.raises(BrowserUnavailable, match=r"\[browser\] remote_url http://127.0.0.1:9/wd/hub"):
        start_browser(BrowserSettings(remote_url="http://127.0.0.1:9/wd/hub", page_load_timeout=5))


def test_headless_chromium_runs_the_page_scripts(chromium, sites):
    browser = start_browser(BrowserSettings(), user_agent="scrapeline-test/1.0")
    try:
        browser.driver.get(f"{sites.url}/coinmarketcap-table/")
        tab = Tab(browser.driver, default_timeout=10)
        tab.wait_for("table.cmc-table tbody tr")  # rows exist only once the page's script ran
        assert tab.count("tr.lazy-row") == 81
        tab.scroll_to_bottom(until_gone="tr.lazy-row")
        assert tab.count("tr.lazy-row") == 0
        assert tab.execute("return navigator.userAgent") == "scrapeline-test/1.0"
    finally:
        browser.quit()
