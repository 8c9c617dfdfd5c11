from collections import deque

from plugins.coinmarketcap import CoinMarketCap
from scrapeline.mirror import MirrorServer
from scrapeline.settings import Settings
from scrapers.jobs import Job
from scrapers.plugin import Request
from scrapers.politeness import Politeness


def test_robots_txt_is_obeyed_unless_the_plugin_says_otherwise(tmp_path):
    (tmp_path / "robots.txt").write_text("User-agent: *\nDisallow: /private/\n")
    with MirrorServer(tmp_path) as site:
        rules = Politeness(Settings())
        plugin = CoinMarketCap()
        assert rules.allowed(plugin, f"{site.url}/listing/")
        assert not rules.allowed(plugin, f"{site.url}/private/page")
        careless = CoinMarketCap({"obey_robots": False})
        assert Politeness(Settings()).allowed(careless, f"{site.url}/private/page")


def test_a_site_without_robots_txt_allows_everything(tmp_path):
    with MirrorServer(tmp_path) as site:
        assert Politeness(Settings()).allowed(CoinMarketCap(), f"{site.url}/anything")


def test_rate_and_concurrency_per_host():
    settings = Settings().replace("pool", domain_concurrency=1)
    rules = Politeness(settings)
    plugin = CoinMarketCap({"requests_per_minute": 60.0})
    pending = deque(Job("coinmarketcap", Request(f"http://a.test/{n}")) for n in range(3))
    first = rules.take_next(pending, lambda job: plugin)
    assert first.request.url == "http://a.test/0"
    assert rules.take_next(pending, lambda job: plugin) is None  # one page of a.test at a time
    rules.release(first.request.url)
    assert rules.take_next(pending, lambda job: plugin) is None  # and one a second
    assert len(pending) == 2
