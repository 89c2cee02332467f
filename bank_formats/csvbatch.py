"""CSV batch-transfer files for banks that take spreadsheets: a declarative layout, a streaming writer
and a checking reader.

A CSV layout is a TOML file (``kind = "csv"``, in ``bank_formats/layouts`` or any path): the encoding
(``utf-8``, ``utf-8-sig`` for a BOM that spreadsheet programs need to recognise UTF-8, ``cp1256``,
``cp949``...), delimiter, quote character, line ending, whether a header row is written, and the columns
in order. Each column has a ``name`` (the key the reader returns), a ``label`` (the header cell), a
``type`` and a value source, the same sources as the fixed-width layouts (``tx.*``, ``batch.*``,
``debtor.*``, ``param.*``, ``seq``, constants; dates with ``format``; ``slice``, ``pattern``, ``check``):

* ``type = "text"`` (default): optionally ``upper``, ``max_length`` (characters; longer text is refused
  unless ``truncate = true``), ``required`` (default true: a None or blank value is refused).
* ``type = "amount"``: ``tx.amount_minor`` or ``batch.control_sum_minor`` with ``amount_format = "minor"``
  (integer minor units: rials, won, cents) or ``"major"`` (``payroll.money.format_major``: "12.50"); the
  layout's ``currency`` is then required and must be the batch's.
* ``type = "integer"``: ``seq`` or another whole number, digits only.

Formula injection (OWASP "CSV Injection"; ASVS 1.2.10): a spreadsheet treats a cell starting with ``=``,
``+``, ``-``, ``@``, tab or carriage return (and Excel also the full-width ＝ ＋ － ＠) as a formula. Every
text cell starting with one of those, or with an apostrophe, is written with a leading apostrophe, which
spreadsheets read as "this is text". Amount and integer cells are digits only and never prefixed. The
reader removes exactly that one apostrophe, so a round trip returns the original values; a cell the
writer could not have produced (a formula character without the apostrophe, an apostrophe before a
harmless character) is refused.

Quoting is RFC 4180, done here rather than by ``csv.writer``: a cell is quoted when it contains the
delimiter, the quote character, CR or LF (Python 3.11's writer leaves a bare CR unquoted when the line
terminator is "\\n", which breaks the row).

The writer streams all or nothing (``atomic_output``; constant memory apart from the set of end-to-end
ids kept to refuse duplicates, about 95 bytes per row), checks the declared count and sum, refuses
duplicate end_to_end_ids and any character the encoding cannot carry (naming the transaction and the
column): nothing is ever silently replaced. Money is integer minor units; no float.
"""

from __future__ import annotations

import csv
import io
import operator
import os
import pathlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from bank_formats.fixedwidth import (
    LayoutError,
    Source,
    Value,
    _Refusal,
    bool_key,
    check_batch,
    check_encoding,
    cut_text,
    merge_param,
    parse_check,
    parse_pattern,
    parse_slice,
    parse_source,
    prepare_text,
    read_layout_table,
    resolve_params,
    static_value,
    unencodable,
    unknown_keys,
)
from bank_formats.model import (
    CreditTransfer,
    PaymentBatch,
    WriteResult,
    atomic_output,
    check_declared,
    checked_transfers,
)
from payroll.money import AmountError, exponent, format_major, parse_major

__all__ = [
    "CsvColumn", "CsvLayout", "ParsedCsvBatch", "file_format", "guard", "load_csv_layout", "read_csv_batch",
    "unguard", "write_csv_batch",
]

# Leading characters a spreadsheet may evaluate (OWASP CSV injection), plus the apostrophe itself so
# that the guard can be undone unambiguously.
FORMULA_START = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20")
GUARD = "'"
_NAME = re.compile(r"[a-z][a-z0-9_]*", re.ASCII)
_LAYOUT_NAME = re.compile(r"[a-z0-9][a-z0-9_]*", re.ASCII)
_DIGITS = re.compile(r"[0-9]+", re.ASCII)
_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?", re.ASCII)
# Controls no bank spreadsheet cell should hold; tab, CR and LF are allowed (quoted, and guarded when leading).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")
_LINE_ENDINGS = {"\n", "\r\n"}
_FLUSH_CHARS = 1 << 16
_MONEY_SOURCES = {("tx", "amount_minor"), ("batch", "control_sum_minor")}


