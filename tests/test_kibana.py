"""Dashboards as code: the committed NDJSON, what it refers to, and `scrapeline kibana setup` against a Kibana stand-in."""

import json
import logging
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dev_env import scrapeline
from kibana_stub import KibanaStub
from pipeline.clients import make_elasticsearch
from pipeline.documents import history_pattern, latest_index
from pipeline.kibana import KibanaClient
from pipeline.kibana_objects import NDJSON_PATH, saved_objects, to_ndjson
from pipeline.mappings import field_types
from pipeline.round_reports import rounds_field_types, rounds_index
from scrapeline.settings import ElasticsearchSettings, KibanaSettings
from scrapers.registry import discover, kind_schemas

# Which Elasticsearch field types each Lens operation can use.
OPERATION_TYPES = {
    "date_histogram": {"date"},
    "terms": {"keyword", "long"},
    "average": {"double", "long"},
    "max": {"double", "long"},
    "min": {"double", "long"},
}


def test_the_committed_ndjson_is_what_the_code_builds():
    assert NDJSON_PATH.read_text() == to_ndjson(saved_objects("scrapeline")), "run `scrapeline kibana export > pipeline/kibana_objects.ndjson`"


def test_every_chart_uses_fields_of_the_right_type_on_indices_the_consumer_writes():
    types = field_types(kind_schemas(discover()))
    objects = {obj["id"]: obj for obj in saved_objects("p")}
    views = {obj["id"]: obj["attributes"]["title"] for obj in objects.values() if obj["type"] == "index-pattern"}
    kind_of_pattern = {latest_index("p", kind): kind for kind in types} | {history_pattern("p", kind): kind for kind in types}
    # Crawl health charts the rounds index, whose mapping is its own.
    kind_of_pattern[rounds_index("p")], types["(rounds)"] = "(rounds)", rounds_field_types()
    assert set(views.values()) <= set(kind_of_pattern), views
    checked = 0
    for obj in objects.values():
        for ref in obj["references"]:
            assert ref["id"] in objects, f"{obj['id']} refers to a missing {ref['type']} {ref['id']}"
        if obj["type"] != "lens":
            continue
        (view,) = {ref["id"] for ref in obj["references"]}
        fields = types[kind_of_pattern[views[view]]]
        for layer in obj["attributes"]["state"]["datasourceStates"]["formBased"]["layers"].values():
            assert list(layer["columns"]) == layer["columnOrder"]
            columns = list(layer["columns"].values())
            columns += [c["params"]["orderAgg"] for c in columns if "orderAgg" in c.get("params", {})]
            for column in columns:
                if column["operationType"] == "count":
                    continue
                for field in (column["sourceField"], *column.get("params", {}).get("secondaryFields", ())):
                    assert fields[field] in OPERATION_TYPES[column["operationType"]], (obj["id"], column)
                    checked += 1
    assert checked >= 20


def test_one_dashboard_per_built_in_kind_with_its_panels():
    objects = saved_objects()
    boards = {obj["id"]: obj for obj in objects if obj["type"] == "dashboard"}
    assert set(boards) == {"scrapeline-crypto_quote", "scrapeline-food_product", "scrapeline-crawl-health"}
    titles = {obj["id"]: obj["attributes"]["title"] for obj in objects}
    crypto = [titles[ref["id"]] for ref in boards["scrapeline-crypto_quote"]["references"]]
    assert crypto == ["Price (USD) per coin and source", "Market cap (USD) per coin", "24h change (%) per coin",
                      "Top movers: gainers (24h)", "Top movers: losers (24h)"]  # fmt: skip
    # Prices one line per coin and source, so CoinMarketCap and CoinGecko compare.
    price_split = next(o for o in objects if o["id"] == "scrapeline-crypto-price_usd")["attributes"]["state"]["datasourceStates"]["formBased"]["layers"]["layer1"]["columns"]["split"]
    assert (price_split["sourceField"], price_split["params"]["secondaryFields"]) == ("slug", ["source"])
    health = [titles[ref["id"]] for ref in boards["scrapeline-crawl-health"]["references"]]
    assert health == ["Records per round", "Error rate per round", "Round duration (s)", "Alerts"]
    food = [titles[ref["id"]] for ref in boards["scrapeline-food_product"]["references"]]
    assert food == ["Products by Nutri-Score", "Products by NOVA group", "Top brands", "Top categories"]
    panels = json.loads(boards["scrapeline-food_product"]["attributes"]["panelsJSON"])
    assert [p["panelRefName"] for p in panels] == [ref["name"].split(":")[1] for ref in boards["scrapeline-food_product"]["references"]]


