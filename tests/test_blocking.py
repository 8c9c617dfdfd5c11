"""Resource blocking: a blocked third-party host gets no request and the page does not wait for it;
blocked resource types are never fetched. Locally and through a real Selenium Grid."""

from __future__ import annotations

import threading
import time

import pytest

from page_lab import PageLab, run_lab
from scrapeline.settings import Settings

THIRD_PARTY = "thirdparty.test"


@pytest.fixture
def third_party():
    """The third-party host: every request to it hangs until the test releases it."""
    lab = PageLab()
    lab.held = {"/tracker.js", "/style.css", "/banner.png"}
    yield lab
    lab.stop()


@pytest.fixture(params=["local", "grid"])
def browser_settings(request, chromium, tmp_path) -> Settings:
    settings = Settings().replace("pool", retries=0, data_dir=str(tmp_path / "data"))
    # The third-party name reaches the loopback server only through this rule: like a real host,
    # it is contacted unless blocking stops it.
    settings = settings.replace("browser", extra_args=(f"--host-resolver-rules=MAP {THIRD_PARTY} 127.0.0.1",))
    if request.param == "grid":
        settings = settings.replace("browser", remote_url=request.getfixturevalue("grid").url)
    return settings


def listing_with_third_party(site: PageLab, third_party: PageLab) -> str:
    origin = f"http://{THIRD_PARTY}:{third_party.port}"
    return site.page("/listing", f"""<html><head>
        <script src="{origin}/tracker.js"></script>
        <link rel="stylesheet" href="{origin}/style.css">
        </head><body><div class="item">one</div><div class="item">two</div>
        <img src="{origin}/banner.png"></body></html>""")


def run_one(settings: Settings, url: str, **plugin_attributes) -> object:
    (result,) = run_lab(settings, url, **plugin_attributes)
    return result


def test_a_blocked_host_gets_no_request_and_is_not_waited_for(browser_settings, site, third_party):
    url = listing_with_third_party(site, third_party)
    settings = browser_settings.with_plugin_values("lab", allow_hosts="self")
    # The third party holds every request for as long as the test runs: the page can only be read
    # before the test ends if nothing of it waits for that host.
    result = run_one(settings, url, wait_for=".item")
    assert result.error is None and sorted(r.record["text"] for r in result.records) == ["one", "two"]
    assert third_party.requests == []
    assert set(site.requests) - {"/favicon.ico"} == {"/listing"}


def test_without_blocking_the_same_page_waits_for_the_third_party(browser_settings, site, third_party):
    url = listing_with_third_party(site, third_party)
    settings = browser_settings.replace("browser", blocking=False).with_plugin_values("lab", allow_hosts="self")
    outcome: list = []
    loading = threading.Thread(target=lambda: outcome.append(run_one(settings, url, wait_for=".item")))
    loading.start()
    deadline = time.monotonic() + 30
    while not third_party.requests and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "/tracker.js" in third_party.requests
    # The script in <head> holds the parser: the items are not there until the third party answers.
    assert loading.is_alive() and outcome == []
    third_party.release()
    loading.join(60)
    assert outcome and outcome[0].error is None and len(outcome[0].records) == 2


@pytest.mark.parametrize("blocked", ["image,font,media", "none"])
def test_blocked_resource_types_are_never_fetched(browser_settings, site, blocked):
    site.page("/pixel.png", "not really a png", "image/png")
    site.page("/face.woff2", "not really a font", "font/woff2")
    site.page("/clip.mp4", "not really a video", "video/mp4")
    url = site.page("/product", """<html><head><style>
        @font-face { font-family: Lab; src: url(/face.woff2) format("woff2"); }
        body { font-family: Lab, sans-serif; }
        </style></head><body><div class="item">pixel</div>
        <img src="/pixel.png"><video src="/clip.mp4" autoplay muted></video></body></html>""")
    settings = browser_settings.with_plugin_values("lab", block_resources=blocked)
    # Wait for the load event here, so that every resource not blocked has had its chance.
    from scrapers import js

    result = run_one(settings, url, wait_for=js("document.readyState === 'complete'"))
    assert result.error is None and len(result.records) == 1
    fetched = set(site.requests) - {"/product"}
    if blocked == "none":
        assert {"/pixel.png", "/face.woff2"} <= fetched
    else:
        assert fetched == set()


def test_stylesheets_are_blocked_through_the_devtools_protocol(browser_settings, site):
    # No start-up flag blocks stylesheets: this passes only where CDP is reachable, the Grid included.
    site.page("/look.css", "body { color: red }", "text/css")
    url = site.page("/styled", '<html><head><link rel="stylesheet" href="/look.css"></head><body><div class="item">x</div></body></html>')
    from scrapers import js

    settings = browser_settings.with_plugin_values("lab", block_resources="stylesheet")
    result = run_one(settings, url, wait_for=js("document.readyState === 'complete'"))
    assert result.error is None and len(result.records) == 1
    assert "/look.css" not in site.requests


def test_an_unknown_resource_type_is_a_clear_error(chromium, site):
    settings = Settings().replace("pool", retries=0).with_plugin_values("lab", block_resources="image,pictures")
    result = run_one(settings, site.page("/x", "<div class=item>x</div>"), wait_for=".item")
    assert "block_resources: unknown resource types pictures" in result.error
