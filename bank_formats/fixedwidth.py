"""Fixed-width bank files from declarative layouts: a streaming writer and a checking reader.

A layout is data, a TOML file (``bank_formats/layouts/<name>.toml`` or any path), so a bank's own
format is added as a file, not code. It declares the record length, the byte encoding, the line ending,
optional blocking, and record types in file order: header records (written once, before the details),
exactly one detail record (one per transaction) and trailer records (once, after). Each record lists its
fields in order; they must tile the record exactly (no gap, no overlap) and the record length is
declared, so a transcription slip is caught when the layout is loaded, not at the bank.

Field types, measured in bytes of the layout's encoding (a Hangul syllable is two bytes in CP949):

* ``N`` numeric: ASCII digits, right-justified, zero-padded. A negative value, a non-digit or a number
  longer than the field is refused; numbers are never cut.
* ``A`` alphanumeric: left-justified and space-padded (``align = "right"`` for the rare field like the
  NACHA immediate destination), optionally upper-cased. Text longer than the field is refused unless the
  field says ``truncate = true``; then it is cut on a character boundary (never half a CP949 or UTF-8
  character, never a letter without its combining marks). A character the encoding cannot carry, or a
  control character, is refused: nothing is ever silently replaced.

Value sources (``value = <constant>`` or ``source = "..."``):

* ``batch.<attr>``, ``debtor.<attr>``: attributes of :class:`PaymentBatch` / :class:`Debtor`; the dates
  ``batch.created_at`` and ``batch.requested_execution_date`` need ``format`` (strftime, restricted to
  the locale-independent ``%Y %y %m %d %H %M %S %j``).
* ``tx.<attr>``: attributes of :class:`CreditTransfer` (detail record only).
* ``param.<name>``: per-bank parameters given by the caller (company id, immediate origin...);
  ``default`` makes one optional. Unknown parameters are refused, so is a missing one.
* ``seq``: the running detail sequence number, 1, 2, ... (detail record only).
* ``agg.count`` (detail records), ``agg.sum`` (sum of ``tx.amount_minor``), ``agg.hash`` (with
  ``of = "<detail field>"``: the sum of that numeric detail field, kept to this field's rightmost digits:
  the NACHA entry hash), ``agg.records`` (records in the file, fillers excluded) and ``agg.blocks``
  (blocks of ``blocking.factor`` records, fillers included). Trailers get the streamed figures; headers
  (which precede the details) get the batch's declared count and sum, and the writer refuses the file
  when the streamed count or sum differ from the declared ones. ``agg.hash`` cannot be used in a header.

Optional per field: ``slice = [start, stop]`` (Python slice of the source text, e.g. the first 8 digits
of a routing number), ``pattern`` (a regular expression the source text must match in full, before
slicing), ``check = "aba" | "iban"`` (check digits), ``required = false`` (blank/None allowed; default
true for sources, so a missing name or account is refused), ``end`` (redundant last position, checked),
``description`` (free text).

The writer streams: aggregates are running sums and records go to disk in 64 KiB chunks through
:func:`bank_formats.model.atomic_output`, so a refused file leaves nothing behind (no target, no
temporary file). The one per-transaction state is the set of end-to-end ids seen, to refuse duplicates
(like the pain.001 writer: measured at about 95 bytes per transaction, 93 MiB for a million 10-character
ids); everything else is constant. Money is integer minor units; no float.
Every refusal is a ValueError naming the transaction's end_to_end_id (when one is involved), the record
and the field.
"""

from __future__ import annotations

import codecs
import dataclasses
import functools
import importlib.resources
import math
import operator
import os
import pathlib
import re
import tomllib
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from bank_formats.model import (
    CreditTransfer,
    Debtor,
    PaymentBatch,
    WriteResult,
    atomic_output,
    check_declared,
    checked_transfers,
)
from payroll.money import exponent, format_major

__all__ = [
    "FieldSpec",
    "FixedWidthLayout",
    "LayoutError",
    "ParsedFixedWidth",
    "RecordSpec",
    "Source",
    "file_format",
    "load_layout",
    "read_fixed_width",
    "write_fixed_width",
]

Value = str | int

