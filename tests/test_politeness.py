import shutil
import threading
from collections import deque

import pytest

from conftest import SITES
from loopback import LoopbackServer, QuietHandler
from plugins.coinmarketcap import CoinMarketCap
from scrapeline.mirror import MirrorServer
from scrapeline.settings import Settings
from scrapers.jobs import Job
from scrapers.plugin import Request
from scrapeline.rounds import scrape_round
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
    plugin = CoinMarketCap({"requests_per_minute": 60.0, "obey_robots": False})  # limits only; robots.txt has its own tests
    pending = deque(Job("coinmarketcap", Request(f"http://a.test/{n}")) for n in range(3))
    first = rules.take_next(pending, lambda job: plugin)
    assert first.request.url == "http://a.test/0"
    assert rules.take_next(pending, lambda job: plugin) is None  # one page of a.test at a time
    rules.release(first.request.url)
    assert rules.take_next(pending, lambda job: plugin) is None  # and one a second
    assert len(pending) == 2


def test_a_slow_robots_txt_holds_back_only_its_own_site(tmp_path):
    release = threading.Event()

    class SlowRobots(QuietHandler):
        def do_GET(self):
            release.wait(30)  # answers only when the test says so
            self.send(200, b"User-agent: *\nDisallow: /private/\n", "text/plain")

    (tmp_path / "robots.txt").write_text("User-agent: *\nAllow: /\n")
    plugin = CoinMarketCap()
    with LoopbackServer(SlowRobots) as slow, MirrorServer(tmp_path) as fast:
        rules = Politeness(Settings())
        pending = deque(Job("coinmarketcap", Request(url)) for url in (f"{slow.url}/private/a", f"{slow.url}/b", f"{fast.url}/c"))
        taken = None
        while taken is None:  # the fast site's robots.txt arrives while the slow one's is still loading
            taken = rules.take_next(pending, lambda job: plugin)
        assert taken.request.url == f"{fast.url}/c"
        assert not rules.robots_known(plugin, f"{slow.url}/b") and len(pending) == 2

        release.set()
        later = []
        while pending:
            job = rules.take_next(pending, lambda job: plugin)
            if job is not None:
                later.append(job.request.url)
        assert later == [f"{slow.url}/b"]
        assert [job.request.url for job in rules.pop_disallowed()] == [f"{slow.url}/private/a"]
        rules.close()


@pytest.mark.usefixtures("chromium")
def test_a_round_skips_and_counts_the_pages_robots_txt_disallows(settings, tmp_path):
    site = tmp_path / "coinmarketcap"
    shutil.copytree(SITES / "coinmarketcap", site)
    (site / "robots.txt").write_text("User-agent: *\nDisallow: /?page=2\n")
    with MirrorServer(site) as mirror:
        report = scrape_round(settings.with_plugin_values("coinmarketcap", base_url=mirror.url, pages="2"), ["coinmarketcap"])
    stats = report.plugins["coinmarketcap"]
    assert (stats.pages, stats.skipped, stats.records, stats.errors) == (1, 1, 101, 0)


def test_robots_txt_wildcards_and_end_anchors_are_understood(tmp_path):
    (tmp_path / "robots.txt").write_text("User-agent: *\nDisallow: /*.json$\nDisallow: /*/private\n")
    with MirrorServer(tmp_path) as site:
        rules = Politeness(Settings())
        plugin = CoinMarketCap()
        assert not rules.allowed(plugin, f"{site.url}/data/prices.json")
        assert rules.allowed(plugin, f"{site.url}/data/prices.json?page=2")
        assert not rules.allowed(plugin, f"{site.url}/a/private/b")
        assert rules.allowed(plugin, f"{site.url}/a/public")


def test_robots_txt_is_read_with_the_user_agent_pages_load_with():
    from scrapers.politeness import DEFAULT_USER_AGENT, effective_user_agent

    browser = Settings().browser
    assert effective_user_agent({"user_agent": ""}, browser) == DEFAULT_USER_AGENT
    assert effective_user_agent({"user_agent": ""}, Settings().replace("browser", user_agent="Fleet/2").browser) == "Fleet/2"
    assert effective_user_agent({"user_agent": "Own/1"}, Settings().replace("browser", user_agent="Fleet/2").browser) == "Own/1"

    robots = "User-agent: *\nAllow: /\n\nUser-agent: own\nDisallow: /\n\nUser-agent: scrapeline\nDisallow: /mine/\n"
    with LoopbackServer(_robots_handler(lambda: robots)) as site:
        rules = Politeness(Settings())
        assert not rules.allowed(CoinMarketCap({"user_agent": "Own/1"}), f"{site.url}/x")
        assert not rules.allowed(CoinMarketCap(), f"{site.url}/mine/x")  # the default names scrapeline
        assert rules.allowed(CoinMarketCap(), f"{site.url}/x")
        rules.close()


def test_robots_txt_is_fetched_again_once_its_ttl_is_over():
    robots = ["User-agent: *\nDisallow: /\n"]
    handler = _robots_handler(lambda: robots[0])
    with LoopbackServer(handler) as site:
        lasting = Politeness(Settings())
        assert not lasting.allowed(CoinMarketCap(), f"{site.url}/x")
        robots[0] = "User-agent: *\nAllow: /\n"
        assert not lasting.allowed(CoinMarketCap(), f"{site.url}/x")  # the default TTL is a day
        assert handler.requests == 1

        short = Politeness(Settings().replace("pool", robots_ttl=0.01))
        robots[0] = "User-agent: *\nDisallow: /\n"
        assert not short.allowed(CoinMarketCap(), f"{site.url}/x")
        robots[0] = "User-agent: *\nAllow: /\n"
        while not short.allowed(CoinMarketCap(), f"{site.url}/x"):  # stale rules serve until the new file is in
            pass
        assert handler.requests >= 3
        lasting.close()
        short.close()


@pytest.mark.usefixtures("chromium")
def test_pages_and_robots_txt_go_out_with_one_user_agent(settings):
    from scrapers.politeness import DEFAULT_USER_AGENT

    page = (SITES / "coinmarketcap" / "index.html").read_bytes()
    seen = []

    class Recording(QuietHandler):
        def do_GET(self):
            seen.append((self.path, self.headers.get("User-Agent")))
            if self.path == "/robots.txt":
                self.send(200, b"User-agent: *\nAllow: /\n", "text/plain")
            elif self.path == "/":
                self.send(200, page, "text/html")
            else:
                self.send(404, b"", "text/plain")

    with LoopbackServer(Recording) as site:
        scrape_round(settings.with_plugin_values("coinmarketcap", base_url=site.url), ["coinmarketcap"])
    agents = {path: agent for path, agent in seen}
    assert agents["/robots.txt"] == agents["/"] == DEFAULT_USER_AGENT


def _robots_handler(text):
    class Robots(QuietHandler):
        requests = 0

        def do_GET(self):
            type(self).requests += 1
            self.send(200, text().encode(), "text/plain")

    return Robots
