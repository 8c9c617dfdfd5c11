"""A loopback site for browser-behaviour tests, and a plugin whose wait and blocking each test sets.

``PageLab`` serves pages put into ``pages`` by path and logs every request. ``held`` paths
answer only once the test releases them (``release()``): a third-party host that hangs for as
long as the test wants, so an ordering, not a duration, shows what waited for it.
"""

from __future__ import annotations

import threading
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
        self._released = threading.Event()
        lab = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802
                path = self.path.split("?")[0]
                lab.requests.append(path)
                if path in lab.held:
                    lab._released.wait(60)
                content_type, body = lab.pages.get(path, ("text/plain", b""))
                self.send(200 if path in lab.pages else 404, body, content_type)

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


def lab_registry(**attributes: Any) -> Registry:
    """A registry holding a LabPlugin subclass with ``attributes`` (e.g. ``wait_for``)."""
    registry = Registry()
    registry.add(type("Lab", (LabPlugin,), attributes), "tests/page_lab.py")
    assert not registry.problems, registry.problems
    return registry
