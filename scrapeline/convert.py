"""Turn the strings that web pages show into numbers.

One shared set of converters for plugins (parsing rendered tables) and the
consumer (normalising records). Each returns ``None`` for an empty or
"not available" value and raises :class:`ValueError` for text that is not a
number at all, so a caller can tell "missing" from "broken".

Without a locale, separators are guessed (see :func:`to_number`) and dates are
read in English. A page in another language names its locale, per call
(``to_number("2.450 €", locale="de")``, ``to_iso_timestamp("22. November 2026",
locale="de")``) or once per plugin: declare ``"locale": "de"`` in the plugin's
``default_settings`` (so ``[plugin:NAME] locale`` can change it) and pass
``locale=self.settings["locale"]``.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from scrapeline.locales import localised_number_text, parse_localised_date

_MISSING = {"", "-", "--", "—", "–", "n/a", "na", "none", "null", "?"}
_SUFFIX = {"k": 1e3, "m": 1e6, "b": 1e9, "bn": 1e9, "t": 1e12}
# Characters that may surround a number on a page: currency signs, spaces of
# every width, percent signs, arrows.
_NOISE = re.compile(r"[\s\u00a0\u202f$€£¥₿%+▲▼↑↓]")
_NUMBER = re.compile(r"^(?P<sign>-)?(?P<digits>[0-9][0-9.,']*|[.,][0-9]+)(?P<suffix>[a-z]{0,2})$")
# Units a quantity may carry, and the factor to its base unit: masses in grams, volumes in millilitres.
_UNITS = {"g": 1.0, "mg": 1e-3, "µg": 1e-6, "mcg": 1e-6, "kg": 1e3, "ml": 1.0, "cl": 10.0, "dl": 100.0, "l": 1e3, "kcal": 1.0}
_QUANTITY = re.compile(r"^(?P<number>.*?\d)\s*(?P<unit>mg|µg|mcg|kg|kcal|g|ml|cl|dl|l)$", re.I)
_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off"}
# Human date formats seen on pages, tried after ISO 8601 and RFC 2822. Day-first numeric
# dates ("03/04/2026") are left out on purpose: they are ambiguous.
_DATE_FORMATS = ("%b %d, %Y", "%B %d, %Y", "%d %b %Y", "%d %B %Y", "%b %d, %Y %H:%M", "%Y/%m/%d")


def is_missing(text: str | None) -> bool:
    return text is None or text.strip().lower() in _MISSING


def to_number(text: str | None, *, locale: str | None = None) -> float | None:
    """``"$1,234.56"`` -> 1234.56, ``"1.2B"`` -> 1.2e9, ``"−3.4%"`` -> -3.4, ``"19.496.962"`` -> 19496962.

    Decimal separators, without ``locale``: with both ``.`` and ``,`` present the
    last one is the decimal mark; a separator that repeats groups thousands; a
    lone comma followed by exactly three digits groups thousands, any other lone
    separator is the decimal mark. With ``locale``, the locale's decimal mark is
    the decimal mark: ``to_number("2.450 €", locale="de")`` -> 2450.
    """
    if is_missing(text):
        return None
    assert text is not None
    cleaned = text.replace("\u2212", "-").replace("\u2012", "-").replace("\u2013", "-").replace("\u2019", "'")
    cleaned = _NOISE.sub("", cleaned).lower()
    match = _NUMBER.match(cleaned)
    if not match:
        raise ValueError(f"not a number: {text!r}")
    if locale:
        digits = localised_number_text(match["digits"], locale)
    else:
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


def to_int(text: str | None, *, locale: str | None = None) -> int | None:
    """``"#1"`` -> 1, ``"12,345"`` -> 12345, ``"12.345"`` with ``locale="de"`` -> 12345."""
    if is_missing(text):
        return None
    assert text is not None
    value = to_number(text.replace("#", ""), locale=locale)
    if value is None:
        return None
    if value != int(value):
        raise ValueError(f"not a whole number: {text!r}")
    return int(value)


def to_percent(text: str | None, *, negative: bool = False, locale: str | None = None) -> float | None:
    """``"0.22%"`` -> 0.22; ``negative=True`` when the page shows the sign as a "down" icon."""
    value = to_number(text, locale=locale)
    if value is None:
        return None
    return -abs(value) if negative else value


def to_quantity(text: str | None, *, locale: str | None = None) -> float | None:
    """A number with an optional unit, in the unit's base: ``"12 g"`` -> 12, ``"500 mg"`` -> 0.5 (grams),
    ``"1,5 kg"`` -> 1500, ``"33 cl"`` -> 330 (millilitres), ``"250 kcal"`` -> 250, ``"< 0.5 g"`` -> 0.5."""
    if is_missing(text):
        return None
    assert text is not None
    cleaned = text.strip().lstrip("<>~≈≤≥ ").strip()
    match = _QUANTITY.match(cleaned)
    if not match:
        return to_number(cleaned, locale=locale)
    value = to_number(match["number"], locale=locale)
    return None if value is None else value * _UNITS[match["unit"].lower()]


def to_float(value: str | int | float | None) -> float | None:
    """A finite float from a number or from page text (see :func:`to_quantity`)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"not a number: {value!r}")
    number = float(value) if isinstance(value, (int, float)) else to_quantity(value)
    if number is not None and not math.isfinite(number):
        raise ValueError(f"not a finite number: {value!r}")
    return number


