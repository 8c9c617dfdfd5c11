"""Login sessions against an authored members site on loopback: a form login sets a session cookie (and
the account page a localStorage token); the first page logs in, later browsers and a restarted worker
reuse the saved session without a login POST, a session the server forgot is refreshed, and the
session file is 0600 and never logged."""

from __future__ import annotations

import logging
import secrets
import stat
import threading
from typing import Any
from urllib.parse import parse_qs

import pytest

from loopback import LoopbackServer, QuietHandler
from scrapeline.records import Schema
from scrapeline.settings import Settings
from scrapers import Page, Plugin, Request
from scrapers.jobs import Job
from scrapers.registry import Registry
from scrapers.worker import PageWorker

USERNAME = "member"
PASSWORD = "pw-members-7781"


class MembersSite:
    """/login (form, POST sets the sid cookie), /account (sets a localStorage token), /items/N (members only)."""

    def __init__(self) -> None:
        self.sessions: set[str] = set()
        self.login_posts = 0
        self.lock = threading.Lock()
        site = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802
                path = self.path.split("?")[0]
                logged_in = site.session_of(self.headers.get("Cookie", "")) is not None
                if path == "/login":
                    self.html("""<form id=login method=post action=/login><input id=user name=user>
                        <input id=password name=password type=password><button id=submit type=submit>Log in</button></form>""")
                elif path == "/account" and logged_in:
                    self.html("<div id=account>welcome</div><script>localStorage.setItem('token', 'members-token')</script>")
                elif path.startswith("/items/") and logged_in:
                    number = path.rsplit("/", 1)[1]
                    self.html(f"""<div class=item>members item {number}</div><div id=ls></div><script>
                        document.getElementById('ls').textContent = localStorage.getItem('token') === 'members-token' ? 'stored' : 'missing';
                        </script>""")
                elif path.startswith("/items/"):
                    self.html("<div id=logged-out>Please log in</div><div class=item>teaser</div><div id=ls>none</div>")
                else:
                    self.html("<p>members site</p>")

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                with site.lock:
                    site.login_posts += 1
                if form.get("user") == [USERNAME] and form.get("password") == [PASSWORD]:
                    sid = secrets.token_hex(16)
                    site.sessions.add(sid)
                    self.send(303, b"", "text/plain", {"Location": "/account", "Set-Cookie": f"sid={sid}; Path=/; HttpOnly"})
                else:
                    self.send(403, b"wrong password", "text/plain")

            def html(self, body: str) -> None:
                self.send(200, f"<html><body>{body}</body></html>".encode(), "text/html; charset=utf-8")

        self._server = LoopbackServer(Handler).start()
        self.url = self._server.url

    def session_of(self, cookie_header: str) -> str | None:
        for part in cookie_header.split(";"):
            name, _, value = part.strip().partition("=")
            if name == "sid" and value in self.sessions:
                return value
        return None

    def forget_sessions(self) -> None:
        self.sessions.clear()

    def stop(self) -> None:
        self._server.stop()


class Members(Plugin):
    name = "members"
    kind = "member_item"
    schema = Schema(fields={"text": "str", "storage": "str"}, id_fields=("text",))
    wait_for = ["#logged-out", "#ls:not(:empty)"]
    default_settings = {"base_url": "", "password": ""}

    def start_requests(self) -> Any:
        yield Request(self.settings["base_url"] + "/items/1")

    def login(self, tab: Any) -> None:
        tab.open(self.settings["base_url"] + "/login", wait_for="form#login")
        tab.type("#user", USERNAME)
        tab.type("#password", self.settings["password"])
        tab.click("#submit")
        tab.wait_for("#account")

    def logged_in(self, page: Page) -> bool:
        return page.soup.select_one("#logged-out") is None

    def parse(self, page: Page) -> Any:
        storage = page.soup.select_one("#ls").get_text(strip=True)
        for item in page.soup.select(".item"):
            yield {"text": item.get_text(strip=True), "storage": storage}


@pytest.fixture
def site():
    server = MembersSite()
    yield server
    server.stop()


@pytest.fixture
def settings(chromium, tmp_path, site) -> Settings:
    base = Settings().replace("pool", retries=0, data_dir=str(tmp_path / "data")).replace("browser", page_load_timeout=15.0, max_pages=1)
    return base.with_plugin_values("members", base_url=site.url, password=PASSWORD)


def registry() -> Registry:
    found = Registry()
    found.add(Members, "tests/test_sessions.py")
    assert not found.problems, found.problems
    return found


def run_pages(settings: Settings, site: MembersSite, *numbers: int) -> list:
    worker = PageWorker(settings, registry())
    try:
        return [worker.run(Job("members", Request(f"{site.url}/items/{number}"))) for number in numbers]
    finally:
        worker.close()


def records(result) -> list[tuple[str, str]]:
    assert result.error is None, result.error
    return [(r.record["text"], r.record["storage"]) for r in result.records]


def test_first_page_logs_in_and_recycled_browsers_reuse_the_saved_session(settings, site):
    # max_pages = 1: every page has a browser of its own, so pages 2 and 3 start without cookies.
    results = run_pages(settings, site, 1, 2, 3)
    assert [records(result) for result in results] == [[(f"members item {n}", "stored")] for n in (1, 2, 3)]
    assert site.login_posts == 1


def test_a_restarted_worker_reuses_the_session_from_disk(settings, site):
    assert records(run_pages(settings, site, 1)[0]) == [("members item 1", "stored")]
    # A new worker (a daemon restart) has nothing in memory: only the saved file.
    assert records(run_pages(settings, site, 2)[0]) == [("members item 2", "stored")]
    assert site.login_posts == 1


def test_a_session_the_server_forgot_is_refreshed_and_the_page_loaded_again(settings, site):
    assert records(run_pages(settings, site, 1)[0]) == [("members item 1", "stored")]
    site.forget_sessions()
    assert records(run_pages(settings, site, 2)[0]) == [("members item 2", "stored")]
    assert site.login_posts == 2
    # The fresh session was saved: the next browser uses it without logging in.
    assert records(run_pages(settings, site, 3)[0]) == [("members item 3", "stored")]
    assert site.login_posts == 2


def test_wrong_password_is_a_clear_error_and_no_retry_loop(settings, site):
    wrong = settings.with_plugin_values("members", password="not-it", wait_timeout="3").replace("pool", retries=2)
    result = run_pages(wrong, site, 1)[0]
    assert "plugin members: login failed" in result.error
    assert site.login_posts == 1


def test_the_session_file_is_private_and_never_logged(settings, site, caplog, capfd):
    caplog.set_level(logging.DEBUG)  # Selenium's wire log included
    run_pages(settings, site, 1, 2)
    path = settings.data_dir / "sessions" / "members.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    [sid] = site.sessions
    assert sid in path.read_text() and "members-token" in path.read_text()
    captured = capfd.readouterr()
    for secret in (sid, PASSWORD):
        assert secret not in caplog.text and secret not in captured.out + captured.err
    assert "plugin members logged in; session saved" in caplog.text
