"""Record schemas: the field names and types a plugin promises, and its stable id.

A schema is declared once, in the plugin, and checked where records are made
(the worker) and again where they are indexed (the consumer).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from scrapeline.convert import to_bool, to_float, to_int, to_iso_timestamp, to_quantity, to_str_list

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
    product's barcode); records with the same values replace each other in
    the kind's ``latest`` index. With ``history=True`` every observation is
    also kept, in time-partitioned history indices (prices over time).

    Example::

        Schema(fields={"slug": "str", "price_usd": "float"}, id_fields=("slug",), history=True)
    """

    fields: Mapping[str, str]
    id_fields: tuple[str, ...]
    history: bool = False

    def __post_init__(self) -> None:
        for name, kind in self.fields.items():
            if kind not in FIELD_TYPES:
                raise RecordError(f"field {name!r}: unknown type {kind!r} (one of {', '.join(FIELD_TYPES)})")
        if not self.id_fields:
            raise RecordError("a schema needs at least one id field")
        for name in self.id_fields:
            if name not in self.fields:
                raise RecordError(f"id field {name!r} is not among the schema's fields")

    def validate(self, record: Mapping[str, Any], locale: str | None = None) -> dict[str, Any]:
        """Return the record normalised: every schema field present (missing ones as ``None``) and typed.

        Text is converted with the shared converters of :mod:`scrapeline.convert`:
        ``"$1,234.56"`` and ``"1.2B"`` for a float, ``"12 g"`` (grams), ``"#3"``
        for an int, ``"Nov 22, 2026"`` for a timestamp, ``"a, b"`` for a
        list[str]. A value that cannot be converted raises :class:`RecordError`
        naming the field.
        """
        unknown = set(record) - set(self.fields) - set(ENVELOPE_FIELDS)
        if unknown:
            raise RecordError(f"fields not in the schema: {', '.join(sorted(unknown))}")
        clean: dict[str, Any] = {}
        for name, kind in self.fields.items():
            clean[name] = normalise_value(name, kind, record.get(name), locale)
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


def _to_str(value: Any) -> str | None:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # a barcode or an id that arrived as a number
    raise ValueError("not text")


def _to_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    raise ValueError("not text")


def _to_int(value: Any) -> int | None:
    if isinstance(value, bool):
        raise ValueError("a yes/no value is not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise ValueError("not a whole number")
    return to_int(value)


# Field type -> converter: each returns the typed value, None for "missing", or raises ValueError/TypeError.
NORMALISERS: dict[str, Callable[[Any], Any]] = {
    "str": _to_str,
    "text": _to_text,
    "int": _to_int,
    "float": to_float,
    "bool": to_bool,
    "timestamp": to_iso_timestamp,
    "list[str]": to_str_list,
}


# Field type -> converter of page text in a given locale (decimal mark, month names, date order).
LOCALISED_NORMALISERS: dict[str, Callable[[str, str], Any]] = {
    "int": lambda text, locale: to_int(text, locale=locale),
    "float": lambda text, locale: to_quantity(text, locale=locale),
    "timestamp": lambda text, locale: to_iso_timestamp(text, locale=locale),
}


def normalise_value(name: str, kind: str, value: Any, locale: str | None = None) -> Any:
    """``value`` as schema type ``kind`` (page text read in ``locale`` when given); :class:`RecordError`
    names the field when it cannot be."""
    if value is None:
        return None
    try:
        if locale and isinstance(value, str) and kind in LOCALISED_NORMALISERS:
            return LOCALISED_NORMALISERS[kind](value, locale)
        return NORMALISERS[kind](value)
    except (ValueError, TypeError, OverflowError, AttributeError) as exc:
        raise RecordError(f"field {name!r}: expected {kind}, got {type(value).__name__} {value!r} ({exc})") from None


@dataclass(frozen=True)
class ScrapedRecord:
    """One validated record and where it came from: what the pool hands to the publisher."""

    plugin: str
    kind: str
    id: str
    url: str
    scraped_at: str
    record: Mapping[str, Any]
