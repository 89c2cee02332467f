"""Reference data: branches, users, the civil registry, death records, the account registry, banks and
the approval chain. A registry, death or account extract replaces the previous one as a whole;
branches and users are merged (people who acted stay on record). A file with any bad row is
refused whole, naming file, row and column; nothing already stored changes.

The national extracts (registry, deaths, accounts: millions of rows) are data-plane objects: each is
read once (pyarrow's CSV reader for a plain CSV file, else the intake reader with its limits on hostile
files), validated and normalized in columnar form (pyarrow compute), and stored as a Parquet object named
by its SHA-256 under ``objects/reference/``. The control row ``reference_loads`` names the object (its key
relative to PENSION_HOME and its hash); the newest load of a kind is the extract in force, and a run reads
that Parquet object directly. The small lists (branches, users, banks, the approval chain) stay in SQL.
"""

from __future__ import annotations

import codecs
import io
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from sqlalchemy import delete, insert, inspect, select, text
from sqlalchemy.orm import Session

from bank_formats.formats import file_format
from payroll import audit
from payroll.approvals import ROLES, require_role
from payroll.bankfiles import check_file_name_pattern, parse_params
from payroll.country import CountryProfile
from payroll.errors import Refused
from payroll.intake import FileRefused, read_table
from payroll.intake.columns import systems
from payroll.intake.reading import MAX_CELL_CHARS, _sniff_delimiter
from payroll.normalize import (
    compact_id_arrow,
    map_non_ascii,
    normalize_name_arrow,
    strip_arrow,
    to_ascii_digits_arrow,
)
from payroll.services.context import Context
from payroll.services.context import actor as user_actor
from payroll.store.db import upgrade
from payroll.store.files import (
    _fsync_dir,
    make_private_dir,
    object_path,
    read_source,
    sha256_bytes,
    sha256_file,
    source_info,
    stored_file_problem,
)
from payroll.store.models import ApprovalLevel, Bank, Branch, ReferenceLoad, User

_DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
MAX_REPORTED_ERRORS = 50


@dataclass(frozen=True)
class Kind:
    model: type | None  # None: a data-plane extract (a Parquet object), not a table
    columns: tuple[str, ...]
    key: str
    replace: bool  # True: the file is the whole extract; False: merged into what is stored
    optional: tuple[str, ...] = ()


KINDS: dict[str, Kind] = {
    "branches": Kind(Branch, ("branch_code", "name", "province_code", "system"), "branch_code", replace=False,
                     optional=("system",)),
    "users": Kind(User, ("user_id", "name", "role", "branch_code", "province_code"), "user_id", replace=False,
                  optional=("branch_code", "province_code")),
    "registry": Kind(None, ("national_id", "full_name", "birth_date"), "national_id", replace=True),
    "deaths": Kind(None, ("national_id", "date_of_death"), "national_id", replace=True),
    "accounts": Kind(None, ("account_code", "bank_code", "holder_national_id", "dedicated", "status"),
                     "account_code", replace=True),
    "banks": Kind(Bank, ("bank_code", "name", "bic", "file_format", "max_transactions", "max_file_bytes",
                         "file_name", "params"), "bank_code", replace=True,
                  optional=("bic", "max_transactions", "max_file_bytes", "file_name", "params")),
    "approval_chain": Kind(ApprovalLevel, ("item_type", "level", "roles", "scope", "required", "min_total"), "level",
                           replace=True, optional=("required", "min_total")),
}

_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}


def _value_at(values: Any, i: int) -> Any:
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values[i].as_py()
    return values.iat[i]


