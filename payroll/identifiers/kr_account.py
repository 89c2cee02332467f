"""Korean bank account number with its 3-digit bank code (은행코드), written ``BANK-ACCOUNT``.

Korean account numbers have no common check-digit scheme and their layout differs by bank; this module
checks what is common: a known 3-digit bank code (KFTC codes in :data:`BANK_CODES`) followed by 10 to 14
account digits. The compact form is the bank code immediately followed by the account digits.

Mask policy: the bank code and the last four account digits are kept: ``088-********6789``.

>>> validate('088-110123456789')
'088110123456789'
>>> bank_code('088-110123456789')
'088'
>>> validate('999-110123456789')
Traceback (most recent call last):
    ...
stdnum.exceptions.InvalidComponent: One of the parts of the number are invalid or unknown.
>>> validate('088-123456789')
Traceback (most recent call last):
    ...
stdnum.exceptions.InvalidLength: The number has an invalid length.
>>> format('088110123456789')
'088-110123456789'
>>> mask('088-110123456789')
'088-********6789'
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from stdnum.exceptions import InvalidComponent, InvalidFormat, InvalidLength, ValidationError

from payroll.normalize import compact_id, compact_id_arrow, series_via_arrow

BANK_CODES: dict[str, str] = {
    "002": "KDB",
    "003": "IBK",
    "004": "KB Kookmin",
    "011": "NH Nonghyup",
    "020": "Woori",
    "023": "SC First",
    "071": "Korea Post",
    "081": "Hana",
    "088": "Shinhan",
    "089": "K Bank",
    "090": "Kakao Bank",
    "092": "Toss Bank",
}
MIN_ACCOUNT, MAX_ACCOUNT = 10, 14
_DIGITS_RE: re.Pattern[str] = re.compile(r"[0-9]+", re.ASCII)


def compact(number: str) -> str:
    """ASCII digits, spaces and dashes removed: bank code followed by account digits."""
    return compact_id(number)


def compact_series(numbers: pd.Series) -> pd.Series:
    """Vectorized :func:`compact`; missing values stay missing."""
    return series_via_arrow(numbers, compact_arrow)


def compact_arrow(numbers: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Columnar :func:`compact` over a pyarrow string array; nulls stay null."""
    return compact_id_arrow(numbers)


def validate(number: str) -> str:
    """Check the account and return its compact form, or raise a ``stdnum.exceptions`` error.

    Order: ``InvalidFormat`` (not all ASCII digits), ``InvalidLength`` (account part not 10..14 digits),
    ``InvalidComponent`` (unknown bank code).
    """
    number = compact(number)
    if not _DIGITS_RE.fullmatch(number):
        raise InvalidFormat()
    if not MIN_ACCOUNT <= len(number) - 3 <= MAX_ACCOUNT:
        raise InvalidLength()
    if number[:3] not in BANK_CODES:
        raise InvalidComponent()
    return number


def is_valid(number: str) -> bool:
    """Whether the number is a valid bank-code-plus-account number."""
    try:
        return bool(validate(number))
    except ValidationError:
        return False


def bank_code(number: str) -> str:
    """The 3-digit bank code (not checked against :data:`BANK_CODES`)."""
    return compact(number)[:3]


def format(number: str) -> str:
    """Presentation form ``BBB-ACCOUNT``."""
    number = compact(number)
    return f"{number[:3]}-{number[3:]}" if len(number) > 3 else number


def mask(number: str) -> str:
    """``BBB-****NNNN``: bank code and last four digits kept; fully masked if the account is short."""
    number = compact(number)
    account = number[3:]
    if len(account) < 8:
        return "*" * len(number)
    return f"{number[:3]}-" + "*" * (len(account) - 4) + account[-4:]


def valid_mask(numbers: pd.Series) -> np.ndarray:
    """Vectorized :func:`is_valid` over an already compacted Series.

    >>> valid_mask(pd.Series(['088110123456789', '999110123456789', '088123', None])).tolist()
    [True, False, False, False]
    """
    s = pd.Series(numbers, copy=False).astype("str").fillna("")
    pattern = f"[0-9]{{{3 + MIN_ACCOUNT},{3 + MAX_ACCOUNT}}}"
    ok = s.str.fullmatch(pattern).to_numpy(dtype=bool, na_value=False, copy=True)
    known = s.str.slice(0, 3).isin(list(BANK_CODES)).to_numpy(dtype=bool, na_value=False)
    return ok & known


def valid_mask_arrow(numbers: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """:func:`valid_mask` over an already compacted pyarrow string array; nulls are invalid.

    >>> valid_mask_arrow(pa.array(['088110123456789', '999110123456789', '088123', None])).tolist()
    [True, False, False, False]
    """
    pattern = f"^[0-9]{{{3 + MIN_ACCOUNT},{3 + MAX_ACCOUNT}}}$"
    ok = pc.and_(pc.match_substring_regex(numbers, pattern),
                 pc.is_in(pc.utf8_slice_codeunits(numbers, 0, 3), value_set=pa.array(list(BANK_CODES))))
    return pc.fill_null(ok, False).to_numpy(zero_copy_only=False)
