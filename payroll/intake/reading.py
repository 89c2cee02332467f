"""Reading a branch file into a table of text cells: format, encoding, delimiter, limits.

Nothing here knows what a payee is. Every cell comes out as text exactly as the branch system wrote
it (an XLSX number as its digits, a date as YYYY-MM-DD); interpretation is the parser's job. Whole-file
problems raise FileRefused naming the file and, where there is one, the row and column. Limits on
size and row count are checked before the table is built in memory.

Encodings: UTF-8 (with or without BOM), Windows-1256 (Persian/Arabic Windows) and CP949 (Korean
Windows, a superset of EUC-KR). When the caller does not force one, UTF-8 is tried first; a legacy
code page is accepted only when it decodes every byte and the text it yields is written in that code
page's script (Windows-1256 decodes any byte sequence, so decoding alone proves nothing). A file whose
decoded text holds U+FFFD (a lossy conversion happened before it reached us) is refused at the row
where the first one appears: a name turned into replacement characters must never be paid.
"""

from __future__ import annotations

import copy
import csv
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import IO, Any
from xml.parsers import expat

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from payroll.intake.findings import FileRefused, Finding, refuse

# name people use -> Python codec
ENCODINGS: dict[str, str] = {
    "utf-8": "utf-8-sig", "utf8": "utf-8-sig", "utf-8-sig": "utf-8-sig",
    "windows-1256": "cp1256", "cp1256": "cp1256",
    "cp949": "cp949", "euc-kr": "cp949", "euckr": "cp949", "ks_c_5601-1987": "cp949", "uhc": "cp949",
}
ENCODING_LABEL = {"utf-8-sig": "UTF-8", "cp1256": "Windows-1256", "cp949": "CP949/EUC-KR"}
# The script each legacy code page is for: its letters, plus the punctuation it adds to ASCII.
_SCRIPT = {
    "cp1256": re.compile(r"[\u0600-\u06FF\uFB50-\uFDFF\uFE70-\uFEFF\u200C\u200D\u200E\u200F\u00A0\u00AB\u00BB"
                         r"\u2013\u2014\u2018\u2019\u201C\u201D\u2026]"),
    "cp949": re.compile(r"[\uAC00-\uD7A3\u1100-\u11FF\u3130-\u318F\u3000-\u303F\u4E00-\u9FFF\uFF01-\uFF5E"
                        r"\u00A0\u00B7\u2018\u2019\u201C\u201D\u2026]"),
}
_NON_ASCII = re.compile(r"[^\x00-\x7F]")
DELIMITERS = (",", ";", "\t")
FORMATS = ("csv", "xlsx", "parquet")
# Longer than any field a payee row has (a name, an id, an account): refused where it is read, before
# a finding could quote it or a row carry it further.
MAX_CELL_CHARS = 1000
# What an XLSX workbook (a zip) may inflate to: the parts every workbook has (theme, styles, shared
# strings of a small list), plus 2 KiB a row allowed (a row of eleven inline Persian strings is under
# 1 KiB), unless the caller gives a limit of its own; and no part may inflate more than
# MAX_UNPACK_RATIO times its compressed size once it is past RATIO_GRACE_BYTES (a sheet of real
# payees compresses about 7:1; a zip bomb, 1000:1).
UNPACKED_BASE_BYTES = 16 * 1024**2
UNPACKED_BYTES_PER_ROW = 2048
UNPACKED_ROWS_WITHOUT_LIMIT = 2_000_000
MAX_UNPACK_RATIO = 100
RATIO_GRACE_BYTES = 1024**2
_CHUNK = 1 << 16


@dataclass
class RawTable:
    """The file as text cells. `frame` has the header's names as columns and one row per record;
    `row_numbers[i]` is the spreadsheet row of frame row i (header = 1)."""

    frame: pd.DataFrame
    row_numbers: np.ndarray
    format: str
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    warnings: list[Finding] = field(default_factory=list)
    row_errors: list[Finding] = field(default_factory=list)  # cells the reader itself cannot trust
    float_columns: set[str] = field(default_factory=set)  # Parquet columns stored as floating point

    def describe(self) -> dict[str, Any]:
        return {"format": self.format, "encoding": self.encoding,
                "delimiter": {"\t": "tab"}.get(self.delimiter or "", self.delimiter), "sheet": self.sheet}


