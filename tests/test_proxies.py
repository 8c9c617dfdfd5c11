"""Proxies: pages load through a real authenticating proxy (proxy.py on loopback) in the browser and
over HTTP; wrong credentials are a clear error naming the proxy without its password; a list rotates;
host blocking holds behind a proxy; no password reaches a log line; `user_agent = realistic`."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from page_lab import PageLab, lab_registry, run_lab as run
from scrapeline.settings import BrowserSettings, ConfigError, Settings, load_settings
from scrapers.politeness import REALISTIC_USER_AGENT, Politeness, effective_user_agent

USER = "scraper"
PASSWORD = "pw-Zq81x-secret"
WRONG = "pw-wrong-9931"


def wait_for_port(port: int, process: subprocess.Popen, deadline: float) -> None:
    while time.monotonic() < deadline:
        assert process.poll() is None, "the proxy exited at start"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)


class AuthProxy:
    """proxy.py with basic auth on a free loopback port; its log says which requests went through."""

    def __init__(self, folder: Path, password: str | None = PASSWORD) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.log = folder / "proxy.log"
        login = ["--basic-auth", f"{USER}:{password}"] if password else []
        port_file = folder / "port"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "proxy", "--hostname", "127.0.0.1", "--port", "0", "--port-file", str(port_file),
             *login, "--num-acceptors", "1", "--log-file", str(self.log), "--log-level", "INFO"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (port_file.is_file() and port_file.read_text().strip()):
            assert self.process.poll() is None, "proxy.py exited at start"
            time.sleep(0.1)
        self.port = int(port_file.read_text().strip())
        wait_for_port(self.port, self.process, deadline)

    def url(self, password: str = PASSWORD) -> str:
        return f"http://{USER}:{password}@127.0.0.1:{self.port}"

    def served(self, fragment: str, timeout: float = 10.0) -> bool:
        """Whether the proxy's access log shows a request containing ``fragment`` (polled: it logs after answering)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.log.is_file() and fragment in self.log.read_text():
                return True
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


class SocksProxy:
    """pproxy serving SOCKS5 with a username and password on a free loopback port; -v logs each connection."""

    def __init__(self, folder: Path, password: str = PASSWORD) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.log = folder / "socks.log"
        with self.log.open("w") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-u", "-m", "pproxy", "-l", f"socks5://127.0.0.1:{self.port}#{USER}:{password}", "-v"],
                stdout=output, stderr=subprocess.STDOUT,
            )
        wait_for_port(self.port, self.process, time.monotonic() + 30)

    def url(self, password: str = PASSWORD) -> str:
        return f"socks5://{USER}:{password}@127.0.0.1:{self.port}"

    served = AuthProxy.served
    stop = AuthProxy.stop


@pytest.fixture
def proxy(tmp_path):
    server = AuthProxy(tmp_path / "proxy-a")
    yield server
    server.stop()


@pytest.fixture
def second_proxy(tmp_path):
    server = AuthProxy(tmp_path / "proxy-b")
    yield server
    server.stop()


@pytest.fixture
def base(tmp_path) -> Settings:
    return Settings().replace("pool", retries=0, data_dir=str(tmp_path / "data")).replace("browser", page_load_timeout=15.0)


def items(site: PageLab, path: str, *texts: str) -> str:
    return site.page(path, "<html><body>" + "".join(f"<div class=item>{text}</div>" for text in texts) + "</body></html>")


@pytest.mark.parametrize("fetch", ["browser", "http"])
def test_a_page_loads_through_the_authenticating_proxy(chromium, base, proxy, site, fetch):
    url = items(site, "/listing", "one", "two")
    settings = base.replace("browser", proxy=(proxy.url(),))
    [result] = run(settings, url, wait_for=".item", fetch=fetch)
    assert result.error is None and sorted(r.record["text"] for r in result.records) == ["one", "two"]
    assert proxy.served(f"GET 127.0.0.1:{site.port}/listing")


@pytest.mark.parametrize("fetch", ["browser", "http"])
def test_wrong_credentials_are_a_clear_error_naming_the_proxy_without_the_password(chromium, base, proxy, site, fetch, caplog):
    caplog.set_level(logging.DEBUG)
    url = items(site, "/listing", "one")
    settings = base.replace("browser", proxy=(proxy.url(WRONG),)).replace("pool", retries=2)
    [result] = run(settings, url, wait_for=".item", fetch=fetch)
    assert result.error is not None
    assert f"proxy http://{USER}:***@127.0.0.1:{proxy.port} refused the credentials" in result.error
    assert result.attempts == 1  # another try would not change the answer: none is made
    assert WRONG not in result.error and WRONG not in caplog.text
    assert site.requests == []