class _Problems:
    def __init__(self, file_name: str) -> None:
        self.file_name = file_name
        self.items: list[dict[str, Any]] = []

    def add(self, mask: Any, column: str, message: str, values: pd.Series | None = None) -> None:
        for i in np.flatnonzero(np.asarray(mask, dtype=bool))[:MAX_REPORTED_ERRORS]:
            shown = f" ({_value_at(values, int(i))!r})" if values is not None else ""
            self.items.append({"row": int(i) + 2, "column": column, "message": f"{message}{shown}"})

    def raise_if_any(self) -> None:
        if self.items:
            self.items.sort(key=lambda e: e["row"])
            first = self.items[0]
            raise Refused("INVALID_REFERENCE_FILE",
                          f"{self.file_name}: row {first['row']}, column {first['column']}: {first['message']}"
                          f" ({len(self.items)} problem(s) found)",
                          file=self.file_name, errors=self.items[:MAX_REPORTED_ERRORS])


def _normalize(kind: str, df: pd.DataFrame, country: CountryProfile, problems: _Problems,
               session: Session) -> pd.DataFrame:
    spec = KINDS[kind]
    for c in spec.columns:
        df[c] = df[c].astype(str).str.strip()
        if c not in spec.optional:
            problems.add(df[c] == "", c, "is empty")

    def check(column: str, ok: Any, message: str, shown: pd.Series | None = None) -> None:
        problems.add(~np.asarray(ok, dtype=bool) & (df[column] != "").to_numpy(), column, message,
                     df[column] if shown is None else shown)

    if kind == "users":
        check("role", df["role"].isin(ROLES), f"must be one of {', '.join(ROLES)}")
        branches = {b.branch_code: b.province_code for b in session.query(Branch)}
        in_branch = df["role"].isin(["clerk", "branch_head"])
        problems.add(in_branch & ~df["branch_code"].isin(list(branches)), "branch_code",
                     "names no known branch (clerks and branch heads belong to a branch)", df["branch_code"])
        # a branch user's province is the branch's province
        df.loc[in_branch, "province_code"] = df.loc[in_branch, "branch_code"].map(branches).fillna("")
        problems.add((df["role"] == "province_approver") & (df["province_code"] == ""), "province_code",
                     "is empty (a province approver belongs to a province)")
    if kind == "branches":
        known = systems()
        check("system", df["system"].isin(known), f"must be one of {', '.join(known)} (data/reference/column_maps.csv)")
    if kind == "banks":
        _bank_rules(df, check, problems)
    if kind == "approval_chain":
        check("level", df["level"].str.fullmatch(r"[0-9]{1,2}", flags=re.ASCII), "must be a level number")
        check("scope", df["scope"].isin(["branch", "province", "hq"]), "must be branch, province or hq")
        df["level"] = pd.to_numeric(df["level"].where(df["level"].str.fullmatch("[0-9]{1,2}"), "0")).astype(int)
        df["required"] = df["required"].where(df["required"] != "", "1")
        check("required", df["required"].str.fullmatch(r"[1-9]", flags=re.ASCII),
              "must be the number of distinct signers, 1 to 9")
        check("min_total", df["min_total"].str.fullmatch(r"[0-9]{1,18}", flags=re.ASCII),
              "must be a whole number of minor units (or empty: the level always applies)")
        roles = df["roles"].str.split("|")
        check("roles", roles.map(lambda rs: set(rs) <= set(ROLES) and not set(rs) & {"auditor", "admin"}),
              "must name approver roles (auditors and administrators never approve)")

    key = ["item_type", "level"] if kind == "approval_chain" else [spec.key]
    dup = df.duplicated(key, keep="first").to_numpy()
    problems.add(dup, spec.key, "appears twice", df[spec.key])
    return df