_BATCH_ATTRS = frozenset(f.name for f in dataclasses.fields(PaymentBatch)) - {"debtor"}
_DEBTOR_ATTRS = frozenset(f.name for f in dataclasses.fields(Debtor))
_TX_ATTRS = frozenset(f.name for f in dataclasses.fields(CreditTransfer))
_DATE_ATTRS = frozenset({"created_at", "requested_execution_date"})
_AGGREGATES = frozenset({"count", "sum", "hash", "records", "blocks"})
_NAME = re.compile(r"[a-z][a-z0-9_]*", re.ASCII)
_LAYOUT_NAME = re.compile(r"[a-z0-9][a-z0-9_]*", re.ASCII)
_DIGITS = re.compile(r"[0-9]+", re.ASCII)
_DIGITS_B = re.compile(rb"[0-9]+")
_SAFE_DATE_FORMAT = re.compile(r"(?:[^%]|%[YymdHMSj%])+")
# C0 and C1 controls, DEL and the Unicode line/paragraph separators: none belongs inside a field.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_JOINERS = "\u200c\u200d"
_LINE_ENDINGS = {"\n", "\r\n", "\r", ""}
_FLUSH_BYTES = 1 << 16
_LETTER_DIGITS = {ord(c): str(i) for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZ", 10)}


class LayoutError(ValueError):
    """A layout that cannot be used; the message names the file, the record and the field."""


class _Refusal(Exception):
    """A value a field cannot carry; the caller adds which transaction, record and field."""


# ------------------------------------------------------------------------------------------ sources


@dataclass(frozen=True, slots=True)
class Source:
    """Where a field's value comes from (see the module docstring)."""

    kind: Literal["const", "batch", "debtor", "tx", "param", "seq", "agg"]
    name: str = ""  # attribute, parameter or aggregate name
    value: Value | None = None  # the constant, for kind "const"
    date_format: str | None = None  # strftime, for batch.created_at / batch.requested_execution_date
    default: Value | None = None  # for kind "param"
    of: str | None = None  # for agg.hash: the detail field summed

    def __str__(self) -> str:
        if self.kind == "const":
            return f"value {self.value!r}"
        return self.kind if self.kind == "seq" else f"{self.kind}.{self.name}"


_SOURCE_KEYS = frozenset({"value", "source", "format", "default", "of"})


def parse_source(spec: Mapping[str, Any], where: str, allowed: frozenset[str]) -> Source:
    """Read the value source of a field/column spec; ``allowed`` is the kinds usable there.

    ``allowed`` holds kinds ("const", "batch", ...) and, for aggregates, "agg.<name>".
    """
    if ("value" in spec) == ("source" in spec):
        raise LayoutError(f"{where}: give exactly one of 'value' (a constant) or 'source'")
    if "value" in spec:
        value = spec["value"]
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise LayoutError(f"{where}: value must be a string or an integer, got {value!r}")
        for key in ("format", "default", "of", "slice"):
            if key in spec:
                raise LayoutError(f"{where}: {key!r} applies to a 'source', not to a constant value")
        return Source("const", value=value)
    text = spec["source"]
    if not isinstance(text, str):
        raise LayoutError(f"{where}: source must be a string, got {text!r}")
    head, _, rest = text.partition(".")
    kind: Literal["batch", "debtor", "tx", "param", "seq", "agg"]
    if text == "seq":
        kind, rest = "seq", ""
    elif head == "batch" and rest in _BATCH_ATTRS:
        kind = "batch"
    elif head == "debtor" and rest in _DEBTOR_ATTRS:
        kind = "debtor"
    elif head == "tx" and rest in _TX_ATTRS:
        kind = "tx"
    elif head == "param" and _NAME.fullmatch(rest):
        kind = "param"
    elif head == "agg" and rest in _AGGREGATES:
        kind = "agg"
    else:
        raise LayoutError(
            f"{where}: unknown source {text!r}; known: batch.<{'|'.join(sorted(_BATCH_ATTRS))}>, "
            f"debtor.<{'|'.join(sorted(_DEBTOR_ATTRS))}>, tx.<{'|'.join(sorted(_TX_ATTRS))}>, "
            f"param.<name>, seq, agg.<{'|'.join(sorted(_AGGREGATES))}>"
        )
    if (f"agg.{rest}" if kind == "agg" else kind) not in allowed:
        raise LayoutError(f"{where}: source {text!r} cannot be used here")
    date_format = spec.get("format")
    if kind == "batch" and rest in _DATE_ATTRS:
        if not isinstance(date_format, str) or not _SAFE_DATE_FORMAT.fullmatch(date_format):
            raise LayoutError(
                f"{where}: {text} needs format = a strftime pattern using only %Y %y %m %d %H %M %S %j "
                f"(locale-independent), got {date_format!r}"
            )
    elif date_format is not None:
        raise LayoutError(f"{where}: 'format' applies to batch.created_at / batch.requested_execution_date only")
    default = spec.get("default")
    if default is not None:
        if kind != "param":
            raise LayoutError(f"{where}: 'default' applies to param.<name> sources only")
        if isinstance(default, bool) or not isinstance(default, str | int):
            raise LayoutError(f"{where}: default must be a string or an integer, got {default!r}")
    of = spec.get("of")
    if kind == "agg" and rest == "hash":
        if not isinstance(of, str) or not of:
            raise LayoutError(f"{where}: agg.hash needs of = \"<numeric detail field to sum>\"")
    elif of is not None:
        raise LayoutError(f"{where}: 'of' applies to agg.hash only")
    return Source(kind, rest, date_format=date_format, default=default, of=of)


_ABA = re.compile(r"[0-9]{9}", re.ASCII)
_ABA_WEIGHTS = (3, 7, 1) * 3
_IBAN = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{1,30}", re.ASCII)


def _aba_problem(text: str) -> str | None:
    if not _ABA.fullmatch(text):
        return f"{text!r} is not a 9-digit ABA routing number"
    if sum(map(operator.mul, _ABA_WEIGHTS, map(int, text))) % 10:
        return f"{text!r} fails the ABA routing number check digit"
    return None


def _iban_problem(text: str) -> str | None:
    if not _IBAN.fullmatch(text):
        return f"{text!r} is not a compact upper-case IBAN/SHEBA"
    if int((text[4:] + text[:4]).translate(_LETTER_DIGITS)) % 97 != 1:
        return f"{text!r} fails the IBAN mod 97-10 check"
    return None


_PROBLEMS: dict[str, Callable[[str], str | None]] = {"aba": _aba_problem, "iban": _iban_problem}
CHECKS = frozenset(_PROBLEMS)


@functools.lru_cache(maxsize=1 << 16)  # routing numbers repeat: a few thousand banks
def _check_problem(check: str, text: str) -> str | None:
    return _PROBLEMS[check](text)


def parse_slice(spec: Mapping[str, Any], where: str) -> slice | None:
    raw = spec.get("slice")
    if raw is None:
        return None
    if (
        not isinstance(raw, list)
        or not 1 <= len(raw) <= 2
        or any(isinstance(i, bool) or not isinstance(i, int) for i in raw)
    ):
        raise LayoutError(f"{where}: slice must be [start] or [start, stop] (Python slice of the text), got {raw!r}")
    return slice(raw[0], raw[1] if len(raw) == 2 else None)


def parse_pattern(spec: Mapping[str, Any], where: str) -> re.Pattern[str] | None:
    raw = spec.get("pattern")
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise LayoutError(f"{where}: pattern must be a string")
    try:
        return re.compile(raw)
    except re.error as exc:
        raise LayoutError(f"{where}: pattern {raw!r} is not a regular expression: {exc}") from None


def parse_check(spec: Mapping[str, Any], where: str) -> str | None:
    raw = spec.get("check")
    if raw is not None and raw not in CHECKS:
        raise LayoutError(f"{where}: check must be one of {sorted(CHECKS)}, got {raw!r}")
    return raw


def bool_key(spec: Mapping[str, Any], key: str, default: bool, where: str) -> bool:
    raw = spec.get(key, default)
    if not isinstance(raw, bool):
        raise LayoutError(f"{where}: {key} must be true or false, got {raw!r}")
    return raw


def check_encoding(encoding: object, where: str) -> str:
    """The codec name, refused unless it writes ASCII digits, letters, space and punctuation as ASCII."""
    if not isinstance(encoding, str):
        raise LayoutError(f"{where}: encoding must be a string")
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise LayoutError(f"{where}: unknown encoding {encoding!r}") from None
    probe = "0123456789 AZaz,;|\"'\r\n\t-."
    if name != "utf-8-sig":  # utf-8-sig only adds a BOM at the start; csvbatch handles it
        try:
            ok = probe.encode(name) == probe.encode("ascii")
        except UnicodeError:
            ok = False
        if not ok:
            raise LayoutError(f"{where}: encoding {encoding!r} does not write ASCII characters as ASCII bytes")
    return name


def read_layout_table(name_or_path: str | os.PathLike[str]) -> tuple[dict[str, Any], str]:
    """Read a layout's TOML: a bare name is ``bank_formats/layouts/<name>.toml``, anything else a path."""
    text_name = os.fspath(name_or_path)
    if isinstance(name_or_path, os.PathLike) or "/" in text_name or "\\" in text_name or text_name.endswith(".toml"):
        path = pathlib.Path(name_or_path)
        origin = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise LayoutError(f"{origin}: cannot read the layout: {exc}") from None
    else:
        if not _LAYOUT_NAME.fullmatch(text_name):
            raise LayoutError(f"{text_name!r} is neither a layout name ([a-z0-9_]) nor a path to a .toml file")
        folder = importlib.resources.files("bank_formats").joinpath("layouts")
        resource = folder.joinpath(f"{text_name}.toml")
        origin = f"layout {text_name!r}"
        if not resource.is_file():
            known = sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))
            raise LayoutError(f"no layout named {text_name!r} in bank_formats/layouts (known: {', '.join(known)})")
        text = resource.read_text(encoding="utf-8")
    try:
        return tomllib.loads(text), origin
    except tomllib.TOMLDecodeError as exc:
        raise LayoutError(f"{origin}: not valid TOML: {exc}") from None