def guard(text: str) -> str:
    """Prefix an apostrophe to a cell a spreadsheet could take for a formula (or that starts with one)."""
    return GUARD + text if text and (text[0] in FORMULA_START or text[0] == GUARD) else text


def unguard(cell: str) -> str:
    """Undo :func:`guard`; refuse a cell :func:`guard` cannot have produced."""
    if cell.startswith(GUARD):
        original = cell[1:]
        if not original or (original[0] not in FORMULA_START and original[0] != GUARD):
            raise _Refusal(f"{cell!r} starts with an apostrophe the formula guard would not have written")
        return original
    if cell and cell[0] in FORMULA_START:
        raise _Refusal(f"{cell!r} starts with a formula character but has no guard apostrophe")
    return cell


@dataclass(frozen=True, slots=True)
class CsvColumn:
    name: str
    label: str
    type: Literal["text", "amount", "integer"]
    source: Source
    amount_format: Literal["minor", "major"] | None = None
    upper: bool = False
    max_length: int | None = None  # characters, before the guard apostrophe
    truncate: bool = False
    required: bool = True
    pattern: re.Pattern[str] | None = None
    check: str | None = None
    slice: slice | None = None

    def render(self, value: object, encoding: str, currency: str) -> str:
        """The cell text (guarded, not yet quoted); raises _Refusal with the reason."""
        if self.type != "text":
            if isinstance(value, bool) or not isinstance(value, int):
                raise _Refusal(f"must be an int, got {type(value).__name__}: {value!r}")
            if value < 0:
                raise _Refusal(f"is negative ({value}); a number cell holds digits only")
            return format_major(value, currency) if self.amount_format == "major" else str(value)
        prepared = prepare_text(value, self.pattern, self.check, self.slice)
        text = "" if prepared is None else prepared if isinstance(prepared, str) else str(prepared)
        if self.required and not text.strip():
            raise _Refusal("is missing" if prepared is None else "is empty")
        bad = _CONTROL.search(text)
        if bad:
            raise _Refusal(f"contains the control character U+{ord(bad.group()):04X}: {text!r}")
        if self.upper:
            text = text.upper()
        if self.max_length is not None and len(text) > self.max_length:
            if not self.truncate:
                raise _Refusal(
                    f"{text!r} is {len(text)} characters but the column holds {self.max_length} "
                    f"and the layout does not allow cutting it (truncate = false)"
                )
            text = cut_text(text, self.max_length, None)
        try:
            text.encode("utf-8" if encoding == "utf-8-sig" else encoding)  # the BOM is written once, apart
        except UnicodeEncodeError as exc:
            raise unencodable(text, encoding, exc) from None
        return guard(text)

    def renderer(self, encoding: str, currency: str, quote: Callable[[str], str]) -> Callable[[object], str]:
        """``quote(render(...))`` for one file: a fast path for common values, the full checks otherwise."""
        render = self.render

        def slow(value: object) -> str:
            return quote(render(value, encoding, currency))

        if self.type != "text":
            major = self.amount_format == "major"

            def number(value: object) -> str:
                if type(value) is int and value >= 0:
                    return format_major(value, currency) if major else str(value)
                return slow(value)

            return number
        if self.pattern is not None or self.check is not None or self.slice is not None or self.upper:
            return slow
        codec = "utf-8" if encoding == "utf-8-sig" else encoding
        required, control = self.required, _CONTROL
        limit = self.max_length if self.max_length is not None else -1

        def text(value: object) -> str:
            if (
                type(value) is str
                and (value.strip() or not required)
                and (limit < 0 or len(value) <= limit)
                and not control.search(value)
            ):
                try:
                    value.encode(codec)
                except UnicodeEncodeError:
                    return slow(value)
                return quote(guard(value))
            return slow(value)

        return text

    def parse(self, cell: str, currency: str | None) -> Value:
        if self.type == "text":
            return unguard(cell)
        if self.amount_format == "major":
            assert currency is not None  # required at load
            if not _DECIMAL.fullmatch(cell):
                raise _Refusal(f"{cell!r} is not a decimal amount (digits and one point)")
            try:
                return parse_major(cell, currency)
            except AmountError as exc:
                raise _Refusal(str(exc)) from None
        if not _DIGITS.fullmatch(cell):
            raise _Refusal(f"{cell!r} is not all digits")
        return int(cell)


