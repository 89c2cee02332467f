"""Where the checks join whole tables: DuckDB, in process, over the pandas frames and the released
runs' Parquet files as they are (no copy into a database).

Chosen by measurement (benchmarks/bench_joins.py, 10M payees against a 11M registry, 5M deaths and
10M accounts, 2 cores): the check joins took 15-20 s of CPU in DuckDB against 34-45 s in pyarrow's
Acero and 59-61 s in pandas merges, and DuckDB added 1.3-1.5 GB to the loaded tables where pandas and
pyarrow added about 3 GB. Over Parquet files DuckDB peaked at 1.6 GB all told, so the released
history is read straight from its Parquet files. A check asks one query for the few rows that are
exceptions; the evidence for those is built in Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb
import pandas as pd

from payroll.checks import ReleasedRun

PAYMENT_FIELDS = ("period", "run_id", "row_key", "submission_id", "branch_code", "source_sha256", "row_no",
                  "pension_id", "national_id", "benefit_type", "net_amount", "account_code", "status",
                  "end_to_end_id")


def query(sql: str, /, params: Sequence[Any] | None = None, **tables: Any) -> pd.DataFrame:
    """Run `sql` with each keyword registered as a table (pandas frames, Arrow tables)."""
    con = duckdb.connect()
    try:
        for name, table in tables.items():
            con.register(name, table)
        return con.execute(sql, params or []).df()
    finally:
        con.close()


def released_payments(runs: Sequence[ReleasedRun], paid_only: bool = True) -> str:
    """A DuckDB table expression over the released runs' rows, with their period and run id: only the
    payments the bank was sent (status PAYABLE), or with paid_only=False every row the runs listed.
    Paths are quoted as SQL string literals."""
    if not runs:
        fields = ", ".join(f"NULL::VARCHAR AS {f}" if f not in ("run_id", "row_key", "submission_id", "row_no",
                                                                 "net_amount") else f"NULL::BIGINT AS {f}"
                           for f in PAYMENT_FIELDS)
        return f"(SELECT {fields} WHERE false)"
    parts = []
    for r in runs:
        path = str(r.path).replace("'", "''")
        cols = ", ".join(f for f in PAYMENT_FIELDS if f not in ("period", "run_id"))
        where = " WHERE status = 'PAYABLE'" if paid_only else ""
        parts.append(f"SELECT '{r.period}' AS period, {int(r.run_id)}::BIGINT AS run_id, {cols} "
                     f"FROM read_parquet('{path}'){where}")
    return "(" + " UNION ALL ".join(parts) + ")"