def detect_format(data: bytes, file_name: str) -> str:
    lower = file_name.lower()
    if data[:4] == b"PAR1" or lower.endswith(".parquet"):
        return "parquet"
    if data[:4] == b"PK\x03\x04" or lower.endswith((".xlsx", ".xlsm")):
        return "xlsx"
    if lower.endswith((".xls",)) or data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise refuse("UNSUPPORTED_FORMAT", f"{file_name}: old binary Excel (.xls) is not accepted; save it as "
                     ".xlsx or CSV and send it again")
    if lower.endswith((".csv", ".txt", ".tsv")):
        return "csv"
    raise refuse("UNSUPPORTED_FORMAT", f"{file_name}: unsupported file type; send CSV, XLSX or Parquet")


def read_raw(data: bytes, file_name: str, *, encoding: str | None = None, sheet: str | None = None,
             max_rows: int | None = None, max_unpacked_bytes: int | None = None,
             max_unpack_ratio: int = MAX_UNPACK_RATIO, max_cell_chars: int = MAX_CELL_CHARS) -> RawTable:
    """The file's cells as text. `max_unpacked_bytes` None: the default for `max_rows` (see
    unpacked_limit)."""
    if not data:
        raise refuse("EMPTY_FILE", f"{file_name}: the file is empty")
    fmt = detect_format(data, file_name)
    if fmt == "parquet":
        raw = _read_parquet(data, file_name, max_rows, max_cell_chars)
    elif fmt == "xlsx":
        unpacked = max_unpacked_bytes if max_unpacked_bytes is not None else unpacked_limit(max_rows)
        raw = _read_xlsx(data, file_name, sheet, max_rows, unpacked, max_unpack_ratio, max_cell_chars)
    else:
        raw = _read_csv(data, file_name, encoding, max_rows, max_cell_chars)
    return raw


def unpacked_limit(max_rows: int | None) -> int:
    """The default for what a workbook may inflate to, from the row limit."""
    rows = max_rows if max_rows is not None else UNPACKED_ROWS_WITHOUT_LIMIT
    return UNPACKED_BASE_BYTES + UNPACKED_BYTES_PER_ROW * rows


def read_table(data: bytes, file_name: str) -> pd.DataFrame:
    """Every cell as text (reference files use this); whole-file problems raise FileRefused."""
    raw = read_raw(data, file_name)
    refuse_repeated_columns(list(raw.frame.columns), file_name)
    return raw.frame


def refuse_repeated_columns(names: list[str], file_name: str) -> None:
    stripped = [str(n).strip().lstrip("\ufeff") for n in names]
    repeated = sorted({n for n in stripped if stripped.count(n) > 1})
    if repeated:
        raise refuse("DUPLICATE_COLUMN", f"{file_name}: column(s) {', '.join(repeated)} appear twice in the "
                      "header", row=1, column=repeated[0])


def _cell_too_long(file_name: str, row: int, column: str, value: str, max_chars: int, length: int | None = None
                   ) -> FileRefused:
    length = len(value) if length is None else length
    return refuse("CELL_TOO_LONG", f"{file_name}: row {row}, column {column} holds {length} characters, more "
                  f"than the {max_chars} any field may have (it begins '{value[:40]}...'); the file was not "
                  "read: correct the cell in the branch system and send the file again", row=row, column=column)


def _refuse_long_cells(frame: pd.DataFrame, row_numbers: np.ndarray, file_name: str, max_chars: int) -> None:
    """The first cell (by row, then column) longer than max_chars refuses the file."""
    first: tuple[int, int, str] | None = None
    for k, name in enumerate(frame.columns):
        lengths = frame.iloc[:, k].astype(str).str.len().to_numpy()
        over = np.flatnonzero(lengths > max_chars)
        if over.size and (first is None or over[0] < first[0]):
            first = (int(over[0]), k, str(name))
    if first is not None:
        i, k, name = first
        raise _cell_too_long(file_name, int(row_numbers[i]), name, str(frame.iat[i, k]), max_chars)