@dataclass(frozen=True, slots=True)
class CsvLayout:
    name: str
    origin: str
    description: str
    encoding: str  # codec name; "utf-8-sig" writes a BOM
    delimiter: str
    quote_char: str
    header: bool
    line_ending: str
    currency: str | None
    columns: tuple[CsvColumn, ...]
    params: Mapping[str, Value | None]

    def column(self, name: str) -> CsvColumn:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


_TOP_KEYS = frozenset(
    {"kind", "name", "description", "encoding", "delimiter", "quote_char", "header", "line_ending", "currency",
     "columns"}
)
_COLUMN_KEYS = frozenset(
    {"name", "label", "type", "value", "source", "format", "default", "slice", "amount_format", "upper",
     "max_length", "truncate", "required", "pattern", "check", "description"}
)
_ALLOWED = frozenset({"const", "batch", "debtor", "param", "tx", "seq"})


def _load_column(spec: object, where: str, currency: str | None, encoding: str) -> CsvColumn:
    if not isinstance(spec, dict):
        raise LayoutError(f"{where}: each [[columns]] entry must be a table")
    name = spec.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise LayoutError(f"{where}: column name must match [a-z][a-z0-9_]*, got {name!r}")
    where = f"{where.rsplit(':', 1)[0]}: column {name!r}"
    unknown_keys(spec, _COLUMN_KEYS, where)
    label = spec.get("label", name)
    if not isinstance(label, str) or not label.strip():
        raise LayoutError(f"{where}: label must be a non-empty string")
    if guard(label) != label or _CONTROL.search(label):
        raise LayoutError(f"{where}: label {label!r} starts with a formula character or holds a control character")
    ctype = spec.get("type", "text")
    if ctype not in ("text", "amount", "integer"):
        raise LayoutError(f"{where}: type must be \"text\", \"amount\" or \"integer\", got {ctype!r}")
    source = parse_source(spec, where, _ALLOWED)
    amount_format = spec.get("amount_format")
    if ctype == "amount":
        if (source.kind, source.name) not in _MONEY_SOURCES:
            raise LayoutError(f"{where}: an amount column needs source tx.amount_minor or batch.control_sum_minor")
        if amount_format not in ("minor", "major"):
            raise LayoutError(f"{where}: amount_format must be \"minor\" (integer minor units) or \"major\", got {amount_format!r}")
        if amount_format == "major" and currency is None:
            raise LayoutError(f"{where}: amount_format = \"major\" needs the layout's currency")
    elif amount_format is not None:
        raise LayoutError(f"{where}: amount_format applies to amount columns only")
    elif ctype == "text" and (source.kind, source.name) in _MONEY_SOURCES:
        raise LayoutError(f"{where}: {source} is money: use type = \"amount\" with an amount_format")
    elif ctype == "text" and source.kind == "seq":
        raise LayoutError(f"{where}: seq is a number: use type = \"integer\"")
    if ctype != "text":
        for key in ("upper", "max_length", "truncate", "pattern", "check", "slice", "format", "required"):
            if key in spec:
                raise LayoutError(f"{where}: {key!r} applies to text columns only")
    max_length = spec.get("max_length")
    if max_length is not None and (isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1):
        raise LayoutError(f"{where}: max_length must be an integer >= 1, got {max_length!r}")
    truncate = bool_key(spec, "truncate", False, where)
    if truncate and max_length is None:
        raise LayoutError(f"{where}: truncate = true needs a max_length")
    column = CsvColumn(
        name=name,
        label=label,
        type=ctype,
        source=source,
        amount_format=amount_format,
        upper=bool_key(spec, "upper", False, where),
        max_length=max_length,
        truncate=truncate,
        required=bool_key(spec, "required", source.kind != "const", where),
        pattern=parse_pattern(spec, where),
        check=parse_check(spec, where),
        slice=parse_slice(spec, where),
    )
    try:
        probe_currency = currency or "USD"
        if source.kind == "const":
            column.render(source.value, encoding, probe_currency)
        elif source.default is not None:
            column.render(source.default, encoding, probe_currency)
    except (_Refusal, AmountError) as exc:
        raise LayoutError(f"{where}: {exc}") from None
    return column