def unknown_keys(spec: Mapping[str, Any], known: frozenset[str], where: str) -> None:
    extra = sorted(set(spec) - known)
    if extra:
        raise LayoutError(f"{where}: unknown key(s) {', '.join(extra)}; known: {', '.join(sorted(known))}")


def merge_param(params: dict[str, Value | None], source: Source, where: str) -> None:
    """Record a param.<name> use; two different defaults for one parameter are refused."""
    previous = params.get(source.name)
    if previous is not None and source.default is not None and previous != source.default:
        raise LayoutError(f"{where}: param.{source.name} has two defaults, {previous!r} and {source.default!r}")
    params[source.name] = source.default if source.default is not None else previous


def check_batch(batch: object, currency: str | None) -> PaymentBatch:
    if not isinstance(batch, PaymentBatch):
        raise ValueError(f"expected a PaymentBatch, got {type(batch).__name__}")
    if currency is not None and batch.currency != currency:
        raise ValueError(f"batch currency is {batch.currency!r} but the layout writes {currency} amounts")
    exponent(batch.currency)  # unknown currency -> AmountError (a ValueError)
    if not isinstance(batch.created_at, datetime) or batch.created_at.utcoffset() is None:
        raise ValueError(f"batch.created_at must be a timezone-aware datetime, got {batch.created_at!r}")
    d = batch.requested_execution_date
    if isinstance(d, datetime) or not isinstance(d, date):
        raise ValueError(f"batch.requested_execution_date must be a date, got {d!r}")
    n = batch.number_of_transactions
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"batch.number_of_transactions must be an int >= 1, got {n!r}")
    s = batch.control_sum_minor
    if isinstance(s, bool) or not isinstance(s, int) or s < 0:
        raise ValueError(f"batch.control_sum_minor must be an int >= 0 of minor units, got {s!r}")
    return batch


def resolve_params(
    declared: Mapping[str, Value | None], given: Mapping[str, Value] | None, layout_name: str
) -> dict[str, Value]:
    given = dict(given or {})
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {', '.join(unknown)} for layout {layout_name!r}; "
            f"it takes {', '.join(sorted(declared)) or 'none'}"
        )
    values: dict[str, Value] = {}
    missing = []
    for name, default in declared.items():
        if name in given:
            value = given[name]
            if isinstance(value, bool) or not isinstance(value, str | int):
                raise ValueError(f"parameter {name!r} must be a str or int, got {type(value).__name__}")
            values[name] = value
        elif default is not None:
            values[name] = default
        else:
            missing.append(name)
    if missing:
        raise ValueError(f"layout {layout_name!r} needs parameter(s) {', '.join(sorted(missing))}")
    return values


def static_value(source: Source, batch: PaymentBatch, params: Mapping[str, Value]) -> object:
    """The value of a const/batch/debtor/param source (the same for every transaction)."""
    value: object
    if source.kind == "const":
        return source.value
    if source.kind == "batch":
        value = getattr(batch, source.name)
    elif source.kind == "debtor":
        value = getattr(batch.debtor, source.name)
    elif source.kind == "param":
        return params[source.name]
    else:
        raise AssertionError(f"{source} is not static")
    if source.date_format is not None:
        assert isinstance(value, date)
        return value.strftime(source.date_format)
    return value


