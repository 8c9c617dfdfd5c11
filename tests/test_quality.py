"""Data-quality checks and alerts: per-field shares kept per round in <prefix>-rounds, and the [alerts] rules
(records drop, null share, error rate, stale plugin) as an operator sees them: log lines, /metrics, the round's
document in Elasticsearch, a webhook POST; Elasticsearch down at a round's end is a warning, nothing more."""

import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from dev_env import ROOT, es_client, server_env
from loopback import LoopbackServer, QuietHandler
from page_lab import PageLab
from test_daemon import wait_for_line
from pipeline.round_reports import RoundReports, rounds_index
from scrapeline.devstack import free_port
from scrapeline.records import ScrapedRecord
from scrapeline.rounds import scrape_round
from scrapeline.settings import AlertSettings, ConfigError, Settings
from scrapers.quality import RoundChecks, check_round, count_fields, round_document
from scrapers.scheduler import Schedule
from scrapers.stats import PluginStats

QUALITY_PLUGIN = '''\
from scrapers import Plugin, Request, Schema


class Quality(Plugin):
    name = "quality"
    kind = "quality_item"
    schema = Schema(fields={"name": "str", "price": "float", "brand": "str"}, id_fields=("name",))
    default_settings = {"urls": ""}

    def start_requests(self):
        for url in self.settings["urls"].split(","):
            yield Request(url)

    def parse(self, page):
        for item in page.soup.select(".item"):
            yield {"name": item.get_text(strip=True), "price": item.get("data-price"), "brand": item.get("data-brand")}
'''
# Four items: one without a brand (null), one whose price is not a number (invalid, refused for "price").
FOUR_ITEMS = """<ul>
<li class="item" data-price="1.5" data-brand="Acme">one</li>
<li class="item" data-price="2" data-brand="Acme">two</li>
<li class="item" data-price="3">three</li>
<li class="item" data-price="abc" data-brand="Acme">four</li>
</ul>"""


# -- the counts and the rules, as data ---------------------------------------------------------------


@pytest.mark.parametrize(
    "reason, field",
    [
        ("field 'price': expected float, got str 'abc' (not a number)", "price"),
        ("id field 'slug' is empty", "slug"),
        ("field \"it's\": expected int, got str 'x'", "it's"),
        ("field 'when' cannot be sent as JSON (float: Out of range float values are not JSON compliant)", "when"),
        ("fields not in the schema: colour, size", "_record"),
        ("parse() yielded a list, not a dict or Request", "_record"),
    ],
)
def test_an_invalid_record_counts_for_the_field_its_error_names(reason, field):
    stats = PluginStats()
    count_fields(stats, [], [(reason, {})])
    assert stats.invalid_fields == {field: 1}


def test_null_values_of_valid_records_are_counted_per_field():
    stats = PluginStats(records=2)
    records = [ScrapedRecord("p", "k", f"p:{n}", "u", "t", {"name": f"n{n}", "brand": brand}) for n, brand in enumerate([None, "x"])]
    count_fields(stats, records, [])
    assert stats.null_fields == {"brand": 1}
    document = round_document("p", "k", ["name", "brand"], stats, ended_at=1_800_000_000)
    assert document["null_share"] == {"name": 0.0, "brand": 0.5}


def _round(records=100, pages=10, errors=0, null_share=None):
    return {"plugin": "p", "records": records, "pages": pages, "errors": errors,
            "error_rate": errors / pages if pages else 0.0, "null_share": null_share or {}}  # fmt: skip