def _bank_rules(df: pd.DataFrame, check: Any, problems: _Problems) -> None:
    """A bank's format must be one the engine writes (with the parameters it needs), its limits whole
    positive numbers, its file name pattern safe and unique per file."""
    def problem(fn: Any) -> Callable[[str], str]:
        def run(value: str) -> str:
            if not value:
                return ""
            try:
                fn(value)
            except ValueError as e:
                return str(e)
            return ""
        return run

    check("file_format", df["file_format"].str.len() <= 32, "is longer than 32 characters")
    formats = df["file_format"].map(problem(file_format))
    check("file_format", formats == "", "is not a format the engine writes", df["file_format"] + ": " + formats)
    needs = []
    for fmt, params in zip(df["file_format"], df["params"], strict=True):
        try:
            needed = file_format(fmt).required_params
            given = parse_params(params)
        except ValueError as e:
            needs.append(str(e))
            continue
        missing = [p for p in needed if not given.get(p)]
        needs.append(f"{fmt} needs {', '.join(missing)}" if missing else "")
    needs_s = pd.Series(needs, index=df.index)
    problems.add(needs_s != "", "params", "is not what the format needs", needs_s)
    for c in ("max_transactions", "max_file_bytes"):
        check(c, df[c].str.fullmatch(r"[1-9][0-9]{0,11}", flags=re.ASCII) | (df[c] == ""),
              "must be a whole number of at least 1")
    names = df["file_name"].map(problem(check_file_name_pattern))
    check("file_name", names == "", "is not a usable file name pattern", df["file_name"] + ": " + names)


def _records(kind: str, df: pd.DataFrame) -> list[dict[str, Any]]:
    spec = KINDS[kind]
    out = df[list(spec.columns)].astype(object).to_dict("records")
    for rec in out:
        for c in spec.optional:
            if rec[c] == "":
                rec[c] = None
        if kind == "banks":
            for c in ("max_transactions", "max_file_bytes"):
                rec[c] = None if rec[c] is None else int(rec[c])
        if kind == "approval_chain":
            rec["required"] = int(rec["required"] or 1)
            rec["min_total"] = None if rec["min_total"] is None else int(rec["min_total"])
    return out


# --- the national extracts: columnar, stored as Parquet objects ------------------------------------

EXTRACTS = ("registry", "deaths", "accounts")
EXTRACT_SCHEMAS: dict[str, pa.Schema] = {
    "registry": pa.schema([("national_id", pa.string()), ("full_name", pa.string()), ("birth_date", pa.string())]),
    "deaths": pa.schema([("national_id", pa.string()), ("date_of_death", pa.string())]),
    "accounts": pa.schema([("account_code", pa.string()), ("bank_code", pa.string()),
                           ("holder_national_id", pa.string()), ("dedicated", pa.bool_()),
                           ("status", pa.string())]),
}
OBJECT_KIND = "reference"  # objects/reference/<sha[:2]>/<sha>.parquet
# the tables that held the extracts before migration 0008; rows they still hold become the extract in
# force the first time the extract is used
LEGACY_TABLES = {"registry": "legacy_registry", "deaths": "legacy_deaths", "accounts": "legacy_accounts"}
MIGRATION_ACTOR = "migration-0008"


def _plain_csv(data: bytes, file_name: str) -> pa.Table | None:
    """The file's cells as an Arrow table of text, read by pyarrow's CSV reader, when the file is a plain
    UTF-8 CSV on which that reader and the intake reader (payroll.intake.reading) cannot differ: no
    quotes, no NUL, no blank lines, no lone CR, no replacement character, no cell over the length limit,
    every row as wide as the header. None otherwise: the intake reader then reads it (and refuses it with
    its own message naming row and column)."""
    lower = file_name.lower()
    if not lower.endswith((".csv", ".txt", ".tsv")) or data[:4] in (b"PAR1", b"PK\x03\x04") \
            or data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        return None
    body = data[len(codecs.BOM_UTF8):] if data.startswith(codecs.BOM_UTF8) else data
    if not body.strip() or any(b in body for b in (b"\x00", b'"', b"\xef\xbf\xbd", b"\n\n", b"\n\r\n")) \
            or body.startswith((b"\n", b"\r")) or body.count(b"\r") != body.count(b"\r\n"):
        return None
    end = body.find(b"\n")
    first = body if end < 0 else body[:end]
    try:
        header_text = first.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError:
        return None
    delimiter = _sniff_delimiter(first.decode("latin-1"))
    names = header_text.split(delimiter)
    stripped = [n.strip() for n in names]
    if len(set(stripped)) != len(stripped) or "" in stripped or max(map(len, names)) > MAX_CELL_CHARS:
        return None
    try:
        table = pacsv.read_csv(
            io.BytesIO(body),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, quote_char=False, double_quote=False,
                                             newlines_in_values=False, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False))
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return None
    for col in table.columns:
        if len(col) and pc.max(pc.utf8_length(col)).as_py() > MAX_CELL_CHARS:
            return None
    return table.rename_columns(stripped)


