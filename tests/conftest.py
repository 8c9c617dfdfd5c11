"""Session fixtures: the real browser, broker and index, and the fixture sites on loopback.

Nothing here is mocked. A missing component skips the tests that need it on a
developer's machine, and fails them under CI=true: a skipped integration test
in CI would be a hidden failure.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from scrapeline.devstack import DevStackError, NoidaServer
from scrapeline.mirror import MirrorServer
from scrapeline.settings import Settings

FIXTURES = Path(__file__).parent / "fixtures"
SITES = FIXTURES / "sites"
# Saved real pages, read when present, never committed (SCRAPELINE_REAL_PAGES points elsewhere).
REAL_PAGES = Path(os.environ.get("SCRAPELINE_REAL_PAGES") or Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "real")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require(available: bool, what: str) -> None:
    """Skip locally, fail under CI=true, when a component is missing."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{what} (CI=true: a missing component fails the run)", pytrace=False)
    pytest.skip(what)


@pytest.fixture(scope="session")
def noida(tmp_path_factory: pytest.TempPathFactory):
    """noida-db serving Kafka and Elasticsearch on free loopback ports, for the whole session."""
    try:
        server = NoidaServer(tmp_path_factory.mktemp("noida"))
        server.start()
    except DevStackError as exc:
        require(False, f"noida-db unavailable: {exc}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chromium() -> None:
    from scrapeline.settings import BrowserSettings
    from scrapers.browser import BrowserUnavailable, resolve_binary, resolve_driver

    try:
        resolve_driver(BrowserSettings())
        found = resolve_binary(BrowserSettings()) is not None
    except BrowserUnavailable:
        found = False
    require(found, "Chromium and ChromeDriver are not installed (apt-get install chromium chromium-driver)")


@pytest.fixture(scope="session")
def grid(chromium, tmp_path_factory: pytest.TempPathFactory):
    """A Selenium Grid (the standalone server, one node of two Chromium slots) on a free loopback port."""
    from grid_server import GridServer, GridUnavailable
    from scrapeline.settings import BrowserSettings
    from scrapers.browser import resolve_binary, resolve_driver

    server = GridServer(tmp_path_factory.mktemp("grid"), driver=resolve_driver(BrowserSettings()), binary=resolve_binary(BrowserSettings()) or "")
    try:
        server.start()
    except GridUnavailable as exc:
        require(False, f"Selenium Grid unavailable: {exc}")
    yield server
    server.stop()


@pytest.fixture
def grid_settings(settings: Settings, grid) -> Settings:
    """``settings`` with ``[browser] remote_url`` on the session's Grid."""
    return settings.replace("browser", remote_url=grid.url)


@pytest.fixture(scope="session")
def real_pages() -> Path:
    """The saved real pages (never committed): skip locally without them, fail under CI=true."""
    require((REAL_PAGES / "SOURCES.md").is_file(), f"the saved real pages are not at {REAL_PAGES} (set SCRAPELINE_REAL_PAGES)")
    return REAL_PAGES


@pytest.fixture(scope="session")
def offline():
    """A tarpit for every host but loopback: the closed network of a real page's third-party hosts,
    on any machine. ``offline.args`` go into ``[browser] extra_args``."""
    from scrapeline.offline import Tarpit, offline_browser_args

    with Tarpit() as tarpit:
        tarpit.args = offline_browser_args(tarpit)
        yield tarpit


@pytest.fixture
def site():
    """A PageLab (tests/page_lab.py): a loopback site of this test's pages, with a request log."""
    from page_lab import PageLab

    lab = PageLab()
    yield lab
    lab.stop()


@pytest.fixture(scope="session")
def sites():
    """tests/fixtures/sites/ served on 127.0.0.1: ``sites.url + "/coinmarketcap"``."""
    with MirrorServer(SITES) as server:
        yield server


@pytest.fixture(scope="session")
def site_root():
    """``site_root("openfoodfacts")``: that fixture site served at the root of its own loopback host,
    for sites whose links are root-relative."""
    servers: dict[str, MirrorServer] = {}

    def url(name: str) -> str:
        if name not in servers:
            servers[name] = MirrorServer(SITES / name).start()
        return servers[name].url

    yield url
    for server in servers.values():
        server.stop()


@pytest.fixture
def settings(noida: NoidaServer, tmp_path: Path) -> Settings:
    """Settings pointing at the session's stack, with topic, index and group names of this test only."""
    unique = f"t{uuid.uuid4().hex[:10]}"
    endpoints = noida.endpoints
    base = Settings()
    base = base.replace("kafka", bootstrap_servers=(endpoints.kafka,), topic_prefix=unique, group_id=f"{unique}-indexer", partitions=2)
    base = base.replace("elasticsearch", hosts=(endpoints.elasticsearch,), index_prefix=unique, initial_backoff=0.2, max_backoff=2.0)
    base = base.replace("pool", workers=1, retries=0, data_dir=str(tmp_path / "data"))
    return base
