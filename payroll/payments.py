"""Consolidation of approved branch rows into one run, and the payment reference of each payee row.

Pure functions over tables. Every consolidated row keeps its lineage: submission, branch, the raw
file's SHA-256 and the row number in that file.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from payroll.catalog import severity
from payroll.checks import Reference, Table
from payroll.checks.engine import arrow, ref_input, rows_input
from payroll.checks.pipeline import run_checks
from payroll.intake.payee_file import ROWS_SCHEMA
from payroll.legs import LEG_EXCESS, split_over_cap, with_excess_columns
from payroll.money import exact_sum
from payroll.period import Period

# a branch row as intake stored it (ROWS_SCHEMA), with its lineage before and its payment after
PAYMENTS_SCHEMA = pa.schema([
    ("row_key", pa.int64()),
    ("submission_id", pa.int64()),
    ("branch_code", pa.string()),
    ("source_sha256", pa.string()),
    *ROWS_SCHEMA,
    ("bank_code", pa.string()),
    ("status", pa.string()),
    ("end_to_end_id", pa.string()),
    # a PAYABLE payment to a capped dedicated account (payroll.legs): what goes over the cap, and the
    # ordinary account it goes to ("" when there is none and the excess is held)
    ("excess_amount", pa.int64()),
    ("excess_account_code", pa.string()),
    ("excess_bank_code", pa.string()),
])


def end_to_end_id(period: str, branch: str, pension_id: str, national_id: str) -> str:
    """Stable, unique payment reference (<= 35 chars, ISO 20022 Max35Text): the same payee row of
    the same period always gets the same id, so a re-release or a bank's status report matches it."""
    digest = hashlib.sha256(f"{period}|{branch}|{pension_id}|{national_id}".encode()).hexdigest()
    return f"PEN{period.replace('-', '')}{digest[:20].upper()}"


# end_to_end_id in SQL: the same bytes (UTF-8 text, SHA-256 as lowercase hex, a missing part as Python
# formats None); tests/unit/test_payments.py compares the two on many rows
_E2E_SQL = """
SELECT {key}'PEN' || replace(?, '-', '') || upper(substr(sha256(
    ? || '|' || coalesce(branch_code, 'None') || '|' || coalesce(pension_id, 'None') || '|'
      || coalesce(national_id, 'None')), 1, 20)) AS end_to_end_id
FROM t
"""


def end_to_end_ids(period: str, rows: Table) -> pd.Series:
    """:func:`end_to_end_id` of every row in one DuckDB pass, indexed by row key (rows: a frame indexed
    by row key, or an Arrow table or Parquet Path with row_key, branch_code, pension_id, national_id).
    A frame's rows keep their order (DuckDB preserves the order of a plain projection)."""
    params = [period, period]
    if isinstance(rows, pd.DataFrame):
        got = arrow(_E2E_SQL.format(key=""), params, t=rows[["branch_code", "pension_id", "national_id"]])
        if got.num_rows != len(rows):
            raise ValueError("end-to-end ids: row count changed")
        return pd.Series(got["end_to_end_id"].to_pandas().array, index=rows.index, name="end_to_end_id")
    got = arrow(_E2E_SQL.format(key="row_key, "), params,
                t=rows_input(rows, ["branch_code", "pension_id", "national_id"]))
    return pd.Series(got["end_to_end_id"].to_pandas().array, index=pd.Index(got["row_key"].to_numpy(), name="row_key"),
                     name="end_to_end_id")


def account_banks(rows: Table, accounts: Table) -> pd.Series:
    """The bank of each row's account from the account registry ("" when it is not there), indexed by
    row key; rows and accounts may each be a frame, an Arrow table or a Parquet Path."""
    m = arrow("SELECT r.row_key, coalesce(a.bank_code, '') AS bank_code FROM rows r "
              "LEFT JOIN accounts a ON a.account_code = r.account_code",
              rows=rows_input(rows, ["account_code"]), accounts=ref_input(accounts, ["account_code", "bank_code"]))
    index = pd.Index(m["row_key"].to_numpy(), name="row_key")
    if index.has_duplicates:
        raise ValueError("the account registry lists an account code twice")
    banks = pd.Series(m["bank_code"].to_pandas().array, index=index, name="bank_code")
    return banks.reindex(rows.index) if isinstance(rows, pd.DataFrame) else banks


def consolidate_table(parts: list[tuple[int, str, str, pa.Table]]) -> pa.Table:
    """(submission_id, branch_code, raw file sha256, accepted rows) per branch -> one Arrow table sorted
    by branch and row number (a stable sort), its first column the row key 0..n-1."""
    tables = []
    # the parts in branch order; when each part's rows are already in row order (branch lists are stored
    # so), the concatenation is the sorted table and the sort below is skipped (a take of every column)
    parts = sorted(parts, key=lambda p: p[1])
    in_order = len({p[1] for p in parts}) == len(parts) and all(_non_decreasing(t["row_no"]) for _, _, _, t in parts)
    for submission_id, branch, source_sha, table in parts:
        n = table.num_rows
        lineage = pa.table({"submission_id": pa.array(np.full(n, submission_id, dtype=np.int64)),
                            "branch_code": pa.array([branch] * n, pa.string()),
                            "source_sha256": pa.array([source_sha] * n, pa.string())})
        for field in table.schema:
            lineage = lineage.append_column(field, table[field.name])
        tables.append(lineage)
    rows = pa.concat_tables(tables, promote_options="default")
    if not in_order:
        rows = rows.take(pc.sort_indices(rows, [("branch_code", "ascending"), ("row_no", "ascending")]))
    rows = rows.add_column(0, "row_key", pa.array(np.arange(rows.num_rows, dtype=np.int64)))
    return rows.replace_schema_metadata(_pandas_metadata([t for _, _, _, t in parts]))


