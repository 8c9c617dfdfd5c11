"""The JSON envelope every record travels in through Kafka."""

from __future__ import annotations

import json
import re
from typing import Any

from scrapeline.records import ScrapedRecord

SCHEMA_VERSION = 1
# Larger messages are refused by default Kafka brokers (message.max.bytes is about 1 MB).
MAX_ENVELOPE_BYTES = 900_000
# A JSON escape of a UTF-16 surrogate: only valid in pairs, and a lone one cannot be stored as UTF-8.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_REQUIRED = {"schema": int, "plugin": str, "kind": str, "id": str, "url": str, "scraped_at": str, "record": dict}


class EnvelopeError(ValueError):
    """A message is not a scrapeline envelope of a version this code reads."""


def records_topic(prefix: str, kind: str) -> str:
    """The topic a kind's records go to: ``scrapeline.records.crypto_quote``."""
    return f"{prefix}.records.{kind}"


def records_topic_pattern(prefix: str) -> str:
    """A regex matching every records topic of ``prefix`` (what the consumer subscribes to)."""
    return "^" + prefix.replace(".", r"\.") + r"\.records\.[a-z0-9_]+$"


def dead_letter_topic(prefix: str) -> str:
    return f"{prefix}.dlq"


def failed_pages_topic(prefix: str) -> str:
    """Pages that still failed after every retry: plugin, url, attempts, error."""
    return f"{prefix}.failed"


def encode(record: ScrapedRecord) -> bytes:
    body = {
        "schema": SCHEMA_VERSION,
        "plugin": record.plugin,
        "kind": record.kind,
        "id": record.id,
        "url": record.url,
        "scraped_at": record.scraped_at,
        "record": dict(record.record),
    }
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    if len(data) > MAX_ENVELOPE_BYTES:
        raise EnvelopeError(f"{record.id}: envelope is {len(data)} bytes, above {MAX_ENVELOPE_BYTES}")
    return data


def decode(data: bytes | None) -> ScrapedRecord:
    """Read an envelope; :class:`EnvelopeError` says what is wrong with a message that is not one."""
    if data is None:
        raise EnvelopeError("empty message (tombstone)")
    if len(data) > MAX_ENVELOPE_BYTES:
        raise EnvelopeError(f"message is {len(data)} bytes, above {MAX_ENVELOPE_BYTES}")
    try:
        # Strict UTF-8: json.loads would let UTF-16, UTF-32 and encoded surrogates through.
        body: Any = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise EnvelopeError(f"not UTF-8: {exc}") from None
    except ValueError as exc:  # JSONDecodeError, an integer of more than 4300 digits
        raise EnvelopeError(f"not JSON: {exc}") from None
    except RecursionError:
        raise EnvelopeError("not JSON this consumer reads: nested too deeply") from None
    if _SURROGATE_ESCAPE.search(data) and not _is_unicode(body):
        raise EnvelopeError("not valid Unicode: a string holds a lone UTF-16 surrogate")
    if not isinstance(body, dict):
        raise EnvelopeError(f"not a JSON object but {type(body).__name__}")
    if body.get("schema") != SCHEMA_VERSION:
        raise EnvelopeError(f"envelope schema {body.get('schema')!r}, this consumer reads {SCHEMA_VERSION}")
    for key, kind in _REQUIRED.items():
        if not isinstance(body.get(key), kind):
            raise EnvelopeError(f"envelope field {key!r} missing or not {kind.__name__}")
    return ScrapedRecord(
        plugin=body["plugin"], kind=body["kind"], id=body["id"], url=body["url"], scraped_at=body["scraped_at"], record=body["record"]
    )


def _is_unicode(body: Any) -> bool:
    """Whether every string in ``body`` can be written as UTF-8 (JSON lets a lone surrogate through)."""
    try:
        json.dumps(body, ensure_ascii=False).encode()
    except (UnicodeEncodeError, RecursionError):
        return False
    return True