def _too_many_rows(file_name: str, rows: int, max_rows: int) -> FileRefused:
    return refuse("TOO_MANY_ROWS", f"{file_name}: {rows} rows is over the limit of {max_rows} rows a file; "
                  "the file was not read (split it or ask headquarters to raise the limit)")


# --- CSV --------------------------------------------------------------------------------------------


def _locate(text_before: str, delimiter: str) -> tuple[int, int]:
    """(record number with header = 1, 0-based field index) of the position right after text_before."""
    records = list(csv.reader(io.StringIO(text_before), delimiter=delimiter)) if text_before else []
    if not records:
        return 1, 0
    last_complete = text_before.endswith(("\n", "\r"))
    row = len(records) + (1 if last_complete else 0)
    fields = 0 if last_complete else max(len(records[-1]) - 1, 0)
    return row, fields


def _column_at(header: list[str], index: int) -> str | None:
    return header[index].strip() if 0 <= index < len(header) else None


def _sniff_delimiter(first_line: str) -> str:
    counts = {d: 0 for d in DELIMITERS}
    quoted = False
    for ch in first_line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(DELIMITERS, key=lambda d: counts[d])  # ties: the order of DELIMITERS
    return best if counts[best] else ","


def _plausible(text: str, codec: str) -> bool:
    """True when the non-ASCII characters of `text` are (almost) all of the code page's script."""
    foreign = _NON_ASCII.findall(text)
    if not foreign:
        return True
    in_script = len(_SCRIPT[codec].findall(text))
    return in_script >= 0.98 * len(foreign)


def decode(data: bytes, file_name: str, encoding: str | None = None, delimiter_hint: str = ",") -> tuple[str, str]:
    """(text, codec). Forced encodings are decoded strictly; otherwise UTF-8, then the legacy code
    pages whose script the text turns out to be written in."""
    if encoding is not None:
        codec = ENCODINGS.get(encoding.strip().lower().replace("_", "-"))
        if codec is None:
            raise refuse("ENCODING", f"{file_name}: encoding {encoding!r} is not accepted; use one of UTF-8, "
                         "Windows-1256, CP949, EUC-KR")
        candidates = [codec]
    else:
        candidates = ["utf-8-sig", "cp1256", "cp949"]
    first_error: tuple[str, UnicodeDecodeError] | None = None
    for codec in candidates:
        try:
            text = data.decode(codec)
        except UnicodeDecodeError as e:
            first_error = first_error or (codec, e)
            continue
        if codec in _SCRIPT and encoding is None and not _plausible(text, codec):
            continue
        _refuse_replacement_chars(text, file_name, codec)
        return text, codec
    if first_error is None:  # decoded, but into no plausible script
        raise refuse("ENCODING", f"{file_name}: the text is not UTF-8 and does not read as Persian "
                     "(Windows-1256) or Korean (CP949) either; save the file as UTF-8 and send it again", row=1)
    codec, err = first_error
    before = data[: err.start].decode(codec, errors="replace")
    row, index = _locate(before, delimiter_hint)
    header = next(csv.reader(io.StringIO(before.split("\n", 1)[0])), []) if row > 1 else []
    column = _column_at(header, index)
    where = f"row {row}" + (f", column {column}" if column else "")
    tried = ENCODING_LABEL[codec] if encoding is not None else "UTF-8, Windows-1256 or CP949"
    raise refuse("ENCODING", f"{file_name}: not valid {tried} at byte {err.start} ({where}); save the file as "
                 "UTF-8 and send it again" + ("" if encoding is None else ", or give its real encoding"),
                 row=row, column=column)