@pytest.mark.parametrize("fetch", ["browser", "http"])
def test_a_page_loads_through_an_authenticating_socks5_proxy(chromium, base, site, tmp_path, fetch):
    socks = SocksProxy(tmp_path / "socks")
    try:
        url = items(site, "/listing", "one")
        [result] = run(base.replace("browser", proxy=(socks.url(),)), url, wait_for=".item", fetch=fetch)
        assert result.error is None and [r.record["text"] for r in result.records] == ["one"]
        assert socks.served(f"-> 127.0.0.1:{site.port}")
    finally:
        socks.stop()


@pytest.mark.parametrize("fetch", ["browser", "http"])
def test_wrong_socks5_credentials_name_the_proxy_without_the_password(chromium, base, site, tmp_path, fetch):
    socks = SocksProxy(tmp_path / "socks")
    try:
        url = items(site, "/listing", "one")
        [result] = run(base.replace("browser", proxy=(socks.url(WRONG),)).replace("pool", retries=2), url, wait_for=".item", fetch=fetch)
        assert f"proxy socks5://{USER}:***@127.0.0.1:{socks.port} refused the credentials" in result.error, result.error
        assert result.attempts == 1
        assert WRONG not in result.error and site.requests == []
    finally:
        socks.stop()


def test_no_password_in_any_log_line_or_browser_argument(chromium, base, proxy, site, caplog, capfd):
    # DEBUG includes Selenium's own log of the capabilities it sends: Chromium's flags.
    caplog.set_level(logging.DEBUG)
    url = items(site, "/listing", "one")
    for password in (PASSWORD, WRONG):
        for fetch in ("browser", "http"):
            run(base.replace("browser", proxy=(proxy.url(password),)), url, wait_for=".item", fetch=fetch)
    captured = capfd.readouterr()
    assert "--proxy-server=http://127.0.0.1:" in caplog.text  # the browser got the forwarder, nothing more
    for password in (PASSWORD, WRONG):
        assert password not in caplog.text and password not in captured.out + captured.err


def test_a_list_of_proxies_rotates_per_browser(chromium, base, proxy, second_proxy, site):
    urls = [items(site, f"/page{n}", f"item {n}") for n in range(4)]
    settings = base.replace("browser", proxy=(proxy.url(), second_proxy.url()), max_pages=1)
    results = run(settings, *urls, wait_for=".item")
    assert all(result.error is None for result in results)
    # Each new browser takes the next proxy: pages alternate between the two.
    by_a = [n for n in range(4) if proxy.served(f"/page{n} ", timeout=0.5)]
    by_b = [n for n in range(4) if second_proxy.served(f"/page{n} ", timeout=0.5)]
    assert sorted(by_a + by_b) == [0, 1, 2, 3] and len(by_a) == len(by_b) == 2


@pytest.mark.parametrize("rotation, together", [("request", [[0], [1], [2], [3]]), ("browser", [[0, 1], [2, 3]])])
def test_http_pages_rotate_per_request_or_per_max_pages(base, proxy, second_proxy, site, rotation, together):
    urls = [items(site, f"/api{n}", f"item {n}") for n in range(4)]
    settings = base.replace("browser", proxy=(proxy.url(), second_proxy.url()), proxy_rotation=rotation, max_pages=2)
    results = run(settings, *urls, fetch="http")
    assert all(result.error is None for result in results)
    by_a = [n for n in range(4) if proxy.served(f"/api{n} ", timeout=0.5)]
    by_b = [n for n in range(4) if second_proxy.served(f"/api{n} ", timeout=0.5)]
    assert sorted(by_a + by_b) == [0, 1, 2, 3] and len(by_a) == len(by_b) == 2
    # "browser": an HTTP proxy serves max_pages requests in a row, as a browser would.
    assert all(set(group) <= set(by_a) or set(group) <= set(by_b) for group in together)


@pytest.fixture
def third_party():
    lab = PageLab()
    lab.page("/tracker.js", "document.title = 'tracked';", "application/javascript")
    yield lab
    lab.stop()


@pytest.mark.parametrize("rule", [{"allow_hosts": "self"}, {"block_hosts": "localhost"}, {}])
def test_host_blocking_holds_behind_a_proxy(chromium, base, proxy, site, third_party, rule):
    # "localhost" is resolved by the proxy, never by Chromium: resolver rules cannot hold it back.
    url = site.page("/listing", f"""<html><head><script src="http://localhost:{third_party.port}/tracker.js"></script></head>
        <body><div class=item>one</div></body></html>""")
    settings = base.replace("browser", proxy=(proxy.url(),)).with_plugin_values("lab", **rule)
    [result] = run(settings, url, wait_for=".item")
    assert result.error is None and [r.record["text"] for r in result.records] == ["one"]
    assert proxy.served(f"GET 127.0.0.1:{site.port}/listing")
    if rule:
        assert third_party.requests == []
    else:  # the same page without a rule: the third party is reached through the proxy
        deadline = time.monotonic() + 10
        while "/tracker.js" not in third_party.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "/tracker.js" in third_party.requests


