"""All plugin origins in one round: built-ins, a plugin_paths file, an installed package; broken ones reported."""

import logging
import textwrap

import pytest
from elasticsearch import Elasticsearch

from dev_env import consume_all
from scrapeline.rounds import scrape_round
from scrapers.registry import discover

RAISER = """
from scrapers import Plugin, Schema

class Raiser(Plugin):
    name = "raiser"
    kind = "layout_test"
    schema = Schema(fields={"text": "text"}, id_fields=("text",))
    wait_for = "div.quote"
    default_settings = {"base_url": "http://127.0.0.1:9"}

    def start_requests(self):
        from scrapers import Request
        yield Request(self.settings["base_url"] + "/")

    def parse(self, page):
        raise RuntimeError("the site changed its layout")
"""
TWIN = """
from scrapers import Plugin, Schema

class Twin(Plugin):
    name = "openfoodfacts"
    kind = "food_product"
    schema = Schema(fields={"code": "str"}, id_fields=("code",))
    start_urls = ("http://127.0.0.1:9/",)

    def parse(self, page):
        return []
"""
NAMELESS = """
from scrapers import Plugin, Schema

class Nameless(Plugin):
    kind = "thing"
    schema = Schema(fields={"a": "str"}, id_fields=("a",))
    start_urls = ("http://127.0.0.1:9/",)

    def parse(self, page):
        return []
"""


def test_the_installed_package_is_found_through_its_entry_point():
    entry = discover().get("quotes")
    assert entry.origin == "package scrapeline-quotes 1.0.0 (entry point quotes = scrapeline_quotes:Quotes)"


@pytest.mark.usefixtures("chromium")
def test_three_origins_scrape_into_elasticsearch_while_broken_plugins_are_reported(settings, sites, site_root, tmp_path, caplog):
    for name, text in {"raiser": RAISER, "twin": TWIN, "nameless": NAMELESS}.items():
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(text))
    settings = settings.replace("pool", plugin_paths=(str(tmp_path),), workers=2)
    settings = settings.with_plugin_values("coinmarketcap", base_url=f"{sites.url}/coinmarketcap")
    settings = settings.with_plugin_values(
        "openfoodfacts", base_url=site_root("openfoodfacts"), product_pages_per_minute="0", search_pages_per_minute="0"
    )
    settings = settings.with_plugin_values("quotes", base_url=site_root("quotes"), enabled="true")
    settings = settings.with_plugin_values("raiser", base_url=site_root("quotes"))

    with caplog.at_level(logging.ERROR):
        report = scrape_round(settings)  # every enabled plugin

    counts = {name: (s.pages, s.records, s.errors) for name, s in report.plugins.items()}
    assert counts == {
        "coinmarketcap": (1, 101, 0),
        "openfoodfacts": (4, 3, 0),
        "quotes": (2, 3, 0),
        "raiser": (1, 0, 1),
    }
    assert any("raiser failed on" in r.getMessage() and "RuntimeError: the site changed its layout" in r.getMessage() for r in caplog.records)
    assert f"file {tmp_path / 'twin.py'}: plugin name 'openfoodfacts' is already taken by built-in plugins/openfoodfacts.py; this one is ignored" in report.problems
    assert f"file {tmp_path / 'nameless.py'}: Nameless is missing the required attribute 'name'" in report.problems

    stats = consume_all(settings)
    assert stats.indexed == 107
    client = Elasticsearch(list(settings.elasticsearch.hosts))
    prefix = settings.elasticsearch.index_prefix
    assert client.count(index=f"{prefix}-quote-latest")["count"] == 3
    quote = client.search(index=f"{prefix}-quote-latest", query={"term": {"author": "Steve Martin"}})["hits"]["hits"][0]["_source"]
    assert quote["tags"] == ["humor", "obvious"] and quote["plugin"] == "quotes"