def _refuse_replacement_chars(text: str, file_name: str, codec: str) -> None:
    pos = text.find("\ufffd")
    if pos < 0:
        return
    row, index = _locate(text[:pos], _sniff_delimiter(text.split("\n", 1)[0]))
    header = next(csv.reader(io.StringIO(text.split("\n", 1)[0]),
                             delimiter=_sniff_delimiter(text.split("\n", 1)[0])), [])
    column = _column_at(header, index) if row > 1 else None
    raise refuse("ENCODING", f"{file_name}: row {row}" + (f", column {column}" if column else "") + " holds the "
                 "replacement character '\ufffd': the text was damaged by a wrong conversion before it was "
                 "sent; export it again from the branch system as UTF-8", row=row, column=column)


def _read_csv(data: bytes, file_name: str, encoding: str | None, max_rows: int | None, max_cell_chars: int
              ) -> RawTable:
    if b"\x00" in data:
        pos = data.index(b"\x00")
        row = data[:pos].count(b"\n") + 1
        raise refuse("FILE_MALFORMED", f"{file_name}: NUL byte at row {row}; this is not a text file", row=row)
    first_line = data[:data.find(b"\n")] if b"\n" in data else data  # no copy of the rest
    delimiter = _sniff_delimiter(first_line.decode("latin-1"))
    text, codec = decode(data, file_name, encoding, delimiter)
    if not text.strip():
        raise refuse("EMPTY_FILE", f"{file_name}: the file is empty")
    _refuse_long_run(text, delimiter, file_name, max_cell_chars)
    if max_rows is not None and text.count("\n") > max_rows + 1:  # cheap bound; quoted newlines inflate it
        records = sum(1 for _ in csv.reader(io.StringIO(text), delimiter=delimiter)) - 1
        if records > max_rows:
            raise _too_many_rows(file_name, records, max_rows)
    header = next(csv.reader(io.StringIO(text), delimiter=delimiter), [])
    refuse_repeated_columns(header, file_name)
    try:
        frame = pd.read_csv(io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False, na_filter=False,
                            skip_blank_lines=False, engine="c", quotechar='"')
    except pd.errors.ParserError as e:
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(e))
        if m:
            expected, line, saw = (int(g) for g in m.groups())
            raise refuse("FILE_MALFORMED", f"{file_name}: row {line} has {saw} fields but the header has "
                         f"{expected}; an unquoted {_delimiter_name(delimiter)} inside a value, or a "
                         "shifted row", row=line) from None
        raise refuse("FILE_MALFORMED", f"{file_name}: not a readable CSV file ({str(e).strip()})") from None
    frame.columns = [str(c).strip().lstrip("\ufeff") for c in frame.columns]
    rows = np.arange(len(frame)) + 2
    _refuse_long_cells(frame, rows, file_name, max_cell_chars)
    return RawTable(frame, rows, "csv", ENCODING_LABEL[codec], delimiter)


def _refuse_long_run(text: str, delimiter: str, file_name: str, max_chars: int) -> None:
    """A run of more than max_chars characters without a delimiter, quote or line break is a cell too
    long: refused before pandas copies the text (a 50 MB line once peaked at 800 MB). A long quoted
    cell holding delimiters is left to the check on the table.

    Linear in the text: the stops are found in its UTF-8 bytes with numpy and only the gaps between
    them are measured (a regex for max_chars + 1 non-stop characters retried at every position of a run
    just under the limit, quadratic on a file of such runs). A UTF-8 character is at least one byte, so
    a gap of at most max_chars bytes holds at most max_chars characters; only longer gaps are decoded
    to count their characters."""
    raw = text.encode("utf-8", errors="surrogatepass")
    if len(raw) <= max_chars:
        return
    codes = np.frombuffer(raw, dtype=np.uint8)
    stops = np.isin(codes, np.frombuffer(f"{delimiter}\r\n\"".encode(), dtype=np.uint8))
    edges = np.flatnonzero(stops)
    starts = np.concatenate(([0], edges + 1))  # each run begins after a stop (or at the start)
    ends = np.concatenate((edges, [len(raw)]))  # and ends at the next stop (or at the end)
    for k in np.flatnonzero(ends - starts > max_chars):
        b0, b1 = int(starts[k]), int(ends[k])
        chars = len(raw[b0:b1].decode("utf-8", errors="surrogatepass"))
        if chars <= max_chars:
            continue
        start = len(raw[:b0].decode("utf-8", errors="surrogatepass"))  # the run's character offset
        row, index = _locate(text[:start], delimiter)
        header = next(csv.reader(io.StringIO(text[:text.find("\n")] if row > 1 else ""), delimiter=delimiter), [])
        column = _column_at(header, index) or _letters(index)
        raise _cell_too_long(file_name, row, column, text[start:start + 40], max_chars, chars)


