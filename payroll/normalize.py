"""Text normalization applied before any validation.

Identifiers arrive typed on Persian or Korean keyboards, pasted from PDFs and spreadsheets: with
Persian (U+06F0..) or Arabic-Indic (U+0660..) digits, non-breaking spaces, zero-width non-joiners and
typographic dashes. Names arrive with Arabic rather than Persian yeh/kaf, presentation forms, tatweel and
diacritics. Everything here maps such text to one canonical form; validation then uses ASCII-only
patterns (never ``\\d`` without ``re.ASCII``: it matches Persian digits).

Each scalar function has a columnar twin over a pyarrow string array (``*_arrow``, pyarrow compute) and
a pandas one (``*_series``) that runs the Arrow twin on the Series' Arrow buffer; missing values stay
missing. The scalar and columnar forms use the same tables and the same regular expressions, so they
agree (tests/unit/test_reference_extracts.py compares them on random text).

Policy beyond the domain rules: fullwidth digits U+FF10..U+FF19 (Korean IMEs) are mapped to ASCII too,
and invisible formatting characters (bidi marks such as LRM/RLM, soft hyphen) are deleted.

>>> to_ascii_digits('۰۰۱۳۵۴۲۴۱۹')
'0013542419'
>>> compact_id(' ۰۱۳-۵۴۲\u200c۴۱۹ ')
'013542419'
>>> normalize_name('علي  كريمي')
'علی کریمی'
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "DIGITS_TABLE",
    "to_ascii_digits",
    "compact_id",
    "normalize_name",
    "series_via_arrow",
    "to_ascii_digits_series",
    "compact_id_series",
    "normalize_name_series",
    "strip_arrow",
    "to_ascii_digits_arrow",
    "compact_id_arrow",
    "normalize_name_arrow",
]

_DIGIT_BLOCKS: tuple[int, ...] = (0x06F0, 0x0660, 0xFF10)  # Persian, Arabic-Indic, fullwidth
DIGITS_TABLE: dict[int, str] = {start + i: str(i) for start in _DIGIT_BLOCKS for i in range(10)}

# Every character for which str.isspace() is true, listed literally so that Python's re and the
# pyarrow (RE2) engine behind pandas' str dtype read the same class.
_WHITESPACE: str = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    + "".join(chr(c) for c in range(0x2000, 0x200B))
    + "\u2028\u2029\u202f\u205f\u3000"
)
_ZERO_WIDTH: str = "\u200b\u200c\u200d\u2060\ufeff"
_INVISIBLE: str = "\u00ad\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_DASHES: str = "-" + "".join(chr(c) for c in range(0x2010, 0x2016)) + "\u2212\ufe58\ufe63\uff0d"
_ID_SEPARATORS: str = ".\uff0e/\uff0f"



def _char_class(chars: str) -> str:
    """A regex character class of literal chars, escaping only what is special inside a class."""
    return "[" + "".join("\\" + c if c in "\\]^-[" else c for c in chars) + "]+"


_ID_NOISE_RE: re.Pattern[str] = re.compile(
    _char_class(_WHITESPACE + _ZERO_WIDTH + _INVISIBLE + _DASHES + _ID_SEPARATORS)
)
_SPACES_RE: re.Pattern[str] = re.compile(_char_class(_WHITESPACE))

_NAME_TABLE: dict[int, str | None] = {
    0x064A: "\u06cc",  # Arabic yeh -> Persian yeh
    0x0649: "\u06cc",  # alef maksura -> Persian yeh
    0x0643: "\u06a9",  # Arabic kaf -> keheh
    0x0640: None,  # tatweel
    0x0670: None,  # superscript alef
    **{c: None for c in range(0x064B, 0x0653)},  # harakat
    **{ord(c): " " for c in _ZERO_WIDTH},
    **{ord(c): None for c in _INVISIBLE},
}


def to_ascii_digits(s: str) -> str:
    """Map Persian, Arabic-Indic (and fullwidth) digits to ASCII 0-9.

    >>> to_ascii_digits('١٢٣-۴۵۶ abc')
    '123-456 abc'
    """
    return s.translate(DIGITS_TABLE)


def compact_id(s: str) -> str:
    """ASCII digits, then drop whitespace, zero-width characters, dashes, dots and slashes.

    No padding is done here (that is identifier specific).

    >>> compact_id('001-354 2419')
    '0013542419'
    >>> compact_id('IR82 0540\u00a01026.8002/0817\u20139090\u200b02')
    'IR820540102680020817909002'
    """
    return _ID_NOISE_RE.sub("", to_ascii_digits(s))


def normalize_name(s: str) -> str:
    """Canonical form of a person's name (Persian, Latin or Hangul).

    NFKC; Arabic yeh/alef maksura to Persian yeh, Arabic kaf to keheh (teh marbuta kept); tatweel and
    diacritics removed; zero-width characters to a space; runs of whitespace folded; stripped. Case is kept.

    >>> normalize_name('محمد\u200cرضا') == 'محمد رضا'
    True
    >>> normalize_name('\ufee3\ufea4\ufee4\ufeaa')
    'محمد'
    >>> normalize_name('  Kim   Min-Su ')
    'Kim Min-Su'
    """
    s = unicodedata.normalize("NFKC", s).translate(_NAME_TABLE)
    return _SPACES_RE.sub(" ", s).strip(" ")


def series_via_arrow(s: pd.Series, fn: Callable[[pa.Array], pa.Array]) -> pd.Series:
    """A Series of strings through one of the columnar functions below: the Series' Arrow buffer in
    (no copy for pandas' ``str`` dtype), the result back under the same index. Missing values stay
    missing; the result is of the ``str`` dtype, or object when the input was object."""
    values = pa.array(s.astype("str") if s.dtype == object else s, from_pandas=True)
    out = pd.Series(fn(values), index=s.index, dtype="str")
    return out.astype(object) if s.dtype == object else out


def to_ascii_digits_series(s: pd.Series) -> pd.Series:
    """Vectorized :func:`to_ascii_digits`; missing values stay missing.

    >>> to_ascii_digits_series(pd.Series(['۱۲', None])).tolist()
    ['12', nan]
    """
    return series_via_arrow(s, to_ascii_digits_arrow)


def compact_id_series(s: pd.Series) -> pd.Series:
    """Vectorized :func:`compact_id`; missing values stay missing.

    >>> compact_id_series(pd.Series(['۰۰۱-۳۵۴ ۲۴۱۹', None])).tolist()
    ['0013542419', nan]
    """
    return series_via_arrow(s, compact_id_arrow)


def normalize_name_series(s: pd.Series) -> pd.Series:
    """Vectorized :func:`normalize_name`; missing values stay missing.

    >>> normalize_name_series(pd.Series(['علي ', None])).tolist()
    ['علی', nan]
    """
    return series_via_arrow(s, normalize_name_arrow)


# --- pyarrow twins ----------------------------------------------------------------------------------
# Columnar forms of the functions above over a pyarrow string array (reference extracts of millions of
# rows are normalized once, at load, in Arrow). Same tables and patterns as the scalar functions; the
# Unicode-specific steps run only on the rows holding a non-ASCII character, since every character
# they change is outside ASCII. Nulls stay null.

def _as_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks else pa.array([], pa.string())
    if not pa.types.is_string(values.type):
        values = values.cast(pa.string())
    return values


def non_ascii_mask(values: pa.Array) -> pa.Array:
    """True where a value holds a character outside ASCII (False for nulls)."""
    return pc.fill_null(pc.invert(pc.string_is_ascii(values)), False)


def map_non_ascii(values: pa.Array | pa.ChunkedArray, fn: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """`fn` applied to the values holding a non-ASCII character only; the others are kept as they are."""
    values = _as_array(values)
    foreign = non_ascii_mask(values)
    if not pc.any(foreign).as_py():
        return values
    return pc.replace_with_mask(values, foreign, _as_array(fn(values.filter(foreign))))


def _translate_digits(values: pa.Array) -> pa.Array:
    for code, digit in DIGITS_TABLE.items():
        values = pc.replace_substring(values, chr(code), digit)
    return values


def strip_arrow(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Columnar ``str.strip()``: every character for which ``str.isspace()`` is true, both ends."""
    return pc.utf8_trim(_as_array(values), characters=_WHITESPACE)


def to_ascii_digits_arrow(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Columnar :func:`to_ascii_digits`.

    >>> to_ascii_digits_arrow(pa.array(['۱۲-٣', None, '45'])).to_pylist()
    ['12-3', None, '45']
    """
    return map_non_ascii(values, _translate_digits)


def compact_id_arrow(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Columnar :func:`compact_id`.

    >>> compact_id_arrow(pa.array(['۰۰۱-۳۵۴ ۲۴۱۹', None])).to_pylist()
    ['0013542419', None]
    """
    values = to_ascii_digits_arrow(values)
    noisy = pc.fill_null(pc.invert(pc.ascii_is_alnum(values)), False)  # most ids hold no separator at all
    if not pc.any(noisy).as_py():
        return values
    return pc.replace_with_mask(values, noisy,
                                pc.replace_substring_regex(values.filter(noisy), _ID_NOISE_RE.pattern, ""))


_NAME_BY_TARGET: dict[str, str] = {}
for _code, _target in _NAME_TABLE.items():
    _NAME_BY_TARGET[_target or ""] = _NAME_BY_TARGET.get(_target or "", "") + chr(_code)
# a value that holds none of these is unchanged by the name table and by folding whitespace
_NAME_WORK_RE: str = (_char_class("".join(chr(c) for c in _NAME_TABLE) + _WHITESPACE.replace(" ", ""))[:-1]
                      + "|  ")


def _name_table_and_spaces(values: pa.Array) -> pa.Array:
    for target, chars in _NAME_BY_TARGET.items():  # no target is itself a source: one pass each is the same map
        values = pc.replace_substring_regex(values, _char_class(chars)[:-1], target)
    return pc.replace_substring_regex(values, _SPACES_RE.pattern, " ")


def normalize_name_arrow(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Columnar :func:`normalize_name`.

    >>> normalize_name_arrow(pa.array(['علي  كريمي ', None, ' Kim\\tMin-Su'])).to_pylist()
    ['علی کریمی', None, 'Kim Min-Su']
    """
    out = map_non_ascii(values, lambda v: pc.utf8_normalize(v, "NFKC"))  # NFKC keeps ASCII as it is
    work = pc.fill_null(pc.match_substring_regex(out, _NAME_WORK_RE), False)
    if pc.any(work).as_py():
        out = pc.replace_with_mask(out, work, _name_table_and_spaces(out.filter(work)))
    return pc.utf8_trim(out, characters=" ")
