"""Several scrape daemons share one crawl through the Kafka frontier; several consumers share the records.

The daemons and consumers are real `scrapeline` processes; the site is a loopback crawl of a few
hosts (each host is one 127.0.0.1 port) whose pages link on, also in forms that are the same page
once canonical (query order, fragments), and which logs every page request.

noida keeps a member that died without leaving in its group for ever (it never applies the
session timeout), so what needs a dead member replaced runs against Tansu, which does.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from kafka.partitioner.default import murmur2

from dev_env import ROOT, es_client, produce, quote_envelope, read_topic, scrapeline, server_env
from loopback import LoopbackServer, QuietHandler
from pipeline.envelope import records_topic
from pipeline.frontier import frontier_topic
from pipeline.publisher import ensure_topics
from pipeline.topics import list_topics
from scrapeline.devstack import free_port
from scrapeline.status import cluster_status, frontier_lag
from test_second_broker import tansu  # noqa: F401 - the Tansu broker fixture

# Its start pages come from a file the test writes once the daemons have formed their group (a
# member joining later would move partitions mid-round, and pages loading then are loaded again);
# the first round to start takes the file, the rounds after it are empty.
PLUGIN = '''
from pathlib import Path
from urllib.parse import urlsplit

from scrapers import Plugin, Request, Schema


class CrawlSite(Plugin):
    name = "crawlsite"
    kind = "crawl_page"
    schema = Schema(fields={"host": "str", "path": "str"}, id_fields=("host", "path"))
    wait_for = "main"
    default_settings = {"hosts_file": ""}

    def start_requests(self):
        taken = Path(self.settings["hosts_file"] + ".taken")
        try:
            Path(self.settings["hosts_file"]).rename(taken)
        except FileNotFoundError:
            return
        for base in taken.read_text().split():
            yield Request(base + "/p/0")

    def parse(self, page):
        parts = urlsplit(page.url)
        yield {"host": parts.netloc, "path": parts.path}
        for link in page.soup.select("a"):
            yield page.follow(link["href"])
'''


class CrawlSite:
    """``hosts`` loopback hosts of ``pages`` pages each. Page n links to page n+1 three ways that are
    one page once canonical, and to page n of the next host; ``requests`` counts (host, path)."""

    def __init__(self, hosts: int, pages: int, delay: float, partitions: int) -> None:
        self.pages, self.delay, self.partitions = pages, delay, partitions
        self.requests: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        self._servers: list[LoopbackServer] = []
        # Hosts spread over every frontier partition (each host's pages go to the partition of its name).
        by_partition: dict[int, list[LoopbackServer]] = {}
        while min((len(by_partition.get(p, [])) for p in range(partitions)), default=0) < hosts // partitions:
            server = LoopbackServer(self._handler()).start()
            netloc = server.url.removeprefix("http://")
            spot = by_partition.setdefault((murmur2(netloc.encode()) & 0x7FFFFFFF) % partitions, [])
            if len(spot) < hosts // partitions:
                spot.append(server)
            else:
                server.stop()
        self._servers = [server for group in by_partition.values() for server in group]
        self.urls = [server.url for server in self._servers]

    def partition_of(self, url: str) -> int:
        return (murmur2(url.removeprefix("http://").encode()) & 0x7FFFFFFF) % self.partitions

    @property
    def expected(self) -> set[tuple[str, str]]:
        return {(url.removeprefix("http://"), f"/p/{n}") for url in self.urls for n in range(self.pages)}

    @property
    def requested(self) -> set[tuple[str, str]]:
        with self._lock:
            return set(self.requests)

    def start_round(self, folder: Path) -> None:
        """Give the next round of the daemons started with ``folder`` its start pages."""
        (folder / "hosts.tmp").write_text(" ".join(self.urls))
        (folder / "hosts.tmp").rename(folder / "hosts")

    def stop(self) -> None:
        for server in self._servers:
            server.stop()

    def _page(self, host: str, number: int) -> bytes:
        links = []
        if number + 1 < self.pages:
            nxt = f"/p/{number + 1}"
            links += [f"{nxt}?a=1&b=2", f"{nxt}?b=2&a=1", f"{nxt}?a=1&b=2#top"]
        others = [url for url in self.urls if url.removeprefix("http://") != host]
        if number > 0 and others:
            links.append(f"{others[0]}/p/{number}?b=2&a=1")
        anchors = "".join(f'<a href="{href}">link</a>' for href in links)
        return f"<html><body><main>page {number} of {host}</main>{anchors}</body></html>".encode()

    def _handler(self):
        site = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802
                path = self.path.split("?")[0].split("#")[0]
                if not path.startswith("/p/"):
                    self.send(404, b"not found", "text/plain")
                    return
                host = self.headers["Host"]
                with site._lock:
                    site.requests[(host, path)] += 1
                time.sleep(site.delay)
                self.send(200, site._page(host, int(path.rsplit("/", 1)[1])), "text/html; charset=utf-8")

        return Handler


class Daemon:
    """`scrapeline scrape --daemon --plugin crawlsite` with its own metrics port and spool, logging to a file."""

    def __init__(self, settings, site: CrawlSite, folder: Path, name: str) -> None:
        plugins = folder / "plugins"
        plugins.mkdir(parents=True, exist_ok=True)
        (plugins / "crawlsite.py").write_text(PLUGIN)
        self.log = folder / f"{name}.log"
        env = {
            **os.environ,
            **server_env(settings),
            "SCRAPELINE_POOL__DATA_DIR": str(folder / name),
            "SCRAPELINE_POOL__PLUGIN_PATHS": str(plugins),
            "SCRAPELINE_POOL__WORKERS": "1",
            "SCRAPELINE_METRICS__PORT": str(free_port()),
            "SCRAPELINE_KAFKA__SESSION_TIMEOUT_MS": "6000",
            "SCRAPELINE_KAFKA__HEARTBEAT_INTERVAL_MS": "1000",
            "SCRAPELINE_PLUGIN_CRAWLSITE__HOSTS_FILE": str(folder / "hosts"),
            "SCRAPELINE_PLUGIN_CRAWLSITE__MAX_PAGES": "1000",
            "SCRAPELINE_PLUGIN_CRAWLSITE__INTERVAL": "2",
        }
        command = [sys.executable, "-m", "scrapeline.cli", "scrape", "--daemon", "--plugin", "crawlsite"]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = 90) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError(f"the daemon did not stop; its log:\n{self.output()[-3000:]}") from None


def wait_for(condition, *, timeout: float, what: str, every: float = 0.5, logs=()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(every)
    tails = "".join(f"\n--- {daemon.log.name}:\n{daemon.output()[-2500:]}" for daemon in logs)
    raise AssertionError(f"timed out waiting for {what}{tails}")


def crawled(settings, site: CrawlSite) -> bool:
    """Every page requested and every frontier message done (committed)."""
    return site.requested == site.expected and frontier_lag(settings.kafka).get("crawlsite", 1) == 0


def records_of(settings) -> set[tuple[str, str]]:
    messages = read_topic(settings, records_topic(settings.kafka.topic_prefix, "crawl_page"))
    return {(m["record"]["host"], m["record"]["path"]) for m in messages}


def crawl_site(settings, hosts: int, pages: int, delay: float) -> CrawlSite:
    """The site, its hosts spread over the frontier's partitions (created first: some brokers pick their own count)."""
    topic = frontier_topic(settings.kafka.topic_prefix, "crawlsite")
    ensure_topics(settings.kafka, [topic])
    (found,) = [t for t in list_topics(settings.kafka) if t.name == topic]
    return CrawlSite(hosts=hosts, pages=pages, delay=delay, partitions=found.partitions)


