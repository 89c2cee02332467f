"""Money as integer counts of a currency's minor unit, never floats.

IRR and KRW have no minor unit (exponent 0); the exponent table exists so a bank format can print
"1250000" for IRR and "12.50" for USD from the same integer without ever passing through a float.
"""

from __future__ import annotations

import re
from decimal import Decimal

# ISO 4217 minor-unit exponents for the currencies the engine pays in (and USD for NACHA tests).
MINOR_UNIT_EXPONENT: dict[str, int] = {"IRR": 0, "KRW": 0, "USD": 2, "EUR": 2}

_INTEGER = re.compile(r"-?[0-9]+", re.ASCII)
_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?", re.ASCII)


class AmountError(ValueError):
    """A text that is not a whole number of minor units."""


def exponent(currency: str) -> int:
    try:
        return MINOR_UNIT_EXPONENT[currency]
    except KeyError:
        raise AmountError(f"unknown currency {currency!r}") from None


def parse_minor(text: str) -> int:
    """Parse a whole number of minor units: ASCII digits with an optional leading minus, nothing else.

    >>> parse_minor("1250000")
    1250000
    >>> parse_minor("-5")
    -5
    """
    s = text.strip()
    if not _INTEGER.fullmatch(s):
        raise AmountError(f"{text!r} is not a whole number of minor units")
    return int(s)


def format_major(minor: int, currency: str) -> str:
    """Render minor units as the decimal text ISO 20022 and bank formats expect.

    >>> format_major(1250000, "IRR")
    '1250000'
    >>> format_major(1250, "USD")
    '12.50'
    >>> format_major(-5, "USD")
    '-0.05'
    """
    if isinstance(minor, bool) or not isinstance(minor, int):
        raise AmountError(f"amount must be an int of minor units, got {type(minor).__name__}")
    exp = exponent(currency)
    if exp == 0:
        return str(minor)
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 10**exp)
    return f"{sign}{whole}.{frac:0{exp}d}"


def parse_major(text: str, currency: str) -> int:
    """Inverse of format_major: decimal text to exact minor units; refuses more decimals than allowed.

    >>> parse_major("12.50", "USD")
    1250
    >>> parse_major("1250000", "IRR")
    1250000
    """
    exp = exponent(currency)
    if not _DECIMAL.fullmatch(text.strip()):  # no exponents, specials, signs or separators
        raise AmountError(f"{text!r} is not a decimal amount")
    value = Decimal(text.strip())
    scaled = value.scaleb(exp)
    if scaled != scaled.to_integral_value():
        raise AmountError(f"{text!r} has more than {exp} decimals for {currency}")
    return int(scaled)


def exact_sum(values) -> int:  # type: ignore[no-untyped-def]
    """Sum an int64 array exactly: fall back to Python ints when int64 could overflow."""
    import numpy as np

    arr = np.asarray(values, dtype=np.int64)
    if arr.size == 0:
        return 0
    bound = max(int(arr.max()), -int(arr.min())) * arr.size
    if bound < 2**62:
        return int(arr.sum())
    return sum(int(v) for v in arr.tolist())
