"""A page's faults end as that page's truthful error, never as a dead worker or a restarted browser:
Retry-After holds only its own host, attempts are counted, a plugin's interact error is the plugin's,
and a value that cannot travel is an invalid record while the page's good records go on."""

from __future__ import annotations

import psutil
import pytest

from page_lab import PageLab, lab_plugin_folder, lab_registry
from scrapeline.settings import Settings
from scrapers.jobs import Job
from scrapers.plugin import Request
from scrapers.pool import ScrapePool
from scrapers.worker import PageWorker

pytestmark = pytest.mark.usefixtures("chromium")


@pytest.fixture
def other_site():
    lab = PageLab()
    yield lab
    lab.stop()


@pytest.fixture
def settings(tmp_path) -> Settings:
    settings = Settings().replace("pool", workers=1, retries=2, data_dir=str(tmp_path / "data"))
    settings = settings.replace("pool", plugin_paths=(lab_plugin_folder(tmp_path / "plugins"),))
    return settings.with_plugin_values("lab", obey_robots="false")


def round_of(settings: Settings, *urls: str) -> tuple:
    records, failures = [], []
    settings = settings.with_plugin_values("lab", urls=",".join(urls))
    with ScrapePool(settings, records.append, on_failure=failures.append) as pool:
        report = pool.run_round(["lab"])
    return report.plugins["lab"], records, failures


def test_retry_after_holds_its_host_while_other_hosts_go_on(settings, site, other_site):
    busy = site.page("/busy", '<div class="item">busy</div>')
    site.answers["/busy"] = [(429, {"Retry-After": "2"})]
    others = [other_site.page(f"/calm-{n}", f'<div class="item">calm {n}</div>') for n in range(3)]
    # One worker, one log of requests across both hosts, in the order they arrived.
    other_site.requests = site.requests
    stats, records, failures = round_of(settings, busy, *others)
    assert (stats.records, stats.errors, stats.retries, failures) == (4, 0, 1, [])
    assert site.requests.count("/busy") == 2
    # Every page of the other host was loaded before the held host was asked again.
    assert site.requests.index("/calm-2") < len(site.requests) - 1 - site.requests[::-1].index("/busy")


def test_a_retry_after_above_the_cap_is_held_only_as_long_as_the_cap(settings, site):
    busy = site.page("/busy", '<div class="item">busy</div>')
    site.answers["/busy"] = [(503, {"Retry-After": "86400"})]
    stats, records, failures = round_of(settings.replace("pool", max_retry_after=1.0), busy)
    assert (stats.records, stats.errors, failures) == (1, 0, [])


def test_a_page_that_keeps_failing_reports_every_attempt(settings, site):
    down = site.page("/down", "never shown")
    site.answers["/down"] = [(503, {})] * 3
    stats, records, failures = round_of(settings, down)
    (failed,) = failures
    assert (failed.url, failed.attempts, stats.retries, stats.errors) == (down, 3, 2, 1)
    assert failed.error == f"{down}: HTTP 503"


def chromedrivers() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True) if p.name() == "chromedriver"}


def test_an_intercepted_click_is_the_plugins_error_and_the_browser_stays(settings, site):
    overlay = site.page("/overlay", """<html><body><button id="more">more</button><div class="item">one</div>
        <div id="cookies" style="position:fixed;inset:0;background:#fff;z-index:9">we use cookies</div></body></html>""")
    plain = site.page("/plain", '<div class="item">two</div>')

    def interact(self, tab, request):
        if request.url.endswith("/overlay"):
            tab.click("#more", timeout=2)

    worker = PageWorker(settings, lab_registry(wait_for=".item", interact=interact))
    try:
        clicked = worker.run(Job("lab", Request(overlay)))
        browsers = chromedrivers()
        after = worker.run(Job("lab", Request(plain)))
        assert chromedrivers() == browsers, "the browser was restarted for the plugin's own error"
    finally:
        worker.close()
    assert clicked.error.startswith(f"plugin lab: interact failed on {overlay}: ElementClickInterceptedException")
    assert clicked.attempts == 1  # the plugin's error: no retries
    assert after.error is None and [r.record["text"] for r in after.records] == ["two"]


def test_a_value_that_cannot_travel_is_an_invalid_record_and_the_good_ones_go_on(settings, site, tmp_path):
    page = site.page("/mixed", '<div class="item">one</div><div class="item">two</div>')
    more_parse = (
        "        import threading\n"
        "        yield {'text': 'locked', 'url': threading.Lock()}\n"
        "        yield page.follow('/next', lock=threading.Lock())\n"
    )
    settings = settings.replace("pool", plugin_paths=(lab_plugin_folder(tmp_path / "odd", more_parse),))
    stats, records, failures = round_of(settings, page)
    assert sorted(r.record["text"] for r in records) == ["one", "two"]
    assert (stats.records, stats.invalid_records, stats.errors, stats.retries, failures) == (2, 2, 0, 0, [])