def prepare_text(
    value: object, pattern: re.Pattern[str] | None, check: str | None, cut: slice | None
) -> Value | None:
    """Type check, then pattern and check digits on the source text, then the slice."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _Refusal(f"must be a str or int, got {type(value).__name__}")
    if pattern is None and check is None and cut is None:
        return value
    text = value if isinstance(value, str) else str(value)
    if pattern is not None and not pattern.fullmatch(text):
        raise _Refusal(f"{text!r} does not match the pattern {pattern.pattern!r}")
    if check is not None:
        problem = _check_problem(check, text)
        if problem is not None:
            raise _Refusal(problem)
    return text[cut] if cut is not None else text


def cut_text(text: str, limit: int, encoding: str | None) -> str:
    """The longest prefix of ``text`` that encodes to at most ``limit`` bytes (``encoding`` None: at most
    ``limit`` characters), cut between characters.

    A cut that would separate a letter from its combining marks (or a ZWNJ/ZWJ) drops the whole cluster;
    trailing spaces are removed.
    """
    size = 0
    cut = len(text)
    for i, ch in enumerate(text):
        size += 1 if encoding is None else len(ch.encode(encoding))
        if size > limit:
            cut = i
            break
    while 0 < cut < len(text) and (unicodedata.category(text[cut]).startswith("M") or text[cut] in _JOINERS):
        cut -= 1
    return text[:cut].rstrip().rstrip(_JOINERS).rstrip()


def unencodable(text: str, encoding: str, exc: UnicodeEncodeError) -> _Refusal:
    ch = text[exc.start]
    return _Refusal(
        f"character {ch!r} (U+{ord(ch):04X}, {unicodedata.name(ch, 'unnamed')}) in {text!r} cannot be "
        f"written in {encoding}"
    )


# ------------------------------------------------------------------------------------------- layout


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    start: int  # 1-based byte position
    length: int  # bytes
    type: Literal["N", "A"]
    source: Source
    align: Literal["left", "right"] = "left"
    upper: bool = False
    truncate: bool = False
    required: bool = True
    pattern: re.Pattern[str] | None = None
    check: str | None = None
    slice: slice | None = None
    const_bytes: bytes | None = None  # a constant, rendered when the layout is loaded

    @property
    def end(self) -> int:
        return self.start + self.length - 1

    def render(self, value: object, encoding: str) -> bytes:
        """The field's bytes for ``value``; raises _Refusal with the reason."""
        prepared = prepare_text(value, self.pattern, self.check, self.slice)
        if prepared is None:
            if self.required:
                raise _Refusal("is missing (None)")
            return (b"0" if self.type == "N" else b" ") * self.length
        if self.type == "N":
            if isinstance(prepared, int):
                if prepared < 0:
                    raise _Refusal(f"is negative ({prepared}); a numeric field holds digits only")
                digits = str(prepared)
            elif _DIGITS.fullmatch(prepared):
                digits = prepared
            elif not prepared.strip() and not self.required:
                return b"0" * self.length
            else:
                raise _Refusal(f"{prepared!r} is not all digits (a numeric field holds 0-9 only)")
            if len(digits) > self.length:
                raise _Refusal(
                    f"{digits} has {len(digits)} digits but the field holds {self.length}; numbers are never cut"
                )
            return digits.rjust(self.length, "0").encode("ascii")
        text = prepared if isinstance(prepared, str) else str(prepared)
        if self.required and not text.strip():
            raise _Refusal("is empty")
        bad = _CONTROL.search(text)
        if bad:
            raise _Refusal(f"contains the control character U+{ord(bad.group()):04X}: {text!r}")
        if self.upper:
            text = text.upper()
        try:
            data = text.encode(encoding)
        except UnicodeEncodeError as exc:
            raise unencodable(text, encoding, exc) from None
        if len(data) > self.length:
            if not self.truncate:
                raise _Refusal(
                    f"{text!r} is {len(data)} bytes in {encoding} but the field holds {self.length} "
                    f"and the layout does not allow cutting it (truncate = false)"
                )
            data = cut_text(text, self.length, encoding).encode(encoding)
        pad = b" " * (self.length - len(data))
        return data + pad if self.align == "left" else pad + data

    def renderer(self, encoding: str) -> Callable[[object], bytes]:
        """``render`` for one file: a fast path for the common values, the full checks otherwise.

        The fast path gives the same bytes as :meth:`render`; anything unusual (None, a value to refuse,
        text to cut, a pattern, check or slice) goes through :meth:`render`.
        """
        render = self.render
        length = self.length
        if self.pattern is not None or self.check is not None or self.slice is not None:
            if self.check is None or self.type != "N" or self.slice is None:
                return lambda value: render(value, encoding)
            # A numeric slice of a checked text (the NACHA routing number): check once per distinct text
            # (bounded cache; the same text always gives the same bytes or the same refusal).
            @functools.lru_cache(maxsize=1 << 16)
            def cached(text: str) -> bytes:
                return render(text, encoding)

            def checked_slice(value: object) -> bytes:
                return cached(value) if type(value) is str else render(value, encoding)

            return checked_slice
        if self.type == "N":
            limit = 10**length
            template = b"%0" + str(length).encode() + b"d"

            def numeric(value: object) -> bytes:
                if type(value) is int and 0 <= value < limit:
                    return template % value
                return render(value, encoding)

            return numeric
        pads = [b" " * (length - n) for n in range(length + 1)]
        left, upper, required, control = self.align == "left", self.upper, self.required, _CONTROL

        def text(value: object) -> bytes:
            if type(value) is str and (value.strip() or not required) and not control.search(value):
                try:
                    data = (value.upper() if upper else value).encode(encoding)
                except UnicodeEncodeError:
                    return render(value, encoding)
                n = len(data)
                if n <= length:
                    return data + pads[n] if left else pads[n] + data
            return render(value, encoding)

        return text

    def parse(self, raw: bytes, encoding: str) -> Value:
        if self.const_bytes is not None and raw != self.const_bytes:
            raise _Refusal(f"is {raw.decode(encoding, 'replace')!r}, expected {self.const_bytes.decode(encoding)!r}")
        if self.type == "N":
            if not _DIGITS_B.fullmatch(raw):
                raise _Refusal(f"{raw.decode(encoding, 'replace')!r} is not all digits")
            return int(raw)
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as exc:
            raise _Refusal(f"bytes {raw!r} are not valid {encoding}: {exc.reason}") from None
        return text.rstrip(" ") if self.align == "left" else text.lstrip(" ")


@dataclass(frozen=True, slots=True)
class RecordSpec:
    name: str
    role: Literal["header", "detail", "trailer"]
    fields: tuple[FieldSpec, ...]

    def field(self, name: str) -> FieldSpec:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)


