"""Exception codes and their severities, read from data/reference/exception_codes.csv.

Severity BLOCK: never paid; HOLD: not paid until cleared by someone with the right role; WARN: paid
and reported. The catalogue is data so that auditors read the same descriptions the engine uses.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from payroll.config import REPO_DATA_DIR

SEVERITY_RANK = {"WARN": 1, "HOLD": 2, "BLOCK": 3}


@dataclass(frozen=True)
class ExceptionCode:
    code: str
    stage: str
    severity: str
    description: str


@cache
def catalog(path: Path = REPO_DATA_DIR / "reference" / "exception_codes.csv") -> dict[str, ExceptionCode]:
    with open(path, newline="", encoding="utf-8") as f:
        codes = {r["code"]: ExceptionCode(**r) for r in csv.DictReader(f)}
    bad = [c.code for c in codes.values() if c.severity not in SEVERITY_RANK]
    if bad:
        raise ValueError(f"{path}: unknown severity for {bad}")
    return codes


def severity(code: str) -> str:
    return catalog()[code].severity
