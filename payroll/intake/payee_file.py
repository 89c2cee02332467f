"""Intake of a branch payee list: bytes in, typed rows, findings and the quality gate's verdict out.

No database, no files written. The steps, each its own module:
1. reading: format, encoding, delimiter, size and row limits -> text cells (payroll.intake.reading)
2. columns: the branch system's headers -> payee fields, unknown columns reported (.columns)
3. parsing: digits, separators, dates, labels -> typed rows; what cannot be read exactly is a finding
   (.parsing). Survivor rows may name the deceased insured person and their share (optional columns
   insured_id, share_percent -> insured_id, share_bp; null where not given)
4. exact copies of an earlier row are dropped with a finding
5. the quality gate (validations, Great Expectations): not-null, id patterns and check digits,
   amounts and ages per benefit type, uniqueness
6. file-level verdicts: declared count and total, the period, the share of bad rows
Row numbers follow the spreadsheet convention: the header is row 1, the first data row is row 2.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from payroll.benefits import benefit_rules
from payroll.country import CountryProfile
from payroll.intake.columns import PAYEE_COLUMNS, SURVIVOR_COLUMNS, expected_headers, resolve
from payroll.intake.findings import FileRefused, Finding
from payroll.intake.parsing import AMOUNT_COLUMNS, Problems, parse_rows
from payroll.intake.reading import MAX_CELL_CHARS, MAX_UNPACK_RATIO, read_raw
from payroll.money import exact_sum
from payroll.normalize import to_ascii_digits_series
from payroll.period import Period

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
    # survivor benefits (optional columns; null on other rows and in files without them)
    ("insured_id", pa.string()),  # national id of the deceased insured person whose pension is shared
    ("share_bp", pa.int32()),  # the survivor's share of that pension in basis points: 5000 = 50%
])
# findings on one row are listed in this order of their columns
FINDING_ORDER = (*PAYEE_COLUMNS, *SURVIVOR_COLUMNS)


@dataclass(frozen=True)
class Limits:
    max_rows: int | None = None
    max_bad_row_percent: float = 100.0  # a file with more bad rows than this is refused whole
    max_unpacked_bytes: int | None = None  # an XLSX workbook in all; None: from max_rows
    max_unpack_ratio: int = MAX_UNPACK_RATIO  # one XLSX part against its compressed size
    max_cell_chars: int = MAX_CELL_CHARS


@dataclass
class IntakeResult:
    file_name: str
    rows_read: int
    counted_total: int | None
    accepted: pd.DataFrame  # normalized, typed, ROWS_SCHEMA columns
    row_errors: list[Finding] = field(default_factory=list)
    file_errors: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    source: dict[str, Any] = field(default_factory=dict)  # format, encoding, delimiter, sheet, columns
    gate: Any = None  # validations.gate.GateResult when the gate ran

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


Gate = Callable[[pd.DataFrame, CountryProfile, Period], Any]


def default_gate(frame: pd.DataFrame, profile: CountryProfile, period: Period) -> Any:
    from validations.gate import run_gate  # Great Expectations loads only when a file is checked

    return run_gate(frame, profile, period, benefit_rules(profile.code))


def default_gate_many(frames: list[pd.DataFrame], profile: CountryProfile, period: Period) -> list[Any]:
    """One quality-gate run over several files' frames; one result per frame (validations.gate)."""
    from validations.gate import run_gate_many

    return run_gate_many(frames, profile, period, benefit_rules(profile.code))


def _empty_rows() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=ROWS_SCHEMA.field(c).type.to_pandas_dtype()) for c in ROWS_SCHEMA.names})


@dataclass
class CellsFile:
    """A branch file read and its columns resolved, before parsing: what ``parse_cells`` needs."""

    file_name: str
    period: Period
    rows_read: int
    table: pd.DataFrame  # the file's cells under payee field names (the period column too), blank rows out
    row_numbers: np.ndarray  # the spreadsheet row of each row of `table`
    reader_findings: list[Finding]  # cells the reader itself could not trust (merged cells...)
    warnings: list[Finding]
    source: dict[str, Any]
    declared_count: int | None
    declared_total: int | None
    limits: Limits

    @property
    def survivor_columns(self) -> bool:
        return all(c in self.table.columns for c in SURVIVOR_COLUMNS)