@dataclass(frozen=True, slots=True)
class FixedWidthLayout:
    name: str
    origin: str  # the file it was loaded from, for messages
    description: str
    record_length: int  # bytes, line ending excluded
    encoding: str
    line_ending: str
    final_line_ending: bool  # whether the last record is followed by a line ending too
    currency: str | None  # the batch currency the layout's amounts are in, when it is fixed
    blocking_factor: int | None
    filler_record: bytes | None
    records: tuple[RecordSpec, ...]
    params: Mapping[str, Value | None]  # parameter -> default (None: the caller must give it)

    @property
    def headers(self) -> tuple[RecordSpec, ...]:
        return tuple(r for r in self.records if r.role == "header")

    @property
    def detail(self) -> RecordSpec:
        return next(r for r in self.records if r.role == "detail")

    @property
    def trailers(self) -> tuple[RecordSpec, ...]:
        return tuple(r for r in self.records if r.role == "trailer")

    def record(self, name: str) -> RecordSpec:
        for r in self.records:
            if r.name == name:
                return r
        raise KeyError(name)


_TOP_KEYS = frozenset(
    {"kind", "name", "description", "record_length", "encoding", "line_ending", "final_line_ending", "currency",
     "blocking", "records"}
)
_RECORD_KEYS = frozenset({"name", "role", "description", "fields"})
_FIELD_KEYS = _SOURCE_KEYS | frozenset(
    {"name", "start", "end", "length", "type", "slice", "upper", "truncate", "align", "required", "pattern",
     "check", "description"}
)
_ALLOWED = {
    "header": frozenset({"const", "batch", "debtor", "param", "agg.count", "agg.sum", "agg.records", "agg.blocks"}),
    "detail": frozenset({"const", "batch", "debtor", "param", "tx", "seq"}),
    "trailer": frozenset(
        {"const", "batch", "debtor", "param", "agg.count", "agg.sum", "agg.hash", "agg.records", "agg.blocks"}
    ),
}


def _positive_int(spec: Mapping[str, Any], key: str, where: str) -> int:
    value = spec.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise LayoutError(f"{where}: {key} must be an integer >= 1, got {value!r}")
    return value


def _load_field(spec: object, where: str, role: str, encoding: str) -> FieldSpec:
    if not isinstance(spec, dict):
        raise LayoutError(f"{where}: a field must be a table, got {spec!r}")
    name = spec.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise LayoutError(f"{where}: field name must match [a-z][a-z0-9_]*, got {name!r}")
    where = f"{where}, field {name!r}"
    unknown_keys(spec, _FIELD_KEYS, where)
    start = _positive_int(spec, "start", where)
    length = _positive_int(spec, "length", where)
    if "end" in spec and spec["end"] != start + length - 1:
        raise LayoutError(f"{where}: end = {spec['end']!r} but start {start} + length {length} ends at {start + length - 1}")
    ftype = spec.get("type")
    if ftype not in ("N", "A"):
        raise LayoutError(f"{where}: type must be \"N\" (numeric) or \"A\" (alphanumeric), got {ftype!r}")
    source = parse_source(spec, where, _ALLOWED[role])
    align = spec.get("align", "left")
    if ftype == "N":
        for key in ("upper", "align"):
            if key in spec:
                raise LayoutError(f"{where}: {key!r} applies to alphanumeric (A) fields only")
        if spec.get("truncate"):
            raise LayoutError(f"{where}: a numeric field cannot be truncated (numbers are never cut)")
    elif source.kind in ("seq", "agg"):
        raise LayoutError(f"{where}: {source} is a number and needs a numeric (N) field")
    if align not in ("left", "right"):
        raise LayoutError(f"{where}: align must be \"left\" or \"right\", got {align!r}")
    cut = parse_slice(spec, where)
    if cut is not None and source.kind not in ("batch", "debtor", "tx", "param"):
        raise LayoutError(f"{where}: slice applies to batch/debtor/tx/param sources only")
    field = FieldSpec(
        name=name,
        start=start,
        length=length,
        type=ftype,
        source=source,
        align=align,
        upper=bool_key(spec, "upper", False, where),
        truncate=bool_key(spec, "truncate", False, where),
        required=bool_key(spec, "required", source.kind != "const", where),  # a blank constant is filler
        pattern=parse_pattern(spec, where),
        check=parse_check(spec, where),
        slice=cut,
    )
    try:
        if source.kind == "const":
            return dataclasses.replace(field, const_bytes=field.render(source.value, encoding))
        if source.default is not None:
            field.render(source.default, encoding)
    except _Refusal as exc:
        raise LayoutError(f"{where}: {exc}") from None
    return field


def _load_record(spec: object, where: str, record_length: int, encoding: str) -> RecordSpec:
    if not isinstance(spec, dict):
        raise LayoutError(f"{where}: each [[records]] entry must be a table")
    name = spec.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise LayoutError(f"{where}: record name must match [a-z][a-z0-9_]*, got {name!r}")
    where = f"{where.rsplit(':', 1)[0]}: record {name!r}"
    unknown_keys(spec, _RECORD_KEYS, where)
    role = spec.get("role")
    if role not in _ALLOWED:
        raise LayoutError(f"{where}: role must be \"header\", \"detail\" or \"trailer\", got {role!r}")
    raw_fields = spec.get("fields")
    if not isinstance(raw_fields, list) or not raw_fields:
        raise LayoutError(f"{where}: fields must be a non-empty list of field tables")
    fields = [_load_field(f, where, role, encoding) for f in raw_fields]
    names = [f.name for f in fields]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise LayoutError(f"{where}: field name(s) {', '.join(duplicates)} used twice")
    expected = 1
    previous: FieldSpec | None = None
    for f in fields:
        if f.start < expected:
            assert previous is not None
            raise LayoutError(
                f"{where}: field {f.name!r} starts at {f.start} and overlaps field {previous.name!r} "
                f"(positions {previous.start}-{previous.end})"
            )
        if f.start > expected:
            after = f"field {previous.name!r} ends at {previous.end}" if previous else "the record starts at 1"
            raise LayoutError(
                f"{where}: gap at positions {expected}-{f.start - 1}: {after} but field {f.name!r} starts at {f.start}"
            )
        expected = f.start + f.length
        previous = f
    if expected - 1 != record_length:
        raise LayoutError(
            f"{where}: the fields cover positions 1-{expected - 1} ({expected - 1} bytes) but record_length "
            f"is {record_length}"
        )
    return RecordSpec(name=name, role=role, fields=tuple(fields))