def _single_char(table: Mapping[str, Any], key: str, default: str, origin: str) -> str:
    value = table.get(key, default)
    if not isinstance(value, str) or len(value) != 1 or not value.isascii() or value in "\r\n" or value.isalnum():
        raise LayoutError(f"{origin}: {key} must be one ASCII punctuation or whitespace character, got {value!r}")
    return value


def _layout_from_table(table: Mapping[str, Any], origin: str) -> CsvLayout:
    kind = table.get("kind")
    if kind != "csv":
        hint = " (a fixed-width layout: use bank_formats.fixedwidth.load_layout)" if kind == "fixed_width" else ""
        raise LayoutError(f"{origin}: kind must be \"csv\", got {kind!r}{hint}")
    unknown_keys(table, _TOP_KEYS, origin)
    name = table.get("name")
    if not isinstance(name, str) or not _LAYOUT_NAME.fullmatch(name):
        raise LayoutError(f"{origin}: name must match [a-z0-9_]+, got {name!r}")
    encoding = check_encoding(table.get("encoding"), origin)
    delimiter = _single_char(table, "delimiter", ",", origin)
    quote_char = _single_char(table, "quote_char", '"', origin)
    if delimiter == quote_char or quote_char == GUARD:
        raise LayoutError(f"{origin}: quote_char must differ from the delimiter and from the apostrophe guard")
    line_ending = table.get("line_ending", "\r\n")
    if line_ending not in _LINE_ENDINGS:
        raise LayoutError(f"{origin}: line_ending must be \"\\r\\n\" or \"\\n\", got {line_ending!r}")
    currency = table.get("currency")
    if currency is not None:
        if not isinstance(currency, str):
            raise LayoutError(f"{origin}: currency must be a string")
        try:
            exponent(currency)
        except ValueError as exc:
            raise LayoutError(f"{origin}: {exc}") from None
    raw_columns = table.get("columns")
    if not isinstance(raw_columns, list) or not raw_columns:
        raise LayoutError(f"{origin}: columns must be a non-empty array of tables ([[columns]])")
    columns = tuple(
        _load_column(c, f"{origin}: column #{i}", currency, encoding) for i, c in enumerate(raw_columns, 1)
    )
    for attr in ("name", "label"):
        values = [getattr(c, attr) for c in columns]
        twice = sorted({v for v in values if values.count(v) > 1})
        if twice:
            raise LayoutError(f"{origin}: column {attr}(s) {', '.join(map(repr, twice))} used twice")
    params: dict[str, Value | None] = {}
    for c in columns:
        if c.source.kind == "param":
            merge_param(params, c.source, f"{origin}: column {c.name!r}")
    description = table.get("description", "")
    if not isinstance(description, str):
        raise LayoutError(f"{origin}: description must be a string")
    return CsvLayout(
        name=name,
        origin=origin,
        description=description,
        encoding=encoding,
        delimiter=delimiter,
        quote_char=quote_char,
        header=bool_key(table, "header", True, origin),
        line_ending=line_ending,
        currency=currency,
        columns=columns,
        params=params,
    )


