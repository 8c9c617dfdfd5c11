"""What the commands print when the data is hostile: markup shown as text, cut values marked, bytes passed through."""

import json
import os
import subprocess
import sys

from dev_env import ROOT, produce, quote_envelope, scrapeline, server_env
from test_hostile_input import consume_within

EVIL = "[bold red]Evil[/x] coin"
LONG = "Long" + "g" * 96 + " end"


def test_search_prints_markup_as_text_marks_cut_values_and_json_prints_whole_documents(settings):
    produce(settings, [quote_envelope("evil", 1.0, name=EVIL), quote_envelope("long", 2.0, name=LONG)])
    assert consume_within(settings).indexed == 2
    env = server_env(settings)

    table = scrapeline("search", "crypto_quote", env=env)
    assert table.returncode == 0, table.stderr
    assert EVIL in table.stdout
    assert LONG[:59] + "…" in table.stdout and LONG not in table.stdout
    assert "not shown: change_7d, market_cap_usd, volume_24h_usd, circulating_supply" in table.stdout
    assert "--json prints whole documents" in table.stdout

    whole = scrapeline("search", "crypto_quote", "--json", env=env)
    assert whole.returncode == 0, whole.stderr
    documents = [json.loads(line) for line in whole.stdout.splitlines()]
    assert {doc["name"] for doc in documents} == {EVIL, LONG}
    assert all("circulating_supply" in doc and doc["record_id"].startswith("coinmarketcap:") for doc in documents)


def test_consume_summary_prints_dead_letter_reasons_holding_markup_as_text(settings):
    produce(settings, [quote_envelope("tether", 1.0).replace(b'"crypto_quote"', b'"[bold red]boom[/x]"')])
    done = scrapeline("consume", "--until-idle", "3", env={**server_env(settings), "SCRAPELINE_METRICS__CONSUMER_PORT": "0"})
    assert done.returncode == 0, done.stderr
    assert "dead-lettered 1: unknown kind '[bold red]boom[/x]'" in done.stdout


def test_plugin_problems_keep_their_bracketed_words(tmp_path):
    (tmp_path / "broken.py").write_text('raise RuntimeError("set [pool] workers, see [/x]")\n')
    listed = scrapeline("plugins", env={"SCRAPELINE_POOL__PLUGIN_PATHS": str(tmp_path)})
    assert "Traceback" not in listed.stderr
    assert "set [pool] workers, see [/x]" in listed.stdout


def test_topics_produce_passes_standard_input_bytes_through_invalid_utf8_included(settings):
    topic = produce(settings, [])
    lines = [b"\xff\xfe not utf-8", b'{"fine": "json"}', b"caf\xc3\xa9"]
    done = subprocess.run([sys.executable, "-m", "scrapeline.cli", "topics", "produce", topic], cwd=ROOT, capture_output=True,
                          input=b"\n".join(lines) + b"\n\n", env={**os.environ, **server_env(settings)})  # fmt: skip
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert f"sent 3 messages to {topic}".encode() in done.stdout
    from kafka import KafkaConsumer

    reader = KafkaConsumer(topic, bootstrap_servers=list(settings.kafka.bootstrap_servers), auto_offset_reset="earliest", consumer_timeout_ms=5000)
    try:
        assert sorted(message.value for message in reader) == sorted(lines)
    finally:
        reader.close()
