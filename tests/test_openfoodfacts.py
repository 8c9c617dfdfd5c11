"""The OpenFoodFacts plugin: product pages field by field, listings, and a round through Chromium into Elasticsearch."""

import pytest
from bs4 import BeautifulSoup
from elasticsearch import Elasticsearch

from fixtures.off_site import PRODUCTS, ROOT, product_path
from dev_env import consume_all, read_topic
from pipeline.envelope import failed_pages_topic
from plugins.openfoodfacts import OpenFoodFacts, product_links, record_from_product_page
from scrapers import Page, Request

MIRROR = "http://mirror.test"


def product_soup(product):
    return BeautifulSoup((ROOT / product_path(product).lstrip("/") / "index.html").read_text(), "lxml")


def expected(product, base=MIRROR):
    return {**product, "image_url": base + product["image_url"] if product["image_url"] else None}


@pytest.mark.parametrize("product", PRODUCTS, ids=[p["code"] for p in PRODUCTS])
@pytest.mark.parametrize("field", list(PRODUCTS[0]))
def test_product_page_field_by_field(product, field):
    record = record_from_product_page(product_soup(product), lambda href: MIRROR + href)
    assert record[field] == expected(product)[field]


def test_a_product_with_most_fields_missing_gives_nulls_not_guesses():
    record = record_from_product_page(product_soup(PRODUCTS[2]))
    assert record["code"] == "3000000000031"
    assert [k for k, v in record.items() if v not in (None, [])] == ["code", "product_name"]
    OpenFoodFacts.schema.validate(record)


@pytest.mark.parametrize(
    "shown, value",
    [("4.5 g", 4.5), ("4,5 g", 4.5), ("< 0.5 g", 0.5), ("120 mg", 0.12), ("?", None), ("", None)],
)
def test_nutriment_values(shown, value):
    html = f'<span id="barcode">1</span><div id="panel_nutrition_facts_table_content"><table><tr><td>Salt</td><td>{shown}</td></tr></table></div>'
    assert record_from_product_page(BeautifulSoup(html, "lxml"))["salt"] == value


def test_listing_follows_products_then_the_next_page_within_the_limit():
    plugin = OpenFoodFacts({"base_url": MIRROR, "pages": 2})
    html = (ROOT / "facets/nutrition-grades/c/1/index.html").read_text()
    out = list(plugin.parse(Page(f"{MIRROR}/facets/nutrition-grades/c/1", html, {"listing_page": 1})))
    assert all(isinstance(item, Request) for item in out)
    # Before JavaScript ran the list is empty: the links come from the page's `var products`.
    assert [r.url for r in out] == [MIRROR + product_path(p) for p in PRODUCTS] + [f"{MIRROR}/facets/nutrition-grades/c/2"]
    assert out[-1].meta == {"listing_page": 2}
    assert len(out) == 4
    one_page = OpenFoodFacts({"base_url": MIRROR, "pages": 1})
    assert len(list(one_page.parse(Page(f"{MIRROR}/facets/nutrition-grades/c/1", html, {"listing_page": 1})))) == 3


def test_rate_limits_follow_the_site_policy_by_default():
    plugin = OpenFoodFacts()
    # The listing says which of its links are products: the label picks the bucket.
    listing = Page(f"{MIRROR}/facets/nutrition-grades/c/1", (ROOT / "facets/nutrition-grades/c/1/index.html").read_text(), {"listing_page": 1})
    followed = [item for item in plugin.parse(listing) if isinstance(item, Request)]
    assert followed and {request.label for request in followed} == {"product"}
    assert plugin.rate_limit(followed[0]) == ("product", 100.0)
    assert plugin.rate_limit(next(plugin.start_requests())) == ("search", 10.0)
    assert plugin.settings["user_agent"].startswith("scrapeline/")


@pytest.mark.parametrize(
    "name, count",
    [
        ("listing-facet-brand-bel-2025-06-15.html", 50),
        ("listing-facet-nutrition-grade-c-2025-06-15.html", 50),
        ("listing-state-photos-uploaded-2015-05-23.html", 20),
    ],
)
def test_real_listing_pages(real_pages, name, count):
    links = product_links(BeautifulSoup((real_pages / "openfoodfacts" / name).read_text(encoding="utf-8"), "lxml"))
    assert len(links) == len(set(links)) == count and all("/product/" in link for link in links)


@pytest.mark.usefixtures("chromium")
def test_round_through_chromium_into_elasticsearch(settings, site_root, caplog):
    from scrapeline.rounds import scrape_round

    base = site_root("openfoodfacts")
    settings = settings.with_plugin_values(
        "openfoodfacts", base_url=base, pages="2", wait_timeout="3", product_pages_per_minute="6000", search_pages_per_minute="6000"
    )
    report = scrape_round(settings, ["openfoodfacts"])
    stats = report.plugins["openfoodfacts"]
    # Two listing pages, three product pages, and one listed product whose page is missing (an error, not a crash).
    assert (stats.pages, stats.records, stats.errors) == (6, 3, 1)
    assert any("/product/3000000000048/" in r.getMessage() for r in caplog.records if r.levelname == "ERROR")

    failed = read_topic(settings, failed_pages_topic(settings.kafka.topic_prefix))
    assert [(f["plugin"], f["url"], f["attempts"]) for f in failed] == [("openfoodfacts", f"{base}/product/3000000000048/unlisted-biscuit", 1)]
    assert failed[0]["error"].endswith("HTTP 404")

    consume_all(settings)
    client = Elasticsearch(list(settings.elasticsearch.hosts))
    index = f"{settings.elasticsearch.index_prefix}-food_product-latest"
    assert client.count(index=index)["count"] == 3
    for product in PRODUCTS:
        doc = client.get(index=index, id=f"openfoodfacts:{product['code']}")["_source"]
        assert {k: doc[k] for k in product} == expected(product, base=base)
