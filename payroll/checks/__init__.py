"""Checks over a payment run: each a small function over whole tables, errors as data.

A check takes the consolidated rows (one per payee row, index = row key) and the reference tables,
and returns the rows it keeps and exception rows (row key, code, evidence). Severities come from
the exception catalogue. The run is the ordered list CHECKS; adding a check is one file and one line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from payroll.catalog import severity
from payroll.period import Period

EXCEPTION_COLUMNS = ["row_key", "code", "detail"]


@dataclass
class Reference:
    registry: pd.DataFrame  # national_id, full_name, birth_date
    deaths: pd.DataFrame  # national_id, date_of_death
    accounts: pd.DataFrame  # account_code, bank_code, holder_national_id, dedicated, status


@dataclass
class CheckResult:
    kept: pd.DataFrame
    exceptions: pd.DataFrame  # EXCEPTION_COLUMNS


Check = Callable[[pd.DataFrame, Reference, Period], CheckResult]


def exceptions_frame(row_keys: Any, code: str, details: list[dict[str, Any]]) -> pd.DataFrame:
    keys = list(row_keys)
    return pd.DataFrame({"row_key": pd.Series(keys, dtype="int64"), "code": [code] * len(keys),
                         "detail": details})


def result(rows: pd.DataFrame, exceptions: list[pd.DataFrame]) -> CheckResult:
    """Rows kept are those without a HOLD or BLOCK finding from this check."""
    exc = pd.concat(exceptions, ignore_index=True) if exceptions else exceptions_frame([], "", [])
    stopping = exc[exc["code"].map(severity).isin(["HOLD", "BLOCK"])] if len(exc) else exc
    return CheckResult(rows[~rows.index.isin(stopping["row_key"])], exc)
