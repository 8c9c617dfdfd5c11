"""`scrapeline topics ...` and `scrapeline search ...` against the real broker and index."""

import re

from dev_env import consume_all, produce, quote_envelope, scrapeline, server_env


def test_topic_lifecycle_create_list_produce_tail_delete(settings):
    env = server_env(settings)
    topic = f"{settings.kafka.topic_prefix}.scratch"

    created = scrapeline("topics", "create", topic, "--partitions", "1", env=env)
    assert created.returncode == 0, created.stderr
    again = scrapeline("topics", "create", topic, env=env)
    assert again.returncode == 1 and f"topic '{topic}' already exists" in again.stderr

    sent = scrapeline("topics", "produce", topic, "--key", "k", input_text='{"n": 1}\nplain text\n\n{"n": 3}\n', env=env)
    assert sent.returncode == 0 and "sent 3 messages" in sent.stdout, sent.stderr

    listed = scrapeline("topics", "list", env=env)
    assert listed.returncode == 0
    assert re.search(rf"{re.escape(topic)}\s*│\s*1\s*│\s*3\s*│", listed.stdout), listed.stdout

    tailed = scrapeline("topics", "tail", topic, "-n", "2", env=env)
    assert tailed.returncode == 0, tailed.stderr
    assert tailed.stdout.splitlines() == ["0@1 k plain text", '0@2 k {"n":3}']

    deleted = scrapeline("topics", "delete", topic, env=env)
    assert deleted.returncode == 0, deleted.stderr
    assert topic not in scrapeline("topics", "list", env=env).stdout
    missing = scrapeline("topics", "tail", topic, env=env)
    assert missing.returncode == 1 and f"no topic named '{topic}'" in missing.stderr


def test_search_prints_matching_documents_as_a_table(settings):
    produce(settings, [
        quote_envelope("bitcoin", 64000.5, rank=1),
        quote_envelope("ethereum", 3100.25, rank=2),
        quote_envelope("dogecoin", 0.12, rank=9),
        quote_envelope("bitcoin", 63000.0, "2026-11-22T09:00:00Z", rank=1),
    ])  # fmt: skip
    consume_all(settings)
    env = server_env(settings)

    found = scrapeline("search", "crypto_quote", "bitcoin", env=env)
    assert found.returncode == 0, found.stderr
    assert "crypto_quote: 1 of 1 matching documents" in found.stdout
    assert "64,000.50" in found.stdout and "ethereum" not in found.stdout

    rich = scrapeline("search", "crypto_quote", "price_usd:>100", "--fields", "slug,price_usd", "--limit", "1", env=env)
    assert "crypto_quote: 1 of 2 matching documents" in rich.stdout, rich.stderr

    history = scrapeline("search", "crypto_quote", "slug:bitcoin", "--history", env=env)
    assert "2 of 2 matching" in history.stdout and "63,000.00" in history.stdout

    newest = scrapeline("search", "crypto_quote", "--limit", "3", env=env)
    assert "3 of 3 matching" in newest.stdout

    unknown = scrapeline("search", "horoscope", env=env)
    assert unknown.returncode == 2 and "no plugin declares the kind 'horoscope'" in unknown.stderr
    empty = scrapeline("search", "food_product", env=env)
    assert empty.returncode == 1 and "nothing of kind 'food_product' is indexed yet" in empty.stderr


GADGETS = """
from scrapers import Plugin, Schema

class Gadgets(Plugin):
    name = "gadgets"
    kind = "gadget"
    schema = Schema(fields={"sku": "str", "price": "float"}, id_fields=("sku",))
    start_urls = ("http://127.0.0.1:9/",)

    def parse(self, page):
        return []
"""


def test_dead_letters_are_listed_by_reason_and_replayed_once_their_cause_is_fixed(settings, tmp_path):
    from pipeline.envelope import encode
    from scrapeline.records import ScrapedRecord

    gadget = encode(ScrapedRecord("gadgets", "gadget", "gadgets:g1", "http://x/", "2026-11-22T10:00:00Z", {"sku": "g1", "price": "$9.99"}))
    produce(settings, [gadget], kind="gadget")
    produce(settings, [b"garbage"], kind="crypto_quote")
    stats = consume_all(settings)
    assert stats.dead_lettered == 2
    env = server_env(settings)

    listed = scrapeline("dlq", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    assert re.search(r"unknown kind 'gadget'\s*│\s*1", listed.stdout) and re.search(r"poison message\s*│\s*1", listed.stdout)
    assert "2 in all" in listed.stdout

    # The fix: install the plugin that declares the kind; then send only those dead letters back.
    (tmp_path / "gadgets.py").write_text(GADGETS)
    replayed = scrapeline("dlq", "replay", "--reason", "unknown kind", env=env)
    assert replayed.returncode == 0, replayed.stderr
    assert f"sent 1 messages back to {settings.kafka.topic_prefix}.records.gadget" in replayed.stdout

    settings = settings.replace("pool", plugin_paths=(str(tmp_path),))
    assert consume_all(settings).indexed == 1
    found = scrapeline("search", "gadget", "sku:g1", env={**env, "SCRAPELINE_POOL__PLUGIN_PATHS": str(tmp_path)})
    assert "9.99" in found.stdout and "1 of 1 matching" in found.stdout, found.stderr
