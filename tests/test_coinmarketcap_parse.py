"""The CoinMarketCap parser on authored fixture pages, and on the saved real pages when they are here."""

import pytest
from bs4 import BeautifulSoup

from conftest import SITES
from fixtures.cmc_site import coins, usd
from plugins.coinmarketcap import CoinMarketCap, records_from_next_data, records_from_table
from scrapers import Page


def soup(path):
    return BeautifulSoup(path.read_text(encoding="utf-8"), "lxml")


def test_next_data_gives_every_coin_with_exact_figures():
    records = records_from_next_data(soup(SITES / "coinmarketcap" / "index.html"))
    listing = coins(1)
    assert len(records) == len(listing) == 101
    btc = next(r for r in records if r["slug"] == "bitcoin")
    source = next(c for c in listing if c["slug"] == "bitcoin")
    assert btc == {
        "rank": 1,
        "name": "Bitcoin",
        "symbol": "BTC",
        "slug": "bitcoin",
        "price_usd": usd(source)["price"],
        "change_1h": usd(source)["percentChange1h"],
        "change_24h": usd(source)["percentChange24h"],
        "change_7d": usd(source)["percentChange7d"],
        "market_cap_usd": usd(source)["marketCap"],
        "volume_24h_usd": usd(source)["volume24h"],
        "circulating_supply": source["circulatingSupply"],
        "total_supply": source.get("totalSupply"),
        "max_supply": source.get("maxSupply"),
    }
    index_row = records[0]
    assert index_row["slug"] == "coinmarketcap-20-index" and index_row["rank"] is None


def test_table_rows_and_placeholders_in_the_served_html():
    records = records_from_table(soup(SITES / "coinmarketcap" / "index.html"))
    # Only the server-rendered rows are full; placeholders are skipped, not guessed.
    assert len(records) == 30
    eth = next(r for r in records if r["slug"] == "ethereum")
    source = usd(next(c for c in coins(1) if c["slug"] == "ethereum"))
    assert eth["price_usd"] == round(source["price"], 2)
    assert eth["change_24h"] == round(source["percentChange24h"], 2)
    assert eth["market_cap_usd"] == pytest.approx(source["marketCap"], rel=0.01)


def test_parse_prefers_json_and_links_each_coin():
    plugin = CoinMarketCap({"base_url": "http://mirror.test"})
    page = Page("http://mirror.test/", (SITES / "coinmarketcap" / "index.html").read_text())
    records = list(plugin.parse(page))
    assert len(records) == 101
    assert records[1]["url"] == "http://mirror.test/currencies/bitcoin/"
    assert {record["source"] for record in records} == {"coinmarketcap"}
    for record in records:
        plugin.schema.validate(record)


def test_page_without_table_or_data_is_an_error_naming_the_url():
    plugin = CoinMarketCap()
    page = Page("http://mirror.test/", (SITES / "coinmarketcap-broken" / "index.html").read_text())
    with pytest.raises(ValueError, match="http://mirror.test/"):
        list(plugin.parse(page))


def test_listing_urls_follow_the_configured_base():
    plugin = CoinMarketCap({"base_url": "http://127.0.0.1:8000/cmc/", "pages": 3})
    assert [r.url for r in plugin.start_requests()] == [
        "http://127.0.0.1:8000/cmc/",
        "http://127.0.0.1:8000/cmc/?page=2",
        "http://127.0.0.1:8000/cmc/?page=3",
    ]


# The saved real pages (not part of the project) when this checkout sits beside them.
REAL_LISTINGS = {
    "listing-home-2026-07-12.html": (101, 32),
    "listing-home-2025-06-24.html": (100, 13),
    "listing-all-views-2023-09-27.html": (200, 20),
}


@pytest.mark.parametrize("name", list(REAL_LISTINGS))
def test_real_listing_pages(real_pages, name):
    page = soup(real_pages / "coinmarketcap" / name)
    from_json, from_table = records_from_next_data(page), records_from_table(page)
    assert (len(from_json), len(from_table)) == REAL_LISTINGS[name]
    btc_json = next(r for r in from_json if r["slug"] == "bitcoin")
    btc_table = next(r for r in from_table if r["slug"] == "bitcoin")
    assert btc_json["rank"] == btc_table["rank"] == 1
    assert btc_json["symbol"] == btc_table["symbol"] == "BTC"
    assert btc_json["max_supply"] == 21000000 and btc_json["total_supply"] > 19_000_000
    # The JSON and the table are snapshots taken moments apart: close, not equal.
    assert btc_table["price_usd"] == pytest.approx(btc_json["price_usd"], rel=0.01)
    assert btc_table["market_cap_usd"] == pytest.approx(btc_json["market_cap_usd"], rel=0.02)
    assert all(CoinMarketCap.schema.validate(r) for r in from_json + from_table)