def load_csv_layout(name_or_path: str | os.PathLike[str]) -> CsvLayout:
    """Load and check a CSV layout: a name (``bank_formats/layouts/<name>.toml``) or a path."""
    table, origin = read_layout_table(name_or_path)
    return _layout_from_table(table, origin)


def _as_layout(layout: CsvLayout | str | os.PathLike[str]) -> CsvLayout:
    return layout if isinstance(layout, CsvLayout) else load_csv_layout(layout)


# ------------------------------------------------------------------------------------------- writer


def _quoter(layout: CsvLayout) -> Callable[[str], str]:
    q = layout.quote_char
    special = re.compile(f"[{re.escape(layout.delimiter + q)}\r\n]")
    doubled = q + q

    def quote(cell: str) -> str:
        return f"{q}{cell.replace(q, doubled)}{q}" if special.search(cell) else cell

    return quote


def _dynamic(
    c: CsvColumn, encoding: str, currency: str, quote: Callable[[str], str]
) -> Callable[[CreditTransfer, int], str]:
    render = c.renderer(encoding, currency, quote)
    if c.source.kind == "seq":
        return lambda tx, seq: render(seq)
    get = operator.attrgetter(c.source.name)
    return lambda tx, seq: render(get(tx))


def _row_refusal(plan: list[Any], tx: CreditTransfer, seq: int) -> ValueError:
    """Which column refused the transaction, and why (the slow path, taken once, to name the column)."""
    for step in plan:
        if isinstance(step, str):
            continue
        c, cell = step
        try:
            cell(tx, seq)
        except _Refusal as exc:
            return ValueError(f"transaction {tx.end_to_end_id!r}: column {c.name!r} ({c.label!r}, from {c.source}): {exc}")
    raise AssertionError("a column refused the transaction, then accepted it")


def write_csv_batch(
    path: str | os.PathLike[str],
    layout: CsvLayout | str | os.PathLike[str],
    batch: PaymentBatch,
    transactions: Iterable[CreditTransfer],
    params: Mapping[str, Value] | None = None,
) -> WriteResult:
    """Stream ``transactions`` into a CSV batch file at ``path`` following ``layout``, all or nothing.

    Raises ValueError (leaving neither ``path`` changed nor a temporary file behind) when the batch, a
    parameter or a transaction cannot be written as the layout says (naming the transaction and the
    column), an end_to_end_id repeats, or the streamed count or sum differ from the declared figures.
    """
    layout = _as_layout(layout)
    path = pathlib.Path(path)
    check_batch(batch, layout.currency)
    values = resolve_params(layout.params, params, layout.name)
    currency = batch.currency
    bom = b"\xef\xbb\xbf" if layout.encoding == "utf-8-sig" else b""
    row_encoding = "utf-8" if layout.encoding == "utf-8-sig" else layout.encoding
    quote = _quoter(layout)
    delimiter, line_ending = layout.delimiter, layout.line_ending
    # Per column: the finished (quoted) cell when it is the same for every row, else how to get the value.
    plan: list[str | tuple[CsvColumn, Callable[[CreditTransfer, int], str]]] = []
    for c in layout.columns:
        if c.source.kind in ("tx", "seq"):
            plan.append((c, _dynamic(c, layout.encoding, currency, quote)))
        else:
            try:
                plan.append(quote(c.render(static_value(c.source, batch, values), layout.encoding, currency)))
            except _Refusal as exc:
                raise ValueError(f"column {c.name!r} (from {c.source}): {exc}") from None
    count = 0
    total = 0
    with atomic_output(path) as sink:
        chunk: list[str] = []
        size = 0
        if bom:
            sink.write(bom)
        if layout.header:
            chunk.append(delimiter.join(quote(c.label) for c in layout.columns) + line_ending)
        for tx in checked_transfers(transactions, "column"):
            amount = tx.amount_minor
            count += 1
            try:
                row = delimiter.join([p if type(p) is str else p[1](tx, count) for p in plan]) + line_ending  # type: ignore[index, operator]
            except _Refusal:
                raise _row_refusal(plan, tx, count) from None
            chunk.append(row)
            size += len(row)
            total += amount
            if size >= _FLUSH_CHARS:
                sink.write("".join(chunk).encode(row_encoding))
                chunk.clear()
                size = 0
        check_declared(batch, count, total, lambda m: format_major(m, currency))
        sink.write("".join(chunk).encode(row_encoding))
    return WriteResult(path=path, transactions=count, control_sum_minor=total, sha256=sink.sha256.hexdigest(),
                       bytes=sink.size)


