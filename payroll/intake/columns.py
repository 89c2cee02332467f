"""Which file column is which payee field.

Branch systems export their own headers (Persian or Korean names, any order). Each system's headers
are listed in data/reference/column_maps.csv; the engine's own names (pension_id, ...) are the
`standard` system and are always understood. A branch is registered with its system; a file's
headers are matched after normalization (letter forms, zero-width non-joiners, spacing, case), so
'کد ملی' and 'كد ملي' are the same header. Columns no system names are reported, never silently
dropped; two headers naming the same field refuse the file.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from payroll.config import REPO_DATA_DIR
from payroll.normalize import normalize_name

PAYEE_COLUMNS = (
    "pension_id", "national_id", "full_name", "birth_date", "benefit_type",
    "gross_amount", "deduction_amount", "net_amount", "account_code",
)
# survivor benefits: the deceased insured person whose pension the survivor shares, and the share;
# optional, but a file that has one of the two must have both (payroll.intake.payee_file)
SURVIVOR_COLUMNS = ("insured_id", "share_percent")
OPTIONAL_COLUMNS = ("period", *SURVIVOR_COLUMNS)
STANDARD = "standard"


def header_key(header: str) -> str:
    """How headers are compared: normalized letters, case folded, spaces/dashes/underscores alike."""
    return re.sub(r"[\s_\-]+", "_", normalize_name(str(header).lstrip("\ufeff"))).strip("_").casefold()


@dataclass(frozen=True)
class Resolution:
    rename: dict[str, str]  # file header -> field
    missing: list[str]  # required fields no header names
    unknown: list[str]  # file headers that name no field
    repeated: dict[str, list[str]]  # field -> the several headers that name it


@cache
def column_maps(path: Path = REPO_DATA_DIR / "reference" / "column_maps.csv") -> dict[str, dict[str, str]]:
    """system -> {header key: field}; the standard system maps the field names themselves."""
    fields = set(PAYEE_COLUMNS) | set(OPTIONAL_COLUMNS)
    maps: dict[str, dict[str, str]] = {STANDARD: {header_key(f): f for f in fields}}
    with open(path, newline="", encoding="utf-8") as f:
        for n, r in enumerate(csv.DictReader(f), start=2):
            if r["column"] not in fields:
                raise ValueError(f"{path}: row {n}: {r['column']!r} is not a payee field")
            maps.setdefault(r["system"], {})[header_key(r["header"])] = r["column"]
    return maps


def systems() -> list[str]:
    return sorted(column_maps())


def resolve(headers: list[str], system: str | None = None) -> Resolution:
    """Match a file's headers to fields, with the branch's system (None: any known system)."""
    maps = column_maps()
    if system is not None and system not in maps:
        raise ValueError(f"unknown branch system {system!r}; known: {', '.join(sorted(maps))}")
    names: dict[str, str] = dict(maps[STANDARD])
    for s in ([system] if system else sorted(maps)):
        if s != STANDARD:
            names.update(maps[s])
    rename: dict[str, str] = {}
    by_field: dict[str, list[str]] = {}
    unknown: list[str] = []
    for h in headers:
        field = names.get(header_key(h))
        if field is None:
            unknown.append(h)
        else:
            rename[h] = field
            by_field.setdefault(field, []).append(h)
    repeated = {f: hs for f, hs in by_field.items() if len(hs) > 1}
    missing = [c for c in PAYEE_COLUMNS if c not in by_field]
    return Resolution(rename, missing, unknown, repeated)


def expected_headers(field: str, system: str | None) -> list[str]:
    """The headers that would name `field` (for error messages)."""
    out = [field]
    path = REPO_DATA_DIR / "reference" / "column_maps.csv"
    with open(path, newline="", encoding="utf-8") as f:
        out += [r["header"] for r in csv.DictReader(f)
                if r["column"] == field and (system is None or r["system"] == system)]
    return out
