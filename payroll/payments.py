"""Consolidation of approved branch rows into one run, and the payment reference of each payee row.

Pure functions over tables. Every consolidated row keeps its lineage: submission, branch, the raw
file's SHA-256 and the row number in that file.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pyarrow as pa

from payroll.catalog import severity
from payroll.checks import Reference, Table
from payroll.checks.engine import query, ref_input, rows_input
from payroll.checks.pipeline import run_checks
from payroll.intake.payee_file import ROWS_SCHEMA
from payroll.legs import split_over_cap, with_excess_columns
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
SELECT row_key, 'PEN' || replace(?, '-', '') || upper(substr(sha256(
    ? || '|' || coalesce(branch_code, 'None') || '|' || coalesce(pension_id, 'None') || '|'
      || coalesce(national_id, 'None')), 1, 20)) AS end_to_end_id
FROM t ORDER BY row_key
"""


def end_to_end_ids(period: str, rows: Table) -> pd.Series:
    """:func:`end_to_end_id` of every row in one DuckDB pass, indexed by row key (rows: a frame indexed
    by row key, or an Arrow table or Parquet Path with row_key, branch_code, pension_id, national_id)."""
    m = query(_E2E_SQL, [period, period], t=rows_input(rows, ["branch_code", "pension_id", "national_id"]))
    return pd.Series(m["end_to_end_id"].to_numpy(dtype=object), index=pd.Index(m["row_key"], name="row_key"),
                     name="end_to_end_id")


def account_banks(rows: Table, accounts: Table) -> pd.Series:
    """The bank of each row's account from the account registry ("" when it is not there), indexed by
    row key; rows and accounts may each be a frame, an Arrow table or a Parquet Path."""
    m = query("SELECT r.row_key, coalesce(a.bank_code, '') AS bank_code FROM rows r "
              "LEFT JOIN accounts a ON a.account_code = r.account_code ORDER BY r.row_key",
              rows=rows_input(rows, ["account_code"]), accounts=ref_input(accounts, ["account_code", "bank_code"]))
    index = pd.Index(m["row_key"], name="row_key")
    if index.has_duplicates:
        raise ValueError("the account registry lists an account code twice")
    return pd.Series(m["bank_code"].to_numpy(dtype=object), index=index, name="bank_code")


def consolidate(parts: list[tuple[int, str, str, pa.Table]]) -> pd.DataFrame:
    """(submission_id, branch_code, raw file sha256, accepted rows) per branch -> one frame."""
    frames = []
    for submission_id, branch, source_sha, table in parts:
        df = table.to_pandas()
        df.insert(0, "source_sha256", source_sha)
        df.insert(0, "branch_code", branch)
        df.insert(0, "submission_id", submission_id)
        frames.append(df)
    rows = pd.concat(frames, ignore_index=True)
    rows = rows.sort_values(["branch_code", "row_no"], kind="stable").reset_index(drop=True)
    rows.index.name = "row_key"
    return rows


def build_payments(rows: pd.DataFrame, ref: Reference, period: Period) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run every check and split over the dedicated account's cap; return (payments with status, bank,
    reference and excess; exceptions)."""
    status, exceptions = run_checks(rows, ref, period)
    out = rows.copy()
    out["status"] = status
    out, split = split_over_cap(out, ref.accounts, ref.policy.dedicated_account_cap)
    if len(split):
        split["severity"] = split["code"].map(severity)
        exceptions = pd.concat([exceptions, split], ignore_index=True).sort_values(["row_key", "code"], kind="stable")
        exceptions = exceptions.reset_index(drop=True)
    out["bank_code"] = account_banks(out, ref.accounts).reindex(out.index).to_numpy()
    out["end_to_end_id"] = end_to_end_ids(str(period), out).reindex(out.index).to_numpy()
    if out["end_to_end_id"].duplicated().any():  # would take a SHA-256 collision; refuse rather than guess
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
