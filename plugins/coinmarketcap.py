"""CoinMarketCap listings: one record per coin from ``/`` and ``/?page=N``, and coin pages.

The site is a Next.js app: the listing is embedded as JSON in
``<script id="__NEXT_DATA__">`` and rendered into ``table.cmc-table``, whose
lower rows stay placeholders until scrolled into view. The JSON is read when
present (it is complete and exact); otherwise the rendered table is read
after scrolling the placeholders away. A coin's page
(``/currencies/<slug>/``) gives that coin from the same JSON.

Everything is in the document, so images, fonts and every other host
(hundreds of scripts, trackers and images) are blocked by default, and the
page is read as soon as ``__NEXT_DATA__`` is complete.
"""

from __future__ import annotations

import json
import logging
import re
from typing import TYPE_CHECKING, Any, Iterator

from bs4 import BeautifulSoup, Tag

from scrapers import Page, Plugin, Request, Schema, js, to_int, to_number, to_percent

if TYPE_CHECKING:
    from scrapers import Tab

log = logging.getLogger(__name__)

NEXT_DATA = "script#__NEXT_DATA__"
TABLE = "table.cmc-table"
# Older pages put the header and the body in separate tables and mark rows instead.
OLD_ROW = "tr.cmc-table-row"
# Placeholder rows carry one cell spanning the rest of the row.
LAZY_ROW = f"{TABLE} tbody tr:has(> td[colspan]), {OLD_ROW}:has(> td[colspan])"
FIELDS = {
    "rank": "int",
    "name": "str",
    "symbol": "str",
    "slug": "str",
    "price_usd": "float",
    "change_1h": "float",
    "change_24h": "float",
    "change_7d": "float",
    "market_cap_usd": "float",
    "volume_24h_usd": "float",
    "circulating_supply": "float",
    "total_supply": "float",
    "max_supply": "float",
    # Which site the record came from: CoinGecko's records share this kind (plugins/coingecko.py).
    "source": "str",
}
# Table header text (lower-case, spaces removed) -> record field.
HEADER_FIELDS = {
    "#": "rank",
    "rank": "rank",
    "name": "name",
    "symbol": "symbol",
    "price": "price_usd",
    "1h%": "change_1h",
    "%1h": "change_1h",
    "24h%": "change_24h",
    "%24h": "change_24h",
    "7d%": "change_7d",
    "%7d": "change_7d",
    "marketcap": "market_cap_usd",
    "volume(24h)": "volume_24h_usd",
    "circulatingsupply": "circulating_supply",
}
# Ready once __NEXT_DATA__ is whole (an element follows it, or the document is parsed), or, without
# it, once the parsed document shows table rows. Never mid-parse: the HTML is taken at once.
READY = js(
    "(s => s !== null && (s.nextSibling !== null || document.readyState !== 'loading'))"
    "(document.getElementById('__NEXT_DATA__'))"
    f" || (document.readyState !== 'loading' && document.querySelector('{TABLE} tbody tr, {OLD_ROW}') !== null)"
)
_NUMBER_TOKEN = re.compile(r"[-−]?\s?\$?\s?\d[\d.,]*\s?[KMBT]?(?![A-Za-z])")
_SLUG = re.compile(r"/currencies/([^/?#]+)/?")


class CoinMarketCap(Plugin):
    name = "coinmarketcap"
    kind = "crypto_quote"
    # Every observation is kept (price history), not only the latest per coin.
    schema = Schema(fields=FIELDS, id_fields=("slug",), history=True)
    wait_for = READY
    default_settings = {
        "base_url": "https://coinmarketcap.com",
        # Listing pages per round, 100 coins each.
        "pages": 1,
        # Scroll placeholder rows into view when only the table can be read.
        "scroll": True,
    }
    common_settings = {
        **Plugin.common_settings,
        "interval": "300",
        "block_resources": "image,media,font",
        "allow_hosts": "self",
    }

    def listing_url(self, page: int) -> str:
        base = str(self.settings["base_url"]).rstrip("/")
        return f"{base}/" if page == 1 else f"{base}/?page={page}"

    def start_requests(self) -> Iterator[Request]:
        for page in range(1, int(self.settings["pages"]) + 1):
            yield Request(self.listing_url(page))

    def needs_interaction(self, page: Page) -> bool:
        # The JSON holds every coin: the table (and its scrolling) is only for pages without it.
        return 'id="__NEXT_DATA__"' not in page.html

    def interact(self, tab: Tab, request: Request) -> None:
        if self.settings["scroll"] and not tab.count(NEXT_DATA) and tab.count(LAZY_ROW):
            tab.scroll_to_bottom(until_gone=LAZY_ROW)

    def parse(self, page: Page) -> Iterator[dict[str, Any]]:
        base = str(self.settings["base_url"]).rstrip("/")
        coin = record_from_coin_page(page.soup)
        if coin is not None:
            yield {**coin, "source": "coinmarketcap", "url": f"{base}/currencies/{coin['slug']}/"}
            return
        coins = records_from_next_data(page.soup)
        if coins is None:
            coins = records_from_table(page.soup)
            if coins is None:
                raise ValueError(f"{page.url}: neither __NEXT_DATA__ listing nor {TABLE} found")
        for coin in coins:
            yield {**coin, "source": "coinmarketcap", "url": f"{base}/currencies/{coin['slug']}/"}


