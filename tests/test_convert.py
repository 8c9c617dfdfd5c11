import pytest

from scrapeline.convert import to_int, to_iso_timestamp, to_number, to_percent


@pytest.mark.parametrize(
    "text, expected",
    [
        ("$1,234.56", 1234.56),
        ("$63,975.13", 63975.13),
        ("1.2B", 1.2e9),
        ("$1.28T", 1.28e12),
        ("$21.3B", 21.3e9),
        ("612.96K", 612960.0),
        ("20.05M", 20.05e6),
        ("\u22123.4%", -3.4),
        ("-0,33 %", -0.33),
        ("19.496.962", 19496962.0),
        ("$7.299.982.172", 7299982172.0),
        ("1.234.567,89", 1234567.89),
        ("1,234", 1234.0),
        ("0,5", 0.5),
        ("$0.001234", 0.001234),
        ("$\u00a01\u202f234", 1234.0),
        ("+2.52%", 2.52),
        ("1'234.5", 1234.5),
        ("", None),
        ("  ", None),
        ("N/A", None),
        ("--", None),
        (None, None),
    ],
)
def test_to_number(text, expected):
    assert to_number(text) == pytest.approx(expected) if expected is not None else to_number(text) is None


@pytest.mark.parametrize("text", ["abc", "1.2X", "$", "12 apples"])
def test_to_number_rejects_text(text):
    with pytest.raises(ValueError):
        to_number(text)


def test_percent_sign_from_a_down_icon():
    assert to_percent("0.26%", negative=True) == -0.26
    assert to_percent("0.26%") == 0.26
    assert to_percent("") is None


@pytest.mark.parametrize("text, expected", [("#1", 1), ("12,345", 12345), ("", None)])
def test_to_int(text, expected):
    assert to_int(text) == expected


def test_to_int_rejects_fractions():
    with pytest.raises(ValueError):
        to_int("1.5")


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2026-07-12T11:53:00.000Z", "2026-07-12T11:53:00Z"),
        ("2026-07-12T13:53:00+02:00", "2026-07-12T11:53:00Z"),
        ("2026-07-12 11:53", "2026-07-12T11:53:00Z"),
        (1750780800000, "2025-06-24T16:00:00Z"),
        (1750780800, "2025-06-24T16:00:00Z"),
        ("", None),
    ],
)
def test_to_iso_timestamp(value, expected):
    assert to_iso_timestamp(value) == expected


@pytest.mark.parametrize(
    "text, locale, expected",
    [
        ("2.450 €", None, 2.45),  # without a locale, a lone dot before three digits stays a decimal mark
        ("2.450 €", "de", 2450.0),
        ("2.450,75 €", "de", 2450.75),
        ("0,5", "de", 0.5),
        ("-1.234", "de", -1234.0),
        ("1\u202f234,5", "fr", 1234.5),
        ("1 234,5 %", "fr", 1234.5),
        ("1\u2019234.50", "de_CH", 1234.5),
        ("1,234.5", "en", 1234.5),
        ("1.234", "en_US", 1.234),
        ("12.345,6", "pt-BR", 12345.6),
        ("N/A", "de", None),
        ("", "de", None),
    ],
)
def test_to_number_in_a_locale(text, locale, expected):
    result = to_number(text, locale=locale)
    assert result == pytest.approx(expected) if expected is not None else result is None


@pytest.mark.parametrize("text, locale", [("1.2.3", "en"), ("1,234,5", "de"), ("12", "xx_nowhere")])
def test_to_number_in_a_locale_rejects_what_the_locale_cannot_write(text, locale):
    with pytest.raises(ValueError):
        to_number(text, locale=locale)


@pytest.mark.parametrize(
    "text, locale, expected",
    [
        ("12.345", "de", 12345),
        ("#1.234", "de", 1234),
        ("12,345", None, 12345),
    ],
)
def test_to_int_in_a_locale(text, locale, expected):
    assert to_int(text, locale=locale) == expected


@pytest.mark.parametrize(
    "text, locale, expected",
    [
        ("22. November 2026", "de", "2026-11-22T00:00:00Z"),
        ("Sonntag, 22. November 2026", "de", "2026-11-22T00:00:00Z"),
        ("22. Nov. 2026, 10:30", "de", "2026-11-22T10:30:00Z"),
        ("22.11.2026", "de", "2026-11-22T00:00:00Z"),
        ("3. März 2026", "de", "2026-03-03T00:00:00Z"),
        ("22 novembre 2026", "fr", "2026-11-22T00:00:00Z"),
        ("22 févr. 2026", "fr", "2026-02-22T00:00:00Z"),
        ("22/11/2026", "fr", "2026-11-22T00:00:00Z"),
        ("22 de noviembre de 2026", "es", "2026-11-22T00:00:00Z"),
        ("22 listopada 2026", "pl", "2026-11-22T00:00:00Z"),
        ("22 novembro 2026", "pt_BR", "2026-11-22T00:00:00Z"),
        ("11/22/2026", "en_US", "2026-11-22T00:00:00Z"),
        ("November 22, 2026", "en_US", "2026-11-22T00:00:00Z"),
        ("2026-11-22T10:00:00Z", "de", "2026-11-22T10:00:00Z"),  # ISO 8601 whatever the locale
        ("Nov 22, 2026", None, "2026-11-22T00:00:00Z"),  # English without a locale, as before
    ],
)
def test_to_iso_timestamp_in_a_locale(text, locale, expected):
    assert to_iso_timestamp(text, locale=locale) == expected


@pytest.mark.parametrize(
    "text, locale",
    [
        ("22. November 2026", None),  # German needs its locale
        ("22.11.2026", None),  # day-first numeric dates are ambiguous without one
        ("22 Brumaire 2026", "fr"),
        ("31.02.2026", "de"),
        ("gestern", "de"),
        ("22. November", "de"),
    ],
)
def test_to_iso_timestamp_rejects_dates_it_cannot_read(text, locale):
    with pytest.raises(ValueError):
        to_iso_timestamp(text, locale=locale)


@pytest.mark.parametrize("value", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", 1e20, 10**30, float("inf")])
def test_to_iso_timestamp_out_of_range_is_a_value_error(value):
    with pytest.raises(ValueError):
        to_iso_timestamp(value)
