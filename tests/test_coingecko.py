"""CoinGecko over HTTP: an authored API in CoinGecko's exact format, through the pool (no browser),
Retry-After, the API key that is sent but never logged, and exact values in Elasticsearch."""

from __future__ import annotations

import logging

import pytest

from dev_env import consume_all, es_client, produce, quote_envelope
from fixtures.coingecko_api import AUTHORED, HUGE_CAP, HUGE_SUPPLY, CoinGeckoApi
from plugins.coingecko import API_KEY_HEADER, CoinGecko, record_from_market
from plugins.coinmarketcap import CoinMarketCap
from scrapeline.rounds import scrape_round
from scrapeline.settings import Settings
from scrapers.pool import ScrapePool
from scrapers.registry import discover, kind_schemas

SECRET = "CG-demo-key-never-logged-4711"


@pytest.fixture
def api():
    server = CoinGeckoApi()
    yield server
    server.stop()


def no_browser(settings: Settings, tmp_path) -> Settings:
    """A browser cannot even start with these settings: a round succeeds only if none is asked for."""
    return settings.replace("browser", driver_path=str(tmp_path / "no-chromedriver"), remote_url="")


def coingecko(settings: Settings, api: CoinGeckoApi, **values: str) -> Settings:
    return settings.with_plugin_values("coingecko", base_url=api.url, requests_per_minute="0", **values)


def pool_round(settings: Settings) -> tuple:
    records, failures = [], []
    with ScrapePool(settings, records.append, on_failure=failures.append) as pool:
        report = pool.run_round(["coingecko"])
    return report.plugins["coingecko"], records, failures


BY_ID = {coin["id"]: coin for coin in AUTHORED}


@pytest.mark.parametrize(("coin", "expected"), [
    ("bitcoin", {"rank": 1, "name": "Bitcoin", "symbol": "BTC", "slug": "bitcoin", "price_usd": 97234.12, "change_1h": 0.1534231,
                 "change_24h": -0.5241203, "change_7d": -3.7702114, "market_cap_usd": 1925432187654, "volume_24h_usd": 38123456789,
                 "circulating_supply": 19802137.0, "total_supply": 19802137.0, "max_supply": 21000000.0, "source": "coingecko",
                 "url": "https://www.coingecko.com/en/coins/bitcoin"}),
    ("ethereum", {"max_supply": None, "change_1h": -0.0412, "circulating_supply": 120501234.56789}),
    ("hyper-supply", {"price_usd": 1e-8, "market_cap_usd": HUGE_CAP, "total_supply": HUGE_SUPPLY, "change_7d": -48.75, "symbol": "HYPE2"}),
    ("fresh-listing", {"rank": None, "change_1h": None, "change_24h": None, "change_7d": None, "total_supply": None, "market_cap_usd": 0}),
], ids=lambda value: value if isinstance(value, str) else "")  # fmt: skip
def test_a_market_item_maps_onto_coinmarketcaps_fields(coin, expected):
    record = record_from_market(BY_ID[coin])
    assert {key: record[key] for key in expected} == expected
    validated = CoinGecko.schema.validate(record)
    assert validated["price_usd"] == record["price_usd"]  # 1e-8 stays 1e-8


def test_one_kind_one_schema_and_ids_that_never_collide():
    assert CoinGecko.schema == CoinMarketCap.schema
    registry = discover()
    assert not registry.problems, registry.problems
    assert {"coingecko", "coinmarketcap"} <= set(registry.entries)
    assert kind_schemas(registry)["crypto_quote"].fields["source"] == "str"
    record = CoinGecko.schema.validate(record_from_market(BY_ID["bitcoin"]))
    assert CoinGecko.schema.record_id("coingecko", record) != CoinMarketCap.schema.record_id("coinmarketcap", record)


@pytest.mark.parametrize(("values", "message"), [
    ({"per_page": "251"}, "per_page: between 1 and 250"),
    ({"per_page": "0"}, "per_page: between 1 and 250"),
    ({"pages": "0"}, "pages: at least 1"),
    ({"vs_currency": "eur"}, "vs_currency: only usd is supported"),
])  # fmt: skip
def test_settings_out_of_range_are_a_clear_error(values, message):
    with pytest.raises(ValueError, match=message):
        discover().create("coingecko", Settings().with_plugin_values("coingecko", **values))
    assert discover().create("coingecko", Settings().with_plugin_values("coingecko", per_page="250", vs_currency="USD"))


def test_a_round_reads_every_page_over_http_with_the_key_and_starts_no_browser(api, tmp_path):
    settings = Settings().replace("pool", workers=1, retries=0, data_dir=str(tmp_path / "data"))
    settings = coingecko(no_browser(settings, tmp_path), api, per_page="100", pages="3", api_key=SECRET)
    stats, records, failures = pool_round(settings)
    assert (stats.pages, stats.records, stats.errors, stats.invalid_records, failures) == (3, 250, 0, 0, [])
    assert len({r.id for r in records}) == 250 and all(r.id.startswith("coingecko:") for r in records)
    queries = [query for query, _, _ in api.market_requests()]
    assert sorted(q["page"][0] for q in queries) == ["1", "2", "3"]
    for query in queries:
        assert {key: value[0] for key, value in query.items() if key != "page"} == {
            "vs_currency": "usd", "order": "market_cap_desc", "per_page": "100", "price_change_percentage": "1h,24h,7d"}
    assert {headers[API_KEY_HEADER] for _, headers, _ in api.market_requests()} == {SECRET}
    # obey_robots is on: the API host has no robots.txt (404), which allows everything.
    assert "/robots.txt" in [path for path, *_ in api.requests]
    hyper = next(r for r in records if r.record["slug"] == "hyper-supply")
    assert (hyper.record["price_usd"], hyper.record["market_cap_usd"], hyper.record["source"]) == (1e-8, float(HUGE_CAP), "coingecko")