def _layout_from_table(table: Mapping[str, Any], origin: str) -> FixedWidthLayout:
    kind = table.get("kind")
    if kind != "fixed_width":
        hint = " (a CSV layout: use bank_formats.csvbatch.load_csv_layout)" if kind == "csv" else ""
        raise LayoutError(f"{origin}: kind must be \"fixed_width\", got {kind!r}{hint}")
    unknown_keys(table, _TOP_KEYS, origin)
    name = table.get("name")
    if not isinstance(name, str) or not _LAYOUT_NAME.fullmatch(name):
        raise LayoutError(f"{origin}: name must match [a-z0-9_]+, got {name!r}")
    record_length = _positive_int(table, "record_length", origin)
    encoding = check_encoding(table.get("encoding"), origin)
    if encoding == "utf-8-sig":
        raise LayoutError(f"{origin}: a fixed-width file cannot start with a BOM (encoding utf-8-sig); use utf-8")
    line_ending = table.get("line_ending")
    if line_ending not in _LINE_ENDINGS:
        raise LayoutError(f"{origin}: line_ending must be one of \"\\n\", \"\\r\\n\", \"\\r\", \"\", got {line_ending!r}")
    currency = table.get("currency")
    if currency is not None:
        if not isinstance(currency, str):
            raise LayoutError(f"{origin}: currency must be a string")
        try:
            exponent(currency)
        except ValueError as exc:
            raise LayoutError(f"{origin}: {exc}") from None
    blocking_factor = filler_record = None
    blocking = table.get("blocking")
    if blocking is not None:
        where = f"{origin}: [blocking]"
        if not isinstance(blocking, dict):
            raise LayoutError(f"{where} must be a table")
        unknown_keys(blocking, frozenset({"factor", "filler"}), where)
        blocking_factor = _positive_int(blocking, "factor", where)
        filler = blocking.get("filler")
        if not isinstance(filler, str) or len(filler) != 1 or not filler.isascii() or not filler.isprintable():
            raise LayoutError(f"{where}: filler must be one printable ASCII character, got {filler!r}")
        filler_record = (filler * record_length).encode("ascii")
    raw_records = table.get("records")
    if not isinstance(raw_records, list) or not raw_records:
        raise LayoutError(f"{origin}: records must be a non-empty array of tables ([[records]])")
    records = tuple(_load_record(r, f"{origin}: record #{i}", record_length, encoding) for i, r in enumerate(raw_records, 1))
    names = [r.name for r in records]
    if len(set(names)) != len(names):
        raise LayoutError(f"{origin}: record names must be unique, got {names}")
    roles = [r.role for r in records]
    if roles.count("detail") != 1:
        raise LayoutError(f"{origin}: a layout needs exactly one detail record, found {roles.count('detail')}")
    order = {"header": 0, "detail": 1, "trailer": 2}
    if [order[r] for r in roles] != sorted(order[r] for r in roles):
        raise LayoutError(f"{origin}: records must be declared in file order: headers, the detail record, trailers")
    detail = next(r for r in records if r.role == "detail")
    params: dict[str, Value | None] = {}
    for record in records:
        for f in record.fields:
            where = f"{origin}: record {record.name!r}, field {f.name!r}"
            src = f.source
            if src.kind == "param":
                merge_param(params, src, where)
            elif src.kind == "agg" and src.name == "blocks" and blocking_factor is None:
                raise LayoutError(f"{where}: agg.blocks needs a [blocking] table")
            elif src.kind == "agg" and src.name == "hash":
                target = next((d for d in detail.fields if d.name == src.of), None)
                if target is None or target.type != "N":
                    raise LayoutError(f"{where}: of = {src.of!r} must name a numeric field of the detail record {detail.name!r}")
            elif src.kind == "agg" and src.name == "sum":
                amounts = [d for d in detail.fields if d.source.kind == "tx" and d.source.name == "amount_minor"]
                if len(amounts) != 1 or amounts[0].type != "N" or amounts[0].slice is not None:
                    raise LayoutError(
                        f"{where}: agg.sum needs exactly one numeric, unsliced tx.amount_minor field in the "
                        f"detail record (so the reader can re-add the amounts)"
                    )
    description = table.get("description", "")
    if not isinstance(description, str):
        raise LayoutError(f"{origin}: description must be a string")
    return FixedWidthLayout(
        name=name,
        origin=origin,
        description=description,
        record_length=record_length,
        encoding=encoding,
        line_ending=line_ending,
        final_line_ending=bool_key(table, "final_line_ending", True, origin),
        currency=currency,
        blocking_factor=blocking_factor,
        filler_record=filler_record,
        records=records,
        params=params,
    )


def load_layout(name_or_path: str | os.PathLike[str]) -> FixedWidthLayout:
    """Load and check a fixed-width layout: a name (``bank_formats/layouts/<name>.toml``) or a path.

    Raises :class:`LayoutError` (a ValueError) naming the file, record and field at fault.
    """
    table, origin = read_layout_table(name_or_path)
    return _layout_from_table(table, origin)


def _as_layout(layout: FixedWidthLayout | str | os.PathLike[str]) -> FixedWidthLayout:
    return layout if isinstance(layout, FixedWidthLayout) else load_layout(layout)


# ------------------------------------------------------------------------------------------- writer


@dataclass(frozen=True, slots=True)
class _Totals:
    count: int
    amount: int
    hashes: Mapping[str, int]


def _where(record: RecordSpec, f: FieldSpec) -> str:
    return f"record {record.name!r}, field {f.name!r} (positions {f.start}-{f.end})"


def _aggregate(f: FieldSpec, totals: _Totals, layout: FixedWidthLayout) -> int:
    name = f.source.name
    if name == "count":
        return totals.count
    if name == "sum":
        return totals.amount
    if name == "hash":
        assert f.source.of is not None
        return totals.hashes.get(f.source.of, 0) % 10**f.length
    records = len(layout.headers) + totals.count + len(layout.trailers)
    if name == "records":
        return records
    assert layout.blocking_factor is not None  # checked at load
    return math.ceil(records / layout.blocking_factor)


