"""Failure snapshots with real Chromium on page-lab pages: a page that times out, one that gives nothing,
one with a record that breaks the schema; the failed-pages topic names the folder; the cap prunes the
oldest; `plugins check --save` saves any page, browser or HTTP."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from pathlib import Path

import pytest

from dev_env import read_topic, scrapeline, server_env
from fixtures.coingecko_api import CoinGeckoApi
from pipeline.envelope import failed_pages_topic
from scrapeline.rounds import scrape_round
from scrapeline.settings import Settings
from scrapers.pool import ScrapePool
from scrapers.snapshots import Evidence, Snapshots

PNG = b"\x89PNG\r\n\x1a\n"
SNAP_PLUGIN = '''\
from scrapers import Plugin, Request, Schema


class Snap(Plugin):
    name = "snap"
    kind = "snap_item"
    schema = Schema(fields={"text": "str", "count": "int"}, id_fields=("text",))
    wait_for = "#ready"
    default_settings = {"urls": ""}

    def start_requests(self):
        for url in self.settings["urls"].split(","):
            yield Request(url)

    def parse(self, page):
        for item in page.soup.select(".item"):
            yield {"text": item.get_text(strip=True), "count": item.get("data-count")}
'''
# Each page says something on the console, so that its snapshot's console log can be told apart.
NEVER_READY = "<html><body><p>still loading the prices</p><script>console.error('never-ready page error')</script></body></html>"
EMPTY = "<html><body><div id='ready'>no results today</div><script>console.warn('empty page warning')</script></body></html>"
BROKEN = "<html><body><div id='ready'></div><div class='item' data-count='3'>fine</div><div class='item' data-count='many'>broken</div></body></html>"
GOOD = "<html><body><div id='ready'></div><div class='item' data-count='1'>one</div></body></html>"


def snap_settings(settings: Settings, tmp_path: Path, *urls: str) -> Settings:
    folder = tmp_path / "plugins"
    folder.mkdir(exist_ok=True)
    (folder / "snap.py").write_text(SNAP_PLUGIN)
    settings = settings.replace("pool", plugin_paths=(str(folder),), data_dir=str(tmp_path / "data"))
    return settings.with_plugin_values("snap", urls=",".join(urls), obey_robots="false", wait_timeout="1")


def snapshots_of(settings: Settings) -> list[Path]:
    """Every snapshot folder, where the documentation says they are: snapshots/<plugin>/<UTC date>/<page>."""
    today = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    return sorted((settings.data_dir / "snapshots" / "snap" / today).iterdir()) if (settings.data_dir / "snapshots").exists() else []


def status_of(folder: Path) -> dict:
    return json.loads((folder / "status.json").read_text())


def console_of(folder: Path) -> str:
    return " ".join(json.loads(line)["message"] for line in (folder / "console.log").read_text().splitlines())


pytestmark = pytest.mark.usefixtures("chromium")


def test_a_page_that_times_out_leaves_a_snapshot_taken_before_the_abort_named_on_the_failed_pages_topic(settings, site, tmp_path, caplog):
    url = site.page("/slow", NEVER_READY)
    settings = snap_settings(settings, tmp_path, url)
    with caplog.at_level(logging.ERROR, logger="scrapeline.pool"):
        report = scrape_round(settings, ["snap"])
    assert (report.plugins["snap"].errors, report.problems) == (1, [])
    (folder,) = snapshots_of(settings)
    # The page as it was, not the about:blank the abort leaves.
    assert "still loading the prices" in (folder / "page.html").read_text()
    assert (folder / "screenshot.png").read_bytes().startswith(PNG)
    assert "never-ready page error" in console_of(folder)
    status = status_of(folder)
    assert (status["url"], status["status"]) == (url, 200)
    assert status["reason"].startswith(f"failed: {url}: not ready within 1 s")
    (message,) = read_topic(settings, failed_pages_topic(settings.kafka.topic_prefix))
    assert (message["url"], message["snapshot"]) == (url, str(folder))
    assert f"(snapshot in {folder})" in caplog.text


def test_an_empty_page_and_a_schema_breaking_record_leave_snapshots_and_a_good_page_none(site, tmp_path, caplog):
    empty, broken, good = site.page("/empty", EMPTY), site.page("/broken", BROKEN), site.page("/good", GOOD)
    settings = snap_settings(Settings().replace("pool", workers=1, retries=0), tmp_path, empty, broken, good)
    records, failures = [], []
    with ScrapePool(settings, records.append, on_failure=failures.append) as pool:
        stats = pool.run_round(["snap"]).plugins["snap"]
    assert (stats.records, stats.invalid_records, stats.errors, failures) == (2, 1, 0, [])
    folders = {status_of(folder)["url"]: folder for folder in snapshots_of(settings)}
    assert set(folders) == {empty, broken}
    assert status_of(folders[empty])["reason"] == "no records and no links"
    assert "no results today" in (folders[empty] / "page.html").read_text()
    assert "empty page warning" in console_of(folders[empty])
    assert status_of(folders[broken])["reason"].startswith("1 records broke the schema: field 'count': expected int")
    assert 'data-count="many"' in (folders[broken] / "page.html").read_text()
    for folder in folders.values():
        assert (folder / "screenshot.png").read_bytes().startswith(PNG) and status_of(folder)["status"] == 200


def test_a_failed_http_page_keeps_its_body_and_status_without_a_screenshot(tmp_path):
    api = CoinGeckoApi()
    try:
        api.answers[1] = [(500, {})]
        settings = Settings().replace("pool", workers=1, retries=0, data_dir=str(tmp_path / "data"))
        settings = settings.with_plugin_values("coingecko", base_url=api.url, requests_per_minute="0")
        failures = []
        with ScrapePool(settings, lambda record: None, on_failure=failures.append) as pool:
            pool.run_round(["coingecko"])
    finally:
        api.stop()
    (failed,) = failures
    folder = Path(failed.snapshot)
    assert folder.parent.parent == settings.data_dir / "snapshots" / "coingecko"
    assert sorted(path.name for path in folder.iterdir()) == ["page.html", "status.json"]
    assert status_of(folder)["status"] == 500 and "Rate Limit" in (folder / "page.html").read_text()


def test_the_cap_removes_the_oldest_snapshots_first(tmp_path):
    settings = Settings().replace("pool", data_dir=str(tmp_path / "data"), snapshots_max_mb=1)
    snapshots = Snapshots(settings)
    # An older day of another plugin goes first, whatever the plugin.
    old = settings.data_dir / "snapshots" / "other" / "2020-01-01" / "120000.000000-page"
    old.mkdir(parents=True)
    (old / "page.html").write_text("x" * 300_000)
    written = [snapshots.write("snap", Evidence(f"http://site.test/{n}", "y" * 300_000, 200), "no records and no links") for n in range(5)]
    left = sorted(path for path in (settings.data_dir / "snapshots").glob("*/*/*"))
    assert left == written[-3:]  # 3 x 300 kB fit in 1 MB; the day of "other" and the two oldest went
    assert not (settings.data_dir / "snapshots" / "other").exists()
    off = Snapshots(settings.replace("pool", snapshots_max_mb=0))
    assert off.write("snap", Evidence("http://site.test/x", "z"), "why") is None


def test_plugins_check_save_keeps_any_page_browser_or_http(settings, site, tmp_path):
    url = site.page("/good", GOOD)
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "snap.py").write_text(SNAP_PLUGIN)
    env = {**server_env(settings), "SCRAPELINE_POOL__PLUGIN_PATHS": str(folder), "SCRAPELINE_PLUGIN_SNAP__OBEY_ROBOTS": "false"}
    done = scrapeline("plugins", "check", "snap", "--url", url, "--save", str(tmp_path / "saved"), env=env)
    assert done.returncode == 0, done.stderr
    saved = tmp_path / "saved"
    assert f"saved page.html, screenshot.png, console.log, status.json in {saved}" in done.stderr
    assert "data-count=\"1\"" in (saved / "page.html").read_text() and (saved / "screenshot.png").read_bytes().startswith(PNG)
    assert (status_of(saved)["status"], status_of(saved)["reason"]) == (200, "saved on request")

    api = CoinGeckoApi()
    try:
        page_url = f"{api.url}/coins/markets?vs_currency=usd&per_page=5&page=1"
        http = scrapeline("plugins", "check", "coingecko", "--url", page_url, "--save", str(tmp_path / "api"), env=env)
    finally:
        api.stop()
    assert http.returncode == 0, http.stderr
    assert json.loads((tmp_path / "api" / "page.html").read_text())[0]["id"] == "bitcoin"
    assert not (tmp_path / "api" / "screenshot.png").exists() and status_of(tmp_path / "api")["status"] == 200
