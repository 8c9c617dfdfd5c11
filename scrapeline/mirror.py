"""Serve saved pages of a site on 127.0.0.1, so a plugin runs unchanged against a local mirror.

``/a/`` serves ``a/index.html``; a query string picks a sibling file:
``/a/?page=2`` serves ``a/index@page=2.html`` and ``/b.html?x=1`` serves
``b@x=1.html``. A query without its file is a 404, never the page without
the query, so pagination past the last saved page ends cleanly.
"""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit


class _MirrorHandler(SimpleHTTPRequestHandler):
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

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


class MirrorServer:
    """A threaded static server for ``root``; ``url`` is its base address once started."""

    def __init__(self, root: str | Path, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"mirror folder {self.root} does not exist")
        handler = functools.partial(_MirrorHandler, directory=str(self.root))
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"mirror {self.root.name}", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "MirrorServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "MirrorServer":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