def _render_static(
    record: RecordSpec,
    layout: FixedWidthLayout,
    batch: PaymentBatch,
    params: Mapping[str, Value],
    totals: _Totals,
    figures: str,
) -> bytes:
    """A header or trailer record; ``figures`` says whether ``totals`` are the declared or streamed ones."""
    out = []
    for f in record.fields:
        if f.const_bytes is not None:
            out.append(f.const_bytes)
            continue
        is_aggregate = f.source.kind == "agg"
        try:
            value = _aggregate(f, totals, layout) if is_aggregate else static_value(f.source, batch, params)
            out.append(f.render(value, layout.encoding))
        except _Refusal as exc:
            what = f" ({figures} {f.source})" if is_aggregate else f" (from {f.source})"
            raise ValueError(f"{_where(record, f)}{what}: {exc}") from None
    return b"".join(out)


_Part = bytes | tuple[FieldSpec, Callable[[CreditTransfer, int], bytes]]


def _dynamic(f: FieldSpec, encoding: str) -> Callable[[CreditTransfer, int], bytes]:
    render = f.renderer(encoding)
    if f.source.kind == "seq":
        return lambda tx, seq: render(seq)
    get = operator.attrgetter(f.source.name)
    return lambda tx, seq: render(get(tx))


def _compile_detail(
    layout: FixedWidthLayout, batch: PaymentBatch, params: Mapping[str, Value]
) -> list[_Part]:
    """The detail record as pre-rendered bytes (constant per file) and per-transaction fields."""
    record = layout.detail
    parts: list[_Part] = []
    for f in record.fields:
        if f.source.kind in ("tx", "seq"):
            parts.append((f, _dynamic(f, layout.encoding)))
        else:
            try:
                value = f.const_bytes if f.const_bytes is not None else f.render(
                    static_value(f.source, batch, params), layout.encoding
                )
            except _Refusal as exc:
                raise ValueError(f"{_where(record, f)} (from {f.source}): {exc}") from None
            if parts and isinstance(parts[-1], bytes):
                parts[-1] += value
            else:
                parts.append(value)
    return parts


class _RecordSink:
    """Joins records with the layout's line ending and hands 64 KiB chunks to the hashing sink."""

    def __init__(self, sink: Any, layout: FixedWidthLayout) -> None:
        self._sink = sink
        self._layout = layout
        self._line_ending = layout.line_ending.encode("ascii")
        self._chunk: list[bytes] = []
        self._size = 0
        self.records = 0  # fillers included

    def put(self, record: bytes) -> None:
        if self.records and self._line_ending:
            self._chunk.append(self._line_ending)
        self._chunk.append(record)
        self.records += 1
        self._size += len(record) + 2
        if self._size >= _FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        if self._chunk:
            self._sink.write(b"".join(self._chunk))
            self._chunk.clear()
            self._size = 0

    def finish(self) -> None:
        factor, filler = self._layout.blocking_factor, self._layout.filler_record
        if factor is not None and filler is not None:
            while self.records % factor:
                self.put(filler)
        if self._layout.final_line_ending and self._line_ending and self.records:
            self._chunk.append(self._line_ending)
        self.flush()


def _detail_refusal(parts: list[_Part], tx: CreditTransfer, seq: int, record: str) -> ValueError:
    """Which field refused the transaction, and why (the slow path, taken once, to name the field)."""
    for part in parts:
        if isinstance(part, bytes):
            continue
        f, render = part
        try:
            render(tx, seq)
        except _Refusal as exc:
            return ValueError(
                f"transaction {tx.end_to_end_id!r}: field {f.name!r} (record {record!r}, positions "
                f"{f.start}-{f.end}, from {f.source}): {exc}"
            )
    raise AssertionError("a field refused the transaction, then accepted it")


def write_fixed_width(
    path: str | os.PathLike[str],
    layout: FixedWidthLayout | str | os.PathLike[str],
    batch: PaymentBatch,
    transactions: Iterable[CreditTransfer],
    params: Mapping[str, Value] | None = None,
) -> WriteResult:
    """Stream ``transactions`` into a fixed-width file at ``path`` following ``layout``, all or nothing.

    ``layout`` is a :class:`FixedWidthLayout`, a layout name or a path; ``params`` the per-bank values its
    ``param.<name>`` fields need. Raises ValueError (leaving neither ``path`` changed nor a temporary file
    behind) when the batch, a parameter or a transaction cannot be written as the layout says, an
    end_to_end_id repeats, or the streamed count or sum differ from the batch's declared figures.
    """
    layout = _as_layout(layout)
    path = pathlib.Path(path)
    check_batch(batch, layout.currency)
    values = resolve_params(layout.params, params, layout.name)
    currency = batch.currency
    declared = _Totals(batch.number_of_transactions, batch.control_sum_minor, {})
    headers = [_render_static(r, layout, batch, values, declared, "declared") for r in layout.headers]
    for record in layout.trailers:  # fail fast: the declared figures must fit the trailers' fields
        _render_static(record, layout, batch, values, declared, "declared")
    parts = _compile_detail(layout, batch, values)
    detail_name = layout.detail.name
    hash_fields = sorted(
        {f.source.of for r in layout.trailers for f in r.fields if f.source.kind == "agg" and f.source.of}
    )
    hash_slices = []
    for name in hash_fields:
        summed = layout.detail.field(name)
        hash_slices.append((name, summed.start - 1, summed.end))
    hashes = dict.fromkeys(hash_fields, 0)
    count = 0
    total = 0
    with atomic_output(path) as sink:
        out = _RecordSink(sink, layout)
        for header in headers:
            out.put(header)
        for tx in checked_transfers(transactions, "field"):
            amount = tx.amount_minor
            count += 1
            try:
                line = b"".join([p if type(p) is bytes else p[1](tx, count) for p in parts])  # type: ignore[index, operator]
            except _Refusal:
                raise _detail_refusal(parts, tx, count, detail_name) from None
            for name, a, b in hash_slices:
                hashes[name] += int(line[a:b])
            total += amount
            out.put(line)
        check_declared(batch, count, total, lambda m: format_major(m, currency))
        actual = _Totals(count, total, hashes)
        for trailer in layout.trailers:
            out.put(_render_static(trailer, layout, batch, values, actual, "streamed"))
        out.finish()
    return WriteResult(path=path, transactions=count, control_sum_minor=total, sha256=sink.sha256.hexdigest(),
                       bytes=sink.size)


