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
