"""Whatever bytes arrive, the consumer's normalisation returns a record to index or raises Unindexable (a dead letter), nothing else."""

import json
from datetime import datetime, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.documents import index_actions
from pipeline.normalise import KindSchemas, Unindexable, normalise
from scrapers.registry import discover, kind_schemas

SCHEMAS = KindSchemas(kind_schemas(discover()))
NOW = datetime(2026, 11, 25, tzinfo=timezone.utc)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)
# Values a page might give for a field: page text, numbers of any size, dates, and the odd structure.
field_values = st.one_of(
    st.text(), st.integers(), st.floats(), st.booleans(), st.none(), st.lists(st.text(), max_size=3), json_values,
    st.sampled_from(["$1,234.56", "1.2B", "\u22123.4%", "12 g", "N/A", "9999-12-31T23:59:59-01:00", "[bold red]x[/x]", "1" * 5000]),
)  # fmt: skip
timestamps = st.one_of(
    st.text(),
    st.datetimes(timezones=st.just(timezone.utc)).map(lambda moment: moment.isoformat()),
    st.sampled_from(["9999-12-31T23:59:59Z", "0001-01-01T00:00:00+01:00", "3000-01-01T00:00:00Z", "2026-11-22T10:00:00Z", ""]),
)
QUOTE_FIELDS = list(SCHEMAS.get("crypto_quote").fields)


def envelope(kind, record, scraped_at, plugin="coinmarketcap", record_id="coinmarketcap:x"):
    body = {"schema": 1, "plugin": plugin, "kind": kind, "id": record_id, "url": "http://x/", "scraped_at": scraped_at, "record": record}
    return json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass")


def returns_a_record_or_unindexable(data):
    try:
        record, schema = normalise(data, SCHEMAS, now=NOW)
    except Unindexable as exc:
        assert exc.category and str(exc).startswith(exc.category)
        return
    # What comes out can be indexed: bulk actions build, and the document is valid JSON in UTF-8.
    actions = index_actions("p", record, schema, "2026-11-25T00:00:00Z")
    json.dumps([action["_source"] for action in actions], ensure_ascii=False, allow_nan=False).encode()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes(data):
    returns_a_record_or_unindexable(data)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_arbitrary_json(value):
    returns_a_record_or_unindexable(json.dumps(value).encode())


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["crypto_quote", "food_product", "nope", "[x]"]),
    record=st.dictionaries(st.sampled_from([*QUOTE_FIELDS, "url", "scraped_at", "other"]), field_values, max_size=8),
    slug=st.text(min_size=1) | st.integers(),
    scraped_at=timestamps,
)
def test_envelopes_with_arbitrary_fields_and_times(kind, record, slug, scraped_at):
    returns_a_record_or_unindexable(envelope(kind, {**record, "slug": slug}, scraped_at))


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=3))
def test_lone_surrogates_are_unindexable(surrogates):
    data = envelope("crypto_quote", {"slug": "x", "name": surrogates}, "2026-11-22T10:00:00Z")
    returns_a_record_or_unindexable(data)


@given(st.integers(min_value=1, max_value=200_000))
@settings(max_examples=20, deadline=None)
def test_any_nesting_depth(depth):
    returns_a_record_or_unindexable(envelope("crypto_quote", {"slug": "x"}, "2026-11-22T10:00:00Z").replace(b'"slug":"x"', b'"name":' + b"[" * depth + b"]" * depth + b',"slug":"x"'))