@dataclass
class ParsedFile:
    """A branch file read and parsed, before the quality gate: what ``finish_payee_file`` needs."""

    file_name: str
    period: Period
    rows_read: int
    table: pd.DataFrame  # the file's cells under payee field names (the period column too)
    norm: pd.DataFrame  # typed rows with row_no
    copies: pd.Series  # index of an exact copy -> the row number of the row it repeats
    parse_findings: list[Finding]
    warnings: list[Finding]
    source: dict[str, Any]
    declared_count: int | None
    declared_total: int | None
    limits: Limits

    def gate_frame(self) -> pd.DataFrame:
        """The rows the gate judges: every row but exact copies of an earlier one."""
        return self.norm.loc[~self.norm.index.isin(self.copies.index)].reset_index(drop=True)

    @property
    def gate_rows(self) -> int:
        return len(self.norm) - len(self.copies)


def read_payee_file(
    data: bytes,
    file_name: str,
    *,
    profile: CountryProfile,
    period: Period,
    declared_count: int | None = None,
    declared_total: int | None = None,
    encoding: str | None = None,
    sheet: str | None = None,
    system: str | None = None,
    limits: Limits = Limits(),
    gate: Gate | None = None,
) -> IntakeResult:
    """One file: read and parse it, gate it, finish it (the three steps below)."""
    parsed = read_payee_table(data, file_name, profile=profile, period=period, declared_count=declared_count,
                              declared_total=declared_total, encoding=encoding, sheet=sheet, system=system,
                              limits=limits)
    if isinstance(parsed, IntakeResult):
        return parsed
    return finish_payee_file(parsed, (gate or default_gate)(parsed.gate_frame(), profile, period))


def read_payee_table(
    data: bytes,
    file_name: str,
    *,
    profile: CountryProfile,
    period: Period,
    declared_count: int | None = None,
    declared_total: int | None = None,
    encoding: str | None = None,
    sheet: str | None = None,
    system: str | None = None,
    limits: Limits = Limits(),
) -> ParsedFile | IntakeResult:
    """Read and parse a file up to the quality gate. A file refused before the gate (unreadable, no
    columns, no rows) comes back as its final IntakeResult; otherwise a ParsedFile whose
    ``gate_frame()`` is validated (alone or in a batch, validations.gate.run_gate_many) and then
    given to ``finish_payee_file``. The two steps apart, for many files: ``read_payee_cells`` per file,
    then ``parse_cells`` over them all."""
    cells = read_payee_cells(data, file_name, profile=profile, period=period, declared_count=declared_count,
                             declared_total=declared_total, encoding=encoding, sheet=sheet, system=system,
                             limits=limits)
    if isinstance(cells, IntakeResult):
        return cells
    return parse_cells([cells], profile)[0]