def _delimiter_name(d: str) -> str:
    return {",": "comma", ";": "semicolon", "\t": "tab"}[d]


# --- Parquet ----------------------------------------------------------------------------------------


def _read_parquet(data: bytes, file_name: str, max_rows: int | None, max_cell_chars: int) -> RawTable:
    try:
        parquet = pq.ParquetFile(pa.BufferReader(data))
        refuse_repeated_columns(parquet.schema_arrow.names, file_name)
        if max_rows is not None and parquet.metadata.num_rows > max_rows:
            raise _too_many_rows(file_name, parquet.metadata.num_rows, max_rows)
        table = parquet.read()
    except (pa.ArrowInvalid, OSError) as e:
        raise refuse("FILE_MALFORMED", f"{file_name}: not a readable Parquet file ({e})") from None
    columns: dict[str, pd.Series] = {}
    floats = set()
    for name, col in zip(table.column_names, table.columns, strict=True):
        t = col.type
        if pa.types.is_floating(t):
            floats.add(str(name).strip())  # the parser refuses money stored as floating point
        if pa.types.is_timestamp(t):
            col = pc.cast(col, pa.date32(), safe=False)
        # text conversion in Arrow: an integer column with a null stays integer text, never float
        columns[name] = pc.cast(col, pa.string()).to_pandas().fillna("").astype(str)
    frame = pd.DataFrame(columns)
    frame.columns = [str(c).strip() for c in frame.columns]
    _refuse_long_cells(frame, np.arange(len(frame)) + 2, file_name, max_cell_chars)
    return RawTable(frame, np.arange(len(frame)) + 2, "parquet", float_columns=floats)


# --- XLSX -------------------------------------------------------------------------------------------

_MERGE_RE = re.compile(rb'<(?:\w+:)?mergeCell\s+ref="([A-Z]+)([0-9]+)(?::([A-Z]+)([0-9]+))?"')
_FORMULA_RE = re.compile(rb"<(?:\w+:)?f[\s>/]")


