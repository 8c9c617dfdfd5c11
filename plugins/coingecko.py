"""CoinGecko market data: one ``crypto_quote`` record per coin from the REST API, no browser.

``GET {base_url}/coins/markets?vs_currency=usd&order=market_cap_desc&per_page=N&page=P
&price_change_percentage=1h,24h,7d`` answers a JSON list of coins, largest first. Each
becomes a record with the same fields as CoinMarketCap's (the two share the kind and so
the index), marked ``source = "coingecko"`` so that dashboards can set the sources side
by side; record ids (``coingecko:bitcoin``) never collide with CoinMarketCap's.

Only ``vs_currency = usd`` is accepted: the kind's fields say USD (``price_usd``,
``market_cap_usd``, ``volume_24h_usd``), and a price in another currency under those names
would be wrong in every chart that averages them. The free tier allows a few requests a
minute and answers 429 with ``Retry-After`` beyond, which the pool honours; ``api_key``
(a demo key) is sent as the ``x-cg-demo-api-key`` header, never in the URL.
"""

from __future__ import annotations

from typing import Any, Iterator
from urllib.parse import urlencode

from plugins.coinmarketcap import CoinMarketCap
from scrapers import Page, Plugin, Request

# CoinGecko's largest page.
MAX_PER_PAGE = 250
API_KEY_HEADER = "x-cg-demo-api-key"
COIN_PAGE = "https://www.coingecko.com/en/coins/{id}"


class CoinGecko(Plugin):
    name = "coingecko"
    kind = "crypto_quote"
    # One kind, one schema (the registry refuses a second): CoinMarketCap's, defined there once.
    schema = CoinMarketCap.schema
    fetch = "http"
    default_settings = {
        "base_url": "https://api.coingecko.com/api/v3",
        # Prices in this currency; only usd, as the fields say USD.
        "vs_currency": "usd",
        # Coins per page (at most 250) and pages per round.
        "per_page": 100,
        "pages": 1,
        # A CoinGecko demo API key, sent as the x-cg-demo-api-key header; empty: none.
        "api_key": "",
    }
    common_settings = {
        **Plugin.common_settings,
        # Off unless configured: it reads a live third-party API.
        "enabled": False,
        "interval": "300",
        # The keyless free tier allows about 5 to 15 requests a minute.
        "requests_per_minute": 10.0,
    }

    def __init__(self, settings: dict[str, Any] | None = None) -> None:
        super().__init__(settings)
        per_page, pages = int(self.settings["per_page"]), int(self.settings["pages"])
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise ValueError(f"[plugin:coingecko] per_page: between 1 and {MAX_PER_PAGE} (CoinGecko's largest page), got {per_page}")
        if pages < 1:
            raise ValueError(f"[plugin:coingecko] pages: at least 1, got {pages}")
        currency = str(self.settings["vs_currency"]).strip().lower()
        if currency != "usd":
            raise ValueError(
                f"[plugin:coingecko] vs_currency: only usd is supported, got {self.settings['vs_currency']!r} "
                "(the crypto_quote fields are in USD: price_usd, market_cap_usd, volume_24h_usd)"
            )

    def markets_url(self, page: int) -> str:
        query = urlencode({
            "vs_currency": "usd", "order": "market_cap_desc", "per_page": int(self.settings["per_page"]),
            "page": page, "price_change_percentage": "1h,24h,7d",
        })  # fmt: skip
        return f"{str(self.settings['base_url']).rstrip('/')}/coins/markets?{query}"

    def start_requests(self) -> Iterator[Request]:
        key = str(self.settings["api_key"]).strip()
        headers = {API_KEY_HEADER: key} if key else {}
        for page in range(1, int(self.settings["pages"]) + 1):
            yield Request(self.markets_url(page), label="markets", headers=headers)

    def parse(self, page: Page) -> Iterator[dict[str, Any]]:
        coins = page.json()
        if isinstance(coins, dict):  # {"status": {"error_code": ..., "error_message": ...}} or {"error": ...}
            status = coins.get("status") if isinstance(coins.get("status"), dict) else {}
            said = status.get("error_message") or coins.get("error") or "an object, not a list of coins"
            raise ValueError(f"{page.url}: CoinGecko answered: {said}")
        if not isinstance(coins, list):
            raise ValueError(f"{page.url}: expected a list of coins, got {type(coins).__name__}")
        for coin in coins:
            if isinstance(coin, dict) and coin.get("id"):
                yield record_from_market(coin)


def record_from_market(coin: dict[str, Any]) -> dict[str, Any]:
    """One coin of ``/coins/markets`` as a crypto_quote record (CoinMarketCap's field names)."""
    symbol = coin.get("symbol")
    return {
        "rank": coin.get("market_cap_rank"),
        "name": coin.get("name"),
        # CoinGecko writes symbols in lower case, CoinMarketCap in upper case: one spelling compares.
        "symbol": symbol.upper() if isinstance(symbol, str) else symbol,
        "slug": coin["id"],
        "price_usd": coin.get("current_price"),
        "change_1h": coin.get("price_change_percentage_1h_in_currency"),
        "change_24h": _first_present(coin, "price_change_percentage_24h_in_currency", "price_change_percentage_24h"),
        "change_7d": coin.get("price_change_percentage_7d_in_currency"),
        "market_cap_usd": coin.get("market_cap"),
        "volume_24h_usd": coin.get("total_volume"),
        "circulating_supply": coin.get("circulating_supply"),
        "total_supply": coin.get("total_supply"),
        "max_supply": coin.get("max_supply"),
        "source": "coingecko",
        "url": COIN_PAGE.format(id=coin["id"]),
    }


def _first_present(coin: dict[str, Any], *keys: str) -> Any:
    return next((coin[key] for key in keys if coin.get(key) is not None), None)