@pytest.fixture
def daemons():
    started: list[Daemon] = []
    yield started
    for daemon in started:
        daemon.process.kill()
        daemon.process.wait()


def both_hold_partitions(settings) -> bool:
    members = cluster_status(settings).scrapers.members
    return len(members) == 2 and all(member.partitions for member in members)


def rounds_started_with_pages(daemons) -> int:
    return sum(len(re.findall(r"round crawlsite@\S+ started: [1-9]\d* start pages", daemon.output())) for daemon in daemons)


def two_daemons_crawling(request, settings, daemons, folder, *, pages: int, delay: float, first: int = 0) -> CrawlSite:
    """Two daemons in their group, then a round of a site of four hosts; returns once ``first`` pages were requested."""
    site = crawl_site(settings, hosts=4, pages=pages, delay=delay)
    request.addfinalizer(site.stop)
    daemons += [Daemon(settings, site, folder, "one"), Daemon(settings, site, folder, "two")]
    wait_for(lambda: both_hold_partitions(settings), timeout=120, what="both daemons to hold frontier partitions", logs=daemons)
    site.start_round(folder)
    wait_for(lambda: len(site.requested) >= first, timeout=180, what="the first pages", logs=daemons)
    return site


@pytest.mark.usefixtures("chromium")
@pytest.mark.parametrize("broker", ["noida", "tansu"])
def test_two_daemons_share_a_round_and_request_each_page_once(request, settings, daemons, tmp_path, broker):
    if broker == "tansu":
        settings = settings.replace("kafka", bootstrap_servers=(request.getfixturevalue("tansu"),))
    site = two_daemons_crawling(request, settings, daemons, tmp_path, pages=5, delay=0.3)
    wait_for(lambda: crawled(settings, site), timeout=240, what="every page of the round", logs=daemons)

    assert site.requests == Counter(dict.fromkeys(site.expected, 1))
    assert rounds_started_with_pages(daemons) == 1
    wait_for(lambda: records_of(settings) == site.expected, timeout=60, what="a record of every page")
    shown = scrapeline("status", env=server_env(settings))
    assert shown.returncode == 0, shown.stderr
    assert "2 alive" in shown.stdout and "crawlsite" in shown.stdout, shown.stdout
    for daemon in daemons:
        assert f"-{daemon.process.pid}@" in shown.stdout
    for daemon in daemons:
        daemon.stop()
    assert [daemon.wait() for daemon in daemons] == [0, 0]


