"""Unit tests for payroll.money (integer minor units, exact sums) and payroll.period (one calendar month)."""

from __future__ import annotations

import datetime

import numpy as np
import pytest

from payroll.errors import Refused
from payroll.money import AmountError, exact_sum, exponent, format_major, parse_major, parse_minor
from payroll.period import Period

# --------------------------------------------------------------------------- parse_minor


@pytest.mark.parametrize(("text", "value"), [("1250000", 1_250_000), (" 12 ", 12), ("-5", -5), ("0", 0),
                                             ("007", 7), ("999999999999999999999", 999999999999999999999)])
def test_parse_minor_accepts_ascii_integers(text: str, value: int) -> None:
    assert parse_minor(text) == value
    assert type(parse_minor(text)) is int


@pytest.mark.parametrize("text", ["1.0", "12.5", "1,250", "1e6", "+5", "", " ", "١٢", "۱۲", "１２", "1 000", "--5",
                                  "5-", "0x10", "1_000"])
def test_parse_minor_refuses_anything_else(text: str) -> None:
    with pytest.raises(AmountError):
        parse_minor(text)


# --------------------------------------------------------------------------- format_major / parse_major


@pytest.mark.parametrize(("minor", "currency", "text"), [
    (1_250_000, "IRR", "1250000"), (-1_250_000, "IRR", "-1250000"), (0, "IRR", "0"),
    (1_850_000, "KRW", "1850000"), (-7, "KRW", "-7"),
    (1250, "USD", "12.50"), (-5, "USD", "-0.05"), (-1250, "USD", "-12.50"), (0, "USD", "0.00"), (7, "USD", "0.07"),
    (10**20 + 1, "USD", "1000000000000000000.01"),
])
def test_format_and_parse_major_round_trip(minor: int, currency: str, text: str) -> None:
    assert format_major(minor, currency) == text
    assert parse_major(text, currency) == minor
    assert type(parse_major(text, currency)) is int


def test_parse_major_accepts_fewer_decimals() -> None:
    assert parse_major("12.5", "USD") == 1250
    assert parse_major("12", "USD") == 1200
    assert parse_major(" 1250000 ", "IRR") == 1_250_000


@pytest.mark.parametrize(("text", "currency"), [("12.505", "USD"), ("1.5", "IRR"), ("0.1", "KRW"), ("abc", "USD"),
                                                ("", "IRR"), ("12,50", "USD")])
def test_parse_major_refuses(text: str, currency: str) -> None:
    with pytest.raises(AmountError):
        parse_major(text, currency)


@pytest.mark.parametrize("text", ["Infinity", "sNaN"])
def test_parse_major_refuses_decimal_specials_with_amount_error(text: str) -> None:
    with pytest.raises(AmountError):
        parse_major(text, "USD")


@pytest.mark.parametrize("value", [1.5, 12.0, True, "12", None])
def test_format_major_refuses_non_int(value: object) -> None:
    with pytest.raises(AmountError):
        format_major(value, "USD")  # type: ignore[arg-type]


def test_unknown_currency() -> None:
    assert (exponent("IRR"), exponent("KRW"), exponent("USD")) == (0, 0, 2)
    with pytest.raises(AmountError):
        exponent("XYZ")
    with pytest.raises(AmountError):
        format_major(1, "XYZ")


# --------------------------------------------------------------------------- exact_sum


def test_exact_sum_small_values() -> None:
    assert exact_sum(np.array([1, 2, 3], dtype=np.int64)) == 6
    assert exact_sum([]) == 0
    assert type(exact_sum(np.array([5], dtype=np.int64))) is int


def test_exact_sum_beyond_int64() -> None:
    big = 2**63 - 1
    assert exact_sum(np.array([big, big, big], dtype=np.int64)) == 3 * big
    assert exact_sum(np.array([2**62, 2**62], dtype=np.int64)) == 2**63
    assert exact_sum(np.array([-big, -big], dtype=np.int64)) == -2 * big
    n = 10_000
    assert exact_sum(np.full(n, 10**15 - 1, dtype=np.int64)) == n * (10**15 - 1)


def test_exact_sum_with_int64_minimum() -> None:
    assert exact_sum(np.array([-(2**63), -1], dtype=np.int64)) == -(2**63) - 1


# --------------------------------------------------------------------------- Period


def test_period_parse_and_str() -> None:
    p = Period.parse("2026-11")
    assert p == Period(2026, 11)
    assert str(p) == "2026-11"
    assert Period.parse(" 2026-02 ") == Period(2026, 2)
    assert Period(2026, 1) < Period(2026, 11) < Period(2027, 1)


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2026-1", "26-11", "abc", "", "2026/11", "1999-12",
                                  "۲۰۲۶-۱۱", "2026-11-01"])
def test_period_parse_refuses(text: str) -> None:
    with pytest.raises(Refused) as e:
        Period.parse(text)
    assert e.value.code == "INVALID_PERIOD"
    assert repr(text) in e.value.message


def test_period_start_end_and_day() -> None:
    p = Period(2026, 11)
    assert (p.start, p.end) == (datetime.date(2026, 11, 1), datetime.date(2026, 11, 30))
    feb = Period(2026, 2)
    assert (feb.start, feb.end) == (datetime.date(2026, 2, 1), datetime.date(2026, 2, 28))
    assert feb.day(31) == datetime.date(2026, 2, 28)
    assert feb.day(15) == datetime.date(2026, 2, 15)
    leap = Period(2028, 2)
    assert leap.end == datetime.date(2028, 2, 29)
    assert leap.day(31) == datetime.date(2028, 2, 29)
    assert Period(2026, 12).end == datetime.date(2026, 12, 31)
