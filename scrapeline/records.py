"""Record schemas: the field names and types a plugin promises, and its stable id.

A schema is declared once, in the plugin, and checked where records are made
(the worker) and again where they are indexed (the consumer).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any, Mapping

from scrapeline.convert import to_iso_timestamp

# The field types a schema may declare. "timestamp" is an ISO 8601 string in UTC;
# "text" is a long string (full-text searchable), "str" an exact keyword.
FIELD_TYPES = ("str", "text", "int", "float", "bool", "timestamp", "list[str]")

# Every record also carries these, added by the worker.
ENVELOPE_FIELDS = ("url", "scraped_at")


class RecordError(ValueError):
    """A record does not match its schema; the message names the field."""


@dataclass(frozen=True)
class Schema:
    """What a plugin's records look like.

    ``fields`` maps a field name to one of :data:`FIELD_TYPES`; ``id_fields``
    are the fields whose values identify the entity (a coin's slug, a
    product's barcode); records with the same values replace each other.

    Example::

        Schema(fields={"slug": "str", "price_usd": "float"}, id_fields=("slug",))
    """

    fields: Mapping[str, str]
    id_fields: tuple[str, ...]

    def __post_init__(self) -> None:
        for name, kind in self.fields.items():
            if kind not in FIELD_TYPES:
                raise RecordError(f"field {name!r}: unknown type {kind!r} (one of {', '.join(FIELD_TYPES)})")
        if not self.id_fields:
            raise RecordError("a schema needs at least one id field")
        for name in self.id_fields:
            if name not in self.fields:
                raise RecordError(f"id field {name!r} is not among the schema's fields")

    def validate(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Return the record with every schema field present (missing ones as ``None``) and typed.

        Integers are accepted where floats are declared; nothing else is
        converted, so a plugin that hands over the string ``"$1.2"`` for a
        float field gets a :class:`RecordError` naming the field.
        """
        unknown = set(record) - set(self.fields) - set(ENVELOPE_FIELDS)
        if unknown:
            raise RecordError(f"fields not in the schema: {', '.join(sorted(unknown))}")
        clean: dict[str, Any] = {}
        for name, kind in self.fields.items():
            value = record.get(name)
            clean[name] = None if value is None else _check(name, kind, value)
        for name in self.id_fields:
            if clean[name] in (None, ""):
                raise RecordError(f"id field {name!r} is empty")
        for name in ENVELOPE_FIELDS:
            if name in record:
                clean[name] = record[name]
        return clean

    def record_id(self, plugin: str, record: Mapping[str, Any]) -> str:
        """The stable id: ``plugin:value[:value...]``, hashed when long or unsafe."""
        parts = [str(record[name]) for name in self.id_fields]
        readable = ":".join([plugin, *parts])
        if len(readable) <= 200 and all(ch.isprintable() and ch not in "/\\#?" for ch in readable):
            return readable
        return f"{plugin}:{hashlib.sha256(readable.encode()).hexdigest()[:32]}"


def _check(name: str, kind: str, value: Any) -> Any:
    if kind in ("str", "text"):
        if isinstance(value, str):
            return value
    elif kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif kind == "float":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if math.isfinite(value):
                return float(value)
            raise RecordError(f"field {name!r}: {value!r} is not a finite number")
    elif kind == "bool":
        if isinstance(value, bool):
            return value
    elif kind == "timestamp":
        try:
            return to_iso_timestamp(value)
        except (ValueError, TypeError, OverflowError):
            pass
    elif kind == "list[str]":
        if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
            return list(value)
    raise RecordError(f"field {name!r}: expected {kind}, got {type(value).__name__} {value!r}")


@dataclass(frozen=True)
class ScrapedRecord:
    """One validated record and where it came from: what the pool hands to the publisher."""

    plugin: str
    kind: str
    id: str
    url: str
    scraped_at: str
    record: Mapping[str, Any]
