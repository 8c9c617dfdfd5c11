"""The tests' small HTTP servers: a free 127.0.0.1 port, a daemon thread, quiet handlers."""

from __future__ import annotations

from scrapeline.http_server import BackgroundHTTPServer, QuietHandler

__all__ = ["LoopbackServer", "QuietHandler"]


class LoopbackServer(BackgroundHTTPServer):
    """A handler served on a free loopback port; ``url`` says where. Use as a context manager, or start()/stop()."""