# ------------------------------------------------------------------------------------------- reader


@dataclass(frozen=True, slots=True)
class ParsedFixedWidth:
    layout: str
    records: list[tuple[str, dict[str, Value]]]  # (record name, fields), in file order, fillers excluded
    filler_records: int

    def of_type(self, name: str) -> list[dict[str, Value]]:
        return [fields for record, fields in self.records if record == name]


def _split_records(data: bytes, layout: FixedWidthLayout) -> list[bytes]:
    if not layout.line_ending:
        if len(data) % layout.record_length:
            raise ValueError(
                f"file is {len(data)} bytes, not a whole number of {layout.record_length}-byte records"
            )
        return [data[i : i + layout.record_length] for i in range(0, len(data), layout.record_length)]
    line_ending = layout.line_ending.encode("ascii")
    lines = data.split(line_ending)
    if lines and lines[-1] == b"":  # a line ending after the last record (final_line_ending = true)
        lines.pop()
    return lines


def read_fixed_width(
    path: str | os.PathLike[str], layout: FixedWidthLayout | str | os.PathLike[str]
) -> ParsedFixedWidth:
    """Parse a fixed-width file into typed records (numbers as int, text unpadded) and check it.

    Checks every record's length, its constant fields (record type codes...), the digits of numeric fields,
    the detail sequence numbers, the filler records, and every count, sum, hash, record and block count in
    the headers and trailers against the detail records. Raises ValueError naming the line and field.
    """
    layout = _as_layout(layout)
    lines = _split_records(pathlib.Path(path).read_bytes(), layout)
    for i, line in enumerate(lines, 1):
        if len(line) != layout.record_length:
            raise ValueError(f"line {i}: record is {len(line)} bytes, the layout's records are {layout.record_length}")
    fillers = 0
    if layout.filler_record is not None and layout.blocking_factor is not None:
        while lines and lines[-1] == layout.filler_record:
            lines.pop()
            fillers += 1
        total_lines = len(lines) + fillers
        if total_lines % layout.blocking_factor or fillers >= layout.blocking_factor:
            raise ValueError(
                f"line {len(lines) + 1}: {fillers} filler record(s) after {len(lines)} records; blocks of "
                f"{layout.blocking_factor} need {-len(lines) % layout.blocking_factor}"
            )
    headers, trailers, detail = layout.headers, layout.trailers, layout.detail
    n_details = len(lines) - len(headers) - len(trailers)
    if n_details < 0:
        raise ValueError(
            f"file has {len(lines)} records; the layout needs at least {len(headers) + len(trailers)} "
            f"(headers {[r.name for r in headers]}, trailers {[r.name for r in trailers]})"
        )
    plan = [*headers, *([detail] * n_details), *trailers]
    amount_field = next(
        (f.name for f in detail.fields if f.source.kind == "tx" and f.source.name == "amount_minor" and f.type == "N"),
        None,
    )
    seq_fields = [f.name for f in detail.fields if f.source.kind == "seq"]
    hash_fields = {f.source.of for r in layout.records for f in r.fields if f.source.kind == "agg" and f.source.of}
    hashes = dict.fromkeys(hash_fields, 0)
    amount_total = 0
    records: list[tuple[str, dict[str, Value]]] = []
    seq = 0
    for lineno, (spec, line) in enumerate(zip(plan, lines, strict=True), 1):
        fields: dict[str, Value] = {}
        for f in spec.fields:
            try:
                fields[f.name] = f.parse(line[f.start - 1 : f.end], layout.encoding)
            except _Refusal as exc:
                raise ValueError(f"line {lineno}: {_where(spec, f)}: {exc}") from None
        if spec.role == "detail":
            seq += 1
            for name in seq_fields:
                if fields[name] != seq:
                    raise ValueError(
                        f"line {lineno}: record {spec.name!r}, field {name!r}: sequence number is "
                        f"{fields[name]}, expected {seq}"
                    )
            if amount_field is not None:
                amount_total += int(fields[amount_field])
            for name in hash_fields:
                hashes[name] += int(fields[name])
        records.append((spec.name, fields))
    totals = _Totals(n_details, amount_total, hashes)
    for lineno, (spec, (_, fields)) in enumerate(zip(plan, records, strict=True), 1):
        if spec.role == "detail":
            continue
        for f in spec.fields:
            if f.source.kind != "agg":
                continue
            expected = _aggregate(f, totals, layout)
            if fields[f.name] != expected:
                raise ValueError(
                    f"line {lineno}: {_where(spec, f)}: the file says {fields[f.name]} but the "
                    f"{n_details} {detail.name} records give {expected} ({f.source})"
                )
    return ParsedFixedWidth(layout=layout.name, records=records, filler_records=fillers)


# ------------------------------------------------------------------------------------ format registry


def file_format(layout_name: str) -> Any:
    """The ``fixed:<layout_name>`` entry of :mod:`bank_formats.formats` (a ``FileFormat``).

    Its writer passes on only the parameters the layout declares (bank reference data may carry more);
    its reader re-adds the file with :func:`read_fixed_width` and returns the declared count and sum (from
    the records' ``agg.count`` / ``agg.sum`` fields, None when the layout has none) and each detail's
    (end_to_end_id, amount), which needs an unsliced ``tx.end_to_end_id`` field in the detail record.
    """
    from bank_formats.formats import ReadBack, layout_format

    layout = load_layout(layout_name)
    detail = layout.detail

    def read(path: os.PathLike[str], id_field: str, amount_field: str) -> ReadBack:
        parsed = read_fixed_width(path, layout)

        def declared(aggregate: str) -> int | None:
            for record in (*layout.trailers, *layout.headers):
                for f in record.fields:
                    if f.source.kind == "agg" and f.source.name == aggregate:
                        return int(parsed.of_type(record.name)[0][f.name])
            return None

        transfers = [(str(d[id_field]), int(d[amount_field])) for d in parsed.of_type(detail.name)]
        return ReadBack(declared("count"), declared("sum"), transfers)

    return layout_format(f"fixed:{layout_name}", ".txt", layout, detail.fields, write_fixed_width, read)