@pytest.mark.parametrize(
    "current, history, rules, fired",
    [
        (_round(records=49), [_round(records=r) for r in (100, 90, 110, 100, 5)], AlertSettings(), ["records_drop"]),
        (_round(records=50), [_round(records=100)] * 5, AlertSettings(), []),
        (_round(records=1), None, AlertSettings(), []),  # no history (index down): the rule is not checked
        (_round(records=1), [], AlertSettings(), []),  # the plugin's first round
        (_round(records=1), [_round(records=100)] * 5, AlertSettings(min_records_ratio=0), []),
        (_round(null_share={"brand": 0.51, "name": 0.0}), None, AlertSettings(), ["null_share"]),
        (_round(null_share={"brand": 0.51}), None, AlertSettings(field_thresholds=("p.brand:0.6",)), []),
        (_round(null_share={"brand": 0.51}), None, AlertSettings(field_thresholds=("brand:0.6", "p.brand:0.5")), ["null_share"]),
        (_round(null_share={"brand": 1.0}), None, AlertSettings(max_null_share=1), []),
        (_round(pages=10, errors=3), None, AlertSettings(), ["error_rate"]),
        (_round(pages=10, errors=2), None, AlertSettings(), []),
        (_round(pages=0, records=0), None, AlertSettings(), []),
    ],
)
def test_rules(current, history, rules, fired):
    assert [alert.rule for alert in check_round(current, history, rules)] == fired


def test_stale_is_two_intervals_of_the_plugins_schedule_without_a_completed_round(caplog):
    schedules = {"every_minute": Schedule.parse("60", "x"), "hourly": Schedule.parse("0 * * * *", "x")}
    checks = RoundChecks(Settings(), None, schedules=schedules)
    start = time.time()
    with caplog.at_level(logging.WARNING, logger="scrapeline.alerts"):
        checks.check_stale(start + 119)
        checks.check_stale(start + 121)
        checks.check_stale(start + 2 * 3600 + 1, finished={"hourly"})  # the daemon runs no more of its rounds
        checks.check_stale(start + 2 * 3600 + 2)
        checks.check_stale(start + 2 * 3600 + 3)  # each plugin once, until a round completes
        checks.close()
    fired = [r.getMessage() for r in caplog.records]
    assert [line.split(":")[0] for line in fired] == ["alert stale on plugin every_minute", "alert stale on plugin hourly"]
    assert fired[0].endswith("2 intervals of its schedule (every 60 s)") and fired[1].endswith("(cron 0 * * * *)")


@pytest.mark.parametrize("entry", ["brand", "brand:1.5", "p.brand:many", ":0.5"])
def test_a_bad_field_threshold_is_a_config_error_naming_the_key(entry):
    with pytest.raises(ConfigError, match=r"\[alerts\] field_thresholds"):
        AlertSettings(field_thresholds=(entry,))


# -- rounds through the pool, Kafka and Elasticsearch --------------------------------------------------


@pytest.fixture
def lab():
    lab = PageLab()
    yield lab
    lab.stop()


def quality_settings(settings: Settings, tmp_path, *urls: str) -> Settings:
    folder = tmp_path / "plugins"
    folder.mkdir(exist_ok=True)
    (folder / "quality.py").write_text(QUALITY_PLUGIN)
    settings = settings.replace("pool", plugin_paths=(str(folder),))
    settings = settings.replace("elasticsearch", number_of_replicas=0)
    return settings.with_plugin_values("quality", urls=",".join(urls))


def rounds_of(settings, plugin="quality", alert=None, timeout=30):
    """The plugin's round documents, oldest first (polling until one carries ``alert``, when given)."""
    es = es_client(settings)
    deadline = time.monotonic() + timeout
    while True:
        es.indices.refresh(index=rounds_index(settings.elasticsearch.index_prefix), ignore_unavailable=True)
        found = es.search(index=rounds_index(settings.elasticsearch.index_prefix), query={"term": {"plugin": plugin}},
                          sort=[{"ended_at": "asc"}], size=50, ignore_unavailable=True)  # fmt: skip
        documents = [hit["_source"] for hit in found["hits"]["hits"]]
        if alert is None or any(alert in d["alerts"] for d in documents) or time.monotonic() > deadline:
            return documents
        time.sleep(0.3)


