"""The ordered list of run checks, and the verdict per row: the worst severity found wins.

Every check sees every row, so an auditor sees every reason a payment was stopped, not only the first.
ROW_CHECKS judge each row on its own against the reference (registry, deaths, accounts); a
supplementary run re-checks its cleared rows with them. The other checks look at the whole
population (duplicates, survivors, anomalies against the last released period, recovery of
overpayments) and run only on a period's main run.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from payroll.catalog import SEVERITY_RANK, severity
from payroll.checks import (
    NO_ROW,
    Check,
    Reference,
    Table,
    accounts,
    anomalies,
    deaths,
    duplicates,
    registry,
    survivors,
)
from payroll.period import Period


def row_keys(rows: Table) -> pd.Index:
    """The row keys of the run's rows: a frame's index, or the row_key column of a table or file."""
    if isinstance(rows, pd.DataFrame):
        return rows.index
    if isinstance(rows, pa.Table):
        return pd.Index(rows["row_key"].to_numpy(), name="row_key")
    return pd.Index(pq.read_table(rows, columns=["row_key"])["row_key"].to_numpy(), name="row_key")

ROW_CHECKS: list[Check] = [registry.check, deaths.check, accounts.check]
CHECKS: list[Check] = [*ROW_CHECKS, deaths.recovery, duplicates.check, survivors.check, anomalies.check]

RANK_TO_STATUS = {0: "PAYABLE", 1: "PAYABLE", 2: "HOLD", 3: "BLOCK"}


def run_checks(rows: Table, ref: Reference, period: Period, checks: Sequence[Check] = CHECKS
               ) -> tuple[pd.Series, pd.DataFrame]:
    """Returns (status per row: PAYABLE | HOLD | BLOCK, exceptions with code, severity, detail).

    `rows`: a frame indexed by row key, or an Arrow table or Parquet Path with a row_key column; the
    status is indexed by row key either way. Findings with row key NO_ROW (not a row of this run) are
    reported and decide no row's status."""
    found = [check(rows, ref, period).exceptions for check in checks]
    exc = pd.concat(found, ignore_index=True).sort_values(["row_key", "code"], kind="stable")
    exc["severity"] = exc["code"].map(severity)
    on_rows = exc[exc["row_key"] != NO_ROW]
    worst = on_rows["severity"].map(SEVERITY_RANK).groupby(on_rows["row_key"]).max()
    rank = worst.reindex(row_keys(rows), fill_value=0).astype(int)
    return rank.map(RANK_TO_STATUS), exc.reset_index(drop=True)
