"""Checks over a payment run: each a small function over whole tables, errors as data.

A check takes the consolidated rows (a frame with one row per payee row, index = row key; or an Arrow
table or a Path to a Parquet file with a row_key column), the reference tables (frames, Arrow tables or
Parquet Paths), the
payments released in earlier periods and the policy, and returns the rows it keeps and exception rows
(row key, code, evidence). Joins run in DuckDB over the frames (see payroll.checks.engine), never row
by row in Python; only the exceptions come back into Python. A finding about something that is not a row of this run (an overpayment released in
an earlier period, a payee who vanished) has row key -1 and carries its lineage itself.
Severities come from the exception catalogue. The run is the ordered list CHECKS in
payroll.checks.pipeline; adding a check is one file and one line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from payroll.catalog import severity
from payroll.period import Period

EXCEPTION_COLUMNS = ["row_key", "code", "detail"]
NO_ROW = -1  # row key of a finding that is not a row of this run; its detail holds a "lineage"
LINEAGE_FIELDS = ("branch_code", "submission_id", "source_sha256", "row_no", "pension_id", "national_id")


@dataclass(frozen=True)
class DoubleBenefit:
    """Two benefits one person may draw together (data/reference/double_benefits.csv)."""

    benefits: frozenset[str]
    max_combined_gross: int


@dataclass(frozen=True)
class Policy:
    """The institution's choices the checks apply; defaults from payroll.config.Settings."""

    death_in_period: str = "pay"  # pay: through the month of death (WARN); hold: HOLD for review
    name_similarity_threshold: float = 90.0  # rapidfuzz score 0..100: above it WARN, at or below HOLD
    amount_jump_percent: int = 20  # net up more than this against the last released period: HOLD
    account_change_window_days: int = 90  # more than one account change within it: HOLD
    double_benefits: tuple[DoubleBenefit, ...] = ()
    # monthly cap of the dedicated pension account in minor units (payroll.legs); None: no cap
    dedicated_account_cap: int | None = None


@dataclass(frozen=True)
class ReleasedRun:
    """A released run's payments (PAYMENTS_SCHEMA Parquet, verified against its SHA-256).

    A period's main run holds its whole list (every status); a supplementary run pays rows of that
    list cleared since, so a period's paid rows are the PAYABLE rows of all its runs."""

    period: str
    run_id: int
    path: Path
    kind: str = "main"  # main | supplementary


@dataclass
class History:
    """Payments released in earlier periods: main and supplementary runs, oldest first."""

    released: list[ReleasedRun] = field(default_factory=list)

    def periods(self) -> list[str]:
        return sorted({r.period for r in self.released})

    def last_period(self) -> str | None:
        p = self.periods()
        return p[-1] if p else None

    def of_periods(self, periods: set[str]) -> list[ReleasedRun]:
        return [r for r in self.released if r.period in periods]

    def lists_of(self, periods: set[str]) -> list[ReleasedRun]:
        """The main runs of `periods`: what the branches listed then, whatever was paid."""
        return [r for r in self.released if r.period in periods and r.kind == "main"]


# what a check reads a table from: a pandas frame, an Arrow table or a Path to a Parquet file
Table = Any


@dataclass
class Reference:
    registry: Table  # national_id, full_name, birth_date
    deaths: Table  # national_id, date_of_death
    accounts: Table  # account_code, bank_code, holder_national_id, dedicated, status
    history: History = field(default_factory=History)  # only periods before the run's
    policy: Policy = field(default_factory=Policy)
    # pension ids this period's branch lists sent but intake rejected: a recorded reason why a pension
    # paid last period is missing from the run
    rejected_pension_ids: frozenset[str] = frozenset()


class CheckResult:
    """The exceptions a check found, and the rows it keeps (those without a HOLD or BLOCK finding of
    its own), computed when first asked for: the run needs only the exceptions."""

    def __init__(self, rows: Table, exceptions: pd.DataFrame, stopping: Any = None) -> None:
        self._rows = rows
        self.exceptions = exceptions  # EXCEPTION_COLUMNS
        self._stopping = stopping
        self._kept: Any = None

    @property
    def kept(self) -> Any:
        """The rows kept, of the same kind as the rows given (a Path gives an Arrow table)."""
        if self._kept is None:
            self._kept = _kept(self._rows, self._stopping)
        return self._kept


def _kept(rows: Table, stopping: Any) -> Any:
    keys = pd.Series([] if stopping is None else stopping, dtype="int64")
    if isinstance(rows, pd.DataFrame):
        return rows[~rows.index.isin(keys)]
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = rows if isinstance(rows, pa.Table) else pq.read_table(rows)
    return table.filter(pc.invert(pc.is_in(table["row_key"], value_set=pa.array(keys.to_numpy(), pa.int64()))))


Check = Callable[[Table, Reference, Period], CheckResult]


def exceptions_frame(row_keys: Any, code: str, details: list[dict[str, Any]]) -> pd.DataFrame:
    keys = list(row_keys)
    return pd.DataFrame({"row_key": pd.Series(keys, dtype="int64"), "code": [code] * len(keys),
                         "detail": details})


def result(rows: Table, exceptions: list[pd.DataFrame]) -> CheckResult:
    """Rows kept are those without a HOLD or BLOCK finding from this check."""
    exc = pd.concat(exceptions, ignore_index=True) if exceptions else exceptions_frame([], "", [])
    stopping = exc[exc["code"].map(severity).isin(["HOLD", "BLOCK"])] if len(exc) else exc
    return CheckResult(rows, exc, stopping["row_key"].to_numpy())