def test_a_plugin_can_go_without_the_proxy(chromium, base, site):
    url = items(site, "/listing", "direct")
    # The [browser] proxy does not even exist: "none" in the plugin's section must bypass it.
    settings = base.replace("browser", proxy=("http://nobody:nothing@127.0.0.1:9",)).with_plugin_values("lab", proxy="none")
    [result] = run(settings, url, wait_for=".item")
    assert result.error is None and [r.record["text"] for r in result.records] == ["direct"]


def test_an_unreachable_proxy_is_named_in_the_error(chromium, base, site):
    url = items(site, "/listing", "one")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    settings = base.replace("browser", proxy=(f"http://{USER}:{PASSWORD}@127.0.0.1:{port}",))
    for fetch in ("browser", "http"):
        [result] = run(settings, url, wait_for=".item", fetch=fetch)
        assert f"proxy http://{USER}:***@127.0.0.1:{port}" in result.error and PASSWORD not in result.error


def test_grid_with_credentials_needs_a_forwarder_the_node_reaches(base, grid, proxy, site):
    url = items(site, "/listing", "one")
    settings = base.replace("browser", remote_url=grid.url, proxy=(proxy.url(),))
    [refused] = run(settings, url, wait_for=".item")
    assert "proxy_forwarder_bind" in refused.error and PASSWORD not in refused.error
    # This Grid's node runs on this host, so it reaches a forwarder on loopback.
    [result] = run(settings.replace("browser", proxy_forwarder_bind="127.0.0.1"), url, wait_for=".item")
    assert result.error is None and [r.record["text"] for r in result.records] == ["one"]
    assert proxy.served(f"GET 127.0.0.1:{site.port}/listing")


@pytest.mark.parametrize("value", ["ftp://user:hunter2@host:21", "http://user:hunter2@host", "hunter2"])
def test_a_malformed_proxy_is_refused_at_load_without_its_password(tmp_path, value):
    config = tmp_path / "config.ini"
    config.write_text(f"[browser]\nproxy = {value}\n")
    with pytest.raises(ConfigError) as error:
        load_settings(config, environ={})
    assert "[browser] proxy" in str(error.value) and "hunter2" not in str(error.value)


def test_realistic_user_agent_is_sent_and_is_what_robots_txt_is_checked_against(chromium, base, site):
    assert "Headless" not in REALISTIC_USER_AGENT and "Chrome/" in REALISTIC_USER_AGENT
    settings = base.replace("browser", user_agent="realistic")
    url = site.page("/ua", "<html><body><div class=item></div><script>document.querySelector('.item').textContent = navigator.userAgent;</script></body></html>")
    [result] = run(settings, url, wait_for=js_item_filled())
    assert [r.record["text"] for r in result.records] == [REALISTIC_USER_AGENT]
    assert effective_user_agent({}, settings.browser) == REALISTIC_USER_AGENT
    # robots.txt rules for Chrome hold for the realistic agent; those for scrapeline do not.
    site.page("/robots.txt", "User-agent: Chrome\nDisallow: /private\n\nUser-agent: scrapeline\nDisallow: /\n", "text/plain")
    assert robots_allow(settings, site) == {"/private/x": False, "/public": True}
    assert effective_user_agent({}, BrowserSettings()).endswith("scrapeline/0.1")


def robots_allow(settings: Settings, site: PageLab) -> dict[str, bool]:
    """What the pool's robots.txt check says of two paths of ``site`` for the lab plugin."""
    plugin = lab_registry().create("lab", settings)
    politeness = Politeness(settings)
    try:
        return {path: politeness.allowed(plugin, site.url + path) for path in ("/private/x", "/public")}
    finally:
        politeness.close()


def js_item_filled():
    from scrapers import js

    return js("document.querySelector('.item') && document.querySelector('.item').textContent.length > 0")


def test_robots_txt_is_read_through_the_proxy_with_the_pages_user_agent(base, proxy, site):
    site.page("/robots.txt", "User-agent: Chrome\nDisallow: /private\n", "text/plain")
    settings = base.replace("browser", proxy=(proxy.url(),)).with_plugin_values("lab", user_agent="realistic")
    assert robots_allow(settings, site) == {"/private/x": False, "/public": True}
    assert proxy.served(f"GET 127.0.0.1:{site.port}/robots.txt")


def test_grid_without_a_forwarder_takes_a_plain_proxy_and_blocks_hosts_by_devtools(base, grid, site, third_party, tmp_path):
    plain = AuthProxy(tmp_path / "plain", password=None)
    try:
        url = site.page("/listing", f"""<html><head><script src="http://localhost:{third_party.port}/tracker.js"></script></head>
            <body><div class=item>one</div></body></html>""")
        settings = base.replace("browser", remote_url=grid.url, proxy=(f"http://127.0.0.1:{plain.port}",))
        [result] = run(settings.with_plugin_values("lab", block_hosts="localhost"), url, wait_for=".item")
        assert result.error is None and [r.record["text"] for r in result.records] == ["one"]
        assert plain.served(f"GET 127.0.0.1:{site.port}/listing")
        assert third_party.requests == []
    finally:
        plain.stop()
