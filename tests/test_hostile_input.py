"""Messages written to break the consumer: each is dead-lettered, the consumer goes on, the summary tells the truth."""

import hashlib
import json
import threading
from datetime import datetime, timedelta, timezone

from dev_env import es_client, produce, quote_envelope, read_topic, scrapeline, server_env, uncommitted
from pipeline.envelope import dead_letter_topic
from scrapeline.catalogue import open_consumer


def consume_within(settings, seconds=180):
    """Consume until drained; fail (instead of hanging) when the consumer wedges."""
    stop = threading.Event()
    consumer = open_consumer(settings, stop=stop)
    outcome = {}

    def run():
        try:
            outcome["stats"] = consumer.run(drain=True, until_idle=30)
        except BaseException as exc:  # the test reports it
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    wedged = thread.is_alive()
    stop.set()
    thread.join(60)
    consumer.close()
    assert not wedged, f"the consumer wedged: {consumer.stats}"
    assert "error" not in outcome, f"the consumer crashed: {outcome.get('error')!r}"
    return outcome["stats"]


def dead_letters(settings):
    return read_topic(settings, dead_letter_topic(settings.kafka.topic_prefix))


def latest_doc(settings, slug):
    return es_client(settings).get(index=f"{settings.elasticsearch.index_prefix}-crypto_quote-latest", id=f"coinmarketcap:{slug}")["_source"]


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_deep_nesting_and_out_of_range_or_future_times_are_dead_lettered_and_the_consumer_goes_on(settings):
    soon = iso(datetime.now(timezone.utc) + timedelta(seconds=60))  # within the default 300 s of clock skew
    messages = [
        b'{"schema":1,"record":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        quote_envelope("bitcoin", 1.0, "3000-01-01T00:00:00Z"),
        quote_envelope("far", 1.0, "9999-12-31T23:59:59Z"),
        quote_envelope("farther", 1.0, "9999-12-31T23:59:59-01:00"),
        quote_envelope("early", 1.0, "0001-01-01T00:00:00+01:00"),
        quote_envelope("lone", 1.0).replace(b'"name":"Lone"', b'"name":"\\ud800"'),
        quote_envelope("bitcoin", 2.0, "2026-11-22T10:00:00Z"),
        quote_envelope("soon", 3.0, soon),
    ]
    produce(settings, messages, key=b"one-partition")

    stats = consume_within(settings)

    assert (stats.consumed, stats.indexed, stats.dead_lettered) == (8, 2, 6)
    assert latest_doc(settings, "bitcoin")["price_usd"] == 2.0  # the year-3000 observation did not freeze it
    assert latest_doc(settings, "soon")["scraped_at"] == soon
    letters = {letter["source"]["offset"]: letter for letter in dead_letters(settings)}
    assert sorted(letters) == [0, 1, 2, 3, 4, 5]
    assert "nested too deeply" in letters[0]["reason"]
    assert all(letters[n]["category"] == "envelope field 'scraped_at' is in the future" for n in (1, 2))
    assert "max_clock_skew_s = 300" in letters[1]["reason"]
    assert all(letters[n]["category"] == "envelope field 'scraped_at' is not a timestamp" for n in (3, 4))
    assert "lone UTF-16 surrogate" in letters[5]["reason"]
    assert uncommitted(settings) == 0


def test_the_clock_skew_allowed_is_a_setting(settings):
    produce(settings, [quote_envelope("soon", 3.0, iso(datetime.now(timezone.utc) + timedelta(seconds=600)))])
    assert consume_within(settings.replace("elasticsearch", max_clock_skew_s=3600)).indexed == 1
    produce(settings, [quote_envelope("later", 3.0, iso(datetime.now(timezone.utc) + timedelta(seconds=600)))])
    assert consume_within(settings.replace("elasticsearch", max_clock_skew_s=0)).dead_lettered == 1


def test_dead_letters_of_huge_messages_fit_keep_size_hash_and_source_and_replay_whole(settings):
    control = b"\x01" * 300_000  # valid UTF-8: six times longer once escaped in JSON
    binary = b"\xff" * 800_000  # not UTF-8: a third longer in base64
    topic = produce(settings, [control, binary], key=b"one-partition")

    stats = consume_within(settings)

    letters = dead_letters(settings)
    assert stats.dead_lettered == len(letters) == 2
    assert stats.dead_letter_reasons == {"poison message": 2}
    text, raw = sorted(letters, key=lambda letter: letter["source"]["offset"])
    for letter, original in ((text, control), (raw, binary)):
        assert letter["source"] == {"topic": topic, "partition": letter["source"]["partition"], "offset": letter["source"]["offset"]}
        assert letter["original_size"] == len(original)
        assert letter["original_sha256"] == hashlib.sha256(original).hexdigest()
        assert letter["original_truncated"] is True
        assert len(json.dumps(letter).encode()) < 600_000
    assert control.startswith(text["original"].encode()) and len(text["original"]) > 10_000
    assert uncommitted(settings) == 0

    replayed = scrapeline("dlq", "replay", env=server_env(settings))
    assert replayed.returncode == 0, replayed.stderr
    assert f"sent 2 messages back to {topic}" in replayed.stdout
    from kafka import KafkaConsumer

    reader = KafkaConsumer(topic, bootstrap_servers=list(settings.kafka.bootstrap_servers), auto_offset_reset="earliest", consumer_timeout_ms=5000)
    try:
        values = [message.value for message in reader]
    finally:
        reader.close()
    assert sorted(values) == sorted([control, binary, control, binary])


def test_dlq_list_groups_by_whole_category_and_prints_scraped_markup_as_text(settings):
    mismatched = quote_envelope("bitcoin", 1.0).replace(b'"plugin":"coinmarketcap"', b'"plugin":"other"')
    colon_kind = quote_envelope("ether", 1.0).replace(b'"crypto_quote"', b'"a:b"')
    markup_kind = quote_envelope("tether", 1.0).replace(b'"crypto_quote"', b'"[bold red]boom[/x]"')
    produce(settings, [mismatched, mismatched, colon_kind, markup_kind])
    stats = consume_within(settings)
    assert stats.dead_letter_reasons == {
        "record id does not start with its plugin name": 2, "unknown kind 'a:b'": 1, "unknown kind '[bold red]boom[/x]'": 1,
    }  # fmt: skip

    listed = scrapeline("dlq", "list", env=server_env(settings))

    assert listed.returncode == 0, listed.stderr
    assert "record id does not start with its plugin name" in listed.stdout
    assert "unknown kind 'a:b'" in listed.stdout
    assert "unknown kind '[bold red]boom[/x]'" in listed.stdout
    assert "4 in all" in listed.stdout


def test_dlq_list_before_anything_was_dead_lettered_is_an_empty_list(settings):
    listed = scrapeline("dlq", "list", env=server_env(settings))
    assert listed.returncode == 0, listed.stderr
    assert "no dead letters" in listed.stdout
    replayed = scrapeline("dlq", "replay", env=server_env(settings))
    assert replayed.returncode == 0 and "no dead letter matched" in replayed.stdout