@pytest.mark.usefixtures("chromium")
def test_daemons_stopped_mid_round_resume_it_without_loading_finished_pages_again(request, settings, daemons, tmp_path):
    site = two_daemons_crawling(request, settings, daemons, tmp_path, pages=8, delay=0.5, first=8)
    for daemon in daemons:
        daemon.stop()
    assert [daemon.wait() for daemon in daemons] == [0, 0]
    finished = Counter(site.requests)
    assert set(finished.values()) == {1} and len(finished) < len(site.expected), "stopped mid-round"

    daemons += [Daemon(settings, site, tmp_path, "three"), Daemon(settings, site, tmp_path, "four")]
    wait_for(lambda: crawled(settings, site), timeout=300, what="the rest of the round", logs=daemons)
    # Pages loading while the second pair formed its group may be loaded twice; finished ones never.
    assert {page: site.requests[page] for page in finished} == finished, "a finished page was loaded again"
    assert set(site.requests) == site.expected
    assert rounds_started_with_pages(daemons) == 1
    wait_for(lambda: records_of(settings) == site.expected, timeout=60, what="a record of every page")
    for daemon in daemons[2:]:
        daemon.stop()
    assert [daemon.wait() for daemon in daemons[2:]] == [0, 0]


@pytest.mark.usefixtures("chromium")
def test_a_daemon_killed_mid_round_leaves_its_pages_to_the_other(request, settings, tansu, daemons, tmp_path):  # noqa: F811
    settings = settings.replace("kafka", bootstrap_servers=(tansu,))
    site = two_daemons_crawling(request, settings, daemons, tmp_path, pages=8, delay=0.5, first=6)
    # The victim holds the partition of the first host, whose pages are not all loaded yet.
    holder = next(m for m in cluster_status(settings).scrapers.members if site.partition_of(site.urls[0]) in sum(m.partitions.values(), []))
    victim, survivor = sorted(daemons, key=lambda daemon: f"-{daemon.process.pid}@" not in holder.client_id)
    victim.process.kill()  # SIGKILL: it neither finishes nor commits nor leaves the group
    victim.process.wait()
    assert len(site.requested) < len(site.expected), "the round was still going when the daemon died"

    wait_for(lambda: crawled(settings, site), timeout=300, what="the survivor to finish the round", logs=[survivor])
    assert set(site.requests) == site.expected  # pages loading on the dead daemon may have been loaded twice
    wait_for(lambda: records_of(settings) == site.expected, timeout=60, what="a record of every page")
    members = cluster_status(settings).scrapers.members
    assert len(members) == 1 and f"-{survivor.process.pid}@" in members[0].client_id
    survivor.stop()
    assert survivor.wait() == 0