def to_bool(value: str | int | bool | None) -> bool | None:
    """``"yes"``/``"no"``, ``"true"``/``"false"``, ``1``/``0``."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        if is_missing(value):
            return None
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    raise ValueError(f"not a yes/no value: {value!r}")


def to_str_list(value: str | list[str] | tuple[str, ...] | None) -> list[str] | None:
    """``"Snacks, Sweet snacks"`` -> ``["Snacks", "Sweet snacks"]``; blank items are dropped."""
    if value is None:
        return None
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return [item.strip() for item in value if item.strip()]
    raise ValueError(f"not a list of strings: {value!r}")


def to_iso_timestamp(value: str | int | float | datetime | None, *, locale: str | None = None) -> str | None:
    """An ISO 8601 UTC timestamp (``2026-07-12T11:53:00Z``, ``…:00.250Z`` with milliseconds) from ISO text, epoch seconds/ms, a datetime,
    RFC 2822 (``"Sun, 22 Nov 2026 10:00:00 GMT"``) or a written date (``"Nov 22, 2026"``; with ``locale="de"``
    also ``"22. November 2026"`` and ``"22.11.2026"``). Text without a zone is taken as UTC."""
    if value is None or (isinstance(value, str) and is_missing(value)):
        return None
    if isinstance(value, bool):
        raise ValueError(f"not a timestamp: {value!r}")
    try:
        if isinstance(value, (int, float)):
            seconds = value / 1000 if value > 1e11 else value
            moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
        elif isinstance(value, datetime):
            moment = value
        else:
            moment = _parse_date_text(value.strip(), locale)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        utc = moment.astimezone(timezone.utc)
    except (OverflowError, OSError) as exc:  # past year 9999 or before year 1 once in UTC, or beyond the platform's time_t
        raise ValueError(f"timestamp out of range: {value!r} ({exc})") from None
    # Milliseconds when there are any (scrape times), whole seconds otherwise (dates on pages).
    precision = "milliseconds" if utc.microsecond >= 1000 else "seconds"
    return utc.isoformat(timespec=precision).replace("+00:00", "Z")


def _parse_date_text(text: str, locale: str | None = None) -> datetime:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        pass
    for layout in _DATE_FORMATS:
        try:
            return datetime.strptime(text, layout)
        except ValueError:
            continue
    if locale:
        return parse_localised_date(text, locale)
    raise ValueError(f"not a timestamp: {text!r}")


def utc_now_iso() -> str:
    return to_iso_timestamp(datetime.now(timezone.utc))  # type: ignore[return-value]
