"""Intake of a branch payee list: bytes in, normalized rows and findings out. No database, no I/O.

Whole-file problems (unreadable, missing columns, no rows, declared totals that do not reconcile)
reject the file; row problems reject the row with its row number, column and a reason. Row numbers
follow the spreadsheet convention: the header is row 1, the first data row is row 2. Every rule runs
on whole columns; Python loops only touch the few rows that failed, to word their messages.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from payroll.country import CountryProfile
from payroll.money import exact_sum
from payroll.normalize import compact_id_series, normalize_name_series, to_ascii_digits_series
from payroll.period import Period

PAYEE_COLUMNS = (
    "pension_id", "national_id", "full_name", "birth_date", "benefit_type",
    "gross_amount", "deduction_amount", "net_amount", "account_code",
)
AMOUNT_COLUMNS = ("gross_amount", "deduction_amount", "net_amount")
BENEFIT_TYPES = ("OLD_AGE", "DISABILITY", "SURVIVOR")
MAX_AMOUNT_DIGITS = 15  # far above any pension; keeps every amount and sum exact in int64

_PENSION_ID = r"[A-Za-z0-9]{1,20}"
_AMOUNT = rf"-?[0-9]{{1,{MAX_AMOUNT_DIGITS}}}"
_DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"

ROWS_SCHEMA = pa.schema([
    ("row_no", pa.int32()),
    ("pension_id", pa.string()),
    ("national_id", pa.string()),
    ("full_name", pa.string()),
    ("birth_date", pa.string()),
    ("benefit_type", pa.string()),
    ("gross_amount", pa.int64()),
    ("deduction_amount", pa.int64()),
    ("net_amount", pa.int64()),
    ("account_code", pa.string()),
])


@dataclass(frozen=True)
class Finding:
    """One reason to refuse a row (row set) or a whole file (row None)."""

    code: str
    message: str
    row: int | None = None
    column: str | None = None
    pension_id: str | None = None
    national_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "code": self.code, "message": self.message}


@dataclass
class IntakeResult:
    file_name: str
    rows_read: int
    counted_total: int | None
    accepted: pd.DataFrame  # normalized, typed, ROWS_SCHEMA columns
    row_errors: list[Finding] = field(default_factory=list)
    file_errors: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "rejected" if self.file_errors else "accepted"

    @property
    def rows_rejected(self) -> int:
        return len({f.row for f in self.row_errors})

    @property
    def accepted_total(self) -> int:
        return exact_sum(self.accepted["net_amount"].to_numpy()) if len(self.accepted) else 0

    def accepted_table(self) -> pa.Table:
        return pa.Table.from_pandas(self.accepted[list(ROWS_SCHEMA.names)], schema=ROWS_SCHEMA,
                                    preserve_index=False)


class FileRefused(Exception):
    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.message)
        self.finding = finding


# --- reading ----------------------------------------------------------------------------------------


def _refuse(code: str, message: str, row: int | None = None, column: str | None = None) -> FileRefused:
    return FileRefused(Finding(code, message, row=row, column=column))


def _read_csv(data: bytes, file_name: str) -> pd.DataFrame:
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise _refuse("FILE_MALFORMED", f"{file_name}: NUL byte in line {line}; not a text file", row=line)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise _refuse("ENCODING", f"{file_name}: not valid UTF-8 at byte {e.start} (line {line}); "
                      "save the file as UTF-8 and send it again", row=line) from None
    if not text.strip():
        raise _refuse("EMPTY_FILE", f"{file_name}: the file is empty")
    _refuse_repeated_columns(next(csv.reader(io.StringIO(text)), []), file_name)
    try:
        return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False,
                           skip_blank_lines=False, engine="c")
    except pd.errors.ParserError as e:
        m = re.search(r"line (\d+)", str(e))
        raise _refuse("FILE_MALFORMED", f"{file_name}: {e}".strip(),
                      row=int(m.group(1)) if m else None) from None


def _refuse_repeated_columns(names: list[str], file_name: str) -> None:
    stripped = [str(n).strip().lstrip("\ufeff") for n in names]
    repeated = sorted({n for n in stripped if stripped.count(n) > 1})
    if repeated:
        raise _refuse("DUPLICATE_COLUMN", f"{file_name}: column(s) {', '.join(repeated)} appear twice in the "
                      "header", row=1, column=repeated[0])


def _read_parquet(data: bytes, file_name: str) -> pd.DataFrame:
    try:
        parquet = pq.ParquetFile(pa.BufferReader(data))
        _refuse_repeated_columns(parquet.schema_arrow.names, file_name)
        table = parquet.read()
    except (pa.ArrowInvalid, OSError) as e:
        raise _refuse("FILE_MALFORMED", f"{file_name}: not a readable Parquet file ({e})") from None
    columns: dict[str, pd.Series] = {}
    for name, col in zip(table.column_names, table.columns, strict=True):
        t = col.type
        if name in AMOUNT_COLUMNS and pa.types.is_floating(t):
            raise _refuse("INVALID_AMOUNT", f"{file_name}: column {name} holds floating-point numbers; "
                          "amounts must be whole numbers of minor units (integers)", column=name)
        if pa.types.is_timestamp(t):
            col = pc.cast(col, pa.date32(), safe=False)
        # text conversion in Arrow: an integer column with a null stays integer text, never float
        columns[name] = pc.cast(col, pa.string()).to_pandas().fillna("").astype(str)
    return pd.DataFrame(columns)


def read_table(data: bytes, file_name: str) -> pd.DataFrame:
    """Every cell as text; whole-file problems raise FileRefused."""
    lower = file_name.lower()
    if lower.endswith(".parquet") or data[:4] == b"PAR1":
        return _read_parquet(data, file_name)
    if lower.endswith((".csv", ".txt")):
        return _read_csv(data, file_name)
    raise _refuse("UNSUPPORTED_FORMAT", f"{file_name}: unsupported file type; send CSV (UTF-8) or Parquet")


# --- row rules --------------------------------------------------------------------------------------


class _Errors:
    """Collects (row index, column, code, message) from vectorized rules."""

    def __init__(self) -> None:
        self.parts: list[pd.DataFrame] = []

    def add(self, mask: pd.Series | np.ndarray, column: str, code: str, message: pd.Series | str) -> None:
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        idx = np.flatnonzero(mask)
        msg = message[mask].to_numpy() if isinstance(message, pd.Series) else np.full(idx.size, message)
        self.parts.append(pd.DataFrame({"idx": idx, "column": column, "code": code, "message": msg}))

    def frame(self) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame({"idx": np.array([], dtype=np.int64), "column": [], "code": [], "message": []})
        return pd.concat(self.parts, ignore_index=True).sort_values(["idx"], kind="stable")


def _quoted(s: pd.Series) -> pd.Series:
    return "'" + s.astype(str) + "'"


def _identifier_reasons(module: Any, values: pd.Series, bad: np.ndarray, label: str) -> pd.Series:
    """Word the reason for each invalid identifier; loops only over the failures."""
    out = pd.Series("", index=values.index, dtype=object)
    for i in np.flatnonzero(bad):
        try:
            module.validate(values.iat[i])
            reason = "is not valid"
        except Exception as e:  # stdnum's ValidationError subclasses carry a precise message
            reason = str(e).rstrip(".").lower() or "is not valid"
        out.iat[i] = f"{label} {module.mask(values.iat[i]) if len(values.iat[i]) > 4 else values.iat[i]!r}: {reason}"
    return out


def validate_rows(raw: pd.DataFrame, profile: CountryProfile, period: Period,
                  row_numbers: np.ndarray | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Normalize and check every row (positional index). Returns (normalized frame, errors keyed by
    position). `row_numbers` are the rows as the file numbers them (default: position + 2)."""
    if row_numbers is None:
        row_numbers = np.arange(len(raw)) + 2
    errors = _Errors()
    norm = pd.DataFrame(index=raw.index)
    stripped = {c: raw[c].astype(str).str.strip() for c in PAYEE_COLUMNS}
    empty = {c: (stripped[c] == "").to_numpy() for c in PAYEE_COLUMNS}
    for c in PAYEE_COLUMNS:
        errors.add(empty[c], c, "MISSING_VALUE", f"{c} is empty")

    norm["pension_id"] = compact_id_series(stripped["pension_id"])
    bad = ~empty["pension_id"] & ~norm["pension_id"].str.fullmatch(_PENSION_ID, flags=re.ASCII).to_numpy(bool)
    errors.add(bad, "pension_id", "INVALID_PENSION_ID",
               "pension id " + _quoted(stripped["pension_id"]) + " is not 1 to 20 letters or digits")

    norm["national_id"] = profile.national_id.compact_series(stripped["national_id"])
    bad = ~empty["national_id"] & ~profile.national_id.valid_mask(norm["national_id"])
    errors.add(bad, "national_id", "INVALID_NATIONAL_ID",
               _identifier_reasons(profile.national_id, norm["national_id"], bad, "national id"))

    norm["full_name"] = normalize_name_series(stripped["full_name"])
    now_empty = ~empty["full_name"] & (norm["full_name"] == "").to_numpy()
    errors.add(now_empty, "full_name", "MISSING_VALUE", "full_name has no letters")

    birth = to_ascii_digits_series(stripped["birth_date"])
    parsed = pd.to_datetime(birth.where(birth.str.fullmatch(_DATE, flags=re.ASCII)), format="%Y-%m-%d",
                            errors="coerce")
    bad = ~empty["birth_date"] & parsed.isna().to_numpy()
    errors.add(bad, "birth_date", "INVALID_DATE",
               "birth date " + _quoted(stripped["birth_date"]) + " is not a real date written YYYY-MM-DD")
    implausible = (parsed.dt.year < 1900) | (parsed > pd.Timestamp(period.end))
    errors.add(implausible.fillna(False).to_numpy(bool), "birth_date", "INVALID_DATE",
               "birth date " + _quoted(birth) + f" is before 1900 or after the period {period}")
    norm["birth_date"] = birth

    norm["benefit_type"] = stripped["benefit_type"].str.upper()
    bad = ~empty["benefit_type"] & ~norm["benefit_type"].isin(BENEFIT_TYPES).to_numpy()
    errors.add(bad, "benefit_type", "UNKNOWN_BENEFIT_TYPE",
               "benefit type " + _quoted(stripped["benefit_type"]) + " is not one of " + ", ".join(BENEFIT_TYPES))

    parsed_ok: dict[str, np.ndarray] = {}
    for c in AMOUNT_COLUMNS:
        text = to_ascii_digits_series(stripped[c])
        ok = text.str.fullmatch(_AMOUNT, flags=re.ASCII).to_numpy(bool)
        errors.add(~empty[c] & ~ok, c, "INVALID_AMOUNT",
                   f"{c} " + _quoted(stripped[c]) + " is not a whole number of minor units "
                   f"(digits only, at most {MAX_AMOUNT_DIGITS})")
        norm[c] = pd.to_numeric(text.where(ok, "0")).astype("int64")
        parsed_ok[c] = ok
    gross, ded, net = (norm[c].to_numpy() for c in AMOUNT_COLUMNS)
    errors.add(parsed_ok["gross_amount"] & (gross <= 0), "gross_amount", "NON_POSITIVE_AMOUNT",
               "gross_amount " + norm["gross_amount"].astype(str) + " must be positive")
    errors.add(parsed_ok["deduction_amount"] & (ded < 0), "deduction_amount", "NON_POSITIVE_AMOUNT",
               "deduction_amount " + norm["deduction_amount"].astype(str) + " must not be negative")
    errors.add(parsed_ok["net_amount"] & (net <= 0), "net_amount", "NON_POSITIVE_AMOUNT",
               "net_amount " + norm["net_amount"].astype(str) + " must be positive")
    all_ok = parsed_ok["gross_amount"] & parsed_ok["deduction_amount"] & parsed_ok["net_amount"]
    errors.add(all_ok & (net != gross - ded), "net_amount", "AMOUNT_MISMATCH",
               "net_amount " + norm["net_amount"].astype(str) + " is not gross_amount "
               + norm["gross_amount"].astype(str) + " minus deduction_amount "
               + norm["deduction_amount"].astype(str))

    norm["account_code"] = profile.account.compact_series(stripped["account_code"])
    bad = ~empty["account_code"] & ~profile.account.valid_mask(norm["account_code"])
    errors.add(bad, "account_code", "INVALID_ACCOUNT_CODE",
               _identifier_reasons(profile.account, norm["account_code"], bad, "account code"))
    if profile.account_is_iban:
        foreign = ~empty["account_code"] & ~bad & ~norm["account_code"].str.startswith(profile.code).to_numpy(bool)
        errors.add(foreign, "account_code", "INVALID_ACCOUNT_CODE",
                   "account code is a " + norm["account_code"].str.slice(0, 2) + f" IBAN; pensions are paid to "
                   f"{profile.code} accounts")

    _duplicates(norm, empty, errors, row_numbers)
    return norm, errors.frame()


