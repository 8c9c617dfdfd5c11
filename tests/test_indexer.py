"""Index templates follow the schema: new fields reach existing indices; a changed type is a clear error."""

import pytest

from dev_env import es_client
from pipeline.clients import make_elasticsearch
from pipeline.documents import index_actions
from pipeline.indexer import BulkIndexer, MappingConflict
from scrapeline.records import Schema, ScrapedRecord

V1 = Schema(fields={"code": "str", "grams": "float"}, id_fields=("code",))
V2 = Schema(fields={"code": "str", "grams": "float", "origin": "str"}, id_fields=("code",))
CHANGED = Schema(fields={"code": "str", "grams": "str"}, id_fields=("code",))


def index(indexer, settings, schema, record):
    saved = ScrapedRecord("shop", "item", f"shop:{record['code']}", "http://x/", "2026-11-22T10:00:00Z", schema.validate(record))
    return indexer.index(index_actions(settings.elasticsearch.index_prefix, saved, schema, "2026-11-22T10:00:01Z"))


def test_a_new_schema_field_is_added_to_the_existing_index_and_a_changed_type_is_refused(settings):
    indexer = BulkIndexer(make_elasticsearch(settings.elasticsearch), settings.elasticsearch)
    indexer.ensure_kind("item", V1)
    indexer.ensure_kind("item", V1)  # idempotent
    assert index(indexer, settings, V1, {"code": "1", "grams": "12 g"}).rejected == []

    indexer.ensure_kind("item", V2)
    assert index(indexer, settings, V2, {"code": "2", "grams": 3, "origin": "France"}).rejected == []
    latest = f"{settings.elasticsearch.index_prefix}-item-latest"
    properties = es_client(settings).indices.get_mapping(index=latest)[latest]["mappings"]["properties"]
    assert properties["origin"]["type"] == "keyword" and properties["grams"]["type"] == "double"

    with pytest.raises(MappingConflict, match=rf"{latest} were created with other field types than the 'item' schema declares"):
        indexer.ensure_kind("item", CHANGED)


def test_a_field_outside_the_mapping_is_rejected_with_a_reason(settings):
    indexer = BulkIndexer(make_elasticsearch(settings.elasticsearch), settings.elasticsearch)
    indexer.ensure_kind("item", V1)
    action = {"_index": f"{settings.elasticsearch.index_prefix}-item-latest", "_id": "shop:x", "_source": {"code": "x", "colour": "red"}}
    (rejected,) = indexer.index([action]).rejected
    assert rejected.status == 400 and "colour" in rejected.reason
