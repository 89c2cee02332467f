"""Iranian national code (کد ملی, code-e melli).

The national code is a 10-digit number issued to every Iranian citizen. The first three digits identify
the issuing office, the next six are a serial number and the last digit is a check digit computed with a
mod-11 scheme: ``s = sum(d[i] * (10 - i) for i in 0..8)``, ``r = s % 11``, check ``r if r < 2 else 11 - r``.

Codes are often written without their leading zeros (spreadsheets drop them): 8 and 9 digit codes are
left-padded to 10 by :func:`compact`. Persian and Arabic-Indic digits, spaces and dashes are normalized.

Policy: ten identical digits (``0000000000``, ``1111111111``, ...) satisfy the arithmetic but are the
placeholders clerks type when the real code is unknown; they are refused with ``InvalidComponent``.

python-stdnum has no Iranian module; this one follows its interface.

>>> validate('001-354241-9')
'0013542419'
>>> validate('۰۰۱۳۵۴۲۴۱۹')
'0013542419'
>>> validate('13542419')  # leading zeros restored
'0013542419'
>>> validate('0013542418')
Traceback (most recent call last):
    ...
stdnum.exceptions.InvalidChecksum: The number's checksum or check digit is invalid.
>>> validate('1111111111')
Traceback (most recent call last):
    ...
stdnum.exceptions.InvalidComponent: One of the parts of the number are invalid or unknown.
>>> format('0013542419')
'001-354241-9'
>>> mask('0013542419')
'******2419'
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength, ValidationError

from payroll.normalize import compact_id, compact_id_arrow, series_via_arrow

LENGTH: int = 10
_WEIGHTS: np.ndarray = np.arange(10, 1, -1, dtype=np.int64)  # 10, 9, ..., 2
_DIGITS_RE: re.Pattern[str] = re.compile(r"[0-9]+", re.ASCII)


def compact(number: str) -> str:
    """Normalize digits and separators; left-pad 8 or 9 digit codes to 10."""
    number = compact_id(number)
    if _DIGITS_RE.fullmatch(number) and len(number) in (8, 9):
        number = number.zfill(LENGTH)
    return number


def compact_series(numbers: pd.Series) -> pd.Series:
    """Vectorized :func:`compact`; missing values stay missing."""
    return series_via_arrow(numbers, compact_arrow)


def compact_arrow(numbers: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Columnar :func:`compact` over a pyarrow string array; nulls stay null.

    >>> compact_arrow(pa.array(['۱۳۵۴۲۴۱۹', '001-354241-9', None])).to_pylist()
    ['0013542419', '0013542419', None]
    """
    s = compact_id_arrow(numbers)
    pad = pc.fill_null(pc.match_substring_regex(s, "^[0-9]{8,9}$"), False)
    return pc.if_else(pad, pc.utf8_lpad(s, LENGTH, "0"), s)


def calc_check_digit(number: str) -> str:
    """Check digit for the first nine digits of ``number``.

    >>> calc_check_digit('001354241')
    '9'
    """
    r = sum(int(d) * (10 - i) for i, d in enumerate(number[:9])) % 11
    return str(r if r < 2 else 11 - r)


def validate(number: str) -> str:
    """Check the number and return its compact form, or raise a ``stdnum.exceptions`` error."""
    number = compact(number)
    if not _DIGITS_RE.fullmatch(number):
        raise InvalidFormat()
    if len(number) != LENGTH:
        raise InvalidLength()
    if len(set(number)) == 1:
        raise InvalidComponent()
    if number[-1] != calc_check_digit(number):
        raise InvalidChecksum()
    return number


def is_valid(number: str) -> bool:
    """Whether the number is a valid national code."""
    try:
        return bool(validate(number))
    except ValidationError:
        return False


def format(number: str) -> str:
    """Presentation form ``XXX-XXXXXX-X`` (unchanged compact form if the length is wrong)."""
    number = compact(number)
    if len(number) != LENGTH:
        return number
    return f"{number[:3]}-{number[3:9]}-{number[9]}"


def mask(number: str) -> str:
    """Show only the last four digits; anything not 10 characters long is masked entirely."""
    number = compact(number)
    if len(number) != LENGTH:
        return "*" * len(number)
    return "*" * (LENGTH - 4) + number[-4:]


def valid_mask(numbers: pd.Series) -> np.ndarray:
    """Vectorized :func:`is_valid` over an already compacted Series (see :func:`compact_series`).

    Missing values are invalid. Same rules: 10 ASCII digits, not all equal, mod-11 check digit.

    >>> valid_mask(pd.Series(['0013542419', '0013542418', '1111111111', None, '013542419'])).tolist()
    [True, False, False, False, False]
    """
    s = pd.Series(numbers, copy=False).astype("str").fillna("")
    ok = s.str.fullmatch(r"[0-9]{10}").to_numpy(dtype=bool, na_value=False, copy=True)
    if not ok.any():
        return ok
    fixed = s.where(ok, "0" * LENGTH)
    raw = np.frombuffer("".join(fixed.tolist()).encode("ascii"), dtype=np.uint8).reshape(-1, LENGTH)
    d = raw.astype(np.int64) - ord("0")
    r = (d[:, :9] @ _WEIGHTS) % 11
    check = np.where(r < 2, r, 11 - r)
    not_all_equal = (d != d[:, :1]).any(axis=1)
    return ok & not_all_equal & (check == d[:, 9])


def valid_mask_arrow(numbers: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """:func:`valid_mask` over an already compacted pyarrow string array; nulls are invalid."""
    return valid_mask(pd.Series(numbers.to_pylist(), dtype=object))