def _read_extract(data: bytes, file_name: str) -> pa.Table:
    table = _plain_csv(data, file_name)
    if table is not None:
        return table
    try:
        df = read_table(data, file_name)
    except FileRefused as e:
        raise Refused(e.finding.code, e.finding.message, file=file_name, row=e.finding.row) from None
    names = [str(c).strip().lstrip("\ufeff") for c in df.columns]
    return pa.table({n: pa.array(df.iloc[:, k].astype(str).to_numpy(dtype=object), pa.string())
                     for k, n in enumerate(names)})


def _python_lower(values: pa.Array) -> pa.Array:
    """Columnar ``str.lower()``: ASCII in Arrow, the rare non-ASCII value by Python's own rules."""
    return map_non_ascii(pc.ascii_lower(values), lambda v: pa.array([x.lower() for x in v.to_pylist()], pa.string()))


def _real_dates(values: pa.Array) -> np.ndarray:
    """True where the value is a real date written YYYY-MM-DD in ASCII digits, proleptic Gregorian, year
    0000 to 9999: what ``pd.to_datetime(format="%Y-%m-%d")`` reads."""
    shaped = pc.fill_null(pc.match_substring_regex(values, "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"), False)
    ok = shaped.to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(ok)
    if not len(rows):
        return ok
    part = values.take(pa.array(rows))  # fresh array of 10-byte values: its value buffer is a 10-column grid
    d = np.frombuffer(part.buffers()[2], dtype=np.uint8)[: len(rows) * 10].reshape(-1, 10).astype(np.int64) - 48
    year = d[:, 0] * 1000 + d[:, 1] * 100 + d[:, 2] * 10 + d[:, 3]
    month = d[:, 5] * 10 + d[:, 6]
    day = d[:, 8] * 10 + d[:, 9]
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    days = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[np.clip(month, 1, 12) - 1] \
        + ((month == 2) & leap)
    ok[rows] = (month >= 1) & (month <= 12) & (day >= 1) & (day <= days)
    return ok


def _first_duplicates(values: pa.Array) -> np.ndarray:
    """True for every occurrence of a value after its first (``DataFrame.duplicated(keep='first')``):
    a stable sort puts equal values side by side in file order."""
    n = len(values)
    dup = np.zeros(n, dtype=bool)
    if n < 2:
        return dup
    order = pc.sort_indices(values)
    ordered = values.take(order)
    same = pc.fill_null(pc.equal(ordered.slice(1), ordered.slice(0, n - 1)), False).to_numpy(zero_copy_only=False)
    dup[order.to_numpy()[1:][same]] = True
    return dup


