"""What a dead letter holds, bounded so that any message's dead letter fits in one Kafka message.

A dead letter keeps why the message failed, where it came from (topic,
partition, offset), the size and SHA-256 of the original, and the original
itself: whole when it fits, else its first bytes (``original_truncated``).
The source offset finds the whole original again while the topic keeps it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from kafka.consumer.fetcher import ConsumerRecord

from scrapeline.convert import utc_now_iso

# The value of a dead letter stays below this, whatever the original held: half the default 1 MB
# message limit of Kafka brokers and producers, leaving room for the key and the record overhead.
MAX_DEAD_LETTER_BYTES = 512_000
# A key longer than this is not copied to the dead letter (its size and hash are).
MAX_KEY_BYTES = 16_384
MAX_REASON_CHARS = 2_000
# Room for everything but the original: reason (escaped), category, source, sizes, hashes.
_ENVELOPE_ROOM = 8 * MAX_REASON_CHARS + 4_096
# JSON-escaped text is at most 6 bytes per input byte (a control character becomes \u00XX).
_WORST_ESCAPE = 6


def dead_letter_body(message: ConsumerRecord, category: str, reason: str, *, keep_original: bool = True) -> bytes:
    """The dead letter of ``message``, at most :data:`MAX_DEAD_LETTER_BYTES` long. ``category`` groups
    dead letters (``unknown kind 'x'``); ``reason`` is the whole story.

    ``keep_original=False`` leaves the original out (only its size and hash stay),
    for a broker whose message limit is below even that.
    """
    raw = message.value or b""
    body: dict[str, Any] = {
        "reason": _cut(reason, MAX_REASON_CHARS),
        "category": _cut(category, 200),
        "failed_at": utc_now_iso(),
        "source": {"topic": message.topic, "partition": message.partition, "offset": message.offset},
        "original_size": len(raw),
        "original_sha256": hashlib.sha256(raw).hexdigest(),
    }
    if dead_letter_key(message) is None and message.key is not None:
        body["key_size"] = len(message.key)
        body["key_sha256"] = hashlib.sha256(message.key).hexdigest()
    budget = MAX_DEAD_LETTER_BYTES - _ENVELOPE_ROOM if keep_original else 0
    field, value, truncated = _bounded_original(raw, budget)
    body[field] = value
    body["original_truncated"] = truncated
    # backslashreplace: a lone surrogate in a reason (Elasticsearch's text, say) becomes a JSON escape, not an error.
    return json.dumps(body, ensure_ascii=False).encode("utf-8", "backslashreplace")


def dead_letter_key(message: ConsumerRecord) -> bytes | None:
    """The key the dead letter is sent with: the original's, unless it is too long to carry."""
    key = message.key
    return key if key is None or len(key) <= MAX_KEY_BYTES else None


def _bounded_original(raw: bytes, budget: int) -> tuple[str, str, bool]:
    """("original", text) for UTF-8, ("original_base64", base64) otherwise, cut to fit ``budget`` bytes."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        encoded = base64.b64encode(raw).decode()
        if len(encoded) <= budget:
            return "original_base64", encoded, False
        return "original_base64", base64.b64encode(raw[: budget // 4 * 3]).decode(), True
    if len(raw) * _WORST_ESCAPE <= budget or len(json.dumps(text, ensure_ascii=False).encode()) <= budget:
        return "original", text, False
    # Cut between characters: the cut may split only the last one, which "ignore" drops.
    return "original", raw[: budget // _WORST_ESCAPE].decode("utf-8", "ignore"), True


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"… ({len(text) - limit} more characters)"


@dataclass(frozen=True)
class DeadLetter:
    """One message of the dead-letter topic, read back."""

    reason: str
    category: str
    failed_at: str
    source_topic: str
    source_partition: int
    source_offset: int
    key: bytes | None
    original: bytes
    original_sha256: str
    # False when the original or its key was cut: the whole message is only at its source offset.
    complete: bool


def read_dead_letter(value: bytes, key: bytes | None) -> DeadLetter:
    """Parse a dead letter; ValueError, KeyError or TypeError when it is not one."""
    body = json.loads(value)
    original = body["original"].encode() if "original" in body else base64.b64decode(body["original_base64"], validate=True)
    source = body["source"]
    complete = not body.get("original_truncated", False) and "key_sha256" not in body
    return DeadLetter(
        reason=body["reason"],
        category=body.get("category") or category_of(body["reason"]),
        failed_at=body["failed_at"],
        source_topic=source["topic"],
        source_partition=int(source["partition"]),
        source_offset=int(source["offset"]),
        key=key,
        original=original,
        original_sha256=body.get("original_sha256") or hashlib.sha256(original).hexdigest(),
        complete=complete,
    )


# ": " outside quotes ends the category of a reason written before dead letters had one of their own.
_CATEGORY = re.compile(r"""^(?:[^'":]|'[^']*'|"[^"]*"|:(?! ))*""")


def category_of(reason: str) -> str:
    """``unknown kind 'a:b'`` from ``unknown kind 'a:b': no installed plugin declares it``."""
    return _CATEGORY.match(reason).group(0).strip() or reason  # type: ignore[union-attr]
