"""A scrape round of the loopback mirror through real Chromium, Kafka and Elasticsearch."""

import logging

import pytest
from elasticsearch import Elasticsearch
from kafka import KafkaProducer

from fixtures.cmc_site import coins, usd
from dev_env import consume_all, read_topic
from pipeline.envelope import dead_letter_topic, encode, records_topic
from pipeline.publisher import ensure_topics
from scrapeline.records import ScrapedRecord
from scrapeline.rounds import scrape_round

pytestmark = pytest.mark.usefixtures("chromium")


def es(settings):
    return Elasticsearch(list(settings.elasticsearch.hosts))


def index(settings):
    return f"{settings.elasticsearch.index_prefix}-crypto_quote-latest"


def test_round_lands_in_elasticsearch_with_the_page_values_and_twice_is_idempotent(settings, sites):
    settings = settings.with_plugin_values("coinmarketcap", base_url=f"{sites.url}/coinmarketcap", pages="2")
    report = scrape_round(settings, ["coinmarketcap"])
    stats = report.plugins["coinmarketcap"]
    assert (stats.pages, stats.records, stats.errors, report.problems) == (2, 201, 0, [])
    consumed = consume_all(settings)
    assert (consumed.indexed, consumed.dead_lettered) == (201, 0)

    client = es(settings)
    assert client.count(index=index(settings))["count"] == 201
    top = client.search(index=index(settings), query={"term": {"rank": 1}})["hits"]["hits"]
    assert len(top) == 1
    doc = top[0]["_source"]
    source = next(c for c in coins(1) if c["slug"] == "bitcoin")
    assert doc["name"] == "Bitcoin" and doc["symbol"] == "BTC"
    assert doc["price_usd"] == usd(source)["price"]
    assert doc["market_cap_usd"] == usd(source)["marketCap"]
    assert doc["url"] == f"{sites.url}/coinmarketcap/currencies/bitcoin/"
    assert top[0]["_id"] == "coinmarketcap:bitcoin"
    # Page 2 really was visited: rank 150 exists and is searchable by range on an exact double.
    cheap = client.search(index=index(settings), query={"range": {"rank": {"gte": 150, "lte": 150}}})["hits"]["hits"]
    assert cheap[0]["_source"]["slug"] == "fixture-token-150"

    scrape_round(settings, ["coinmarketcap"])
    again = consume_all(settings)
    assert again.indexed == 201
    assert client.count(index=index(settings))["count"] == 201


def test_table_rendered_by_javascript_is_read_after_scrolling_placeholders_away(settings, sites):
    settings = settings.with_plugin_values("coinmarketcap", base_url=f"{sites.url}/coinmarketcap-table")
    captured = []
    from scrapers.pool import ScrapePool

    with ScrapePool(settings, captured.append) as pool:
        report = pool.run_round(["coinmarketcap"])
    assert report.plugins["coinmarketcap"].errors == 0
    by_slug = {r.record["slug"]: r.record for r in captured}
    assert len(by_slug) == 101
    source = usd(next(c for c in coins(1) if c["slug"] == "bitcoin"))
    btc = by_slug["bitcoin"]
    assert btc["price_usd"] == round(source["price"], 2)
    assert btc["market_cap_usd"] == round(source["marketCap"])  # the full figure beside "$1.28T"
    assert btc["change_7d"] == round(source["percentChange7d"], 2)
    last = by_slug["fixture-token-100"]
    assert last["rank"] == 100 and last["market_cap_usd"] is not None


def test_page_without_the_table_yields_no_records_and_an_error_naming_the_url(settings, sites, caplog):
    url = f"{sites.url}/coinmarketcap-broken"
    settings = settings.with_plugin_values("coinmarketcap", base_url=url, wait_timeout="2")
    with caplog.at_level(logging.ERROR):
        report = scrape_round(settings, ["coinmarketcap"])
    stats = report.plugins["coinmarketcap"]
    assert (stats.pages, stats.records, stats.errors) == (1, 0, 1)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any(f"{url}/" in message and "not ready within 2 s" in message for message in errors), errors


def test_poison_messages_go_to_the_dead_letter_topic_and_the_consumer_carries_on(settings):
    kafka = settings.kafka
    topic = records_topic(kafka.topic_prefix, "crypto_quote")
    ensure_topics(kafka, [topic])
    producer = KafkaProducer(bootstrap_servers=list(kafka.bootstrap_servers))
    good = ScrapedRecord("coinmarketcap", "crypto_quote", "coinmarketcap:good", "http://x/", "2026-01-01T00:00:00Z", {"slug": "good", "price_usd": 2.5})
    # Same key, so the three share a partition and keep their order.
    for value in (b"this is not json", encode(good), b'{"schema": 1, "plugin": "x"}'):
        producer.send(topic, key=b"k", value=value)
    producer.flush()
    producer.close()

    stats = consume_all(settings)
    assert (stats.consumed, stats.indexed, stats.dead_lettered) == (3, 1, 2)
    assert es(settings).get(index=index(settings), id="coinmarketcap:good")["_source"]["price_usd"] == 2.5

    letters = read_topic(settings, dead_letter_topic(kafka.topic_prefix))
    assert [letter["original"] for letter in letters] == ["this is not json", '{"schema": 1, "plugin": "x"}']
    assert "not JSON" in letters[0]["reason"]
    assert letters[0]["source"]["topic"] == topic
    # Offsets were committed: a new consumer of the group finds nothing left.
    assert consume_all(settings).consumed == 0