def _next_data(soup: BeautifulSoup) -> dict[str, Any] | None:
    script = soup.find("script", id="__NEXT_DATA__")
    if script is None or not script.string:
        return None
    try:
        data = json.loads(script.string)
    except json.JSONDecodeError as exc:
        log.warning("__NEXT_DATA__ is not valid JSON (%s); reading the table instead", exc)
        return None
    return data if isinstance(data, dict) else None


def record_from_coin_page(soup: BeautifulSoup) -> dict[str, Any] | None:
    """The coin of a ``/currencies/<slug>/`` page, from ``props.pageProps.detailRes.detail``; None elsewhere."""
    data = _next_data(soup)
    detail = ((((data or {}).get("props") or {}).get("pageProps") or {}).get("detailRes") or {}).get("detail")
    if not isinstance(detail, dict) or not detail.get("slug"):
        return None
    statistics = detail.get("statistics") or {}
    return {
        "rank": statistics.get("rank"),
        "name": detail.get("name"),
        "symbol": detail.get("symbol"),
        "slug": detail.get("slug"),
        "price_usd": statistics.get("price"),
        "change_1h": statistics.get("priceChangePercentage1h"),
        "change_24h": statistics.get("priceChangePercentage24h"),
        "change_7d": statistics.get("priceChangePercentage7d"),
        "market_cap_usd": statistics.get("marketCap"),
        "volume_24h_usd": detail.get("volume"),
        "circulating_supply": statistics.get("circulatingSupply"),
        "total_supply": statistics.get("totalSupply"),
        "max_supply": statistics.get("maxSupply"),
    }


def records_from_next_data(soup: BeautifulSoup) -> list[dict[str, Any]] | None:
    """Coins from the page's ``__NEXT_DATA__`` JSON, or None when it holds no listing."""
    data = _next_data(soup)
    if data is None:
        return None
    props = data.get("props") or {}
    coins = _dehydrated_listing(props)
    if coins is None:
        coins = _initial_state_listing(props)
    if coins is None:
        return None
    return [_record_from_json(coin) for coin in coins if coin.get("slug")]


def _dehydrated_listing(props: dict[str, Any]) -> list[dict[str, Any]] | None:
    for query in (props.get("dehydratedState") or {}).get("queries", []):
        key = query.get("queryKey") or []
        if key and key[0] == "homepage-data":
            listing = (((query.get("state") or {}).get("data") or {}).get("data") or {}).get("listing") or {}
            coins = listing.get("cryptoCurrencyList")
            if coins:
                return [{**coin, "quote": _usd_quote(coin.get("quotes"))} for coin in coins]
    return None


def _usd_quote(quotes: list[dict[str, Any]] | None) -> dict[str, Any]:
    return next((q for q in quotes or [] if q.get("name") == "USD"), {})


