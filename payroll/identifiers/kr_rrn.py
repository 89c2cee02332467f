"""RRN (South Korean resident registration number, 주민등록번호).

Thirteen digits written ``YYMMDD-SBBBBBC``: the date of birth, a gender/century digit ``S`` (1, 2, 5, 6:
1900s; 3, 4, 7, 8: 2000s; 9, 0: 1800s, as python-stdnum accepts), then six more digits.

Until October 2020 those six digits were a region code, a serial number and a check digit (weights
2..9, 2..5; check ``(11 - s % 11) % 10``). Numbers issued since then have six random digits, so a
check-digit failure alone does not make a number invalid: :func:`validate` checks structure and birth
date only; :func:`has_valid_check_digit` and ``validate(number, strict_checksum=True)`` are available for
numbers known to be older. Unlike ``stdnum.kr.rrn`` the region digits are not checked (random now too).

>>> validate('971013-9019902')
'9710139019902'
>>> validate('971013-9019903')  # wrong check digit: may be a post-2020 number
'9710139019903'
>>> has_valid_check_digit('971013-9019903')
False
>>> validate('971013-9019903', strict_checksum=True)
Traceback (most recent call last):
    ...
stdnum.exceptions.InvalidChecksum: The number's checksum or check digit is invalid.
>>> validate('970230-1234567')
Traceback (most recent call last):
    ...
stdnum.exceptions.InvalidComponent: One of the parts of the number are invalid or unknown.
>>> format('9710139019902')
'971013-9019902'
>>> mask('9710139019902')
'971013-9******'
"""

from __future__ import annotations

import datetime
import re

import numpy as np
import pandas as pd
import pyarrow as pa
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength, ValidationError

from payroll.normalize import compact_id, compact_id_arrow, series_via_arrow

LENGTH: int = 13
_WEIGHTS: tuple[int, ...] = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)
_DIGITS_RE: re.Pattern[str] = re.compile(r"[0-9]+", re.ASCII)
# century by gender/century digit 0..9
_CENTURY: np.ndarray = np.array([1800, 1900, 1900, 2000, 2000, 1900, 1900, 2000, 2000, 1800], dtype=np.int64)
_MONTH_DAYS: np.ndarray = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def compact(number: str) -> str:
    """Normalize digits; remove the dash, spaces and other separators."""
    return compact_id(number)


def compact_series(numbers: pd.Series) -> pd.Series:
    """Vectorized :func:`compact`; missing values stay missing."""
    return series_via_arrow(numbers, compact_arrow)


def compact_arrow(numbers: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Columnar :func:`compact` over a pyarrow string array; nulls stay null."""
    return compact_id_arrow(numbers)


def calc_check_digit(number: str) -> str:
    """Check digit of the first twelve digits (meaningful only for pre-October-2020 numbers)."""
    s = sum(w * int(d) for w, d in zip(_WEIGHTS, number[:12], strict=True))
    return str((11 - s % 11) % 10)


def get_birth_date(number: str) -> datetime.date:
    """Birth date encoded in the number; ``InvalidComponent`` if it is not a real date."""
    number = compact(number)
    year = int(_CENTURY[int(number[6])]) + int(number[0:2])
    try:
        return datetime.date(year, int(number[2:4]), int(number[4:6]))
    except ValueError:
        raise InvalidComponent() from None


def has_valid_check_digit(number: str) -> bool:
    """Whether the old (pre-October-2020) check digit holds; False for malformed numbers."""
    number = compact(number)
    if not _DIGITS_RE.fullmatch(number) or len(number) != LENGTH:
        return False
    return number[-1] == calc_check_digit(number)


def validate(number: str, strict_checksum: bool = False) -> str:
    """Check structure and birth date (and the check digit if ``strict_checksum``); return compact form."""
    number = compact(number)
    if not _DIGITS_RE.fullmatch(number):
        raise InvalidFormat()
    if len(number) != LENGTH:
        raise InvalidLength()
    get_birth_date(number)
    if strict_checksum and number[-1] != calc_check_digit(number):
        raise InvalidChecksum()
    return number


def is_valid(number: str, strict_checksum: bool = False) -> bool:
    """Whether the number is a valid RRN."""
    try:
        return bool(validate(number, strict_checksum))
    except ValidationError:
        return False


def format(number: str) -> str:
    """Presentation form ``YYMMDD-SBBBBBC`` (unchanged compact form if the length is wrong)."""
    number = compact(number)
    if len(number) != LENGTH:
        return number
    return f"{number[:6]}-{number[6:]}"


def mask(number: str) -> str:
    """Korean convention ``YYMMDD-S******``; anything not 13 characters long is masked entirely."""
    number = compact(number)
    if len(number) != LENGTH:
        return "*" * len(number)
    return f"{number[:6]}-{number[6]}" + "*" * 6


def valid_mask(numbers: pd.Series) -> np.ndarray:
    """Vectorized :func:`is_valid` (default, no checksum) over an already compacted Series.

    >>> valid_mask(pd.Series(['9710139019903', '0002294000000', '0102294000000', None])).tolist()
    [True, True, False, False]
    """
    s = pd.Series(numbers, copy=False).astype("str").fillna("")
    ok = s.str.fullmatch(r"[0-9]{13}").to_numpy(dtype=bool, na_value=False, copy=True)
    if not ok.any():
        return ok
    fixed = s.where(ok, "0001011000000")
    raw = np.frombuffer("".join(fixed.tolist()).encode("ascii"), dtype=np.uint8).reshape(-1, LENGTH)
    d = raw.astype(np.int64) - ord("0")
    year = _CENTURY[d[:, 6]] + d[:, 0] * 10 + d[:, 1]
    month = d[:, 2] * 10 + d[:, 3]
    day = d[:, 4] * 10 + d[:, 5]
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_ok = (month >= 1) & (month <= 12)
    days = _MONTH_DAYS[np.clip(month, 1, 12) - 1] + ((month == 2) & leap)
    return ok & month_ok & (day >= 1) & (day <= days)


def valid_mask_arrow(numbers: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """:func:`valid_mask` over an already compacted pyarrow string array; nulls are invalid."""
    return valid_mask(pd.Series(numbers.to_pylist(), dtype=object))
