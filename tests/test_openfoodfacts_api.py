"""OpenFoodFacts with source = api: search v2 pages and product v2 over HTTP, through the pool, no browser."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from fixtures.off_api import api_product, catalogue, product_response, search_page
from fixtures.off_site import PRODUCTS
from loopback import LoopbackServer, QuietHandler
from plugins.openfoodfacts import OpenFoodFacts, record_from_api_product
from scrapeline.settings import Settings
from scrapers.pool import ScrapePool


class FakeOffApi:
    """The API on loopback: /api/v2/search by brands_tags with pages, /api/v2/product/CODE.json."""

    def __init__(self, products: list[dict]) -> None:
        self.searches: list[dict[str, list[str]]] = []
        self.user_agents: set[str] = set()
        api = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                api.user_agents.add(self.headers.get("User-Agent", ""))
                if parts.path == "/api/v2/search":
                    query = parse_qs(parts.query)
                    api.searches.append(query)
                    body = search_page(products, int(query["page"][0]), int(query["page_size"][0]))
                elif parts.path.startswith("/api/v2/product/"):
                    code = parts.path.rsplit("/", 1)[1].removesuffix(".json")
                    found = [p for p in products if p["code"] == code]
                    body = product_response(found[0]) if found else {"code": code, "status": 0, "status_verbose": "product not found"}
                else:
                    self.send(404, b"{}", "application/json")
                    return
                self.send(200, json.dumps(body).encode(), "application/json")

        self._server = LoopbackServer(Handler).start()
        self.url = self._server.url

    def stop(self) -> None:
        self._server.stop()


@pytest.fixture
def api():
    server = FakeOffApi(catalogue(extra=117))  # 120 products: 3 pages of 50
    yield server
    server.stop()


@pytest.mark.parametrize("expected", PRODUCTS, ids=[p["code"] for p in PRODUCTS])
def test_an_api_product_gives_the_same_record_as_its_page(expected):
    record = record_from_api_product(api_product(expected))
    assert record == {**expected, "image_url": f"https://images.example.test{expected['image_url']}" if expected["image_url"] else None}


def test_a_round_reads_every_search_page_over_http_and_starts_no_browser(api, tmp_path):
    settings = Settings().replace("pool", workers=1, retries=0, data_dir=str(tmp_path / "data"))
    # A browser cannot even start here: the round succeeds only if none is asked for.
    settings = settings.replace("browser", driver_path=str(tmp_path / "no-chromedriver"), remote_url="")
    settings = settings.with_plugin_values(
        "openfoodfacts", base_url=api.url, source="api", listings="/facets/brands/fixture", pages="5",
        obey_robots="false", search_pages_per_minute="6000",
    )
    records = []
    with ScrapePool(settings, records.append) as pool:
        report = pool.run_round(["openfoodfacts"])
    stats = report.plugins["openfoodfacts"]
    assert (stats.pages, stats.records, stats.errors, stats.invalid_records) == (3, 120, 0, 0)
    assert len({r.id for r in records}) == 120
    assert [query["page"] for query in api.searches] == [["1"], ["2"], ["3"]]
    assert all(query["brands_tags"] == ["fixture"] and query["page_size"] == ["50"] for query in api.searches)
    assert api.user_agents == {OpenFoodFacts.common_settings["user_agent"]}
    first = next(r for r in records if r.record["code"] == PRODUCTS[0]["code"])
    assert first.url == f"{api.url}/product/{PRODUCTS[0]['code']}"
    assert first.record["nutriscore_grade"] == "c" and first.record["energy_kcal"] == PRODUCTS[0]["energy_kcal"]


def test_listing_paths_map_to_search_tags():
    plugin = OpenFoodFacts({"source": "api", "base_url": "https://off.test", "listings": "/facets/nutrition-grades/c, /brand/bel, /state/photos-uploaded"})
    queries = [parse_qs(urlsplit(r.url).query) for r in plugin.start_requests()]
    assert [q.get("nutrition_grades_tags") or q.get("brands_tags") or q.get("states_tags") for q in queries] == [["c"], ["bel"], ["photos-uploaded"]]
    with pytest.raises(ValueError, match="not a facet path"):
        list(OpenFoodFacts({"source": "api", "listings": "/cgi/search.pl"}).start_requests())


def test_an_unknown_source_is_refused():
    with pytest.raises(ValueError, match="source: expected html or api"):
        OpenFoodFacts({"source": "xml"})