def test_without_a_key_no_key_header_is_sent(api, tmp_path):
    settings = Settings().replace("pool", workers=1, retries=0, data_dir=str(tmp_path / "data"))
    stats, records, failures = pool_round(coingecko(no_browser(settings, tmp_path), api))
    assert (stats.records, failures) == (100, [])
    assert all(API_KEY_HEADER not in headers for _, headers, _ in api.market_requests())


def test_a_429_with_retry_after_is_asked_again_only_after_the_hold(api, tmp_path, caplog):
    settings = Settings().replace("pool", workers=1, retries=1, data_dir=str(tmp_path / "data"))
    settings = coingecko(no_browser(settings, tmp_path), api, pages="2")
    api.answers[2] = [(429, {"Retry-After": "1"})]
    with caplog.at_level(logging.INFO, logger="scrapeline.pool"):
        stats, records, failures = pool_round(settings)
    assert (stats.pages, stats.records, stats.errors, stats.retries, failures) == (2, 200, 0, 1, [])
    asked = [at for query, _, at in api.market_requests() if query["page"] == ["2"]]
    assert len(asked) == 2  # the pool's hold, not a retry inside the worker
    # The second request cannot come before the hold the site asked for (a lower bound, not a timing).
    assert asked[1] - asked[0] >= 1.0
    assert "HTTP 429 (Retry-After 1 s); its host is held 1 s" in caplog.text


def test_the_api_key_is_in_no_log_line_and_no_failure_message(api, tmp_path, caplog, capfd):
    settings = Settings().replace("pool", workers=1, retries=1, data_dir=str(tmp_path / "data"))
    settings = coingecko(no_browser(settings, tmp_path), api, pages="3", api_key=SECRET)
    api.answers[2] = [(500, {})] * 2  # fails after its retry
    api.answers[3] = [(401, {})]  # refused: not retried
    with caplog.at_level(logging.DEBUG):
        stats, records, failures = pool_round(settings.replace("pool", workers=1))
    assert (stats.records, stats.errors) == (100, 2)
    assert sorted((f.url.split("&page=")[1][0], f.error.removeprefix(f"{f.url}: ")) for f in failures) == [("2", "HTTP 500"), ("3", "HTTP 401")]
    out, err = capfd.readouterr()  # the worker processes' own log lines
    assert "HTTP 500" in caplog.text + err
    for text in (caplog.text, out, err, *(f.error for f in failures), *(repr(f) for f in failures)):
        assert SECRET not in text
    request = next(CoinGecko({"api_key": SECRET}).start_requests())
    assert request.headers == {API_KEY_HEADER: SECRET} and SECRET not in repr(request)


def test_exact_values_through_kafka_into_elasticsearch_beside_coinmarketcap(settings, api, tmp_path):
    settings = coingecko(no_browser(settings, tmp_path), api, per_page="10")
    report = scrape_round(settings, ["coingecko"])
    assert (report.plugins["coingecko"].records, report.errors, report.problems) == (10, 0, [])
    produce(settings, [quote_envelope("bitcoin", 97001.5, source="coinmarketcap")])
    consumed = consume_all(settings)
    assert (consumed.indexed, consumed.dead_lettered) == (11, 0)

    client = es_client(settings)
    index = f"{settings.elasticsearch.index_prefix}-crypto_quote-latest"
    client.indices.refresh(index=index)
    hyper = client.get(index=index, id="coingecko:hyper-supply")["_source"]
    # Above 2^53 a double holds integers to the nearest 2: 2^53 + 2 arrives exactly, 2^53 + 1 as 2^53.
    assert hyper["market_cap_usd"] == HUGE_CAP and hyper["total_supply"] == float(HUGE_SUPPLY) == 2**53
    assert hyper["price_usd"] == 1e-8 and hyper["max_supply"] is None and hyper["change_7d"] == -48.75
    # The indexed value (not only _source) is exact: a range of one value finds it, the double beside it does not.
    for value, hits in ((HUGE_CAP, 1), (HUGE_CAP - 2, 0)):
        found = client.search(index=index, query={"range": {"market_cap_usd": {"gte": value, "lte": value}}})["hits"]["total"]["value"]
        assert found == hits, value
    largest = client.search(index=index, size=0, aggs={"cap": {"max": {"field": "market_cap_usd"}}})["aggregations"]["cap"]["value"]
    assert largest == HUGE_CAP
    tiny = client.search(index=index, query={"range": {"price_usd": {"gte": 1e-8, "lte": 1e-8}}})["hits"]["hits"]
    assert [hit["_id"] for hit in tiny] == ["coingecko:hyper-supply"]
    # One coin, two sources, two documents.
    bitcoin = client.search(index=index, query={"term": {"slug": "bitcoin"}})["hits"]["hits"]
    assert sorted((hit["_id"], hit["_source"]["source"]) for hit in bitcoin) == [
        ("coingecko:bitcoin", "coingecko"), ("coinmarketcap:bitcoin", "coinmarketcap")]
