"""Where the checks join whole tables: DuckDB, in process, over pandas frames, Arrow tables or Parquet
files as they are (no copy into a database).

Chosen by measurement (benchmarks/bench_joins.py, 10M payees against a 11M registry, 5M deaths and
10M accounts, 2 cores): the check joins took 15-20 s of CPU in DuckDB against 34-45 s in pyarrow's
Acero and 59-61 s in pandas merges, and DuckDB added 1.3-1.5 GB to the loaded tables where pandas and
pyarrow added about 3 GB. Over Parquet files DuckDB peaked at 1.6 GB all told, so the released
history is read straight from its Parquet files, and so may the run's rows and the reference extracts
be (a Path is read in place through a read_parquet view). A check asks one query for the few rows
that are exceptions; the evidence for those is built in Python.

Memory is bounded by DuckDB's memory limit and a spill directory (:func:`configure`: the settings'
``duckdb_memory_limit`` and HOME/tmp/duckdb), not by the size of the tables.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeAlias

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from payroll.checks import ReleasedRun

PAYMENT_FIELDS = ("period", "run_id", "row_key", "submission_id", "branch_code", "source_sha256", "row_no",
                  "pension_id", "national_id", "benefit_type", "net_amount", "account_code", "status",
                  "end_to_end_id")

# A table a check reads: a pandas frame, an Arrow table, or a Path to a Parquet file
Table: TypeAlias = pd.DataFrame | pa.Table | Path

_LIMITS: dict[str, str] = {}
# One in-memory DuckDB database per process, made on first use with the configured limits; each query
# runs on a cursor of its own (its registrations and views are its own, threads do not share one), so
# a query does not pay for opening a database (about 80 ms on a busy 2-core machine).
_DB: list[duckdb.DuckDBPyConnection] = []
_DB_LOCK = threading.Lock()


def configure(memory_limit: str | None = None, temp_directory: Path | None = None) -> None:
    """The memory limit and spill directory of every query after this (None: DuckDB's own)."""
    from payroll.store.files import make_private_dir

    limits = {}
    if memory_limit:
        limits["memory_limit"] = memory_limit
    if temp_directory is not None:
        make_private_dir(temp_directory)
        limits["temp_directory"] = str(temp_directory)
    with _DB_LOCK:
        if limits != _LIMITS:
            _LIMITS.clear()
            _LIMITS.update(limits)
            _DB.clear()  # the next query opens a database with these limits; open cursors finish on the old


def configure_from(settings: Any) -> None:
    """:func:`configure` from the engine's settings: its memory limit, a spill folder under its home."""
    configure(settings.duckdb_memory_limit, settings.resolved_home / "tmp" / "duckdb")


def sql_literal(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def connect() -> duckdb.DuckDBPyConnection:
    """A cursor of the process's DuckDB database (close it when done)."""
    with _DB_LOCK:
        if not _DB:
            db = duckdb.connect()
            for name, value in _LIMITS.items():
                db.execute(f"SET {name} = {sql_literal(value)}")
            _DB.append(db)
        return _DB[0].cursor()


def register(con: duckdb.DuckDBPyConnection, name: str, table: Any) -> None:
    """A frame or Arrow table registered as it is; a Path as a view over its Parquet file."""
    if isinstance(table, Path):
        con.execute(f'CREATE TEMP VIEW "{name}" AS SELECT * FROM read_parquet({sql_literal(str(table))})')
    else:
        con.register(name, table)


def query(sql: str, /, params: Sequence[Any] | None = None, **tables: Any) -> pd.DataFrame:
    """Run `sql` with each keyword registered as a table (pandas frames, Arrow tables, Parquet Paths)."""
    con = connect()
    try:
        for name, table in tables.items():
            register(con, name, table)
        return con.execute(sql, params or []).df()
    finally:
        con.close()


def arrow(sql: str, /, params: Sequence[Any] | None = None, **tables: Any) -> pa.Table:
    """:func:`query`, the result as an Arrow table (no conversion of its strings to Python objects)."""
    con = connect()
    try:
        for name, table in tables.items():
            register(con, name, table)
        result: pa.Table = con.sql(sql, params=list(params or [])).to_arrow_table()
        return result
    finally:
        con.close()


def columns(table: Table) -> list[str]:
    """The column names of a table (of a frame: its index is the row key, not a column)."""
    if isinstance(table, Path):
        return list(pq.read_schema(table).names)
    if isinstance(table, pa.Table):
        return list(table.schema.names)
    return [str(c) for c in table.columns]


def rows_input(rows: Table, cols: Sequence[str]) -> Any:
    """The run's rows with `row_key` and `cols`, to register: a frame (indexed by row key) is cut to
    those columns; an Arrow table or Parquet file (row_key a column) is read as it is."""
    if isinstance(rows, pd.DataFrame):
        return rows[list(cols)].reset_index(names="row_key")
    if isinstance(rows, pa.Table):
        return rows.select(["row_key", *cols])
    return rows


def ref_input(table: Table, cols: Sequence[str]) -> Any:
    """A reference table with `cols`: a frame cut to those columns, anything else as it is."""
    if isinstance(table, pd.DataFrame):
        return table[list(cols)]
    if isinstance(table, pa.Table):
        return table.select(list(cols))
    return table


def row_count(rows: Table) -> int:
    if isinstance(rows, Path):
        return int(pq.read_metadata(rows).num_rows)
    return len(rows)


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