@pytest.mark.usefixtures("chromium")
def test_a_round_keeps_its_document_with_the_null_and_invalid_shares(settings, tmp_path, lab, caplog):
    settings = quality_settings(settings, tmp_path, lab.page("/items", FOUR_ITEMS))
    with caplog.at_level(logging.WARNING, logger="scrapeline.alerts"):
        report = scrape_round(settings, ["quality"])
    assert report.plugins["quality"].records == 3
    (document,) = rounds_of(settings)
    assert document["pages"] == 1 and document["records"] == 3 and document["errors"] == 0 and document["invalid_records"] == 1
    assert document["null_share"] == {"name": 0.0, "price": 0.0, "brand": 0.3333}
    assert document["invalid_share"] == {"name": 0.0, "price": 0.25, "brand": 0.0}
    assert document["error_rate"] == 0.0 and document["alerts"] == []
    assert document["kind"] == "quality_item" and document["started_at"] <= document["ended_at"]
    assert not [r for r in caplog.records if r.getMessage().startswith("alert ")]


@pytest.mark.usefixtures("chromium")
def test_a_field_null_in_more_records_than_its_limit_fires(settings, tmp_path, lab, caplog):
    settings = quality_settings(settings, tmp_path, lab.page("/items", FOUR_ITEMS))
    settings = settings.replace("alerts", max_null_share=0.2, field_thresholds=("quality.price:0",))
    with caplog.at_level(logging.WARNING, logger="scrapeline.alerts"):
        scrape_round(settings, ["quality"])
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "alert null_share on plugin quality: field brand is null in 33% of 3 records (limit 20%)" in lines
    assert not [line for line in lines if "field price" in line or "field name" in line]  # none of them null
    (document,) = rounds_of(settings)
    assert document["alerts"] == ["null_share"]
    assert document["alert_messages"] == ["field brand is null in 33% of 3 records (limit 20%)"]


@pytest.mark.usefixtures("chromium")
def test_an_error_rate_above_the_limit_fires(settings, tmp_path, lab, caplog):
    good = lab.page("/items", FOUR_ITEMS)
    settings = quality_settings(settings, tmp_path, good, lab.url + "/gone")  # 404: failed for good
    with caplog.at_level(logging.WARNING, logger="scrapeline.alerts"):
        report = scrape_round(settings, ["quality"])
    assert report.plugins["quality"].errors == 1
    assert "alert error_rate on plugin quality: 1 of 2 pages failed (50%, limit 20%)" in [r.getMessage() for r in caplog.records]
    (document,) = rounds_of(settings)
    assert document["alerts"] == ["error_rate"] and document["error_rate"] == 0.5 and document["pages"] == 2


# -- the daemon ------------------------------------------------------------------------------------------


class Webhook:
    """A loopback endpoint that keeps the JSON bodies POSTed to it."""

    def __init__(self):
        self.bodies = []
        hook = self

        class Handler(QuietHandler):
            def do_POST(self):  # noqa: N802 - the base class's name
                hook.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send(204, b"", "text/plain")

        self._server = LoopbackServer(Handler).start()
        self.url = self._server.url + "/hooks/t0ken"

    def wait(self, timeout=30):
        deadline = time.monotonic() + timeout
        while not self.bodies and time.monotonic() < deadline:
            time.sleep(0.2)
        return self.bodies

    def stop(self):
        self._server.stop()


def start_daemon(settings, *extra, interval="3600", env=None):
    metrics_port = free_port()
    environment = {
        **os.environ, **server_env(settings),
        "SCRAPELINE_POOL__PLUGIN_PATHS": ",".join(settings.pool.plugin_paths),
        "SCRAPELINE_POOL__WORKERS": "1",
        "SCRAPELINE_PLUGIN_QUALITY__URLS": settings.plugins["quality"]["urls"],
        "SCRAPELINE_PLUGIN_QUALITY__INTERVAL": interval,
        "SCRAPELINE_METRICS__PORT": str(metrics_port),
        "SCRAPELINE_ELASTICSEARCH__NUMBER_OF_REPLICAS": "0",
        **(env or {}),
    }  # fmt: skip
    command = [sys.executable, "-m", "scrapeline.cli", "scrape", "--daemon", "--plugin", "quality", *extra]
    process = subprocess.Popen(command, cwd=ROOT, env=environment, stderr=subprocess.PIPE, text=True)
    return process, f"http://127.0.0.1:{metrics_port}/metrics"