def _normalize_extract(kind: str, table: pa.Table, country: CountryProfile, problems: _Problems) -> pa.Table:
    """Validate and normalize an extract in columnar form: the same rules, messages and results as the
    row-by-row forms in payroll.normalize and payroll.identifiers."""
    spec = KINDS[kind]
    cols: dict[str, pa.Array] = {c: strip_arrow(table[c]) for c in spec.columns}

    def empty(values: pa.Array) -> np.ndarray:
        out: np.ndarray = pc.equal(values, "").to_numpy(zero_copy_only=False)
        return out

    for c in spec.columns:
        problems.add(empty(cols[c]), c, "is empty")

    def check(column: str, ok: Any, message: str, shown: pa.Array | None = None) -> None:
        problems.add(~np.asarray(ok, dtype=bool) & ~empty(cols[column]), column, message,
                     cols[column] if shown is None else shown)

    def date_column(c: str) -> None:
        cols[c] = to_ascii_digits_arrow(cols[c])
        check(c, _real_dates(cols[c]), "is not a real date written YYYY-MM-DD")

    if kind in ("registry", "deaths"):
        cols["national_id"] = country.national_id.compact_arrow(cols["national_id"])
    if kind == "registry":
        cols["full_name"] = normalize_name_arrow(cols["full_name"])
        date_column("birth_date")
    if kind == "deaths":
        date_column("date_of_death")
    if kind == "accounts":
        raw = cols["account_code"]
        cols["account_code"] = country.account.compact_arrow(raw)
        check("account_code", country.account.valid_mask_arrow(cols["account_code"]),
              f"is not a valid {country.code} account code", raw)
        cols["holder_national_id"] = country.national_id.compact_arrow(cols["holder_national_id"])
        cols["bank_code"] = compact_id_arrow(cols["bank_code"])
        flag = _python_lower(cols["dedicated"])
        check("dedicated", pc.is_in(flag, value_set=pa.array(sorted(_TRUE | _FALSE))).to_numpy(zero_copy_only=False),
              "must be true or false")
        cols["dedicated"] = pc.is_in(flag, value_set=pa.array(sorted(_TRUE)))
        cols["status"] = _python_lower(cols["status"])
        check("status", pc.is_in(cols["status"], value_set=pa.array(["open", "closed"])).to_numpy(zero_copy_only=False),
              "must be open or closed")
    problems.add(_first_duplicates(cols[spec.key]), spec.key, "appears twice", cols[spec.key])
    return pa.Table.from_arrays([cols[c] for c in spec.columns], schema=EXTRACT_SCHEMAS[kind])