def read_payee_cells(
    data: bytes,
    file_name: str,
    *,
    profile: CountryProfile,
    period: Period,
    declared_count: int | None = None,
    declared_total: int | None = None,
    encoding: str | None = None,
    sheet: str | None = None,
    system: str | None = None,
    limits: Limits = Limits(),
) -> CellsFile | IntakeResult:
    """Read a file and resolve its columns: its cells under payee field names, blank rows out. A file
    refused here (unreadable, a column missing or repeated, amounts as floats, no rows) comes back as its
    final IntakeResult."""
    def refused(f: Finding, rows_read: int = 0, total: int | None = None, **kw: Any) -> IntakeResult:
        return IntakeResult(file_name, rows_read, total, _empty_rows(), file_errors=[f], **kw)

    try:
        raw = read_raw(data, file_name, encoding=encoding, sheet=sheet, max_rows=limits.max_rows,
                       max_unpacked_bytes=limits.max_unpacked_bytes, max_unpack_ratio=limits.max_unpack_ratio,
                       max_cell_chars=limits.max_cell_chars)
    except FileRefused as e:
        return refused(e.finding)
    source = raw.describe()
    warnings = list(raw.warnings)

    resolution = resolve(list(raw.frame.columns), system)
    if resolution.repeated:
        f, headers = next(iter(resolution.repeated.items()))
        return refused(Finding("DUPLICATE_COLUMN", f"{file_name}: columns {', '.join(repr(h) for h in headers)} "
                               f"all name {f}; keep one", row=1, column=headers[1]), source=source)
    if resolution.missing:
        named = "; ".join(f"{c} ({' / '.join(expected_headers(c, system))})" for c in resolution.missing)
        return refused(Finding("MISSING_COLUMNS", f"{file_name}: no column for {named}", row=1,
                               column=resolution.missing[0]), source=source)
    survivor = [c for c in SURVIVOR_COLUMNS if c in resolution.rename.values()]
    if len(survivor) == 1:  # a share without whose pension it is (or the reverse) cannot be checked
        lacking = next(c for c in SURVIVOR_COLUMNS if c not in survivor)
        return refused(Finding("MISSING_COLUMNS", f"{file_name}: the file has a {survivor[0]} column but no column "
                               f"for {lacking} ({' / '.join(expected_headers(lacking, system))}); survivor benefits "
                               "need both, or neither", row=1, column=lacking), source=source)
    warnings += [Finding("UNKNOWN_COLUMN", f"{file_name}: column {c!r} is not part of the payee list and was "
                         "not read", row=1, column=c) for c in resolution.unknown]
    floats = [f for f in AMOUNT_COLUMNS
              if any(resolution.rename.get(c) == f for c in raw.float_columns)]
    if floats:
        return refused(Finding("INVALID_AMOUNT", f"{file_name}: column {floats[0]} holds floating-point "
                               "numbers; amounts must be whole numbers of minor units (integers)",
                               column=floats[0]), source=source)
    source["columns"] = {h: f for h, f in resolution.rename.items() if h != f}
    table = raw.frame.rename(columns=resolution.rename)
    table = table[[c for c in table.columns if c in resolution.rename.values()]]

    blank = _blank_rows(table)
    if blank.any():  # an empty line is not a payee; say so, and keep every other row's true number
        shown = ", ".join(str(n) for n in raw.row_numbers[blank][:10])
        warnings.append(Finding("BLANK_ROWS", f"{file_name}: {int(blank.sum())} empty row(s) ignored "
                                f"(row {shown}{', ...' if blank.sum() > 10 else ''})"))
        row_numbers = raw.row_numbers[~blank]
        table = table[~blank].reset_index(drop=True)
    else:
        row_numbers = raw.row_numbers
    rows_read = len(table)
    if rows_read == 0:
        return refused(Finding("NO_ROWS", f"{file_name}: the file has a header but no payee rows"), source=source)

    return CellsFile(file_name, period, rows_read, table, row_numbers, list(raw.row_errors), warnings, source,
                     declared_count, declared_total, limits)


def parse_cells(files: Sequence[CellsFile], profile: CountryProfile) -> list[ParsedFile]:
    """Parse many files' cells: one ``parse_rows`` pass over all the files that have the same optional
    (survivor) columns, then each file's typed rows, findings, Jalali count and exact copies apart,
    exactly as if it had been parsed alone (every parsing rule is per cell or per row). One pass instead
    of one per file: a rule's fixed cost (an Arrow or pandas call per column) is paid once per batch."""
    out: list[ParsedFile | None] = [None] * len(files)
    groups: dict[bool, list[int]] = {}
    for i, f in enumerate(files):
        groups.setdefault(f.survivor_columns, []).append(i)
    for survivor, members in groups.items():
        wanted = [*PAYEE_COLUMNS, *(SURVIVOR_COLUMNS if survivor else ())]
        tables = [files[i].table[wanted] for i in members]
        cells = tables[0].reset_index(drop=True) if len(tables) == 1 else pd.concat(tables, ignore_index=True)
        offsets = np.cumsum([0, *(len(t) for t in tables)])
        problems = Problems()
        norm_all, jalali_all = parse_rows(cells, profile, problems)
        found = problems.frame()
        # exact copies are looked for within each file (the file's position joins the row's content); the
        # files that have any get their copies named by _exact_copies, the others none
        file_pos = np.repeat(np.arange(len(tables)), np.diff(offsets))
        repeats = norm_all.assign(_file=file_pos).duplicated(keep="first").to_numpy()
        file_of = np.searchsorted(offsets, found["idx"].to_numpy(), side="right") - 1
        for k, i in enumerate(members):
            f, start, stop = files[i], int(offsets[k]), int(offsets[k + 1])
            norm = norm_all.iloc[start:stop].reset_index(drop=True)
            mine = found[file_of == k]
            mine = mine.assign(idx=mine["idx"].to_numpy() - start)
            jalali = int(jalali_all[start:stop].sum())
            warnings = list(f.warnings)
            if jalali:
                warnings.append(Finding("JALALI_DATES", f"{f.file_name}: {jalali} birth date(s) were Jalali (Solar "
                                        "Hijri) and were converted to the Gregorian calendar"))
            norm.insert(0, "row_no", f.row_numbers.astype("int32"))
            parse_findings = _findings(mine, f.row_numbers, "idx") + f.reader_findings
            copies = _exact_copies(norm) if repeats[start:stop].any() else pd.Series(dtype=np.int64)
            out[i] = ParsedFile(f.file_name, f.period, f.rows_read, f.table, norm, copies,
                                parse_findings, warnings, f.source, f.declared_count, f.declared_total, f.limits)
    return [p for p in out if p is not None]