def _duplicates(norm: pd.DataFrame, empty: dict[str, np.ndarray], errors: _Errors,
                row_numbers: np.ndarray) -> None:
    """(pension_id, national_id) must be unique in a file. An exact copy of an earlier row is
    rejected and the first kept; rows sharing the key with different contents are all rejected,
    because nobody can tell which one is right. Detection is vectorized; the loop runs over
    duplicated groups only."""
    keyed = ~(empty["pension_id"] | empty["national_id"])
    key = norm["pension_id"] + "\x1f" + norm["national_id"]
    dup = key.duplicated(keep=False).to_numpy() & keyed
    if not dup.any():
        return
    content = pd.util.hash_pandas_object(norm[dup], index=False)
    mask = np.zeros(len(norm), dtype=bool)
    message = pd.Series("", index=norm.index, dtype=object)
    for group in content.groupby(key[dup], sort=False).groups.values():
        rows = list(group)
        if content[rows].nunique() == 1:
            for i in rows[1:]:
                mask[i], message[i] = True, f"exact copy of row {row_numbers[rows[0]]}"
        else:
            for i in rows:
                others = ", ".join(str(row_numbers[j]) for j in rows if j != i)
                mask[i] = True
                message[i] = f"pension id and national id also appear in row(s) {others} with different values"
    errors.add(mask, "pension_id", "DUPLICATE_ROW", message)