def _col_index(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + (ord(ch) - 64)
    return n - 1


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat()
    return str(value)


def _read_xlsx(data: bytes, file_name: str, sheet: str | None, max_rows: int | None, max_unpacked: int,
               max_ratio: int, max_cell_chars: int) -> RawTable:
    import openpyxl  # only XLSX needs it
    from openpyxl.utils.exceptions import InvalidFileException

    _inspect_workbook(data, file_name, max_unpacked, max_ratio)
    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError, SyntaxError) as e:
        raise refuse("FILE_MALFORMED", f"{file_name}: not a readable XLSX workbook ({e})") from None
    try:
        if sheet is not None and sheet not in wb.sheetnames:
            raise refuse("NO_SUCH_SHEET", f"{file_name}: no sheet named {sheet!r}; the sheets are "
                         f"{', '.join(repr(s) for s in wb.sheetnames)}")
        ws = wb[sheet] if sheet is not None else wb.worksheets[0]
        title = ws.title
        xml_path = ws._worksheet_path  # noqa: SLF001 - openpyxl keeps the part name only here
        # The sheet's <dimension> is the writer's claim, not the rows: read-only openpyxl stops at it
        # (a list saved with A1:K100 lost 159 of its 258 payees). Read every row; count them here.
        ws.reset_dimensions()  # type: ignore[union-attr]
        rows: list[list[str]] = []
        header: list[str] = []
        try:
            for n, values in enumerate(ws.iter_rows(values_only=True), start=1):
                if max_rows is not None and n - 1 > max_rows:
                    raise _too_many_rows(file_name, n - 1, max_rows)
                texts = [_cell_text(v) for v in values]
                if texts and max(map(len, texts)) > max_cell_chars:
                    k = next(k for k, t in enumerate(texts) if len(t) > max_cell_chars)
                    name = header[k].strip() if k < len(header) and header[k].strip() else _letters(k)
                    raise _cell_too_long(file_name, n, name, texts[k], max_cell_chars)
                if n == 1:
                    header = texts
                rows.append(texts)
        except (SyntaxError, zipfile.BadZipFile, OSError) as e:
            raise refuse("FILE_MALFORMED", f"{file_name}: part {xml_path} of the workbook is not readable ({e})"
                         ) from None
    finally:
        wb.close()
    if not rows or not any(c.strip() for c in rows[0]):
        raise refuse("EMPTY_FILE", f"{file_name}: sheet {title!r} is empty or its first row (the header) "
                     "is blank")
    width = max(len(r) for r in rows)
    header = rows[0] + [""] * (width - len(rows[0]))
    while header and not header[-1].strip() and all(len(r) < len(header) or not r[len(header) - 1].strip()
                                                    for r in rows[1:]):
        header.pop()
    width = len(header)
    unnamed = [i for i, h in enumerate(header) if not h.strip()]
    if unnamed:
        raise refuse("MISSING_COLUMNS", f"{file_name}: sheet {title!r} column {_letters(unnamed[0])} has values "
                     "but no header", row=1)
    refuse_repeated_columns(header, file_name)
    body = [(r + [""] * (width - len(r)))[:width] for r in rows[1:]]
    frame = pd.DataFrame(body, columns=[h.strip() for h in header], dtype=object).astype(str)
    raw = RawTable(frame, np.arange(len(frame)) + 2, "xlsx", sheet=title)
    merges, formulas = _sheet_marks(data, xml_path)
    _merged_cells(merges, header, raw, file_name)
    if formulas:
        _formulas(data, title, header, raw, file_name)
    return raw


# --- what a workbook may hold, checked before openpyxl parses a byte of it ---------------------------


class _PrologEnd(Exception):
    """The first element began: a DOCTYPE can no longer follow."""


class _Doctype(Exception):
    pass