def _blank_rows(table: pd.DataFrame) -> np.ndarray:
    """Rows whose every cell is empty or spaces (one pass per column, no frame of stripped copies)."""
    blank = np.ones(len(table), dtype=bool)
    for c in table.columns:
        col = table[c].astype(str)
        empty = np.array(col.str.len() == 0, dtype=bool)
        if not empty.all():  # cells of spaces only are rare: strip only what is not already empty
            filled = ~empty & blank
            if filled.any():
                empty[filled] = (col[filled].str.strip() == "").to_numpy()
        blank &= empty
        if not blank.any():
            break
    return blank


def finish_payee_file(parsed: ParsedFile, gate_result: Any) -> IntakeResult:
    """The file's verdict from its parse and its quality gate: row errors, file errors, accepted rows."""
    norm, copies, file_name, period = parsed.norm, parsed.copies, parsed.file_name, parsed.period
    gate_findings = [Finding(code, message, row=int(row), column=column)
                     for row, column, code, message in gate_result.findings[["row_no", "column", "code", "message"]]
                     .itertuples(index=False)]
    copy_findings = [Finding("DUPLICATE_ROW", f"exact copy of row {first}", row=int(norm.at[i, "row_no"]),
                             column="pension_id") for i, first in copies.items()]
    row_errors = _one_per_cell(parsed.parse_findings + copy_findings + gate_findings)
    if row_errors:
        wanted = {f.row for f in row_errors}
        named = norm[norm["row_no"].isin(wanted)]
        ids = {int(r): (p, n) for r, p, n in named[["row_no", "pension_id", "national_id"]].itertuples(index=False)}
        row_errors = [Finding(f.code, f.message, f.row, f.column, *_ids(ids.get(f.row or 0)))
                      for f in sorted(row_errors, key=lambda f: (f.row or 0, FINDING_ORDER.index(f.column)
                                                                 if f.column in FINDING_ORDER else 99))]

    net = norm["net_amount"]
    counted_total = exact_sum(net.dropna().to_numpy(dtype=np.int64))
    file_errors = _file_verdicts(file_name, parsed.table, period, parsed.rows_read, counted_total,
                                 int(net.isna().sum()), parsed.declared_count, parsed.declared_total, row_errors,
                                 parsed.limits)
    result = IntakeResult(file_name, parsed.rows_read, counted_total, _empty_rows(), row_errors, file_errors,
                          parsed.warnings, parsed.source, gate_result)
    if not file_errors:
        bad = {f.row for f in row_errors}
        accepted = norm[~norm["row_no"].isin(bad)].reset_index(drop=True) if bad else norm.reset_index(drop=True)
        for c in AMOUNT_COLUMNS:
            accepted[c] = accepted[c].astype("int64")
        for c in ("pension_id", "national_id", "full_name", "birth_date", "benefit_type", "account_code"):
            accepted[c] = accepted[c].astype(str)
        accepted["insured_id"] = accepted["insured_id"].astype("string")  # null where not a survivor
        accepted["share_bp"] = accepted["share_bp"].astype("Int32")
        result.accepted = accepted[list(ROWS_SCHEMA.names)]
    return result


