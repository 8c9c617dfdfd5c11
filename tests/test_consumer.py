"""The indexing consumer against the real broker and index: what is kept, what is dead-lettered, what is committed."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import contextmanager

import pytest

from dev_env import ROOT, consume_all, es_client, produce, quote_envelope, read_topic, server_env, uncommitted
from es_fault_proxy import ElasticsearchFaultProxy
from pipeline.envelope import dead_letter_topic
from scrapeline.catalogue import open_consumer
from scrapeline.devstack import free_port


def latest(settings, kind="crypto_quote"):
    return f"{settings.elasticsearch.index_prefix}-{kind}-latest"


def history(settings, kind="crypto_quote"):
    return f"{settings.elasticsearch.index_prefix}-{kind}-history-*"


def wait_for(condition, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Running:
    """A consumer in a thread, stopped and closed at the end of the test."""

    def __init__(self, settings):
        self.stop = threading.Event()
        self.consumer = open_consumer(settings, stop=self.stop)
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            self.consumer.run()
        except BaseException as exc:  # the test asserts there was none
            self.error = exc

    def close(self):
        self.stop.set()
        self.thread.join(60)
        self.consumer.close()


def quotes(start, stop):
    return [quote_envelope(f"coin{n}", n) for n in range(start, stop)]


@contextmanager
def consuming_the_first(settings, count):
    """A running consumer that has indexed the ``count`` records already on the topic."""
    produce(settings, quotes(0, count))
    running = Running(settings)
    try:
        wait_for(lambda: running.consumer.stats.indexed == count, what=f"the first {count} records")
        yield running
    finally:
        running.close()
    assert running.error is None and not running.thread.is_alive()


@contextmanager
def stopped(noida, service):
    noida.stop_service(service)
    try:
        yield
    finally:
        noida.start_service(service)


def test_good_records_indexed_once_bad_ones_dead_lettered_with_reasons_offsets_committed(settings):
    messages = [
        quote_envelope("bitcoin", 64000.5),
        b"{this is not json",
        quote_envelope("ether", "lots"),  # wrong type for price_usd
        quote_envelope("bitcoin", 64000.5),  # duplicate
        quote_envelope("tether", "$1,000.25", market_cap_usd="1.2B", rank="#3", change_24h="\u22120.4%"),  # page text
        json.dumps({"schema": 2, "plugin": "coinmarketcap"}).encode(),
        quote_envelope("ripple", 0.5).replace(b'"crypto_quote"', b'"horoscope"'),
        quote_envelope("big", 1.0)[:-1] + b',"padding":"' + b"x" * 950_000 + b'"}',  # oversize
        quote_envelope("solana", 140, rank=10**20),  # valid Python, refused by the long mapping (HTTP 400)
    ]
    topic = produce(settings, messages, key=b"same-partition")

    stats = consume_all(settings)

    assert (stats.consumed, stats.indexed, stats.dead_lettered) == (9, 3, 6)
    client = es_client(settings)
    # bitcoin (sent twice, indexed once) and tether
    assert client.count(index=latest(settings))["count"] == 2
    assert client.count(index=history(settings))["count"] == 2
    tether = client.get(index=latest(settings), id="coinmarketcap:tether")["_source"]
    assert (tether["price_usd"], tether["market_cap_usd"], tether["rank"], tether["change_24h"]) == (1000.25, 1.2e9, 3, -0.4)
    assert tether["scraped_at"] == "2026-11-22T10:00:00Z" and tether["indexed_at"]

    letters = read_topic(settings, dead_letter_topic(settings.kafka.topic_prefix))
    by_offset = {letter["source"]["offset"]: letter for letter in letters}
    assert sorted(by_offset) == [1, 2, 5, 6, 7, 8]
    assert all(letter["source"]["topic"] == topic for letter in letters)
    assert "not JSON" in by_offset[1]["reason"] and by_offset[1]["original"] == "{this is not json"
    assert "field 'price_usd': expected float, got str 'lots'" in by_offset[2]["reason"]
    assert "envelope schema 2" in by_offset[5]["reason"]
    assert "unknown kind 'horoscope'" in by_offset[6]["reason"]
    assert "above 900000" in by_offset[7]["reason"]
    assert "Elasticsearch refused it (400)" in by_offset[8]["reason"]
    assert json.loads(by_offset[2]["original"])["record"]["price_usd"] == "lots"

    assert uncommitted(settings) == 0
    assert consume_all(settings).consumed == 0


def test_a_late_older_observation_goes_to_history_but_does_not_replace_the_latest(settings):
    produce(
        settings,
        [quote_envelope("bitcoin", 2.0, "2026-11-22T10:05:00Z"), quote_envelope("bitcoin", 1.0, "2026-11-22T10:00:00Z")],
        key=b"bitcoin",
    )
    stats = consume_all(settings)
    assert (stats.indexed, stats.stale) == (2, 1)
    client = es_client(settings)
    assert client.get(index=latest(settings), id="coinmarketcap:bitcoin")["_source"]["price_usd"] == 2.0
    prices = client.search(index=history(settings), sort=[{"scraped_at": "asc"}])["hits"]["hits"]
    assert [hit["_source"]["price_usd"] for hit in prices] == [1.0, 2.0]
    assert prices[0]["_index"] == f"{settings.elasticsearch.index_prefix}-crypto_quote-history-2026.11"


def test_templates_are_explicit_per_kind_and_installing_them_twice_changes_nothing(settings):
    consume_all(settings)
    consume_all(settings)
    client = es_client(settings)
    prefix = settings.elasticsearch.index_prefix
    templates = {t["name"]: t["index_template"] for t in client.indices.get_index_template(name=f"{prefix}-*")["index_templates"]}
    assert set(templates) == {f"{prefix}-crypto_quote", f"{prefix}-food_product", f"{prefix}-quote"}
    quote = templates[f"{prefix}-crypto_quote"]
    assert quote["index_patterns"] == [f"{prefix}-crypto_quote-latest", f"{prefix}-crypto_quote-history-*"]
    properties = quote["template"]["mappings"]["properties"]
    assert (properties["price_usd"]["type"], properties["rank"]["type"], properties["slug"]["type"]) == ("double", "long", "keyword")
    assert quote["template"]["settings"]["index"]["number_of_shards"] in ("1", 1)
    food = templates[f"{prefix}-food_product"]
    assert food["index_patterns"] == [f"{prefix}-food_product-latest"]  # products keep no history
    assert food["template"]["mappings"]["properties"]["ingredients_text"]["type"] == "text"


def test_elasticsearch_stopped_mid_stream_loses_and_duplicates_nothing(settings, noida):
    # A short poll interval: a consumer that stopped polling while Elasticsearch is down would be evicted from its group.
    settings = settings.replace("kafka", max_poll_records=20, max_poll_interval_ms=6000, session_timeout_ms=6000, heartbeat_interval_ms=1000)
    with consuming_the_first(settings, 50) as running:
        with stopped(noida, "elasticsearch"):
            produce(settings, quotes(50, 150))
            wait_for(lambda: running.consumer.stats.backoffs >= 3, what="the consumer to back off")
            assigned = running.consumer.assignment()
            time.sleep(8)  # longer than max_poll_interval_ms
            assert running.consumer.assignment() == assigned and assigned
            assert running.consumer.stats.indexed == 50
        produce(settings, quotes(150, 200))
        wait_for(lambda: running.consumer.stats.indexed == 200, what="every record after the restart")
        wait_for(lambda: uncommitted(settings) == 0, what="the offsets to be committed")
    assert running.consumer.stats.commit_failures == 0 and running.consumer.stats.dead_lettered == 0
    client = es_client(settings)
    assert client.count(index=latest(settings))["count"] == 200
    assert client.count(index=history(settings))["count"] == 200


def test_two_consumers_of_one_group_split_the_partitions(settings):
    settings = settings.replace("kafka", partitions=4, max_poll_records=10)
    produce(settings, [])  # the topic, so that both members get partitions before any record comes
    first, second = Running(settings), Running(settings)
    try:
        wait_for(lambda: first.consumer.assignment() and second.consumer.assignment(), what="both consumers to join")
        one, two = first.consumer.assignment(), second.consumer.assignment()
        produce(settings, quotes(0, 200))
        wait_for(lambda: first.consumer.stats.indexed + second.consumer.stats.indexed == 200, what="every record")
        wait_for(lambda: uncommitted(settings) == 0, what="the offsets to be committed")
    finally:
        first.close()
        second.close()
    assert not one & two and len(one | two) == 4
    assert first.consumer.stats.indexed > 0 and second.consumer.stats.indexed > 0
    assert first.error is None and second.error is None
    assert es_client(settings).count(index=latest(settings))["count"] == 200


@pytest.mark.parametrize("poison", [b"", b"\xff\xfe\x00", b"null", b"[]", b'{"schema": 1}'])
def test_the_consumer_never_crashes_on_input(settings, poison):
    produce(settings, [poison, quote_envelope("bitcoin", 1.0)], key=b"k")
    stats = consume_all(settings)
    assert (stats.indexed, stats.dead_lettered) == (1, 1)


def metric(url, name):
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return None


def test_two_consume_processes_share_the_partitions_report_metrics_and_stop_on_sigterm(settings):
    settings = settings.replace("kafka", partitions=4)
    produce(settings, [])
    processes, urls = [], []
    for _ in range(2):
        port = free_port()
        env = {**server_env(settings), "SCRAPELINE_METRICS__CONSUMER_PORT": str(port), "SCRAPELINE_KAFKA__PARTITIONS": "4"}
        processes.append(subprocess.Popen([sys.executable, "-m", "scrapeline.cli", "consume"], cwd=ROOT, env={**os.environ, **env},
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))  # fmt: skip
        urls.append(f"http://127.0.0.1:{port}")
    try:
        def partitions():
            try:
                return [metric(url, "scrapeline_consumer_partitions") for url in urls]
            except OSError:
                return [None, None]

        wait_for(lambda: partitions() in ([1.0, 3.0], [2.0, 2.0], [3.0, 1.0]), what="both processes to share the 4 partitions")
        produce(settings, quotes(0, 100))
        wait_for(lambda: sum(metric(url, "scrapeline_consumer_indexed_total") for url in urls) == 100, what="every record")
        assert all(metric(url, "scrapeline_consumer_indexed_total") > 0 for url in urls)
        with urllib.request.urlopen(f"{urls[0]}/healthz", timeout=5) as response:
            assert json.loads(response.read())["ok"] is True
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        outputs = [process.communicate(timeout=60) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    assert all("consumed" in out and "dead-lettered" in out for out, _ in outputs)
    assert es_client(settings).count(index=latest(settings))["count"] == 100


def test_429_and_5xx_from_elasticsearch_are_retried_never_skipped(settings):
    produce(settings, quotes(0, 40))
    with ElasticsearchFaultProxy(settings.elasticsearch.hosts[0], [429, 429, 503, 502, 429, 500]) as proxy:
        stats = consume_all(settings.replace("elasticsearch", hosts=(proxy.url,), bulk_max_retries=1, initial_backoff=0.05))
    assert proxy.refused == 6 and proxy.bulk_forwarded >= 1
    assert (stats.indexed, stats.dead_lettered) == (40, 0)
    assert stats.backoffs >= 2  # the 429s beyond streaming_bulk's own retries, and every 5xx
    assert es_client(settings).count(index=latest(settings))["count"] == 40
    assert uncommitted(settings) == 0


def test_kafka_stopped_mid_stream_then_restarted_loses_and_duplicates_nothing(settings, noida):
    settings = settings.replace("kafka", max_poll_records=20, request_timeout_ms=10000, session_timeout_ms=6000, heartbeat_interval_ms=1000)
    with consuming_the_first(settings, 50) as running:
        with stopped(noida, "kafka"):
            time.sleep(5)  # the consumer polls, and may commit, against a broker that is gone
            assert running.thread.is_alive()
        produce(settings, quotes(50, 100))
        wait_for(lambda: running.consumer.stats.indexed >= 100, timeout=120, what="the records sent after the restart")
        wait_for(lambda: uncommitted(settings) == 0, timeout=60, what="the offsets to be committed")
    assert es_client(settings).count(index=latest(settings))["count"] == 100
