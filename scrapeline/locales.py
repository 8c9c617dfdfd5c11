"""How a locale writes numbers and dates, from the Unicode CLDR data that babel ships.

:mod:`scrapeline.convert` uses it when a caller names the locale of a page
(``to_number("2.450 €", locale="de")``); without one, nothing here is used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.dates import get_date_format
from babel.numbers import get_decimal_symbol, get_group_symbol

# Short words that sit between the parts of a written date: "22 de noviembre de 2026", "le 22 novembre", "am 22. November".
_FILLERS = {"de", "del", "à", "a", "le", "la", "el", "am", "um", "den", "der", "of", "the", "on", "at", "op", "em", "do", "da", "w", "o"}
_TIME = re.compile(r"(?<!\d)(\d{1,2}):(\d{2})(?::(\d{2}))?(?!\d)")
_TOKEN = re.compile(r"\d+|[^\W\d_]+")


@dataclass(frozen=True)
class LocaleFormats:
    decimal: str
    group: str
    # Month names (wide and abbreviated, as written in a date and standing alone), lower case, without a final dot -> 1..12
    months: dict[str, int]
    weekdays: frozenset[str]
    # The order of day, month and year in the locale's numeric dates: "dmy" for de (22.11.26), "mdy" for en_US.
    numeric_order: str


@lru_cache(maxsize=64)
def formats(locale: str) -> LocaleFormats:
    """The formats of ``locale`` (``de``, ``de_CH``, ``pt-BR``); ValueError for one CLDR does not know."""
    try:
        loc = Locale.parse(locale.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError) as exc:
        raise ValueError(f"unknown locale {locale!r} ({exc})") from None
    months: dict[str, int] = {}
    weekdays: set[str] = set()
    for context in ("format", "stand-alone"):
        for width in ("wide", "abbreviated"):
            for number, name in loc.months[context][width].items():
                months[name.lower().rstrip(".")] = number
            weekdays.update(name.lower().rstrip(".") for name in loc.days[context][width].values())
    pattern = get_date_format("short", locale=loc).pattern
    order = "".join(sorted("dMy", key=lambda letter: pattern.find(letter))).replace("M", "m")
    return LocaleFormats(get_decimal_symbol(loc), get_group_symbol(loc), months, frozenset(weekdays), order)


def localised_number_text(digits: str, locale: str) -> str:
    """``1.234,5`` (de) -> ``1234.5``: the locale's decimal mark becomes ``.``, every other separator goes."""
    decimal = formats(locale).decimal
    if decimal not in ".,":
        raise ValueError(f"locale {locale!r} writes decimals with {decimal!r}, which is not supported")
    other = "," if decimal == "." else "."
    cleaned = digits.replace(other, "").replace("'", "").replace(decimal, ".")
    if cleaned.count(".") > 1:
        raise ValueError(f"more than one decimal mark {decimal!r} in {digits!r}")
    return cleaned


def parse_localised_date(text: str, locale: str) -> datetime:
    """``22. November 2026``, ``22 de noviembre de 2026 10:30``, ``22.11.2026`` (in the locale's day/month order)."""
    found = formats(locale)
    hour = minute = second = 0
    time_match = _TIME.search(text)
    if time_match:
        hour, minute, second = int(time_match[1]), int(time_match[2]), int(time_match[3] or 0)
        text = text[: time_match.start()] + " " + text[time_match.end():]
    month = None
    numbers: list[str] = []
    for token in _TOKEN.findall(text.lower()):
        if token.isdigit():
            numbers.append(token)
        elif token in found.months and month is None:
            month = found.months[token]
        elif token not in found.weekdays and token not in _FILLERS:
            raise ValueError(f"not a date in locale {locale!r}: {text!r} ({token!r})")
    if month is not None and len(numbers) == 2:
        if len(numbers[0]) == 4:
            year, day = numbers
        elif len(numbers[1]) == 4 or found.numeric_order.index("d") < found.numeric_order.index("y"):
            day, year = numbers
        else:
            year, day = numbers
    elif month is None and len(numbers) == 3:
        parts = dict(zip(found.numeric_order, numbers))
        day, month, year = parts["d"], int(parts["m"]), parts["y"]
    else:
        raise ValueError(f"not a date in locale {locale!r}: {text!r}")
    full_year = int(year) + (2000 if len(year) <= 2 else 0)
    return datetime(full_year, month, int(day), hour, minute, second)
