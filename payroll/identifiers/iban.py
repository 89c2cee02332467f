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
import pyarrow as pa
import pyarrow.compute as pc
from stdnum.exceptions import InvalidComponent, InvalidFormat, InvalidLength, ValidationError
from stdnum.iso7064 import mod_97_10

from payroll.normalize import compact_id, compact_id_arrow, map_non_ascii, series_via_arrow

LENGTHS: dict[str, int] = {"IR": 26, "DE": 22, "GB": 22, "FR": 27, "NL": 18, "TR": 26}
MIN_LENGTH, MAX_LENGTH = 15, 34
_STRUCTURE: str = r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}"
_IR_RE: re.Pattern[str] = re.compile(r"IR[0-9]{24}", re.ASCII)


def compact(number: str) -> str:
    """ASCII digits, no spaces or dashes, upper case."""
    return compact_id(number).upper()


def compact_series(numbers: pd.Series) -> pd.Series:
    """Vectorized :func:`compact`; missing values stay missing."""
    return series_via_arrow(numbers, compact_arrow)


def compact_arrow(numbers: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Columnar :func:`compact` over a pyarrow string array; nulls stay null. Values left with a
    non-ASCII character (never a valid IBAN) are upper-cased by Python's rules, as :func:`compact` does.

    >>> compact_arrow(pa.array(['ir82 0540 1026 8002 0817 9090 02', None])).to_pylist()
    ['IR820540102680020817909002', None]
    """
    s = pc.ascii_upper(compact_id_arrow(numbers))
    return map_non_ascii(s, lambda v: pa.array([x.upper() for x in v.to_pylist()], pa.string()))


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


def _byte_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lookup tables indexed by ASCII bytes (``?`` stands for any non-ASCII character).

    ``kind``: 1 digit, 2 upper-case letter, 0 anything else. ``step``: one ISO 7064 mod 97-10 step,
    ``step[r << 8 | byte] = (r * multiplier + value) % 97`` for a remainder ``r`` < 97, where ``value`` is
    0..9 for a digit and 10 (A) .. 35 (Z) for a letter and ``multiplier`` is 10, or 100 for a letter (it
    reads as two digits). ``expected``: expected length by country code, 0 when any of 15..34 is fine.
    """
    kind = np.zeros(256, dtype=np.uint8)
    value = np.zeros(256, dtype=np.int64)
    multiplier = np.ones(256, dtype=np.int64)
    digits = np.frombuffer(b"0123456789", dtype=np.uint8)
    letters = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)
    kind[digits], value[digits], multiplier[digits] = 1, np.arange(10), 10
    kind[letters], value[letters], multiplier[letters] = 2, np.arange(10, 36), 100
    step = (np.arange(97)[:, None] * multiplier + value) % 97
    expected = np.zeros((256, 256), dtype=np.uint8)
    for country, length in LENGTHS.items():
        expected[ord(country[0]), ord(country[1])] = length
    return kind, step.astype(np.uint16).ravel(), expected


_KIND, _STEP, _EXPECTED = _byte_tables()
_BATCH = 1 << 16  # rows encoded at a time: bounds the temporaries whatever the Series length


def _valid_rows(t: np.ndarray) -> np.ndarray:
    """:func:`is_valid` for compacted values of one length, as a transposed ``(length, rows)`` byte array."""
    length = t.shape[0]
    kind = _KIND[t]
    ok = (kind[:2] == 2).all(axis=0) & (kind[2:4] == 1).all(axis=0) & (kind[4:] != 0).all(axis=0)
    expected = _EXPECTED[t[0], t[1]]
    ok &= (expected == 0) | (expected == length)
    is_ir = (t[0] == ord("I")) & (t[1] == ord("R"))
    ok &= ~is_ir | ((kind[4:] == 1).all(axis=0) if length == 26 else False)
    if not ok.all():
        t = t[:, ok]
    r = np.zeros(t.shape[1], dtype=np.uint16)  # remainder < 97, so r << 8 | byte < 2**15
    for pos in [*range(4, length), *range(4)]:  # mod 97-10 of number[4:] + number[:4], digit by digit
        np.take(_STEP, (r << 8) | t[pos], out=r, mode="clip")
    ok[ok] = r == 1
    return ok


def valid_mask(numbers: pd.Series) -> np.ndarray:
    """Vectorized :func:`is_valid` over an already compacted Series; missing values are invalid.

    Values are grouped by length and encoded in batches to ``(length, rows)`` byte arrays; the structure,
    country length, SHEBA digits and mod 97-10 checks then run over character positions, not rows.

    >>> valid_mask(pd.Series(['IR820540102680020817909002', 'IR820540102680020817909003', None])).tolist()
    [True, False, False]
    """
    s = pd.Series(numbers, copy=False).astype("str").fillna("")
    lengths = s.str.len().to_numpy(dtype=np.int64, na_value=0)
    ok = np.zeros(len(s), dtype=bool)
    in_range = lengths[(lengths >= MIN_LENGTH) & (lengths <= MAX_LENGTH)]
    for length in (np.flatnonzero(np.bincount(in_range - MIN_LENGTH)) + MIN_LENGTH).tolist():
        rows = np.flatnonzero(lengths == length)
        for start in range(0, len(rows), _BATCH):
            batch = rows[start : start + _BATCH]
            text = "".join(s.iloc[batch].tolist()).encode("ascii", "replace")  # one byte per character
            ok[batch] = _valid_rows(np.frombuffer(text, dtype=np.uint8).reshape(-1, length).T.copy())
    return ok


def valid_mask_arrow(numbers: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """:func:`valid_mask` over an already compacted pyarrow string array, read straight from its value
    buffer (values of one length side by side); nulls are invalid.

    >>> valid_mask_arrow(pa.array(['IR820540102680020817909002', 'IR820540102680020817909003', None])).tolist()
    [True, False, False]
    """
    arr = numbers.combine_chunks() if isinstance(numbers, pa.ChunkedArray) else numbers
    arr = arr.cast(pa.string())
    ok = np.zeros(len(arr), dtype=bool)
    ascii_ = pc.fill_null(pc.string_is_ascii(arr), False).to_numpy(zero_copy_only=False)
    lengths = pc.fill_null(pc.binary_length(arr), 0).to_numpy(zero_copy_only=False)
    candidates = ascii_ & (lengths >= MIN_LENGTH) & (lengths <= MAX_LENGTH)
    for length in np.unique(lengths[candidates]).tolist():
        rows = np.flatnonzero(candidates & (lengths == length))
        for start in range(0, len(rows), _BATCH):
            batch = rows[start : start + _BATCH]
            part = arr.take(pa.array(batch))  # fresh array: its values start at byte 0
            data = np.frombuffer(part.buffers()[2], dtype=np.uint8)[: len(batch) * length]
            ok[batch] = _valid_rows(data.reshape(-1, length).T.copy())
    return ok