# --- the whole file ---------------------------------------------------------------------------------


def read_payee_file(
    data: bytes,
    file_name: str,
    *,
    profile: CountryProfile,
    period: Period,
    declared_count: int | None = None,
    declared_total: int | None = None,
) -> IntakeResult:
    empty_rows = pd.DataFrame({c: pd.Series(dtype=ROWS_SCHEMA.field(c).type.to_pandas_dtype())
                               for c in ROWS_SCHEMA.names})

    def refused(f: Finding, rows_read: int = 0, total: int | None = None) -> IntakeResult:
        return IntakeResult(file_name, rows_read, total, empty_rows, file_errors=[f])

    try:
        raw = read_table(data, file_name)
    except FileRefused as e:
        return refused(e.finding)

    raw.columns = [str(c).strip().lstrip("\ufeff") for c in raw.columns]
    missing = [c for c in PAYEE_COLUMNS if c not in raw.columns]
    if missing:
        return refused(Finding("MISSING_COLUMNS", f"{file_name}: missing column(s) {', '.join(missing)}; "
                               f"the header must name {', '.join(PAYEE_COLUMNS)}", row=1, column=missing[0]))
    warnings = [Finding("UNKNOWN_COLUMN", f"{file_name}: column {c!r} is not part of the payee list and "
                        "was not read", row=1, column=c) for c in raw.columns if c not in PAYEE_COLUMNS]
    raw = raw.reset_index(drop=True)
    blank = (raw.astype(str).apply(lambda c: c.str.strip()) == "").all(axis=1).to_numpy()
    if blank.any():  # an empty line is not a payee; say so, and keep every other row's true number
        lines = ", ".join(str(i + 2) for i in np.flatnonzero(blank)[:10])
        warnings.append(Finding("BLANK_ROWS", f"{file_name}: {int(blank.sum())} empty row(s) ignored "
                                f"(row {lines}{', ...' if blank.sum() > 10 else ''})"))
    row_numbers = np.flatnonzero(~blank) + 2
    raw = raw[~blank].reset_index(drop=True)
    rows_read = len(raw)
    if rows_read == 0:
        return refused(Finding("NO_ROWS", f"{file_name}: the file has a header but no payee rows"))

    norm, err = validate_rows(raw, profile, period, row_numbers)

    net_text = to_ascii_digits_series(raw["net_amount"].astype(str).str.strip())
    net_ok = net_text.str.fullmatch(_AMOUNT, flags=re.ASCII).to_numpy(bool)
    counted_total = exact_sum(norm["net_amount"].to_numpy()[net_ok])

    file_errors: list[Finding] = []
    if declared_count is not None and declared_count != rows_read:
        file_errors.append(Finding("DECLARED_COUNT_MISMATCH",
                                   f"{file_name}: declared {declared_count} rows but the file has {rows_read}"))
    if declared_total is not None and declared_total != counted_total:
        unparsed = int((~net_ok).sum())
        extra = f" ({unparsed} row(s) have no readable net_amount)" if unparsed else ""
        file_errors.append(Finding("DECLARED_TOTAL_MISMATCH",
                                   f"{file_name}: declared total {declared_total} but the net amounts add up "
                                   f"to {counted_total}{extra}"))

    norm.insert(0, "row_no", row_numbers.astype("int32"))
    row_errors = [
        Finding(code, message, row=int(row_numbers[idx]), column=column,
                pension_id=norm.at[idx, "pension_id"] or None, national_id=norm.at[idx, "national_id"] or None)
        for idx, column, code, message in err[["idx", "column", "code", "message"]].itertuples(index=False)
    ]
    if file_errors:
        return IntakeResult(file_name, rows_read, counted_total, empty_rows, row_errors, file_errors, warnings)
    accepted = norm.drop(index=err["idx"].unique()).reset_index(drop=True)
    return IntakeResult(file_name, rows_read, counted_total, accepted, row_errors, [], warnings)


def safe_file_name(name: str) -> str:
    """A submitted file's name is stored and shown, never used as a path: refuse one that carries a
    directory part, a parent reference or control characters, rather than guess what was meant."""
    from payroll.errors import Refused

    if (not name or name in (".", "..") or "/" in name or "\\" in name
            or any(ord(ch) < 32 or ord(ch) == 127 for ch in name) or len(name) > 255):
        raise Refused("UNSAFE_FILE_NAME", f"file name {name!r} is not a plain file name (no folders, no '..', "
                      "no control characters, at most 255 characters); rename the file and send it again")
    return name
