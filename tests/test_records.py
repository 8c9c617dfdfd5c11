import pytest

from pipeline.envelope import EnvelopeError, decode, encode
from scrapeline.records import RecordError, Schema, ScrapedRecord

SCHEMA = Schema(fields={"slug": "str", "price": "float", "rank": "int", "tags": "list[str]", "seen": "timestamp"}, id_fields=("slug",))


def test_validate_fills_missing_fields_with_none_and_types_numbers():
    assert SCHEMA.validate({"slug": "btc", "price": 1, "rank": 2.0}) == {
        "slug": "btc", "price": 1.0, "rank": 2, "tags": None, "seen": None,
    }  # fmt: skip


@pytest.mark.parametrize(
    "locale, shown, expected",
    [
        (None, {"price": "2.450 €", "rank": "#3"}, {"price": 2.45, "rank": 3}),
        ("de", {"price": "2.450 €", "rank": "1.024"}, {"price": 2450.0, "rank": 1024}),
        ("de", {"price": "2.450,75 €", "seen": "22. November 2026"}, {"price": 2450.75, "seen": "2026-11-22T00:00:00Z"}),
        ("fr", {"price": "2 450,75 €"}, {"price": 2450.75}),
        ("de", {"price": 3.5, "rank": 7}, {"price": 3.5, "rank": 7}),  # numbers stay numbers
    ],
)
def test_validate_reads_page_text_in_the_plugins_locale(locale, shown, expected):
    record = SCHEMA.validate({"slug": "btc", **shown}, locale=locale)
    assert {key: record[key] for key in expected} == expected


@pytest.mark.parametrize(
    "record, message",
    [
        ({"slug": "btc", "price": "one dollar"}, "field 'price': expected float, got str 'one dollar'"),
        ({"slug": "btc", "rank": 1.5}, "field 'rank': expected int"),
        ({"slug": "btc", "price": float("nan")}, "not a finite number"),
        ({"slug": "btc", "tags": ["a", 1]}, "field 'tags': expected list[str]"),
        ({"slug": "btc", "seen": "yesterday"}, "field 'seen': expected timestamp"),
        ({"slug": "", "price": 1.0}, "id field 'slug' is empty"),
        ({"slug": "btc", "colour": "red"}, "fields not in the schema: colour"),
    ],
)
def test_validate_names_the_bad_field(record, message):
    with pytest.raises(RecordError, match=message.replace("$", r"\$").replace("[", r"\[")):
        SCHEMA.validate(record)


def test_schema_declaration_errors():
    with pytest.raises(RecordError, match="unknown type"):
        Schema(fields={"a": "decimal"}, id_fields=("a",))
    with pytest.raises(RecordError, match="not among the schema's fields"):
        Schema(fields={"a": "str"}, id_fields=("b",))


def test_record_id_is_stable_and_safe():
    assert SCHEMA.record_id("cmc", {"slug": "bitcoin"}) == "cmc:bitcoin"
    odd = SCHEMA.record_id("cmc", {"slug": "a/b?c"})
    assert odd.startswith("cmc:") and "/" not in odd and odd == SCHEMA.record_id("cmc", {"slug": "a/b?c"})


def test_envelope_round_trip_and_poison():
    record = ScrapedRecord("cmc", "crypto_quote", "cmc:btc", "http://x/", "2026-01-01T00:00:00Z", {"price": 1.5})
    assert decode(encode(record)) == record
    for poison, reason in [
        (b"not json", "not JSON"),
        (b"[1]", "not a JSON object"),
        (b'{"schema": 99}', "envelope schema 99"),
        (b'{"schema": 1, "plugin": "x"}', "envelope field 'kind'"),
        (b"\xff\xfe", "not UTF-8"),
        (None, "tombstone"),
    ]:
        with pytest.raises(EnvelopeError, match=reason):
            decode(poison)