def _ids(pair: tuple[Any, Any] | None) -> tuple[str | None, str | None]:
    if pair is None:
        return None, None
    return tuple(None if pd.isna(v) else str(v) for v in pair)  # type: ignore[return-value]


def _findings(frame: pd.DataFrame, row_numbers: np.ndarray, key: str) -> list[Finding]:
    return [Finding(code, message, row=int(row_numbers[idx]), column=column)
            for idx, column, code, message in frame[[key, "column", "code", "message"]].itertuples(index=False)]


def _one_per_cell(findings: list[Finding]) -> list[Finding]:
    """The first finding for a (row, column) wins: a cell that could not be read is not also 'empty'."""
    seen: set[tuple[int | None, str | None]] = set()
    out = []
    for f in findings:
        if (f.row, f.column) in seen:
            continue
        seen.add((f.row, f.column))
        out.append(f)
    return out


def _exact_copies(norm: pd.DataFrame) -> pd.Series:
    """Index of each row that repeats an earlier row exactly -> the earlier row's number. The first
    is kept; copies are refused (nobody pays a pension twice because a line was pasted twice)."""
    content = norm.drop(columns=["row_no"])
    dup = content.duplicated(keep="first").to_numpy()
    if not dup.any():
        return pd.Series(dtype=np.int64)
    group = content.groupby(list(content.columns), dropna=False, sort=False).ngroup()
    first = norm["row_no"].groupby(group.to_numpy()).transform("first")
    return first[dup].astype(np.int64)


def _file_verdicts(file_name: str, table: pd.DataFrame, period: Period, rows_read: int, counted_total: int,
                   unreadable_net: int, declared_count: int | None, declared_total: int | None,
                   row_errors: list[Finding], limits: Limits) -> list[Finding]:
    errors: list[Finding] = []
    if declared_count is not None and declared_count != rows_read:
        errors.append(Finding("DECLARED_COUNT_MISMATCH",
                              f"{file_name}: declared {declared_count} rows but the file has {rows_read}"))
    if declared_total is not None and declared_total != counted_total:
        extra = f" ({unreadable_net} row(s) have no readable net_amount)" if unreadable_net else ""
        errors.append(Finding("DECLARED_TOTAL_MISMATCH", f"{file_name}: declared total {declared_total} but the "
                              f"net amounts add up to {counted_total}{extra}"))
    if "period" in table.columns:
        given = to_ascii_digits_series(table["period"].astype(str).str.strip()).str.replace("/", "-")
        wrong = ((given != "") & (given != str(period))).to_numpy()
        if wrong.any():
            i = int(np.flatnonzero(wrong)[0])
            errors.append(Finding("WRONG_PERIOD", f"{file_name}: {int(wrong.sum())} row(s) are for another period "
                                  f"than {period} (the first: {table['period'].iat[i]!r}); a list is for one "
                                  "month only", column="period"))
    bad_rows = len({f.row for f in row_errors})
    if rows_read and 100.0 * bad_rows / rows_read > limits.max_bad_row_percent:
        errors.append(Finding("TOO_MANY_BAD_ROWS", f"{file_name}: {bad_rows} of {rows_read} rows "
                              f"({100.0 * bad_rows / rows_read:.1f}%) have errors, over the limit of "
                              f"{limits.max_bad_row_percent:g}%; the list is refused whole: correct it in the "
                              "branch system and send it again"))
    return errors


def safe_file_name(name: str) -> str:
    """A submitted file's name is stored and shown, never used as a path: refuse one that carries a
    directory part, a parent reference or control characters, rather than guess what was meant."""
    from payroll.errors import Refused

    if (not name or name in (".", "..") or "/" in name or "\\" in name
            or any(ord(ch) < 32 or ord(ch) == 127 for ch in name) or len(name) > 255):
        raise Refused("UNSAFE_FILE_NAME", f"file name {name!r} is not a plain file name (no folders, no '..', "
                      "no control characters, at most 255 characters); rename the file and send it again")
    return name