def _initial_state_listing(props: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The older layout: ``initialState`` is a JSON string whose listing may be key-compressed."""
    state = props.get("initialState")
    if isinstance(state, str):
        try:
            state = json.loads(state)
        except json.JSONDecodeError:
            return None
    rows = (((state or {}).get("cryptocurrency") or {}).get("listingLatest") or {}).get("data") or []
    if not rows:
        return None
    if isinstance(rows[0], dict) and rows[0].get("id") == "COMPRESSED_KEYS_ARR":
        keys = rows[0]["keysArr"]
        rows = [dict(zip(keys, values)) for values in rows[1:]]
    coins = []
    for row in rows:
        quote = {k.split(".", 2)[2]: v for k, v in row.items() if k.startswith("quote.USD.")}
        quote.update((row.get("quote") or {}).get("USD") or {})
        coins.append({**row, "quote": quote})
    return coins


def _record_from_json(coin: dict[str, Any]) -> dict[str, Any]:
    quote = coin.get("quote") or {}
    return {
        "rank": coin.get("cmcRank"),
        "name": coin.get("name"),
        "symbol": coin.get("symbol"),
        "slug": coin.get("slug"),
        "price_usd": quote.get("price"),
        "change_1h": quote.get("percentChange1h"),
        "change_24h": quote.get("percentChange24h"),
        "change_7d": quote.get("percentChange7d"),
        "market_cap_usd": quote.get("marketCap"),
        "volume_24h_usd": quote.get("volume24h"),
        "circulating_supply": coin.get("circulatingSupply"),
        "total_supply": coin.get("totalSupply"),
        "max_supply": coin.get("maxSupply"),
    }


def records_from_table(soup: BeautifulSoup) -> list[dict[str, Any]] | None:
    """Coins from the rendered ``table.cmc-table``, or None when there is no such table.

    Placeholder rows (one cell spanning the rest) hold no figures and are skipped.
    """
    located = _header_and_rows(soup)
    if located is None:
        return None
    headers, rows = located
    records = []
    skipped = 0
    for row in rows:
        cells = row.find_all("td", recursive=False)
        if len(cells) != len(headers) or row.find("td", attrs={"colspan": True}, recursive=False):
            skipped += 1
            continue
        record = _record_from_row(dict(zip(headers, cells)))
        if record.get("slug"):
            records.append(record)
    if skipped:
        log.info("skipped %d placeholder rows of %s", skipped, TABLE)
    return records


def _header_and_rows(soup: BeautifulSoup) -> tuple[list[str | None], list[Tag]] | None:
    table = soup.select_one(TABLE)
    if table is not None:
        header_cells, rows = table.select("thead th"), table.select("tbody > tr")
    else:
        rows = soup.select(OLD_ROW)
        header_tables = [t for t in soup.select("table") if t.select_one("thead th")]
        if not rows or not header_tables:
            return None
        header_cells = header_tables[0].select("thead th")
    headers = [HEADER_FIELDS.get(re.sub(r"\s+", "", th.get_text()).lower()) for th in header_cells]
    if "name" not in headers:
        return None
    return headers, rows


def _record_from_row(cells: dict[str | None, Tag]) -> dict[str, Any]:
    name_cell = cells.get("name")
    link = name_cell.select_one('a[href*="/currencies/"]') if name_cell else None
    slug = _SLUG.search(link["href"]).group(1) if link and _SLUG.search(link["href"]) else None
    record: dict[str, Any] = {"slug": slug}
    record["name"] = _first_text(name_cell, ".coin-item-name, .cmc-table__column-name--name, p[class*=name]")
    symbol_cell = cells.get("symbol") or name_cell
    record["symbol"] = _first_text(symbol_cell, ".coin-item-symbol, .crypto-symbol, [class*=symbol]") or (
        symbol_cell.get_text(strip=True) if "symbol" in cells and symbol_cell else None
    )
    if record["name"] is None and link is not None:
        record["name"] = link.get_text(" ", strip=True)
    rank_cell = cells.get("rank")
    record["rank"] = to_int(rank_cell.get_text(strip=True)) if rank_cell else None
    for field in ("price_usd", "market_cap_usd", "volume_24h_usd", "circulating_supply"):
        record[field] = _most_precise_number(cells.get(field))
    for field in ("change_1h", "change_24h", "change_7d"):
        cell = cells.get(field)
        if cell is not None:
            down = cell.select_one("[class*=Caret-down], [class*=caret-down], [data-change=down]") is not None
            record[field] = to_percent(cell.get_text(" ", strip=True), negative=down)
    return record


def _first_text(cell: Tag | None, selector: str) -> str | None:
    if cell is None:
        return None
    found = cell.select_one(selector)
    return found.get_text(" ", strip=True) if found else None


def _most_precise_number(cell: Tag | None) -> float | None:
    """The number with the most digits in a cell that shows e.g. ``$2.1T`` beside ``$2,097,047,168,150``."""
    if cell is None:
        return None
    tokens = _NUMBER_TOKEN.findall(cell.get_text(" ", strip=True))
    if not tokens:
        return None
    best = max(tokens, key=lambda token: sum(ch.isdigit() for ch in token))
    return to_number(best)
