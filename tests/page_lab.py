"""A loopback site for browser-behaviour tests, and a plugin whose wait and blocking each test sets.

``PageLab`` serves pages put into ``pages`` by path and logs every request. ``held`` paths
answer only once the test releases them (``release()``): a third-party host that hangs for as
long as the test wants, so an ordering, not a duration, shows what waited for it. ``answers``
gives a path a sequence of (status, headers) for its next requests (``[(429, {"Retry-After":
"1"})]`` then the page as usual).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from loopback import LoopbackServer, QuietHandler
from scrapeline.records import Schema
from scrapers import Page, Plugin
from scrapers.registry import Registry


class PageLab:
    def __init__(self) -> None:
        self.pages: dict[str, tuple[str, bytes]] = {}
        self.requests: list[str] = []
        self.held: set[str] = set()
        self.answers: dict[str, list[tuple[int, dict[str, str]]]] = {}
        self._last_answer: dict[str, tuple[int, dict[str, str]]] = {}
        self._released = threading.Event()
        lab = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802
                path = self.path.split("?")[0]
                lab.requests.append(path)
                if path in lab.held:
                    lab._released.wait(60)
                content_type, body = lab.pages.get(path, ("text/plain", b""))
                status, headers = lab.answers[path].pop(0) if lab.answers.get(path) else (200 if path in lab.pages else 404, {})
                lab._last_answer[path] = (status, headers)
                if status != 200:
                    body, content_type = f"status {status}".encode(), "text/plain"
                self.send(status, body, content_type, headers)

            def do_HEAD(self) -> None:  # noqa: N802
                # The headers of the last GET's answer (a browser asks a 429 page for its Retry-After).
                path = self.path.split("?")[0]
                status, headers = lab._last_answer.get(path, (200 if path in lab.pages else 404, {}))
                self.send(status, b"", "text/plain", headers)

        self._server = LoopbackServer(Handler).start()
        self.url = self._server.url
        self.port = int(self.url.rsplit(":", 1)[1])

    def page(self, path: str, html: str, content_type: str = "text/html; charset=utf-8") -> str:
        self.pages[path] = (content_type, html.encode())
        return self.url + path

    def release(self) -> None:
        self._released.set()

    def stop(self) -> None:
        self.release()
        self._server.stop()


class LabPlugin(Plugin):
    """One record per page: the text of every ``.item``; ``wait_for`` is set by each test."""

    name = "lab"
    kind = "lab_item"
    schema = Schema(fields={"text": "str"}, id_fields=("text",))
    start_urls = ("http://127.0.0.1/",)

    def parse(self, page: Page) -> Any:
        for item in page.soup.select(".item"):
            yield {"text": item.get_text(strip=True)}


def run_lab(settings: Any, *urls: str, **attributes: Any) -> list:
    """Load ``urls`` one after the other in one PageWorker with a LabPlugin of ``attributes``; their JobResults."""
    from scrapers.jobs import Job
    from scrapers.plugin import Request
    from scrapers.worker import PageWorker

    worker = PageWorker(settings, lab_registry(**attributes))
    try:
        return [worker.run(Job("lab", Request(url))) for url in urls]
    finally:
        worker.close()


def lab_registry(**attributes: Any) -> Registry:
    """A registry holding a LabPlugin subclass with ``attributes`` (e.g. ``wait_for``)."""
    registry = Registry()
    registry.add(type("Lab", (LabPlugin,), attributes), "tests/page_lab.py")
    assert not registry.problems, registry.problems
    return registry


# The same plugin as a file, for the pool's worker processes (they find plugins on plugin_paths).
LAB_PLUGIN_FILE = '''\
from scrapers import Plugin, Request, Schema


class Lab(Plugin):
    name = "lab"
    kind = "lab_item"
    schema = Schema(fields={{"text": "str"}}, id_fields=("text",))
    wait_for = ".item"
    default_settings = {{"urls": ""}}

    def start_requests(self):
        for url in self.settings["urls"].split(","):
            yield Request(url)

    def parse(self, page):
        for item in page.soup.select(".item"):
            yield {{"text": item.get_text(strip=True)}}
{more_parse}
'''


def lab_plugin_folder(folder: Path, more_parse: str = "") -> str:
    """Write the lab plugin into ``folder`` (``more_parse``: lines added to its parse) and return it for plugin_paths."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "lab.py").write_text(LAB_PLUGIN_FILE.format(more_parse=more_parse))
    return str(folder)
