"""Scraping through a real Selenium Grid (the standalone server on loopback, this machine's Chromium):
the same records as local browsers, and every session given back, also when a node's browser dies."""

import json
import signal
import threading

import pytest

from dev_env import consume_all, es_client, read_topic
from faulty_site import FaultySite
from fixtures.cmc_site import coins
from grid_server import SESSION_TIMEOUT, GridServer
from pipeline.envelope import records_topic
from scrapeline.rounds import scrape_round
from scrapeline.settings import BrowserSettings
from scrapers.browser import start_browser
from scrapers.pool import ScrapePool
from test_daemon import browsers_of, start_daemon, wait_for_line, worker_pids

pytestmark = pytest.mark.usefixtures("chromium")
# Sessions a client quits leave /status within moments; well under SESSION_TIMEOUT, so what frees a
# slot in these waits is the client's quit, not the Grid's clean-up of idle sessions.
RELEASED_WITHIN = 5.0


def both_sites(settings, sites, site_root):
    settings = settings.replace("pool", workers=2)
    settings = settings.with_plugin_values("coinmarketcap", base_url=f"{sites.url}/coinmarketcap", pages="2")
    return settings.with_plugin_values("openfoodfacts", base_url=site_root("openfoodfacts"), product_pages_per_minute="0", search_pages_per_minute="0")


def by_id(records):
    """(url, record) by record id, JSON-shaped as on the topic; asserts there are no duplicates."""
    found = {r["id"]: (r["url"], r["record"]) for r in records}
    assert len(found) == len(records)
    return found


def published(settings, kinds):
    return by_id([message for kind in kinds for message in read_topic(settings, records_topic(settings.kafka.topic_prefix, kind))])


def test_a_round_through_the_grid_publishes_what_local_browsers_scrape(settings, grid_settings, grid, sites, site_root):
    local = []
    with ScrapePool(both_sites(settings, sites, site_root), local.append) as pool:
        local_report = pool.run_round(["coinmarketcap", "openfoodfacts"])
    expected = by_id([json.loads(json.dumps({"id": r.id, "url": r.url, "record": dict(r.record)})) for r in local])

    in_use = []
    settings = both_sites(grid_settings, sites, site_root)
    report = scrape_round(settings, ["coinmarketcap", "openfoodfacts"], on_result=lambda *_: in_use.append(len(grid.sessions())))

    for done in (local_report, report):
        counts = {name: (s.pages, s.records, s.errors) for name, s in done.plugins.items()}
        assert (counts, done.problems) == ({"coinmarketcap": (2, 201, 0), "openfoodfacts": (4, 3, 0)}, [])
    assert 1 <= max(in_use) <= 2  # the pages were rendered in Grid sessions, at most one per worker
    assert grid.wait_for_sessions(0, RELEASED_WITHIN) == []
    assert published(settings, ["crypto_quote", "food_product"]) == expected
    consumed = consume_all(settings)
    assert (consumed.indexed, consumed.dead_lettered) == (204, 0)
    prefix = settings.elasticsearch.index_prefix
    assert es_client(settings).count(index=f"{prefix}-crypto_quote-latest")["count"] == 201


def test_sigterm_of_a_daemon_on_the_grid_gives_its_sessions_back(settings, grid, monkeypatch):
    monkeypatch.setenv("SCRAPELINE_BROWSER__REMOTE_URL", grid.url)
    process, _ = start_daemon(settings)
    try:
        wait_for_line(process, "round 1 of coinmarketcap done: 1 pages, 101 records, 0 errors")
        workers = worker_pids(process.pid)
        assert browsers_of(workers) == []  # no local browser: the workers drive the Grid's
        assert len(grid.sessions()) >= 1  # a worker keeps its session between rounds
        process.send_signal(signal.SIGTERM)
        lines = wait_for_line(process, "stopped", timeout=60)
        assert process.wait(timeout=30) == 0, "".join(lines)
        assert grid.wait_for_sessions(0, RELEASED_WITHIN) == []
    finally:
        process.kill()


@pytest.mark.parametrize("victims", [("chromium",), ("chromedriver", "chromium")], ids=["browser-crash", "driver-killed"])
def test_a_node_browser_killed_mid_page_is_retried_and_nothing_is_lost(grid_settings, grid, victims):
    site = FaultySite(slow_seconds=3.0)
    killed = []

    def kill_when_loading():
        site.slow_request_seen.wait(60)
        killed.extend(grid.sessions())
        for process in grid.node_processes(*victims):
            process.kill()

    killer = threading.Thread(target=kill_when_loading)
    killer.start()
    try:
        settings = grid_settings.replace("pool", retries=2)
        settings = settings.with_plugin_values("coinmarketcap", base_url=f"{site.url}/slow")
        report = scrape_round(settings, ["coinmarketcap"])
    finally:
        killer.join()
        site.stop()

    stats = report.plugins["coinmarketcap"]
    assert (stats.pages, stats.records, stats.errors) == (1, 101, 0)
    assert stats.retries >= 1 and site.hits["/slow/"] >= 2 and len(killed) == 1
    assert set(published(settings, ["crypto_quote"])) == {f"coinmarketcap:{coin['slug']}" for coin in coins(1)}
    if victims == ("chromium",):
        assert grid.wait_for_sessions(0, RELEASED_WITHIN) == []
        return
    # A dead ChromeDriver's session cannot be ended through the Grid: it keeps its slot until the
    # node's session-timeout. Every other session, the retry's included, was given back at once.
    assert grid.wait_for_sessions(1, RELEASED_WITHIN) == killed
    assert grid.wait_for_sessions(0, SESSION_TIMEOUT + 60) == []


def test_a_stopped_grid_leaves_no_java_or_browser_behind(tmp_path, grid):
    server = GridServer(tmp_path, driver=grid.driver, binary=grid.binary).start()
    try:
        start_browser(BrowserSettings(remote_url=server.url)).driver.get(f"{server.url}/status")
        assert server.node_processes("chromedriver") and server.node_processes("chromium")
    finally:
        server.stop()  # with the session still open: the server must take its browser down with it
    assert server.process.returncode is not None
    assert server.node_processes() == []


def test_an_http_error_status_is_read_through_the_grid(grid_settings):
    """The status comes from the page itself, not from a log only a local ChromeDriver gives: a 404 fails at once."""
    site = FaultySite()
    failures = []
    try:
        settings = grid_settings.replace("pool", retries=1)
        settings = settings.with_plugin_values("coinmarketcap", base_url=f"{site.url}/missing", wait_timeout="2")
        with ScrapePool(settings, lambda record: None, on_failure=failures.append) as pool:
            pool.run_round(["coinmarketcap"])
    finally:
        site.stop()
    assert [(f.url, f.attempts) for f in failures] == [(f"{site.url}/missing/", 1)]
    assert failures[0].error.endswith("HTTP 404")

