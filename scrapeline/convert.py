"""Turn the strings that web pages show into numbers.

One shared set of converters for plugins (parsing rendered tables) and the
consumer (normalising records). Each returns ``None`` for an empty or
"not available" value and raises :class:`ValueError` for text that is not a
number at all, so a caller can tell "missing" from "broken".
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

_MISSING = {"", "-", "--", "—", "–", "n/a", "na", "none", "null", "?"}
_SUFFIX = {"k": 1e3, "m": 1e6, "b": 1e9, "bn": 1e9, "t": 1e12}
# Characters that may surround a number on a page: currency signs, spaces of
# every width, percent signs, arrows.
_NOISE = re.compile(r"[\s\u00a0\u202f$€£¥₿%+▲▼↑↓]")
_NUMBER = re.compile(r"^(?P<sign>-)?(?P<digits>[0-9][0-9.,']*|[.,][0-9]+)(?P<suffix>[a-z]{0,2})$")


def is_missing(text: str | None) -> bool:
    return text is None or text.strip().lower() in _MISSING


def to_number(text: str | None) -> float | None:
    """``"$1,234.56"`` -> 1234.56, ``"1.2B"`` -> 1.2e9, ``"−3.4%"`` -> -3.4, ``"19.496.962"`` -> 19496962.

    Decimal separators: with both ``.`` and ``,`` present the last one is the
    decimal mark; a separator that repeats groups thousands; a lone comma
    followed by exactly three digits groups thousands, any other lone
    separator is the decimal mark.
    """
    if is_missing(text):
        return None
    assert text is not None
    cleaned = text.replace("\u2212", "-").replace("\u2012", "-").replace("\u2013", "-")
    cleaned = _NOISE.sub("", cleaned).lower()
    match = _NUMBER.match(cleaned)
    if not match:
        raise ValueError(f"not a number: {text!r}")
    digits = _normalise_separators(match["digits"].replace("'", ""))
    suffix = match["suffix"]
    if suffix and suffix not in _SUFFIX:
        raise ValueError(f"unknown number suffix {suffix!r} in {text!r}")
    value = float(digits) * _SUFFIX.get(suffix, 1.0)
    return -value if match["sign"] else value


def _normalise_separators(digits: str) -> str:
    dots, commas = digits.count("."), digits.count(",")
    if dots and commas:
        decimal = "." if digits.rfind(".") > digits.rfind(",") else ","
        thousands = "," if decimal == "." else "."
        return digits.replace(thousands, "").replace(decimal, ".")
    if dots > 1:
        return digits.replace(".", "")
    if commas > 1:
        return digits.replace(",", "")
    if commas == 1:
        head, tail = digits.split(",")
        return head + tail if len(tail) == 3 and head else f"{head or '0'}.{tail}"
    return digits


def to_int(text: str | None) -> int | None:
    """``"#1"`` -> 1, ``"12,345"`` -> 12345."""
    if is_missing(text):
        return None
    assert text is not None
    value = to_number(text.replace("#", ""))
    if value is None:
        return None
    if value != int(value):
        raise ValueError(f"not a whole number: {text!r}")
    return int(value)


def to_percent(text: str | None, *, negative: bool = False) -> float | None:
    """``"0.22%"`` -> 0.22; ``negative=True`` when the page shows the sign as a "down" icon."""
    value = to_number(text)
    if value is None:
        return None
    return -abs(value) if negative else value


def to_iso_timestamp(value: str | int | float | datetime | None) -> str | None:
    """An ISO 8601 UTC timestamp (``2026-07-12T11:53:00Z``) from ISO text, epoch seconds/ms or a datetime."""
    if value is None or (isinstance(value, str) and is_missing(value)):
        return None
    if isinstance(value, (int, float)):
        seconds = value / 1000 if value > 1e11 else value
        moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    elif isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    else:
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"not an ISO 8601 timestamp: {value!r}") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def utc_now_iso() -> str:
    return to_iso_timestamp(datetime.now(timezone.utc))  # type: ignore[return-value]
