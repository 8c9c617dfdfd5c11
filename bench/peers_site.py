"""The fixture site of bench/peers.py: listing pages whose items JavaScript renders, on loopback.

Two servers, started together in their own process (so serving costs none of the measuring
process's time):

- the site, on 127.0.0.1: ``/list/N.html``, a 40 kB listing page whose script fetches
  ``/data/N.json`` from the same site once the document is parsed and renders its items into
  ``#items`` as ``li.item``; page N holds 40 to 60 items, so a page read too early (no items) or a
  previous page read again (another count) shows in the counts;
- a "third party" on 127.0.0.2 (another site to the browser), answering every request after
  ``THIRD_PARTY_DELAY`` seconds, as a remote host would: an async tag script, a tracking pixel, a web
  font behind a non-blocking stylesheet, and a widget in an iframe. None of it carries data.
"""

from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from threading import Thread

ITEM_SELECTOR = "#items li.item"
THIRD_PARTY_DELAY = 0.15


def item_count(page: int) -> int:
    return 40 + (page * 7) % 21


def items(page: int) -> list[dict[str, object]]:
    return [
        {"id": page * 1000 + n, "name": f"Product {page}-{n}", "price": f"${(page * 31 + n * 17) % 5000 / 7:.2f}"}
        for n in range(item_count(page))
    ]


def listing(page: int, pages: int, third_party: str) -> str:
    nav = "".join(f'<li><a href="/list/{n}.html">Page {n}</a></li>' for n in range(1, pages + 1))
    blurbs = "".join(
        f'<article class="promo"><h3>Offer {n}</h3><p>{"Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 4}</p></article>'
        for n in range(40)
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Listing {page}</title>
<link rel="stylesheet" href="{third_party}/fonts.css" media="print" onload="this.media='all'">
<script async src="{third_party}/tag.js?page={page}"></script>
<style>body{{font-family:Brand,sans-serif}} .item{{padding:4px}} .promo{{margin:8px}}</style>
</head><body>
<header><h1 data-page="{page}">Listing {page}</h1><nav><ul>{nav}</ul></nav></header>
<main><ul id="items"></ul><section>{blurbs}</section>
<iframe src="{third_party}/widget.html?page={page}" width="300" height="250" title="ad"></iframe>
<img src="{third_party}/pixel.gif?page={page}" width="1" height="1" alt="">
</main><footer><p>Footer of page {page}</p></footer>
<script>
fetch("/data/{page}.json").then(function (r) {{ return r.json(); }}).then(function (rows) {{
  var list = document.getElementById("items"), fragment = document.createDocumentFragment();
  rows.forEach(function (row) {{
    var li = document.createElement("li");
    li.className = "item";
    li.dataset.id = row.id;
    li.innerHTML = '<a href="/item/' + row.id + '">' + row.name + '</a> <span class="price">' + row.price + "</span>";
    fragment.appendChild(li);
  }});
  list.appendChild(fragment);
}});
</script>
</body></html>"""


THIRD_PARTY = {
    "/tag.js": ("application/javascript", b"window.__tag = {loaded: Date.now()}; new Image().src = new URL('/collect?e=pageview', document.currentScript.src);"),
    "/collect": ("image/gif", b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"),
    "/pixel.gif": ("image/gif", b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"),
    "/fonts.css": ("text/css", b"@font-face{font-family:Brand;src:url(/brand.woff2) format('woff2')}"),
    "/brand.woff2": ("font/woff2", b"\x00" * 20000),
    "/widget.html": ("text/html", b"<!doctype html><body><div id=ad>Ad</div><script>document.getElementById('ad').textContent='Buy now'</script></body>"),
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes; Nagle would hold the body back
    routes: dict[str, tuple[str, bytes]] = {}
    delay = 0.0

    def do_GET(self) -> None:  # noqa: N802 - the base class's name
        if self.delay:
            time.sleep(self.delay)
        content_type, body = self.routes.get(self.path.split("?")[0], ("text/plain", b""))
        try:
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the browser moved on to the next page

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


def _serve(host: str, routes: dict[str, tuple[str, bytes]], delay: float) -> ThreadingHTTPServer:
    handler = type("Handler", (_Handler,), {"routes": routes, "delay": delay})
    server = ThreadingHTTPServer((host, 0), handler)
    server.daemon_threads = True
    server.handle_error = lambda request, address: None  # a browser leaving a page resets its connections
    Thread(target=server.serve_forever, daemon=True).start()
    return server


def serve(pages: int, conn: Connection) -> None:
    """Process entry point: start both servers, send back the site's base URL, serve until told to stop."""
    third = _serve("127.0.0.2", THIRD_PARTY, THIRD_PARTY_DELAY)
    third_url = f"http://127.0.0.2:{third.server_address[1]}"
    routes: dict[str, tuple[str, bytes]] = {}
    for page in range(1, pages + 1):
        routes[f"/list/{page}.html"] = ("text/html; charset=utf-8", listing(page, pages, third_url).encode())
        routes[f"/data/{page}.json"] = ("application/json", json.dumps(items(page)).encode())
    site = _serve("127.0.0.1", routes, 0.0)
    conn.send(f"http://127.0.0.1:{site.server_address[1]}")
    try:
        conn.recv()  # anything, or the pipe closing, stops the servers
    except EOFError:
        pass