def test_setup_waits_for_kibana_imports_with_the_configured_prefix_and_prints_the_links():
    with KibanaStub(unavailable_polls=2) as kibana:
        done = scrapeline("kibana", "setup", "--url", kibana.url, "--wait", "30", env={"SCRAPELINE_ELASTICSEARCH__INDEX_PREFIX": "prices"})
    assert done.returncode == 0, done.stderr
    assert f"Crypto quotes: {kibana.url}/app/dashboards#/view/prices-crypto_quote" in done.stdout
    assert f"Food products: {kibana.url}/app/dashboards#/view/prices-food_product" in done.stdout
    assert f"Crawl health: {kibana.url}/app/dashboards#/view/prices-crawl-health" in done.stdout
    assert kibana.requests.count(("GET", "/api/status")) == 3
    assert ("POST", "/api/saved_objects/_import?overwrite=true") in kibana.requests
    assert {obj["attributes"]["title"] for obj in kibana.imported if obj["type"] == "index-pattern"} == {
        "prices-crypto_quote-history-*", "prices-crypto_quote-latest", "prices-food_product-latest", "prices-rounds",
    }  # fmt: skip


def test_setup_reports_what_kibana_could_not_import_and_an_unreachable_kibana():
    errors = [{"type": "lens", "id": "scrapeline-food-nova", "error": {"type": "unknown"}}]
    with KibanaStub(import_errors=errors) as kibana:
        done = scrapeline("kibana", "setup", "--url", kibana.url)
    assert done.returncode == 1
    assert "lens scrapeline-food-nova" in done.stderr and "Traceback" not in done.stderr
    unreachable = scrapeline("kibana", "setup", "--url", "http://127.0.0.1:9")
    assert unreachable.returncode == 1 and "Kibana at http://127.0.0.1:9 is unreachable" in unreachable.stderr


class _Recorder(BaseHTTPRequestHandler):
    """Records each request's path and Authorization header; ``redirect_to`` sends /api/status elsewhere."""

    redirect_to = ""
    seen: list

    def do_GET(self):  # noqa: N802 - the base class's name
        self.seen.append((self.path, self.headers.get("Authorization")))
        if self.redirect_to and self.path == "/api/status":
            self.send_response(302)
            self.send_header("Location", f"{self.redirect_to}/api/status")
            self.end_headers()
            return
        self._json({"status": {"overall": {"level": "available"}}})

    def do_POST(self):  # noqa: N802
        self.seen.append((self.path, self.headers.get("Authorization")))
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._json({"success": True, "successCount": 1})

    def _json(self, body):
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@contextmanager
def recording_server(redirect_to=""):
    handler = type("Handler", (_Recorder,), {"redirect_to": redirect_to, "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, handler.seen
    finally:
        server.shutdown()
        server.server_close()


def test_credentials_are_not_sent_to_the_host_a_redirect_points_to():
    with recording_server() as (elsewhere, elsewhere_seen):
        # localhost is another host name than 127.0.0.1, as far as where credentials may go is concerned
        with recording_server(redirect_to=f"http://localhost:{elsewhere.server_port}") as (kibana, kibana_seen):
            url = f"http://127.0.0.1:{kibana.server_port}"
            done = scrapeline("kibana", "setup", "--url", url, "--wait", "10",
                              env={"SCRAPELINE_KIBANA__USERNAME": "elastic", "SCRAPELINE_KIBANA__PASSWORD": "s3cret"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert ("/api/status", None) in elsewhere_seen
    assert all(auth is None for _, auth in elsewhere_seen)
    assert kibana_seen and all(auth and auth.startswith("Basic ") for _, auth in kibana_seen)


@pytest.mark.parametrize(
    "url, warned",
    [
        ("http://kibana.example.com:5601", True),
        ("http://10.0.0.7:5601", True),
        ("https://kibana.example.com:5601", False),
        ("http://127.0.0.1:5601", False),
        ("http://localhost:5601", False),
        ("http://[::1]:5601", False),
    ],
)
def test_credentials_over_plain_http_to_another_machine_are_warned_about(url, warned, caplog):
    with caplog.at_level(logging.WARNING):
        KibanaClient(KibanaSettings(url=url, username="elastic", password="s3cret"))
        make_elasticsearch(ElasticsearchSettings(hosts=(url,), api_key="key"))
    lines = [record.getMessage() for record in caplog.records if "plain http" in record.getMessage()]
    assert len(lines) == (2 if warned else 0)
    assert all("s3cret" not in line for line in lines)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        KibanaClient(KibanaSettings(url=url))  # no credentials, nothing to warn about
    assert not [record for record in caplog.records if "plain http" in record.getMessage()]
