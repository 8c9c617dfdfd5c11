"""Indexing throughput and freshness, measured side by side in one run (not a test: nothing is asserted).

Throughput, N envelopes of CoinMarketCap quotes (2 documents each: latest + history):
  (a) scrapeline's consumer: poll from Kafka, decode, normalise with the plugin schema, bulk-index,
      commit; from the first poll until every partition is drained and refreshed;
  (b) raw: ``helpers.bulk`` of the same, already-normalised actions from memory into the same server.
The two alternate ``--repeat`` times, each into fresh indices; the best run of each counts.

Freshness: the scrape daemon (one worker, the 100-coin fixture listing every ``--interval`` seconds)
and ``scrapeline consume`` run as in production for ``--seconds``; a poller searches the history
indices every 100 ms and records, for each new document, the time it became searchable minus its
``scraped_at``.

    .venv/bin/python bench/consume.py [--records 100000] [--repeat 2] [--seconds 60]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from elasticsearch import Elasticsearch, helpers  # noqa: E402
from kafka import KafkaProducer  # noqa: E402

from pipeline.consumer import RecordConsumer  # noqa: E402
from pipeline.documents import index_actions  # noqa: E402
from pipeline.envelope import encode, records_topic  # noqa: E402
from pipeline.indexer import BulkIndexer  # noqa: E402
from pipeline.normalise import KindSchemas, normalise  # noqa: E402
from pipeline.publisher import ensure_topics  # noqa: E402
from plugins.coinmarketcap import CoinMarketCap  # noqa: E402
from scrapeline.convert import utc_now_iso  # noqa: E402
from scrapeline.devstack import NoidaServer, free_port  # noqa: E402
from scrapeline.records import ScrapedRecord  # noqa: E402
from scrapeline.settings import Settings  # noqa: E402

SCHEMA = CoinMarketCap.schema
KIND = CoinMarketCap.kind


def envelopes(count: int) -> list[tuple[bytes, bytes]]:
    """``count`` (key, envelope) pairs: 1000 coins observed at successive minutes, as the scraper publishes them."""
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    out = []
    for number in range(count):
        coin, minute = number % 1000, number // 1000
        record = {
            "rank": coin + 1, "name": f"Coin {coin}", "symbol": f"C{coin}", "slug": f"coin-{coin}",
            "price_usd": 1000.0 / (coin + 1) + minute * 0.01, "change_1h": 0.12, "change_24h": -1.5, "change_7d": 3.25,
            "market_cap_usd": 1e12 / (coin + 1), "volume_24h_usd": 1e9 / (coin + 1), "circulating_supply": 19_000_000.0,
        }  # fmt: skip
        scraped_at = (start + timedelta(minutes=minute)).isoformat().replace("+00:00", "Z")
        record_id = f"coinmarketcap:coin-{coin}"
        out.append((record_id.encode(), encode(ScrapedRecord("coinmarketcap", KIND, record_id, "https://coinmarketcap.com/", scraped_at, record))))
    return out


def settings_for(stack: NoidaServer, prefix: str) -> Settings:
    settings = Settings()
    settings = settings.replace("kafka", bootstrap_servers=(stack.endpoints.kafka,), topic_prefix=prefix, group_id=f"{prefix}-indexer", partitions=3)
    return settings.replace("elasticsearch", hosts=(stack.endpoints.elasticsearch,), index_prefix=prefix)


def load_topic(settings: Settings, values: list[tuple[bytes, bytes]]) -> float:
    topic = records_topic(settings.kafka.topic_prefix, KIND)
    ensure_topics(settings.kafka, [topic])
    producer = KafkaProducer(bootstrap_servers=list(settings.kafka.bootstrap_servers), linger_ms=20, batch_size=256 * 1024, acks="all")
    started = time.perf_counter()
    for key, value in values:
        producer.send(topic, key=key, value=value)
    producer.flush()
    producer.close()
    return time.perf_counter() - started


def run_consumer(settings: Settings) -> float:
    consumer = RecordConsumer(settings, KindSchemas({KIND: SCHEMA}))
    started = time.perf_counter()
    try:
        stats = consumer.run(drain=True)
    finally:
        consumer.close()
    seconds = time.perf_counter() - started
    assert stats.dead_lettered == 0, stats
    return seconds


def run_raw(settings: Settings, values: list[tuple[bytes, bytes]]) -> float:
    schemas = KindSchemas({KIND: SCHEMA})
    indexed_at = utc_now_iso()
    actions = [action for _, value in values for action in index_actions(settings.elasticsearch.index_prefix, *normalise(value, schemas), indexed_at)]
    client = Elasticsearch(list(settings.elasticsearch.hosts), request_timeout=120)
    BulkIndexer(client, settings.elasticsearch).ensure_kind(KIND, SCHEMA)  # the same mappings as the consumer's
    started = time.perf_counter()
    helpers.bulk(client, actions, chunk_size=settings.elasticsearch.bulk_chunk_size, refresh=False)
    client.indices.refresh(index=f"{settings.elasticsearch.index_prefix}-*")
    return time.perf_counter() - started


def count_and_drop(settings: Settings) -> int:
    """Documents indexed by a run; its indices are then deleted, so every run starts on an equally empty server."""
    client = Elasticsearch(list(settings.elasticsearch.hosts))
    pattern = f"{settings.elasticsearch.index_prefix}-*"
    count = client.count(index=pattern)["count"]
    client.indices.delete(index=",".join(client.indices.get(index=pattern)))
    return count


def throughput(stack: NoidaServer, records: int, repeat: int) -> tuple[float, float]:
    values = envelopes(records)
    distinct = len({key for key, _ in values})
    expected = distinct + records  # one latest document per coin, one history document per record
    best = {"consumer": float("inf"), "raw": float("inf")}
    for run in range(repeat):
        # Alternate which goes first, so neither always meets a warmer (or more tired) server.
        for variant in ("consumer", "raw") if run % 2 == 0 else ("raw", "consumer"):
            settings = settings_for(stack, f"bench{run}{variant[0]}")
            if variant == "consumer":
                produce_seconds = load_topic(settings, values)
                seconds = run_consumer(settings)
                note = f" (the {records} envelopes were loaded into Kafka in {produce_seconds:.1f} s before)"
            else:
                seconds = run_raw(settings, values)
                note = ""
            indexed = count_and_drop(settings)
            assert indexed == expected, (variant, indexed, expected)
            print(f"run {run + 1}: {variant:8} {records / seconds:8,.0f} records/s{note}")
            best[variant] = min(best[variant], seconds)
    return records / best["consumer"], records / best["raw"]


def wait_for_partitions(metrics_url: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(metrics_url, timeout=2) as response:
                if any(line.startswith("scrapeline_consumer_partitions ") and float(line.split()[1]) > 0
                       for line in response.read().decode().splitlines()):  # fmt: skip
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the consumer did not join its group")


def freshness(stack: NoidaServer, seconds: float, interval: float) -> tuple[list[float], list[float]]:
    """Per document: scraped_at -> searchable, and scraped_at -> indexed_at (the consumer prepared its bulk request)."""
    prefix = "freshness"
    metrics_port = free_port()
    env = {
        **os.environ,
        "SCRAPELINE_KAFKA__BOOTSTRAP_SERVERS": stack.endpoints.kafka,
        "SCRAPELINE_KAFKA__TOPIC_PREFIX": prefix,
        "SCRAPELINE_KAFKA__GROUP_ID": f"{prefix}-indexer",
        "SCRAPELINE_ELASTICSEARCH__HOSTS": stack.endpoints.elasticsearch,
        "SCRAPELINE_ELASTICSEARCH__INDEX_PREFIX": prefix,
        "SCRAPELINE_POOL__WORKERS": "1",
        "SCRAPELINE_POOL__DATA_DIR": tempfile.mkdtemp(prefix="bench-freshness-"),
        "SCRAPELINE_METRICS__PORT": "0",
        "SCRAPELINE_METRICS__CONSUMER_PORT": str(metrics_port),
        "SCRAPELINE_PLUGIN_COINMARKETCAP__INTERVAL": str(interval),
    }
    mirror = f"coinmarketcap={ROOT / 'tests' / 'fixtures' / 'sites' / 'coinmarketcap'}"
    command = [sys.executable, "-m", "scrapeline.cli", "--log-level", "WARNING"]
    # The consumer joins its group first, as in production: freshness is the steady state, not the start-up.
    ensure_topics(settings_for(stack, prefix).kafka, [records_topic(prefix, KIND)])
    consumer = subprocess.Popen([*command, "consume"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    wait_for_partitions(f"http://127.0.0.1:{metrics_port}/metrics")
    daemon = subprocess.Popen([*command, "scrape", "--daemon", "--plugin", "coinmarketcap", "--mirror", mirror], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL)  # fmt: skip
    client = Elasticsearch([stack.endpoints.elasticsearch])
    seen: dict[str, float] = {}
    delays: list[float] = []
    to_consumer: list[float] = []
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            try:
                found = client.search(index=f"{prefix}-{KIND}-history-*", size=10000, source=["scraped_at", "indexed_at"],
                                      query={"range": {"scraped_at": {"gte": "now-60s"}}})  # fmt: skip
            except Exception:  # noqa: BLE001 - the index does not exist before the first record
                time.sleep(0.1)
                continue
            now = time.time()
            for hit in found["hits"]["hits"]:
                if hit["_id"] not in seen:
                    seen[hit["_id"]] = now
                    scraped, indexed = (_epoch(hit["_source"][field]) for field in ("scraped_at", "indexed_at"))
                    delays.append(now - scraped)
                    to_consumer.append(indexed - scraped)
            time.sleep(0.1)
    finally:
        for process in (daemon, consumer):
            process.terminate()
        for process in (daemon, consumer):
            process.wait(timeout=90)
    return delays, to_consumer


def _epoch(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    return f"p50 {statistics.median(ordered):.2f} s   p95 {ordered[int(0.95 * (len(ordered) - 1))]:.2f} s   max {ordered[-1]:.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the freshness run lasts")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between scrape rounds in the freshness run")
    args = parser.parse_args()

    stack = NoidaServer(Path(tempfile.mkdtemp(prefix="bench-consume-")))
    stack.start()
    try:
        consumer_rate, raw_rate = throughput(stack, args.records, args.repeat)
        print(f"\nthroughput, best of {args.repeat}, {args.records} records (2 documents each):")
        print(f"  (a) scrapeline consume   {consumer_rate:10,.0f} records/s")
        print(f"  (b) raw helpers.bulk     {raw_rate:10,.0f} records/s")
        print(f"  (a)/(b) = {consumer_rate / raw_rate:.2f}   (target at least 0.7)")
        if args.seconds > 0:
            delays, to_consumer = freshness(stack, args.seconds, args.interval)
            if len(delays) < 20:
                print(f"\nfreshness: only {len(delays)} documents seen in {args.seconds:g} s; run longer")
                return
            print(f"\nfreshness over {args.seconds:g} s, {len(delays)} documents, the daemon scraping every {args.interval:g} s:")
            print(f"  scraped_at -> searchable:         {percentiles(delays)}")
            print(f"  of which scraped_at -> indexed_at: {percentiles(to_consumer)}   (publish, Kafka, poll, normalise)")
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