def stop(process):
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=60)
    finally:
        process.kill()


@pytest.mark.usefixtures("chromium")
def test_a_round_with_far_fewer_records_than_the_last_five_fires_everywhere(settings, tmp_path, lab):
    settings = quality_settings(settings, tmp_path, lab.page("/items", FOUR_ITEMS))
    store = RoundReports.open(settings.elasticsearch)
    for number, records in enumerate([40, 38, 41, 39, 40]):
        store.keep(round_document("quality", "quality_item", ["name"], PluginStats(pages=1, records=records), ended_at=1_790_000_000 + number))
    hook = Webhook()
    process, metrics = start_daemon(settings, env={"SCRAPELINE_ALERTS__WEBHOOK_URL": hook.url})
    try:
        lines = wait_for_line(process, "alert records_drop on plugin quality")
        assert "3 records, under 50% of 40 (the median of the last 5 rounds)" in lines[-1] and "WARNING" in lines[-1]
        text = urllib.request.urlopen(metrics, timeout=5).read().decode()
        assert 'scrapeline_alerts_total{plugin="quality",rule="records_drop"} 1.0' in text
        assert 'scrapeline_alert_active{plugin="quality",rule="records_drop"} 1.0' in text
        assert 'scrapeline_alert_active{plugin="quality",rule="error_rate"} 0.0' in text
        (body,) = hook.wait()
        assert body["plugin"] == "quality" and body["rule"] == "records_drop"
        assert body["figures"] == {"records": 3, "median": 40, "rounds": 5, "min_ratio": 0.5}
        assert body["round"]["records"] == 3 and body["round"]["pages"] == 1
        latest = rounds_of(settings, alert="records_drop")[-1]
        assert latest["alerts"] == ["records_drop"] and latest["records"] == 3
        assert stop(process) == 0
    finally:
        process.kill()
        hook.stop()


@pytest.mark.usefixtures("chromium")
def test_a_plugin_without_a_completed_round_for_two_intervals_is_stale(settings, tmp_path, lab):
    lab.held.add("/items")  # the round's only page hangs until released
    settings = quality_settings(settings, tmp_path, lab.page("/items", FOUR_ITEMS))
    process, metrics = start_daemon(settings, interval="1")
    try:
        lines = wait_for_line(process, "alert stale on plugin quality: no round completed since")
        assert "2 intervals of its schedule (every 1 s)" in lines[-1]
        text = urllib.request.urlopen(metrics, timeout=5).read().decode()
        assert 'scrapeline_alerts_total{plugin="quality",rule="stale"} 1.0' in text
        assert 'scrapeline_alert_active{plugin="quality",rule="stale"} 1.0' in text
        lab.release()
        wait_for_line(process, "plugin quality completed a round again: its stale alert is over")
        text = urllib.request.urlopen(metrics, timeout=5).read().decode()
        assert 'scrapeline_alert_active{plugin="quality",rule="stale"} 0.0' in text
        assert stop(process) == 0
    finally:
        process.kill()


@pytest.mark.usefixtures("chromium")
def test_elasticsearch_down_at_a_rounds_end_is_a_warning_and_the_daemon_goes_on(settings, tmp_path, lab):
    settings = quality_settings(settings, tmp_path, lab.page("/items", FOUR_ITEMS))
    settings = settings.replace("elasticsearch", hosts=(f"http://127.0.0.1:{free_port()}",), request_timeout=5.0)
    process, _ = start_daemon(settings, "--rounds", "2", interval="1", env={"SCRAPELINE_ELASTICSEARCH__REQUEST_TIMEOUT": "5"})
    try:
        lines = wait_for_line(process, "round 2 of quality done: 1 pages, 3 records")
        output = "".join(lines)
        assert "previous rounds of quality unavailable, records_drop not checked this round" in output
        assert "round of quality ended" in output and "not kept in Elasticsearch" in output
        assert "Traceback" not in output
        assert process.wait(timeout=60) == 0
    finally:
        process.kill()
