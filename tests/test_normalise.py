"""Normalisation, one row per input: the schema's declared type decides what a page's text becomes."""

import pytest

from scrapeline.convert import to_bool, to_float, to_iso_timestamp, to_quantity, to_str_list
from scrapeline.records import RecordError, normalise_value


@pytest.mark.parametrize(
    "kind, value, expected",
    [
        ("float", "$1,234.56", 1234.56),
        ("float", "1.2B", 1.2e9),
        ("float", "\u22123.4%", -3.4),
        ("float", "12 g", 12.0),
        ("float", "12,5 g", 12.5),
        ("float", "500 mg", 0.5),
        ("float", "< 0.5 g", 0.5),
        ("float", "1,5 kg", 1500.0),
        ("float", "33 cl", 330.0),
        ("float", "250 kcal", 250.0),
        ("float", "19.496.962", 19496962.0),
        ("float", 7, 7.0),
        ("float", "N/A", None),
        ("float", "", None),
        ("int", "#3", 3),
        ("int", "12,345", 12345),
        ("int", 4.0, 4),
        ("int", "4", 4),
        ("str", "  bitcoin ", "bitcoin"),
        ("str", 3017620422003, "3017620422003"),
        ("text", " keep  spacing ", " keep  spacing "),
        ("bool", "yes", True),
        ("bool", "False", False),
        ("bool", 1, True),
        ("timestamp", "2026-11-22T10:00:00Z", "2026-11-22T10:00:00Z"),
        ("timestamp", "2026-11-22T11:00:00+01:00", "2026-11-22T10:00:00Z"),
        ("timestamp", "2026-11-22", "2026-11-22T00:00:00Z"),
        ("timestamp", "Nov 22, 2026", "2026-11-22T00:00:00Z"),
        ("timestamp", "22 November 2026", "2026-11-22T00:00:00Z"),
        ("timestamp", "Sun, 22 Nov 2026 10:00:00 GMT", "2026-11-22T10:00:00Z"),
        ("timestamp", 1795348800, "2026-11-22T12:00:00Z"),
        ("timestamp", 1795348800000, "2026-11-22T12:00:00Z"),
        ("list[str]", "Snacks, Sweet snacks,, Biscuits ", ["Snacks", "Sweet snacks", "Biscuits"]),
        ("list[str]", ["a", " b"], ["a", "b"]),
        ("float", None, None),
    ],
)
def test_values_become_their_declared_type(kind, value, expected):
    result = normalise_value("field", kind, value)
    if isinstance(expected, float):
        assert result == pytest.approx(expected) and isinstance(result, float)
    else:
        assert result == expected


@pytest.mark.parametrize(
    "kind, value",
    [
        ("float", "twelve"),
        ("float", "12 parsecs"),
        ("float", True),
        ("float", float("inf")),
        ("float", "1046 kJ"),
        ("int", "1.5"),
        ("int", 2.5),
        ("int", True),
        ("str", 1.5),
        ("str", ["a"]),
        ("text", 3),
        ("bool", "maybe"),
        ("bool", 2),
        ("timestamp", "yesterday"),
        ("timestamp", "03/04/2026"),
        ("timestamp", True),
        ("list[str]", ["a", 1]),
        ("list[str]", 5),
    ],
)
def test_values_that_are_not_their_type_name_the_field(kind, value):
    with pytest.raises(RecordError, match=rf"field 'field': expected {kind.replace('[', '.').replace(']', '.')}"):
        normalise_value("field", kind, value)


def test_converters_keep_missing_apart_from_broken():
    assert to_quantity("--") is None and to_float(None) is None and to_bool("n/a") is None
    assert to_str_list(None) is None and to_iso_timestamp("") is None
    with pytest.raises(ValueError):
        to_quantity("lots g")
