"""Which files a run's transfers go into: one or more per bank, by the bank's reference data.

Each bank (``data/reference/banks_*.csv``) names its ``file_format`` (see ``bank_formats.formats``),
``max_transactions`` per file (more are split over several files, in the transfers' order),
``max_file_bytes`` (a larger file is refused: lower the bank's max_transactions), a ``file_name``
pattern and the layout ``params`` its format needs. The plan is a pure function of the run's
transfers and the bank list, so release, re-release and reconciliation all see the same files, ids
and contents.

File name patterns use ``{period}`` (2026-11), ``{run}``, ``{bank}``, ``{part}`` (1, 2, ...; always
with ``{parts}``, the number of files of the bank), ``{part_suffix}`` (empty for a bank's only file,
else ``_P1``, ``_P2``, ...) and ``{ext}`` (the format's extension). A pattern must name the bank and a
part so that no two files of a run can share a name.
"""

from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

DEFAULT_FILE_NAME = "PENSION_{period}_RUN{run}_BANK{bank}{part_suffix}{ext}"
FIELDS = {"period", "run", "bank", "part", "parts", "part_suffix", "ext"}
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}", re.ASCII)


@dataclass(frozen=True)
class BankRules:
    bank_code: str
    name: str
    file_format: str
    max_transactions: int | None = None
    max_file_bytes: int | None = None
    file_name: str = DEFAULT_FILE_NAME
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PlannedFile:
    name: str
    bank: BankRules
    msg_id: str  # <= 35 characters, unique per run
    part: int
    parts: int
    transfers: pd.DataFrame  # rows of payroll.legs.transfer_legs, in file order


def check_file_name_pattern(pattern: str) -> None:
    """ValueError saying what is wrong with a bank's file name pattern."""
    try:
        names = {f for _, f, _, _ in string.Formatter().parse(pattern) if f is not None}
    except ValueError as e:
        raise ValueError(f"file name pattern {pattern!r} is malformed: {e}") from None
    unknown = names - FIELDS
    if unknown:
        raise ValueError(f"file name pattern {pattern!r} uses unknown field(s) {', '.join(sorted(unknown))}; "
                         f"known: {', '.join(sorted(FIELDS))}")
    if "bank" not in names or not names & {"part", "part_suffix"}:
        raise ValueError(f"file name pattern {pattern!r} must contain {{bank}} and {{part}} or {{part_suffix}}, "
                         "so that no two files of a run share a name")
    sample = render_file_name(pattern, "2026-11", 1, "013", 1, 2, ".xml")
    if not _SAFE_NAME.fullmatch(sample):
        raise ValueError(f"file name pattern {pattern!r} gives {sample!r}: only letters, digits, '.', '_' and "
                         "'-' are allowed in a file name")


def render_file_name(pattern: str, period: str, run: int, bank: str, part: int, parts: int, ext: str) -> str:
    return pattern.format(period=period, run=run, bank=bank, part=part, parts=parts,
                          part_suffix="" if parts == 1 else f"_P{part}", ext=ext)


def parse_params(text: str | None) -> dict[str, str]:
    """A bank's layout parameters: a JSON object of strings (empty: none)."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"params is not JSON: {e}") from None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValueError("params must be a JSON object of strings, e.g. {\"company_id\": \"1234567890\"}")
    return value


def plan_files(transfers: pd.DataFrame, banks: dict[str, BankRules], *, period: str, run_id: int,
               extension_of: Any) -> list[PlannedFile]:
    """Split `transfers` (payroll.legs.transfer_legs, bank order) into the run's files.

    `extension_of(file_format) -> str`. ValueError when a transfer's bank is not in the bank list."""
    unknown = sorted(set(transfers["bank_code"]) - set(banks))
    if unknown:
        n = int(transfers["bank_code"].isin(unknown).sum())
        raise ValueError(f"bank(s) {', '.join(repr(b) for b in unknown)} of {n} transfer(s) are not in the bank list")
    planned = []
    compact = period.replace("-", "")
    for bank_code, group in transfers.groupby("bank_code", sort=True):
        bank = banks[str(bank_code)]
        size = bank.max_transactions or len(group)
        parts = -(-len(group) // size)
        for part in range(1, parts + 1):
            msg_id = f"PEN{compact}R{run_id}B{bank_code}" + ("" if parts == 1 else f"F{part}")
            name = render_file_name(bank.file_name, period, run_id, str(bank_code), part, parts,
                                    extension_of(bank.file_format))
            planned.append(PlannedFile(name=name, bank=bank, msg_id=msg_id, part=part, parts=parts,
                                       transfers=group.iloc[(part - 1) * size: part * size]))
    names = [p.name for p in planned]
    if len(set(names)) != len(names):
        raise ValueError("two bank files of the run would have the same name; check the banks' file_name patterns")
    return planned
