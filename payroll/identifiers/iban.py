"""IBAN (International Bank Account Number), with Iran's SHEBA (شبا) as the main case.

An IBAN is a two-letter country code, two check digits and a country-specific BBAN. The check digits
follow ISO 7064 mod 97-10: move the first four characters to the end, read letters as 10 (A) .. 35 (Z);
the resulting integer modulo 97 must be 1.

SHEBA is ``IR`` + 2 check digits + 22 digits; the first three BBAN digits are the bank code (012 Mellat,
013 Refah, 017 Melli, 054 Parsian, ...). ``stdnum.iban`` refuses IR (no registry entry), so this module
checks lengths with a small table (IR 26, DE 22, GB 22, FR 27, NL 18, TR 26; other countries 15..34)
and the checksum with ``stdnum.iso7064.mod_97_10``. Only IR's BBAN is checked for its content (digits).

Mask policy: country code, check digits and the last four characters are kept, the rest replaced by
``*`` without spaces, so the length stays visible: ``IR82******************9002``.

>>> validate('ir82 0540 1026 8002 0817 9090 02')
'IR820540102680020817909002'
>>> validate('IR820540102680020817909003')
Traceback (most recent call last):
    ...
stdnum.exceptions.InvalidChecksum: The number's checksum or check digit is invalid.
>>> calc_check_digits('IR', '0540102680020817909002')
'82'
>>> bank_code('IR820540102680020817909002')
'054'
>>> format('IR820540102680020817909002')
'IR82 0540 1026 8002 0817 9090 02'
>>> mask('IR820540102680020817909002')
'IR82******************9002'
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from stdnum.exceptions import InvalidComponent, InvalidFormat, InvalidLength, ValidationError
from stdnum.iso7064 import mod_97_10

from payroll.normalize import compact_id, compact_id_series

LENGTHS: dict[str, int] = {"IR": 26, "DE": 22, "GB": 22, "FR": 27, "NL": 18, "TR": 26}
MIN_LENGTH, MAX_LENGTH = 15, 34
_STRUCTURE: str = r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}"
_IR_RE: re.Pattern[str] = re.compile(r"IR[0-9]{24}", re.ASCII)


def compact(number: str) -> str:
    """ASCII digits, no spaces or dashes, upper case."""
    return compact_id(number).upper()


def compact_series(numbers: pd.Series) -> pd.Series:
    """Vectorized :func:`compact`; missing values stay missing."""
    return compact_id_series(numbers).str.upper()


def calc_check_digits(country: str, bban: str | None = None) -> str:
    """The two check digits for ``country`` + ``bban``; or pass one string, country code then BBAN.

    >>> calc_check_digits('IR0540102680020817909002')
    '82'
    """
    if bban is None:
        country, bban = country[:2], country[2:]
    return mod_97_10.calc_check_digits(compact(bban) + compact(country))


def _expected_length_ok(number: str) -> bool:
    expected = LENGTHS.get(number[:2])
    return len(number) == expected if expected else MIN_LENGTH <= len(number) <= MAX_LENGTH


def validate(number: str) -> str:
    """Check the IBAN and return its compact form, or raise a ``stdnum.exceptions`` error."""
    number = compact(number)
    if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]*", number, re.ASCII):
        raise InvalidFormat()
    if not _expected_length_ok(number):
        raise InvalidLength()
    if number.startswith("IR") and not _IR_RE.fullmatch(number):
        raise InvalidFormat()
    mod_97_10.validate(number[4:] + number[:4])
    return number


def is_valid(number: str) -> bool:
    """Whether the number is a valid IBAN."""
    try:
        return bool(validate(number))
    except ValidationError:
        return False


def bank_code(number: str) -> str:
    """Bank code of a SHEBA (first three BBAN digits); ``InvalidComponent`` for other countries."""
    number = compact(number)
    if not number.startswith("IR"):
        raise InvalidComponent()
    return number[4:7]


def format(number: str) -> str:
    """Groups of four characters separated by spaces."""
    number = compact(number)
    return " ".join(number[i : i + 4] for i in range(0, len(number), 4))


def mask(number: str) -> str:
    """Keep country code, check digits and last four characters (fully masked if shorter than 12)."""
    number = compact(number)
    if len(number) < 12:
        return "*" * len(number)
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


def valid_mask(numbers: pd.Series) -> np.ndarray:
    """Vectorized :func:`is_valid` over an already compacted Series; mod 97 folded over int64 columns.

    >>> valid_mask(pd.Series(['IR820540102680020817909002', 'IR820540102680020817909003', None])).tolist()
    [True, False, False]
    """
    s = pd.Series(numbers, copy=False).astype("str").fillna("")
    ok = s.str.fullmatch(_STRUCTURE).to_numpy(dtype=bool, na_value=False, copy=True)
    country = s.str.slice(0, 2)
    expected = country.map(LENGTHS).to_numpy(dtype=np.float64, na_value=np.nan)
    length = s.str.len().to_numpy(dtype=np.int64)
    ok &= np.where(np.isnan(expected), True, length == expected)
    is_ir = (country == "IR").to_numpy(dtype=bool, na_value=False, copy=True)
    ok &= ~is_ir | s.str.fullmatch(_IR_RE.pattern).to_numpy(dtype=bool, na_value=False, copy=True)
    if not ok.any():
        return ok
    fixed = s.where(ok, "XX00" + "0" * 11)
    rearranged = (fixed.str.slice(4) + fixed.str.slice(0, 4)).str.rjust(MAX_LENGTH, "0")
    c = np.frombuffer("".join(rearranged.tolist()).encode("ascii"), dtype=np.uint8).reshape(-1, MAX_LENGTH)
    c = c.astype(np.int64)
    letter = c >= ord("A")
    value = np.where(letter, c - (ord("A") - 10), c - ord("0"))
    r = np.zeros(len(s), dtype=np.int64)
    for col in range(MAX_LENGTH):  # loop over character positions, not rows
        r = np.where(letter[:, col], r * 100 + value[:, col], r * 10 + value[:, col]) % 97
    return ok & (r == 1)