def store_extract(home: Path, table: pa.Table) -> tuple[str, str]:
    """Write an extract as a Parquet object named by the SHA-256 of its bytes, all or nothing (temp file,
    fsync, rename); the same extract stored twice is one object. Returns (key relative to `home`, sha)."""
    folder = home / "objects" / OBJECT_KIND
    make_private_dir(folder)
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=".extract.", suffix=".parquet.tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        pq.write_table(table, tmp, compression="zstd")
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        sha = sha256_file(tmp)
        final = object_path(home, OBJECT_KIND, sha, ".parquet")
        if final.exists():
            tmp.unlink()
        else:
            make_private_dir(final.parent)
            os.replace(tmp, final)
            _fsync_dir(final.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return final.relative_to(home).as_posix(), sha


def _load_extract(session: Session, country: CountryProfile, kind: str, data: bytes, file_name: str,
                  actor: str, role: str, home: Path) -> dict[str, Any]:
    spec = KINDS[kind]
    table = _read_extract(data, file_name)
    missing = [c for c in spec.columns if c not in table.column_names]
    if missing:
        raise Refused("MISSING_COLUMNS", f"{file_name}: missing column(s) {', '.join(missing)}",
                      file=file_name, row=1, column=missing[0])
    problems = _Problems(file_name)
    table = _normalize_extract(kind, table, country, problems)
    problems.raise_if_any()
    adopt_legacy_extracts(session, home)  # an older extract still in a legacy table is history now
    key, object_sha = store_extract(home, table)
    sha = sha256_bytes(data)
    session.add(ReferenceLoad(kind=kind, file_name=file_name, sha256=sha, rows=table.num_rows, loaded_by=actor,
                              loaded_at=audit.now_iso(), object_key=key, object_sha256=object_sha))
    audit.append(session, actor=actor, role=role,
                 action=f"reference.load.{kind}", item_type="reference", item_id=kind,
                 after={"sha256": sha, "rows": table.num_rows, "object_sha256": object_sha},
                 detail={"file": file_name, "replace": spec.replace, "object": key})
    return {"kind": kind, "file": file_name, "rows": table.num_rows, "sha256": sha, "mode": "replaced"}


def adopt_legacy_extracts(session: Session, home: Path) -> list[str]:
    """Rows an upgraded database still holds in a legacy_* table (migration 0008 renamed the registry,
    deaths and accounts tables that held rows) become a Parquet object and the extract in force (loaded
    by "migration-0008", same file name and hash as the load they came from), and the table is dropped;
    in the caller's transaction. Returns the kinds adopted."""
    conn = session.connection()
    names = set(inspect(conn).get_table_names())
    adopted = []
    for kind, legacy in LEGACY_TABLES.items():
        if legacy not in names:
            continue
        schema = EXTRACT_SCHEMAS[kind]
        rows = conn.execute(text(f"SELECT {', '.join(schema.names)} FROM {legacy}")).all()
        columns = list(zip(*rows, strict=True)) if rows else [()] * len(schema.names)
        table = pa.Table.from_arrays(
            [pa.array([bool(v) for v in col] if f.type == pa.bool_() else list(col), f.type)
             for f, col in zip(schema, columns, strict=True)], schema=schema)
        key, object_sha = store_extract(home, table)
        last = session.execute(select(ReferenceLoad).where(ReferenceLoad.kind == kind)
                               .order_by(ReferenceLoad.id.desc()).limit(1)).scalar_one_or_none()
        file_name, sha = (last.file_name, last.sha256) if last is not None else (legacy, object_sha)
        session.add(ReferenceLoad(kind=kind, file_name=file_name, sha256=sha, rows=table.num_rows,
                                  loaded_by=MIGRATION_ACTOR, loaded_at=audit.now_iso(), object_key=key,
                                  object_sha256=object_sha))
        audit.append(session, actor=MIGRATION_ACTOR, role="system", action=f"reference.migrate.{kind}",
                     item_type="reference", item_id=kind,
                     after={"sha256": sha, "rows": table.num_rows, "object_sha256": object_sha},
                     detail={"from_table": legacy, "object": key})
        conn.execute(text(f"DROP TABLE {legacy}"))
        adopted.append(kind)
    return adopted


def extract_in_force(session: Session, kind: str) -> ReferenceLoad | None:
    """The control row of the extract of `kind` in force: the newest load that names an object."""
    if kind not in EXTRACTS:
        raise ValueError(f"{kind!r} is not an extract; one of {', '.join(EXTRACTS)}")
    return session.execute(select(ReferenceLoad).where(ReferenceLoad.kind == kind,
                                                       ReferenceLoad.object_key.is_not(None))
                           .order_by(ReferenceLoad.id.desc()).limit(1)).scalar_one_or_none()


def extract_path(session: Session, kind: str, home: Path) -> Path | None:
    """The Parquet object of the extract of `kind` in force (columns: EXTRACT_SCHEMAS[kind]), its bytes
    checked against the hash recorded when it was loaded; None when no extract of that kind was loaded."""
    adopt_legacy_extracts(session, home)
    load = extract_in_force(session, kind)
    if load is None:
        return None
    path = Path(home) / str(load.object_key)
    if (problem := stored_file_problem(path, load.object_sha256)) is not None:
        raise Refused("STORED_FILE_CHANGED", f"{kind} extract in force ({load.file_name}): {problem}")
    return path


def extract_table(session: Session, kind: str, home: Path) -> pa.Table:
    """The extract of `kind` in force as an Arrow table (empty, with its columns, when none was loaded)."""
    path = extract_path(session, kind, home)
    if path is None:
        return EXTRACT_SCHEMAS[kind].empty_table()
    return pq.read_table(path, schema=EXTRACT_SCHEMAS[kind])


def load_reference(ctx: Context, kind: str, path: Path | str, actor: str = "system") -> dict[str, Any]:
    """Load an extract from a local file or an fsspec URL."""
    if kind not in KINDS:
        raise Refused("UNKNOWN_KIND", f"unknown reference data {kind!r}; one of {', '.join(KINDS)}")
    try:
        name, _ = source_info(path)
    except FileNotFoundError:
        raise Refused("FILE_NOT_FOUND", f"{path}: no such file") from None
    data = read_source(path)
    with ctx.uow() as session:
        role = "system"
        if actor != "system":  # a named user must be an administrator: reference data is their job
            who = user_actor(session, actor)
            require_role(who, ("admin",), "loading reference data")
            role = who.role
        return _load(session, ctx.country, kind, data, name, actor, role, ctx.home)


def _load(session: Session, country: CountryProfile, kind: str, data: bytes, file_name: str,
          actor: str, role: str = "system", home: Path | None = None) -> dict[str, Any]:
    spec = KINDS[kind]
    if kind in EXTRACTS:
        assert home is not None, "an extract is stored under PENSION_HOME"
        return _load_extract(session, country, kind, data, file_name, actor, role, home)
    try:
        df = read_table(data, file_name)
    except FileRefused as e:
        raise Refused(e.finding.code, e.finding.message, file=file_name, row=e.finding.row) from None
    df.columns = [str(c).strip().lstrip("\ufeff") for c in df.columns]
    missing = [c for c in spec.columns if c not in df.columns and c not in spec.optional]
    if missing:
        raise Refused("MISSING_COLUMNS", f"{file_name}: missing column(s) {', '.join(missing)}",
                      file=file_name, row=1, column=missing[0])
    for c in spec.optional:
        if c not in df.columns:
            df[c] = ""
    problems = _Problems(file_name)
    df = _normalize(kind, df.reset_index(drop=True), country, problems, session)
    problems.raise_if_any()
    model = spec.model
    assert model is not None  # the extracts went to _load_extract
    if spec.replace:
        session.execute(delete(model))
        if records := _records(kind, df):
            session.execute(insert(model), records)
    else:
        for rec in _records(kind, df):
            session.merge(model(**rec))
    sha = sha256_bytes(data)
    session.add(ReferenceLoad(kind=kind, file_name=file_name, sha256=sha, rows=len(df), loaded_by=actor,
                              loaded_at=audit.now_iso()))
    audit.append(session, actor=actor, role=role,
                 action=f"reference.load.{kind}", item_type="reference", item_id=kind,
                 after={"sha256": sha, "rows": len(df)}, detail={"file": file_name, "replace": spec.replace})
    return {"kind": kind, "file": file_name, "rows": len(df), "sha256": sha,
            "mode": "replaced" if spec.replace else "merged"}


# what operators load with `pension load` (and the sample provides); banks and the chain come with init
LOADABLE_KINDS = ("branches", "users", "registry", "deaths", "accounts")
# what an administrator may also replace with `pension load` (init loads them from data/reference)
RULE_KINDS = ("banks", "approval_chain")


def init_database(ctx: Context, sample: bool = False, sample_dir: Path | None = None) -> dict[str, Any]:
    """Create or upgrade the schema; load the approval chain and bank list; optionally the sample."""
    revision = upgrade(ctx.engine)
    ref = ctx.settings.reference_dir
    loaded = []
    with ctx.uow() as session:
        loaded.append(_load(session, ctx.country, "approval_chain", (ref / "approval_chain.csv").read_bytes(),
                            "approval_chain.csv", "system"))
        banks = ref / f"banks_{ctx.country.code.lower()}.csv"
        loaded.append(_load(session, ctx.country, "banks", banks.read_bytes(), banks.name, "system"))
    if sample:
        sample_dir = sample_dir or (ctx.settings.data_dir / "sample")
        for kind in LOADABLE_KINDS:
            loaded.append(load_reference(ctx, kind, sample_dir / f"{kind}.csv"))
    return {"revision": revision, "database": ctx.engine.url.render_as_string(hide_password=True),
            "home": str(ctx.home), "loaded": loaded}