def _inspect_workbook(data: bytes, file_name: str, max_unpacked: int, max_ratio: int) -> None:
    """Refuse a workbook that would inflate past the limits or whose XML declares a document type.

    First from the zip's directory, before anything is inflated: the total of the parts' sizes, and
    each part's ratio of inflated to compressed size. Then every part is inflated once, in chunks,
    counting the bytes it really yields (the directory can lie; a reader that trusts it stops at the
    size claimed and fails its checksum, but a part is never inflated past the limit here), and each
    part that is XML is parsed (expat) up to its first element, where a DOCTYPE would be: an entity
    can read a local file or expand a few bytes into gigabytes, and Excel never writes one."""
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
        parts = [i for i in z.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise refuse("FILE_MALFORMED", f"{file_name}: not a readable XLSX workbook ({e})") from None
    declared = sum(i.file_size for i in parts)
    if declared > max_unpacked:
        largest = max(parts, key=lambda i: i.file_size)
        raise refuse("FILE_TOO_LARGE", f"{file_name}: the workbook inflates to {declared} bytes (its largest part, "
                     f"{largest.filename}, {largest.file_size} bytes), over the limit of {max_unpacked} bytes; "
                     "it was not read")
    for i in parts:
        if i.file_size > RATIO_GRACE_BYTES and i.file_size > max_ratio * max(i.compress_size, 1):
            raise refuse("FILE_TOO_LARGE", f"{file_name}: part {i.filename} inflates from {i.compress_size} to "
                         f"{i.file_size} bytes ({i.file_size // max(i.compress_size, 1)}:1), over the limit of "
                         f"{max_ratio}:1 for a compressed part (a zip bomb); the workbook was not read")
    total = 0
    with z:  # the archive is closed however the inspection ends
        for i in parts:
            allowed = min(max_unpacked - total, max(RATIO_GRACE_BYTES, max_ratio * i.compress_size))
            size = _inspect_part(z, i, allowed, file_name)
            if size > allowed:
                why = (f"{max_ratio} times its {i.compress_size} compressed bytes"
                       if allowed < max_unpacked - total else f"the workbook's limit of {max_unpacked} bytes in all")
                raise refuse("FILE_TOO_LARGE", f"{file_name}: part {i.filename} inflates past {allowed} bytes ({why}) "
                             f"although the workbook's directory says {i.file_size}; it was not read")
            if size != i.file_size:
                raise refuse("FILE_MALFORMED", f"{file_name}: part {i.filename} inflates to {size} bytes but the "
                             f"workbook's directory says {i.file_size}; the workbook is damaged or forged")
            total += size


def _inspect_part(z: zipfile.ZipFile, info: zipfile.ZipInfo, allowed: int, file_name: str) -> int:
    """Inflate one part in chunks, at most allowed + 1 bytes; expat-parse its prolog if it is XML.
    Returns the bytes it yielded (allowed + 1 when it goes on past the limit)."""
    probe = copy.copy(info)
    # zipfile stops at the size the directory claims, and checks the CRC there: claim more than the
    # limit and a chunk or two, so a part that goes on past the limit is counted, not cut short
    probe.file_size = allowed + 1 + 2 * _CHUNK
    parser: Any = None
    size = 0
    try:
        with z.open(probe) as stream:
            for n, chunk in enumerate(_chunks(stream)):
                size += len(chunk)
                if size > allowed:
                    return size
                if n == 0 and _looks_like_xml(info.filename, chunk):
                    parser = _prolog_parser()
                if parser is not None:
                    try:
                        parser.Parse(chunk, False)
                    except _PrologEnd:
                        parser = None
                    except _Doctype:
                        raise refuse("UNSAFE_XML", f"{file_name}: part {info.filename} declares a document type "
                                     "(<!DOCTYPE ...>), which Excel never writes and which can read local files "
                                     "or expand without bound through its entities; the workbook was not read "
                                     "(save it again from Excel, or export it again from the branch system)"
                                     ) from None
                    except expat.ExpatError as e:
                        raise refuse("FILE_MALFORMED", f"{file_name}: part {info.filename} is not well-formed XML "
                                     f"({expat.ErrorString(e.code)} at line {e.lineno}, column {e.offset})"
                                     ) from None
    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, EOFError) as e:
        raise refuse("FILE_MALFORMED", f"{file_name}: part {info.filename} of the workbook cannot be inflated "
                     f"({e})") from None
    if parser is not None:  # an XML part that ended before its first element
        try:
            parser.Parse(b"", True)
        except (_PrologEnd, expat.ExpatError):
            pass
    return size


def _chunks(stream: IO[bytes]) -> Iterator[bytes]:
    while chunk := stream.read(_CHUNK):
        yield chunk