class Consumer:
    def __init__(self, settings, folder: Path, name: str, *extra: str) -> None:
        self.log = folder / f"{name}.log"
        env = {**os.environ, **server_env(settings), "SCRAPELINE_METRICS__CONSUMER_PORT": "0",
               "SCRAPELINE_KAFKA__SESSION_TIMEOUT_MS": "6000", "SCRAPELINE_KAFKA__HEARTBEAT_INTERVAL_MS": "1000"}  # fmt: skip
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "scrapeline.cli", "consume", *extra], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def test_three_consumers_one_killed_mid_stream_index_every_record_once(settings, tansu, tmp_path):  # noqa: F811
    settings = settings.replace("kafka", bootstrap_servers=(tansu,), partitions=6)
    produce(settings, [quote_envelope(f"coin{n}", float(n)) for n in range(300)])
    consumers = [Consumer(settings, tmp_path, f"consumer{n}") for n in range(3)]
    latest = f"{settings.elasticsearch.index_prefix}-crypto_quote-latest"
    try:

        def members() -> list:
            return cluster_status(settings).indexers.members

        wait_for(lambda: len(members()) == 3, timeout=120, what="three consumers in the group")
        wait_for(lambda: sum(cluster_status(settings).indexers.lag.values()) < 300, timeout=120, what="the consumers to start indexing")
        before = scrapeline("status", env=server_env(settings))
        assert "3 alive" in before.stdout, before.stdout + before.stderr

        victim = consumers[0]
        victim.process.kill()
        victim.process.wait()
        produce(settings, [quote_envelope(f"coin{n}", float(n)) for n in range(300, 600)])

        # Tansu's group description leaves the assignment out: the members, and the lag going to 0, show the rebalance.
        wait_for(lambda: len(members()) == 2, timeout=120, what="the dead consumer to leave the group")
        client = es_client(settings)

        def indexed() -> int:
            if not client.indices.exists(index=latest):
                return 0  # the lag can drop (commits of empty partitions) before the first document lands
            client.indices.refresh(index=latest)
            return client.count(index=latest)["count"]

        wait_for(lambda: indexed() == 600, timeout=120, what="every record indexed")
        wait_for(lambda: sum(cluster_status(settings).indexers.lag.values()) == 0, timeout=60, what="every record committed")
        after = scrapeline("status", env=server_env(settings))
        assert "2 alive" in after.stdout, after.stdout + after.stderr
    finally:
        for consumer in consumers:
            consumer.process.send_signal(signal.SIGTERM)
        for consumer in consumers:
            try:
                consumer.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                consumer.process.kill()


def test_consume_until_idle_waits_for_its_partitions_through_a_slow_group_join(settings, tansu):  # noqa: F811
    settings = settings.replace("kafka", bootstrap_servers=(tansu,))
    produce(settings, [quote_envelope(f"coin{n}", float(n)) for n in range(50)])
    # Tansu's group join takes seconds with kafka-python: longer than the idle limit.
    # The grace for getting a partition at all is not what is tested here: a loaded machine slows the join.
    environ = {**server_env(settings), "SCRAPELINE_KAFKA__ASSIGNMENT_GRACE_S": "150"}
    done = scrapeline("consume", "--until-idle", "1", env=environ, timeout=180)
    assert done.returncode == 0, done.stderr
    assert "consumed 50 messages" in done.stdout, done.stdout + done.stderr