def _non_decreasing(values: pa.ChunkedArray | pa.Array) -> bool:
    if len(values) < 2 or values.null_count:
        return len(values) < 2
    v = values.to_numpy() if isinstance(values, pa.Array) else values.combine_chunks().to_numpy()
    return bool((v[1:] >= v[:-1]).all())


def _pandas_metadata(tables: list[pa.Table]) -> dict[bytes, bytes] | None:
    """The pandas dtypes the branch lists were stored with (e.g. nullable Int32 shares), when all agree, so
    the consolidated frame has the columns a frame per list had (and the run's Parquet the same bytes)."""
    found = set()
    for t in tables:
        meta = (t.schema.metadata or {}).get(b"pandas")
        if meta is None:
            return None
        found.add(json.dumps(json.loads(meta)["columns"], sort_keys=True))
    if len(found) != 1:
        return None
    meta = json.loads(tables[0].schema.metadata[b"pandas"])
    meta["index_columns"] = []  # the row key is a column; each list's own index is not kept
    meta["columns"] = [c for c in meta["columns"] if c.get("field_name") in tables[0].column_names]
    return {b"pandas": json.dumps(meta).encode()}


def rows_frame(rows: pa.Table) -> pd.DataFrame:
    """A consolidated table as a frame indexed by its row key."""
    out = rows.drop_columns(["row_key"]).to_pandas()
    out.index = pd.Index(rows["row_key"].to_numpy(), name="row_key")
    return out


def consolidate(parts: list[tuple[int, str, str, pa.Table]]) -> pd.DataFrame:
    """(submission_id, branch_code, raw file sha256, accepted rows) per branch -> one frame."""
    rows = rows_frame(consolidate_table(parts))
    rows.index = pd.RangeIndex(len(rows), name="row_key")
    return rows


def build_payments(rows: pd.DataFrame | pa.Table, ref: Reference, period: Period
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run every check and split over the dedicated account's cap; return (payments with status, bank,
    reference and excess; exceptions). `rows`: a frame indexed by row key, or the Arrow table of
    :func:`consolidate_table`, which the checks then read in place."""
    status, exceptions = run_checks(rows, ref, period)
    out = rows_frame(rows) if isinstance(rows, pa.Table) else rows.copy()
    out["status"] = status.reindex(out.index).to_numpy()
    out, split = split_over_cap(out, ref.accounts, ref.policy.dedicated_account_cap)
    if len(split):
        split["severity"] = split["code"].map(severity)
        exceptions = pd.concat([exceptions, split], ignore_index=True).sort_values(["row_key", "code"], kind="stable")
        exceptions = exceptions.reset_index(drop=True)
    out["bank_code"] = account_banks(rows, ref.accounts).reindex(out.index).array
    ids = end_to_end_ids(str(period), rows).reindex(out.index)
    out["end_to_end_id"] = ids.array
    if pc.count_distinct(pa.array(ids.array)).as_py() != len(ids):  # a SHA-256 collision; refuse, never guess
        raise ValueError("two payments received the same end-to-end id")
    out = out.reset_index()
    return out[list(PAYMENTS_SCHEMA.names)], exceptions


def to_table(payments: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(payments, schema=PAYMENTS_SCHEMA, preserve_index=False)


def totals_by(payments: pd.DataFrame, column: str) -> dict[str, dict[str, int]]:
    """Count and total of what the run pays, per `column`. Per bank_code: the transfers, so a payment split
    over a capped dedicated account (payroll.legs) counts at each leg's bank, and a held excess nowhere;
    per any other column (e.g. branch_code): the PAYABLE payments and what is paid of them."""
    payable = with_excess_columns(payments)
    payable = payable[list(dict.fromkeys(["status", "net_amount", "bank_code", *LEG_EXCESS, column]))]  # not every column
    payable = payable[payable["status"] == "PAYABLE"]
    excess = payable["excess_amount"].to_numpy(dtype=np.int64)
    paid_excess = (excess > 0) & (payable["excess_account_code"] != "").to_numpy()
    if column == "bank_code":
        keys = np.concatenate([payable["bank_code"].to_numpy(dtype=object),
                               payable["excess_bank_code"].to_numpy(dtype=object)[paid_excess]])
        amounts = np.concatenate([payable["net_amount"].to_numpy(dtype=np.int64) - excess, excess[paid_excess]])
        keep = amounts > 0
        frame = pd.DataFrame({"key": keys[keep], "amount": amounts[keep]})
        return {str(k): {"count": len(g), "total": exact_sum(g.to_numpy())}
                for k, g in frame.groupby("key")["amount"]}
    paid = payable["net_amount"].to_numpy(dtype=np.int64) - np.where(paid_excess, 0, excess)
    frame = pd.DataFrame({"key": payable[column].to_numpy(dtype=object), "amount": paid})
    return {str(k): {"count": len(g), "total": exact_sum(g.to_numpy())} for k, g in frame.groupby("key")["amount"]}