def _looks_like_xml(name: str, head: bytes) -> bool:
    """Parts openpyxl parses are XML by name or by their first bytes (UTF-8 or UTF-16, with or
    without a byte order mark); images and printer settings are left alone."""
    if name.lower().endswith((".xml", ".rels", ".vml")):
        return True
    # NULs too: UTF-16 (either byte order) or UTF-32 without a byte order mark, after leading whitespace,
    # is b"\x00 \x00<" or b" \x00<\x00": stripping only ASCII whitespace let such a part skip the DOCTYPE check
    stripped = head.lstrip(b" \t\r\n\x00")
    return stripped.startswith((b"<", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"))


def _prolog_parser() -> Any:
    def doctype(*_: Any) -> None:
        raise _Doctype

    def element(*_: Any) -> None:
        raise _PrologEnd

    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = doctype
    parser.StartElementHandler = element
    return parser


_MARKS_OVERLAP = 256  # longer than any mergeCell element or formula tag the scan looks for


def _sheet_marks(data: bytes, xml_path: str) -> tuple[list[tuple[str, int, str, int]], bool]:
    """The sheet's merged ranges (first column, first row, last column, last row) and whether any
    cell holds a formula, scanned in chunks (the sheet is never held whole)."""
    merges: list[tuple[str, int, str, int]] = []
    formulas = False
    with zipfile.ZipFile(io.BytesIO(data)) as z, z.open(xml_path) as stream:
        tail = b""
        for chunk in [*_chunks(stream), b""]:
            buf = tail + chunk
            last = len(buf) if not chunk else len(buf) - _MARKS_OVERLAP
            done = 0
            for m in _MERGE_RE.finditer(buf):
                if m.end() > last:
                    break
                merges.append((m.group(1).decode(), int(m.group(2)), (m.group(3) or m.group(1)).decode(),
                               int(m.group(4) or m.group(2))))
                done = m.end()
            formulas = formulas or _FORMULA_RE.search(buf) is not None
            tail = buf[max(done, last - _MARKS_OVERLAP, 0):] if chunk else b""
    return merges, formulas


def _letters(index: int) -> str:
    s, n = "", index + 1
    while n:
        n, r = divmod(n - 1, 26)
        s = chr(65 + r) + s
    return s


def _merged_cells(merges: list[tuple[str, int, str, int]], header: list[str], raw: RawTable, file_name: str
                  ) -> None:
    """A merged range leaves every cell but its first empty: a value that seems to apply to several
    rows applies, in the file, to one. Refuse the header, and every data row a merge covers."""
    for c1, r1, c2, r2 in merges:
        ref = f"{c1}{r1}:{c2}{r2}"
        first_col = _col_index(c1)
        if first_col >= len(header):
            continue
        column = header[first_col].strip()
        if r1 == 1:
            raise refuse("MERGED_CELLS", f"{file_name}: header cells {ref} are merged; every column needs its "
                         "own header cell", row=1, column=column)
        for row in range(r1, r2 + 1):
            raw.row_errors.append(Finding("MERGED_CELLS", f"cells {ref} are merged; unmerge them and fill in "
                                          "every row's own value", row=row, column=column))


def _formulas(data: bytes, title: str, header: list[str], raw: RawTable, file_name: str) -> None:
    """Values, not formulas: a formula cell is read as the value Excel saved with it. A formula
    without a saved value (the workbook was written by a program and never opened in Excel) cannot
    be read: that row is refused."""
    import openpyxl

    wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    count, example = 0, ""  # formulas whose saved value was read
    try:
        ws = wb[title]
        ws.reset_dimensions()  # type: ignore[union-attr]  # every row, as _read_xlsx read them
        for r, cells in enumerate(ws.iter_rows(), start=1):
            for cell in cells:
                if getattr(cell, "data_type", None) != "f":
                    continue
                col = getattr(cell, "column", None)
                if col is None or col - 1 >= len(header):
                    continue
                ref = f"{_letters(col - 1)}{r}"
                if r == 1:
                    raise refuse("FORMULA_CELLS", f"{file_name}: header cell {ref} is a formula", row=1)
                if str(raw.frame.iat[r - 2, col - 1]).strip():
                    count += 1
                    example = example or f"{ref} {cell.value}"
                else:
                    raw.row_errors.append(Finding(
                        "FORMULA_WITHOUT_VALUE", f"cell {ref} holds the formula {cell.value} but no saved value; "
                        "open the file in Excel, save it, and send it again", row=r,
                        column=header[col - 1].strip()))
    finally:
        wb.close()
    if count:
        raw.warnings.append(Finding("FORMULA_CELLS", f"{file_name}: {count} cell(s) hold formulas (e.g. "
                                    f"{example}); the values saved with them were read"))
