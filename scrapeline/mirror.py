"""Serve saved pages of a site on 127.0.0.1, so a plugin runs unchanged against a local mirror.

``/a/`` serves ``a/index.html``; a query string picks a sibling file:
``/a/?page=2`` serves ``a/index@page=2.html`` and ``/b.html?x=1`` serves
``b@x=1.html``. A query without its file is a 404, never the page without
the query, so pagination past the last saved page ends cleanly.
"""

from __future__ import annotations

import functools
from http.server import SimpleHTTPRequestHandler
from pathlib import Path
from urllib.parse import unquote, urlsplit

from scrapeline.http_server import BackgroundHTTPServer, QuietHandler


class _MirrorHandler(QuietHandler, SimpleHTTPRequestHandler):
    def handle(self) -> None:
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the browser stopped the page (window.stop) before this answer was read

    def send_head(self):  # type: ignore[no-untyped-def] - the base class's signature
        # No file name holds a NUL byte; the base class would fail on one with a ValueError.
        if "\x00" in unquote(self.path):
            self.send_error(400, "NUL byte in the path")
            return None
        return super().send_head()

    def translate_path(self, path: str) -> str:
        parts = urlsplit(path)
        local = Path(super().translate_path(parts.path))
        if not parts.query:
            return str(local)
        query = unquote(parts.query).replace("/", "_")
        if local.is_dir():
            return str(local / f"index@{query}.html")
        return str(local.with_name(f"{local.stem}@{query}{local.suffix}"))

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()


class MirrorServer(BackgroundHTTPServer):
    """A threaded static server for ``root``; ``url`` is its base address once started."""

    def __init__(self, root: str | Path, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"mirror folder {self.root} does not exist")
        super().__init__(functools.partial(_MirrorHandler, directory=str(self.root)), host, port, name=f"mirror {self.root.name}")
