"""From text cells to typed payee rows: digits, separators, dates, labels.

Each rule runs on whole columns. What cannot be read without guessing is a finding naming row and
column, never a silent repair: an amount with decimals in a currency that has none is refused, not
rounded; a day-first date is refused, not reordered. What can be read exactly is normalized:
Persian and Arabic-Indic digits, thousands separators in whole groups of three (`1,250,000`, Persian
`۱٬۲۵۰٬۰۰۰`), dates written with slashes or dots, Jalali (Solar Hijri) dates from Iranian branch
systems (converted with jdatetime), compact YYYYMMDD dates, local benefit labels.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from payroll.benefits import benefit_labels
from payroll.country import CountryProfile
from payroll.intake.columns import PAYEE_COLUMNS
from payroll.normalize import compact_id_series, normalize_name_series, to_ascii_digits_series

AMOUNT_COLUMNS = ("gross_amount", "deduction_amount", "net_amount")
MAX_AMOUNT_DIGITS = 15  # far above any pension; keeps every amount and sum exact in int64
TEXT_COLUMNS = ("pension_id", "national_id", "full_name", "birth_date", "benefit_type", "account_code")

_MINUS = "\u2212\u2012\u2013\ufe63\uff0d"
_GROUPED = r"-?[0-9]{1,3}(?:[,\u066c'\u00a0\u202f ][0-9]{3})+"
_GROUP_SEPARATORS = r"[,\u066c'\u00a0\u202f ]"
_PLAIN = rf"-?[0-9]{{1,{MAX_AMOUNT_DIGITS}}}"
_DECIMAL = r"-?[0-9][0-9,\u066c'\u00a0\u202f ]*[.\u066b][0-9]*"
_YEAR_FIRST = r"([0-9]{4})[-/.]([0-9]{1,2})[-/.]([0-9]{1,2})"
_COMPACT_DATE = r"([0-9]{4})([0-9]{2})([0-9]{2})"
_DAY_FIRST = r"[0-9]{1,2}[-/.][0-9]{1,2}[-/.][0-9]{2,4}"
JALALI_YEARS = (1300, 1499)  # a year in this range, in an Iranian file, is a Solar Hijri year


class Problems:
    """Collects (position, column, code, message) from vectorized rules."""

    def __init__(self) -> None:
        self.parts: list[pd.DataFrame] = []

    def add(self, mask: pd.Series | np.ndarray, column: str, code: str, message: pd.Series | str) -> None:
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        idx = np.flatnonzero(mask)
        msg = message[mask].to_numpy() if isinstance(message, pd.Series) else np.full(idx.size, message)
        self.parts.append(pd.DataFrame({"idx": idx, "column": column, "code": code, "message": msg}))

    def frame(self) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame({"idx": np.array([], dtype=np.int64), "column": pd.Series([], dtype=object),
                                 "code": pd.Series([], dtype=object), "message": pd.Series([], dtype=object)})
        return pd.concat(self.parts, ignore_index=True)


def quoted(s: pd.Series) -> pd.Series:
    return "'" + s.astype(str) + "'"


def parse_amount(text: pd.Series, column: str, currency: str, problems: Problems) -> tuple[pd.Series, np.ndarray]:
    """Int64 minor units (NA where empty or unreadable) and the mask of readable cells."""
    t = to_ascii_digits_series(text.astype(str).str.strip())
    ok = t.str.fullmatch(_PLAIN).to_numpy(bool).copy()  # [0-9] is ASCII in RE2: no flag, no Python fallback
    empty = (t == "").to_numpy()
    decimals = np.zeros(len(t), dtype=bool)
    other = ~ok & ~empty  # signs, separators, decimals: a few rows; their patterns run in Python
    if other.any():
        rest = t[other].str.replace(f"[{_MINUS}]", "-", regex=True)
        grouped = rest.str.fullmatch(_GROUPED).to_numpy(bool)
        rest = rest.where(~grouped, rest.str.replace(_GROUP_SEPARATORS, "", regex=True))
        t = t.copy()
        t[other] = rest
        ok[other] = rest.str.fullmatch(_PLAIN).to_numpy(bool)
        decimals[other] = ~ok[other] & rest.str.fullmatch(_DECIMAL).to_numpy(bool)
    problems.add(decimals, column, "INVALID_AMOUNT",
                 f"{column} " + quoted(text) + f" has decimals; {currency} has no minor unit, so amounts are "
                 f"whole {currency} (nothing is rounded: correct the amount in the branch system)")
    problems.add(~ok & ~empty & ~decimals, column, "INVALID_AMOUNT",
                 f"{column} " + quoted(text) + " is not a whole number of minor units (digits, optionally "
                 f"grouped by three; at most {MAX_AMOUNT_DIGITS} digits)")
    values = pd.to_numeric(t.where(ok, None), errors="coerce").astype("Int64")
    return values, ok


def parse_dates(text: pd.Series, column: str, profile: CountryProfile, problems: Problems
                ) -> tuple[pd.Series, int]:
    """'YYYY-MM-DD' strings (NA where empty or unreadable) and how many were Jalali."""
    t = to_ascii_digits_series(text.astype(str).str.strip())
    # the common case, YYYY-MM-DD, sliced in Arrow; the other shapes through a regex on the rest
    iso = t.str.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}").to_numpy(bool)
    y = pd.to_numeric(t.str.slice(0, 4).where(iso), errors="coerce")
    m = pd.to_numeric(t.str.slice(5, 7).where(iso), errors="coerce")
    d = pd.to_numeric(t.str.slice(8, 10).where(iso), errors="coerce")
    if (~iso).any():
        rest = t[~iso]
        parts = rest.str.extract(f"^{_YEAR_FIRST}$").fillna(rest.str.extract(f"^{_COMPACT_DATE}$"))
        y[~iso] = pd.to_numeric(parts[0], errors="coerce")
        m[~iso] = pd.to_numeric(parts[1], errors="coerce")
        d[~iso] = pd.to_numeric(parts[2], errors="coerce")
    shaped = y.notna().to_numpy()
    out = pd.Series(pd.NA, index=text.index, dtype="string")

    jalali = shaped & (profile.code == "IR") & y.between(*JALALI_YEARS).to_numpy()
    greg = shaped & ~jalali
    if greg.any():
        stamp = pd.to_datetime(pd.DataFrame({"year": y[greg], "month": m[greg], "day": d[greg]}), errors="coerce")
        out[greg] = stamp.dt.strftime("%Y-%m-%d").astype("string")
    if jalali.any():
        out[jalali] = _jalali_to_gregorian(y[jalali].astype(int), m[jalali].astype(int), d[jalali].astype(int))

    empty = (t == "").to_numpy()
    bad = ~empty & out.isna().to_numpy()
    day_first = bad & t.str.fullmatch(_DAY_FIRST).to_numpy(bool)
    problems.add(day_first, column, "INVALID_DATE",
                 f"{column} " + quoted(text) + " puts the day first; write the year first (YYYY-MM-DD), so "
                 "that day and month cannot be mistaken")
    problems.add(bad & ~day_first & jalali, column, "INVALID_DATE",
                 f"{column} " + quoted(text) + " is not a real Jalali (Solar Hijri) date")
    problems.add(bad & ~day_first & ~jalali, column, "INVALID_DATE",
                 f"{column} " + quoted(text) + " is not a real date written YYYY-MM-DD")
    return out, int((jalali & out.notna().to_numpy()).sum())


def _jalali_to_gregorian(y: pd.Series, m: pd.Series, d: pd.Series) -> pd.Series:
    """Convert each distinct Jalali date once (birth dates repeat a lot); NA where not a real date."""
    import jdatetime

    keys = pd.DataFrame({"y": y, "m": m, "d": d})
    distinct = keys.drop_duplicates()
    converted = {}
    for yy, mm, dd in distinct.itertuples(index=False):
        try:
            converted[(yy, mm, dd)] = jdatetime.date(yy, mm, dd).togregorian().isoformat()
        except ValueError:
            converted[(yy, mm, dd)] = None
    return pd.Series([converted[k] for k in zip(y, m, d, strict=True)], index=y.index, dtype="string")


def normalize_benefit(text: pd.Series, country: str) -> pd.Series:
    labels = benefit_labels(country)
    name = normalize_name_series(text.astype(str).str.strip())
    mapped = name.map(labels)
    return mapped.fillna(text.astype(str).str.strip().str.upper()).astype("string")


def parse_rows(raw: pd.DataFrame, profile: CountryProfile, problems: Problems) -> tuple[pd.DataFrame, int]:
    """The typed frame (positional index): text columns normalized with NA for empty cells, amounts
    Int64, birth_date 'YYYY-MM-DD'. Returns (frame, Jalali dates converted)."""
    stripped = {c: raw[c].astype(str).str.strip() for c in PAYEE_COLUMNS}
    norm = pd.DataFrame(index=raw.index)
    norm["pension_id"] = compact_id_series(stripped["pension_id"])
    norm["national_id"] = profile.national_id.compact_series(stripped["national_id"])
    norm["full_name"] = normalize_name_series(stripped["full_name"])
    norm["birth_date"], jalali = parse_dates(stripped["birth_date"], "birth_date", profile, problems)
    norm["benefit_type"] = normalize_benefit(stripped["benefit_type"], profile.code)
    for c in AMOUNT_COLUMNS:
        norm[c], _ = parse_amount(stripped[c], c, profile.currency, problems)
    norm["account_code"] = profile.account.compact_series(stripped["account_code"])
    for c in TEXT_COLUMNS:
        s = norm[c].astype("string")
        norm[c] = s.mask(s.str.strip() == "")
    return norm, jalali
