"""Reference data: branches, users, the civil registry, death records, the account registry, banks and
the approval chain. A registry, death or account extract replaces the previous one as a whole;
branches and users are merged (people who acted stay on record). A file with any bad row is
refused whole, naming file, row and column; nothing already stored changes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import delete, insert
from sqlalchemy.orm import Session

from bank_formats.formats import file_format
from payroll import audit
from payroll.approvals import ROLES, require_role
from payroll.bankfiles import check_file_name_pattern, parse_params
from payroll.country import CountryProfile
from payroll.errors import Refused
from payroll.intake import FileRefused, read_table
from payroll.intake.columns import systems
from payroll.normalize import compact_id_series, normalize_name_series, to_ascii_digits_series
from payroll.services.context import Context
from payroll.services.context import actor as user_actor
from payroll.store.db import upgrade
from payroll.store.files import read_source, sha256_bytes, source_info
from payroll.store.models import (
    Account,
    ApprovalLevel,
    Bank,
    Branch,
    Death,
    ReferenceLoad,
    RegistryPerson,
    User,
)

_DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
MAX_REPORTED_ERRORS = 50


@dataclass(frozen=True)
class Kind:
    model: type
    columns: tuple[str, ...]
    key: str
    replace: bool  # True: the file is the whole extract; False: merged into what is stored
    optional: tuple[str, ...] = ()


KINDS: dict[str, Kind] = {
    "branches": Kind(Branch, ("branch_code", "name", "province_code", "system"), "branch_code", replace=False,
                     optional=("system",)),
    "users": Kind(User, ("user_id", "name", "role", "branch_code", "province_code"), "user_id", replace=False,
                  optional=("branch_code", "province_code")),
    "registry": Kind(RegistryPerson, ("national_id", "full_name", "birth_date"), "national_id", replace=True),
    "deaths": Kind(Death, ("national_id", "date_of_death"), "national_id", replace=True),
    "accounts": Kind(Account, ("account_code", "bank_code", "holder_national_id", "dedicated", "status"),
                     "account_code", replace=True),
    "banks": Kind(Bank, ("bank_code", "name", "bic", "file_format", "max_transactions", "max_file_bytes",
                         "file_name", "params"), "bank_code", replace=True,
                  optional=("bic", "max_transactions", "max_file_bytes", "file_name", "params")),
    "approval_chain": Kind(ApprovalLevel, ("item_type", "level", "roles", "scope", "required", "min_total"), "level",
                           replace=True, optional=("required", "min_total")),
}

_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}


class _Problems:
    def __init__(self, file_name: str) -> None:
        self.file_name = file_name
        self.items: list[dict[str, Any]] = []

    def add(self, mask: Any, column: str, message: str, values: pd.Series | None = None) -> None:
        for i in np.flatnonzero(np.asarray(mask, dtype=bool))[:MAX_REPORTED_ERRORS]:
            shown = f" ({values.iat[i]!r})" if values is not None else ""
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

    def date_column(c: str) -> None:
        df[c] = to_ascii_digits_series(df[c])
        parsed = pd.to_datetime(df[c].where(df[c].str.fullmatch(_DATE, flags=re.ASCII)), format="%Y-%m-%d",
                                errors="coerce")
        check(c, parsed.notna(), "is not a real date written YYYY-MM-DD")

    if kind in ("registry", "deaths"):
        df["national_id"] = country.national_id.compact_series(df["national_id"])
    if kind == "registry":
        df["full_name"] = normalize_name_series(df["full_name"])
        date_column("birth_date")
    if kind == "deaths":
        date_column("date_of_death")
    if kind == "accounts":
        raw = df["account_code"]
        df["account_code"] = country.account.compact_series(raw)
        check("account_code", country.account.valid_mask(df["account_code"]),
              f"is not a valid {country.code} account code", raw)
        df["holder_national_id"] = country.national_id.compact_series(df["holder_national_id"])
        df["bank_code"] = compact_id_series(df["bank_code"])
        flag = df["dedicated"].str.lower()
        check("dedicated", flag.isin(_TRUE | _FALSE), "must be true or false")
        df["dedicated"] = flag.isin(_TRUE)
        df["status"] = df["status"].str.lower()
        check("status", df["status"].isin(["open", "closed"]), "must be open or closed")
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


# The national extracts (millions of rows, no optional columns) go in by the driver's bulk path; the
# small tables through the ORM.
BULK = ("registry", "deaths", "accounts")
BULK_CHUNK = 200_000


def bulk_insert(session: Session, table: str, columns: tuple[str, ...], df: pd.DataFrame) -> None:
    """Insert the frame's `columns` into `table` inside the session's transaction: COPY on PostgreSQL,
    executemany of plain tuples on SQLite, in chunks so memory stays bounded. Measured at 1.2M registry
    rows: about 30,000 rows a second through ORM dictionaries before this."""
    conn = session.connection()
    names = ", ".join(columns)
    if conn.dialect.name == "postgresql":
        raw = conn.connection.driver_connection
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:  # type: ignore[union-attr]
            for lo in range(0, len(df), BULK_CHUNK):
                part = df.iloc[lo:lo + BULK_CHUNK]
                for row in zip(*(part[c].tolist() for c in columns), strict=True):
                    copy.write_row(row)
        return
    marks = ", ".join("?" for _ in columns)
    for lo in range(0, len(df), BULK_CHUNK):
        part = df.iloc[lo:lo + BULK_CHUNK]
        conn.exec_driver_sql(f"INSERT INTO {table} ({names}) VALUES ({marks})",
                             list(zip(*(part[c].tolist() for c in columns), strict=True)))


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
        return _load(session, ctx.country, kind, data, name, actor, role)


def _load(session: Session, country: CountryProfile, kind: str, data: bytes, file_name: str,
          actor: str, role: str = "system") -> dict[str, Any]:
    spec = KINDS[kind]
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
    if spec.replace:
        session.execute(delete(spec.model))
    if kind in BULK:
        bulk_insert(session, spec.model.__tablename__, spec.columns, df)  # type: ignore[attr-defined]
    elif spec.replace:
        if records := _records(kind, df):
            session.execute(insert(spec.model), records)
    else:
        for rec in _records(kind, df):
            session.merge(spec.model(**rec))
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

