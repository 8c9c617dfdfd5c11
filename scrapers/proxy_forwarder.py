"""The local forwarder in front of a proxy: what makes authenticated proxies (and host blocking
behind any proxy) work with Chromium, which takes no proxy credentials by flag.

Our own small asyncio relay rather than a library: proxy.py (used by the tests as the real proxy) is
a multi-process server framework whose upstream-chaining plugin picks proxies at random and reports
no refusal to its embedder, and pproxy has had no release since 2024. What is needed here is one
upstream per browser, a page error that names the proxy when it refuses our login, and a refusal of
blocked hosts: a thread, one event loop and the code below (see :class:`Forwarder`).
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import threading
from typing import TYPE_CHECKING, Callable
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from scrapers.proxies import Proxy

HEAD_LIMIT = 64 * 1024
CONNECT_TIMEOUT_S = 15.0
HEAD_TIMEOUT_S = 30.0
# Connection headers of the hop between two parties, never relayed.
HOP_HEADERS = frozenset({"proxy-authorization", "proxy-connection", "connection", "keep-alive"})


class Forwarder:
    """A local HTTP proxy relaying every request to ``upstream`` with its credentials.

    ``CONNECT host:port`` (HTTPS, WebSockets) becomes a tunnel through the upstream proxy;
    a plain ``GET http://...`` is sent on with ``Proxy-Authorization`` added and one request per
    connection. Hosts that ``allowed`` refuses are answered 403 at once. A refusal of the
    credentials (407, or a SOCKS5 login failure) or an unreachable proxy is kept for
    :meth:`take_problem`, so the page's error names the proxy (without its password).
    """

    def __init__(self, upstream: "Proxy", allowed: Callable[[str], bool] = lambda host: True, bind: str = "127.0.0.1") -> None:
        self.upstream = upstream
        self.allowed = allowed
        self.bind = bind
        self.port = 0
        self._problem: tuple[str, bool] | None = None
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.AbstractServer | None = None
        self._thread = threading.Thread(target=self._run, name="proxy-forwarder", daemon=True)
        self._ready = threading.Event()
        self._start_error: OSError | None = None

    def start(self) -> "Forwarder":
        self._thread.start()
        self._ready.wait(10)
        if self._start_error is not None or not self.port:
            raise self._start_error or OSError(f"no answer from the forwarder's thread on {self.bind}")
        return self

    def take_problem(self) -> tuple[str, bool] | None:
        problem, self._problem = self._problem, None
        return problem

    def close(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)

    # -- the event loop's thread ---------------------------------------------------------------

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._server = self._loop.run_until_complete(asyncio.start_server(self._serve, self.bind, 0, limit=HEAD_LIMIT))
            self.port = self._server.sockets[0].getsockname()[1]
        except OSError as exc:
            self._start_error = exc
        self._ready.set()
        if self._server is None:
            self._loop.close()
            return
        try:
            self._loop.run_forever()
        finally:
            self._server.close()
            tasks = asyncio.all_tasks(self._loop)
            for task in tasks:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            self._loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_writer: asyncio.StreamWriter | None = None
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT_S)
            method, target, version, headers = _parse_head(head)
            host, port, origin_form = _destination(method, target)
            if not self.allowed(host):
                await _answer(writer, 403, "Blocked")
                return
            try:
                upstream_reader, upstream_writer = await asyncio.wait_for(
                    asyncio.open_connection(self.upstream.host, self.upstream.port, limit=HEAD_LIMIT), CONNECT_TIMEOUT_S
                )
            except (OSError, asyncio.TimeoutError) as exc:
                self._problem = (f"proxy {self.upstream.redacted()} is unreachable ({_reason(exc)})", False)
                await _answer(writer, 502, "Proxy Unreachable")
                return
            if self.upstream.scheme == "http":
                await self._through_http_proxy(method, target, version, headers, reader, writer, upstream_reader, upstream_writer)
            else:
                await self._through_socks(method, origin_form, version, headers, host, port, reader, writer, upstream_reader, upstream_writer)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError, ConnectionError, ValueError):
            pass  # a client that went away or spoke nonsense; nothing to tell the page
        finally:
            for stream in (writer, upstream_writer):
                if stream is not None:
                    stream.close()

    async def _through_http_proxy(self, method, target, version, headers, reader, writer, upstream_reader, upstream_writer) -> None:
        authorization = ""
        if self.upstream.has_credentials:
            token = base64.b64encode(f"{self.upstream.username}:{self.upstream.password}".encode()).decode()
            authorization = f"Proxy-Authorization: Basic {token}\r\n"
        if method == "CONNECT":
            upstream_writer.write(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n{authorization}\r\n".encode("latin-1"))
            await upstream_writer.drain()
            status = await self._response_status(upstream_reader)
            if status is None:
                await _answer(writer, 502, "Bad Gateway")
                return
            if status != 200:
                await _answer(writer, 502 if status == 407 else status, "Proxy Refused")
                return
            self._problem = None
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await _relay(reader, writer, upstream_reader, upstream_writer)
            return
        upstream_writer.write(_request_head(method, target, version, headers, authorization))
        await upstream_writer.drain()
        sending = asyncio.ensure_future(_pipe(reader, upstream_writer))
        try:
            response = await asyncio.wait_for(upstream_reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT_S + CONNECT_TIMEOUT_S)
            status = _status_of(response)
            if status == 407:
                self._refused(407)
                await _answer(writer, 502, "Proxy Refused")
                return
            self._problem = None
            writer.write(_close_after(response))
            await writer.drain()
            await _pipe(upstream_reader, writer)
        finally:
            sending.cancel()

    async def _through_socks(self, method, origin_form, version, headers, host, port, reader, writer, upstream_reader, upstream_writer) -> None:
        try:
            logged_in = await self._socks_login(upstream_reader, upstream_writer)
        except asyncio.IncompleteReadError:
            logged_in = False  # some servers hang up on a wrong login instead of answering it
        if not logged_in:
            self._refused(None)
            await _answer(writer, 502, "Proxy Refused")
            return
        name = host.encode("idna")
        upstream_writer.write(b"\x05\x01\x00" + _socks_address(host, name) + port.to_bytes(2, "big"))
        await upstream_writer.drain()
        reply = await upstream_reader.readexactly(4)
        skip = {1: 4, 4: 16}.get(reply[3])
        skip = skip if skip is not None else (await upstream_reader.readexactly(1))[0]
        await upstream_reader.readexactly(skip + 2)
        if reply[1] != 0:
            await _answer(writer, 502, f"SOCKS5 error {reply[1]}")
            return
        self._problem = None
        if method == "CONNECT":
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            upstream_writer.write(_request_head(method, origin_form, version, headers, ""))
        await asyncio.gather(writer.drain(), upstream_writer.drain())
        await _relay(reader, writer, upstream_reader, upstream_writer)

    async def _socks_login(self, upstream_reader: asyncio.StreamReader, upstream_writer: asyncio.StreamWriter) -> bool:
        """The SOCKS5 greeting, and the username/password login (RFC 1929) when the proxy has credentials."""
        proxy = self.upstream
        upstream_writer.write(b"\x05\x01\x02" if proxy.has_credentials else b"\x05\x01\x00")
        await upstream_writer.drain()
        version_byte, chosen = await upstream_reader.readexactly(2)
        if version_byte != 5 or chosen == 0xFF:
            return False
        if chosen == 0x02:
            user, password = proxy.username.encode()[:255], proxy.password.encode()[:255]
            upstream_writer.write(bytes([1, len(user)]) + user + bytes([len(password)]) + password)
            await upstream_writer.drain()
            _, auth_status = await upstream_reader.readexactly(2)
            return auth_status == 0
        return True

    async def _response_status(self, upstream_reader: asyncio.StreamReader) -> int | None:
        try:
            status = _status_of(await asyncio.wait_for(upstream_reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT_S))
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError, ValueError):
            return None
        if status == 407:
            self._refused(407)
        return status

    def _refused(self, status: int | None) -> None:
        said = f" (HTTP {status})" if status else " (SOCKS5 login)"
        self._problem = (f"proxy {self.upstream.redacted()} refused the credentials{said}: check [browser] proxy or the plugin's proxy", True)


def _parse_head(head: bytes) -> tuple[str, str, str, list[tuple[str, str]]]:
    lines = head.decode("latin-1").split("\r\n")
    method, target, version = lines[0].split(" ", 2)
    headers = []
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
    return method.upper(), target, version, headers


def _destination(method: str, target: str) -> tuple[str, int, str]:
    """The host and port a request is for, and its target in origin form (for SOCKS)."""
    if method == "CONNECT":
        host, _, port = target.rpartition(":")
        return host.strip("[]").lower(), int(port), target
    parts = urlsplit(target)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"not an absolute http URL: {target!r}")
    origin_form = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.hostname.lower(), parts.port or 80, origin_form


def _request_head(method: str, target: str, version: str, headers: list[tuple[str, str]], authorization: str) -> bytes:
    # One request per connection: a second one on it would reach the proxy without our header.
    kept = "".join(f"{name}: {value}\r\n" for name, value in headers if name.lower() not in HOP_HEADERS)
    return f"{method} {target} {version}\r\n{kept}{authorization}Connection: close\r\n\r\n".encode("latin-1")


def _close_after(response: bytes) -> bytes:
    lines = response.decode("latin-1").split("\r\n")
    kept = [line for line in lines[1:] if line and line.partition(":")[0].strip().lower() not in HOP_HEADERS]
    return "\r\n".join([lines[0], *kept, "Connection: close", "", ""]).encode("latin-1")


def _status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def _socks_address(host: str, name: bytes) -> bytes:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return b"\x03" + bytes([len(name)]) + name  # the proxy resolves the name
    return (b"\x01" if address.version == 4 else b"\x04") + address.packed


async def _answer(writer: asyncio.StreamWriter, status: int, reason: str) -> None:
    body = f"{status} {reason} (scrapeline proxy forwarder)\n".encode()
    writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
    try:
        await writer.drain()
    except ConnectionError:
        pass


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass


async def _relay(client_reader, client_writer, upstream_reader, upstream_writer) -> None:
    """Both directions until either side closes."""
    directions = [asyncio.ensure_future(_pipe(client_reader, upstream_writer)), asyncio.ensure_future(_pipe(upstream_reader, client_writer))]
    _, pending = await asyncio.wait(directions, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return f"no connection within {CONNECT_TIMEOUT_S:g} s"
    return getattr(exc, "strerror", None) or type(exc).__name__
