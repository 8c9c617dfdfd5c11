"""Kafka goes away mid-round: records wait in the spool and all arrive once it is back, across restarts too."""

import threading

import pytest
from elasticsearch import Elasticsearch

from dev_env import consume_all
from pipeline.publisher import PublishError
from scrapeline.rounds import open_publisher
from scrapers.pool import ScrapePool

pytestmark = pytest.mark.usefixtures("chromium")


def consume_and_count(settings):
    consume_all(settings)
    client = Elasticsearch(list(settings.elasticsearch.hosts))
    return client.count(index=f"{settings.elasticsearch.index_prefix}-crypto_quote-latest")["count"]


def scrape_with_broker_stopped_at_first_record(settings, noida, publisher):
    """The round runs; Kafka goes away as the first page's records arrive, before any is sent.

    Stopping noida-db while a produce request is in flight is not what is tested here: noida can
    lose a record it acknowledged during its own shutdown (measured; see docs/operations.md), which
    Apache Kafka with acks=all does not do and which no client can undo.
    """
    stopped = threading.Event()

    def sink(record):
        if not stopped.is_set():
            stopped.set()
            noida.stop()
        publisher.publish(record)

    with ScrapePool(settings, sink) as pool:
        report = pool.run_round(["coinmarketcap"])
    assert stopped.is_set()
    return report.plugins["coinmarketcap"]


@pytest.fixture
def listing_settings(settings, sites):
    return settings.with_plugin_values("coinmarketcap", base_url=f"{sites.url}/coinmarketcap", pages="2")


def test_broker_down_mid_round_then_back(listing_settings, noida):
    publisher = open_publisher(listing_settings)
    try:
        stats = scrape_with_broker_stopped_at_first_record(listing_settings, noida, publisher)
        assert stats.records == 201
        with pytest.raises(PublishError, match="stay in the spool"):
            publisher.flush(timeout=2)
        noida.start()
        publisher.flush(timeout=180)
    finally:
        if noida.process is None:
            noida.start()
        publisher.close()
    assert consume_and_count(listing_settings) == 201


def test_broker_down_and_the_scraper_restarted_before_it_is_back(listing_settings, noida):
    publisher = open_publisher(listing_settings)
    try:
        scrape_with_broker_stopped_at_first_record(listing_settings, noida, publisher)
    finally:
        publisher.close()  # the scraper stops while Kafka is still down
    noida.start()
    restarted = open_publisher(listing_settings)  # a new process finds the same spool
    try:
        restarted.flush(timeout=180)
        assert restarted.spool.pending_bytes() == 0
    finally:
        restarted.close()
    assert consume_and_count(listing_settings) == 201