# ------------------------------------------------------------------------------------------- reader


@dataclass(frozen=True, slots=True)
class ParsedCsvBatch:
    layout: str
    header: tuple[str, ...] | None
    rows: list[dict[str, Value]]  # column name -> value (amounts and integers as int, text unguarded)


def read_csv_batch(path: str | os.PathLike[str], layout: CsvLayout | str | os.PathLike[str]) -> ParsedCsvBatch:
    """Parse a CSV batch file written with ``layout`` back into the original values, checking it.

    Checks the encoding, the header row, the number of cells per row, the digits of amount and integer
    cells, the ``seq`` columns (1, 2, ...) and the formula guard. Raises ValueError naming the line.
    """
    layout = _as_layout(layout)
    raw = pathlib.Path(path).read_bytes()
    try:
        text = raw.decode(layout.encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ValueError(f"line {line}: bytes are not valid {layout.encoding}: {exc.reason}") from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=layout.delimiter, quotechar=layout.quote_char,
                        strict=True)
    header: tuple[str, ...] | None = None
    rows: list[dict[str, Value]] = []
    labels = tuple(c.label for c in layout.columns)
    seq_columns = [c.name for c in layout.columns if c.source.kind == "seq"]
    try:
        for cells in reader:
            line = reader.line_num
            if layout.header and header is None:
                header = tuple(cells)
                if header != labels:
                    raise ValueError(f"line {line}: header row is {list(header)}, the layout's is {list(labels)}")
                continue
            if len(cells) != len(layout.columns):
                raise ValueError(f"line {line}: {len(cells)} cells, the layout has {len(layout.columns)} columns")
            row: dict[str, Value] = {}
            for c, cell in zip(layout.columns, cells, strict=True):
                try:
                    row[c.name] = c.parse(cell, layout.currency)
                except _Refusal as exc:
                    raise ValueError(f"line {line}: column {c.name!r} ({c.label!r}): {exc}") from None
            for name in seq_columns:
                if row[name] != len(rows) + 1:
                    raise ValueError(f"line {line}: column {name!r} is {row[name]}, expected {len(rows) + 1}")
            rows.append(row)
    except csv.Error as exc:
        raise ValueError(f"line {reader.line_num}: not valid CSV: {exc}") from None
    if layout.header and header is None:
        raise ValueError("file is empty: no header row")
    return ParsedCsvBatch(layout=layout.name, header=header, rows=rows)


# ------------------------------------------------------------------------------------ format registry


def file_format(layout_name: str) -> Any:
    """The ``csv:<layout_name>`` entry of :mod:`bank_formats.formats` (a ``FileFormat``).

    Its writer passes on only the parameters the layout declares; its reader returns no declared totals
    (a CSV batch has no trailer) and each row's (end_to_end_id, amount), which needs ``tx.end_to_end_id``
    (unsliced) and ``tx.amount_minor`` columns.
    """
    from bank_formats.formats import ReadBack, layout_format

    layout = load_csv_layout(layout_name)

    def read(path: os.PathLike[str], id_column: str, amount_column: str) -> ReadBack:
        rows = read_csv_batch(path, layout).rows
        return ReadBack(None, None, [(str(r[id_column]), int(r[amount_column])) for r in rows])

    return layout_format(f"csv:{layout_name}", ".csv", layout, layout.columns, write_csv_batch, read)
