"""From text cells to typed payee rows: digits, separators, dates, labels.

Each rule runs on whole columns. What cannot be read without guessing is a finding naming row and
column, never a silent repair: an amount with decimals in a currency that has none is refused, not
rounded; a day-first date is refused, not reordered. What can be read exactly is normalized:
Persian and Arabic-Indic digits, thousands separators in whole groups of three (`1,250,000`, Persian
`۱٬۲۵۰٬۰۰۰`), dates written with slashes or dots, Jalali (Solar Hijri) dates from Iranian branch
systems (converted with jdatetime), compact YYYYMMDD dates, local benefit labels.

Survivor benefits (optional columns insured_id and share_percent): the insured id is read like a
national id (same normalization, padding and check digit), the share is read exactly into integer
basis points (`33.33` -> 3333, `۵۰٪` -> 5000; never through a float, more than 2 decimals refused),
and the two are required on survivor rows and refused on rows of any other benefit type.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from payroll.benefits import benefit_labels, benefit_rules
from payroll.country import CountryProfile
from payroll.intake.columns import PAYEE_COLUMNS, SURVIVOR_COLUMNS
from payroll.intake.findings import EXCERPT_CHARS, excerpt
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
SURVIVOR_BENEFITS = ("SURVIVOR", "SURVIVOR_CHILD")  # the benefit types that share a deceased's pension
MAX_SHARE_BP = 10_000  # 100% in basis points (hundredths of a percent)
# a share: optional sign, whole percent, decimals after '.' or the Arabic decimal separator U+066B (more
# than 2 are refused with their own message), a percent sign optionally after a space
_SHARE = r"-?[0-9]{1,6}(?:\.[0-9]+)?"  # after the sign, point and percent sign are made ASCII / removed
_PERCENT_SIGN = "[ \u00a0\u202f]?[%\u066a\ufe6a\uff05]$"  # ASCII, Arabic, small and fullwidth


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
    """Each value quoted for a message; a long one cut to its first characters and its length."""
    text = s.astype(str)
    out = "'" + text + "'"
    long = (text.str.len() > EXCERPT_CHARS).to_numpy()
    if long.any():
        out[long] = text[long].map(excerpt)
    return out


def _quoting(mask: np.ndarray, before: str, text: pd.Series, after: str) -> pd.Series | str:
    """`before + quoted(value) + after` for the rows of `mask` only: a message for every row of a column
    was built and dropped whenever a rule found nothing (most files, most rules)."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return ""
    out = pd.Series(np.full(len(mask), "", dtype=object), index=text.index, dtype=object)
    out[mask] = (before + quoted(text[mask]) + after).to_numpy(dtype=object)
    return out


def _ints(text: pd.Series, ok: np.ndarray) -> pa.Array:
    """int64 of the cells where `ok` (each already matched as an optional '-' and ASCII digits, at most
    18 of them), null elsewhere: one Arrow cast, where pd.to_numeric read each string in Python."""
    values = pa.array(text.astype("str") if text.dtype == object else text, from_pandas=True)
    return pc.cast(pc.if_else(pa.array(ok, pa.bool_()), values, pa.scalar(None, values.type)), pa.int64())


def _numbers(text: pd.Series, ok: np.ndarray) -> pd.Series:
    """:func:`_ints` as float64 with NaN where not `ok` (what pd.to_numeric(errors="coerce") gave)."""
    return pd.Series(_ints(text, ok).to_numpy(zero_copy_only=False).astype(np.float64), index=text.index)


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
    problems.add(decimals, column, "INVALID_AMOUNT", _quoting(
                 decimals, f"{column} ", text, f" has decimals; {currency} has no minor unit, so amounts are "
                 f"whole {currency} (nothing is rounded: correct the amount in the branch system)"))
    unreadable = ~ok & ~empty & ~decimals
    problems.add(unreadable, column, "INVALID_AMOUNT", _quoting(
                 unreadable, f"{column} ", text, " is not a whole number of minor units (digits, optionally "
                 f"grouped by three; at most {MAX_AMOUNT_DIGITS} digits)"))
    values = pd.Series(pd.Int64Dtype().__from_arrow__(_ints(t, ok)), index=t.index)
    return values, ok


def parse_dates(text: pd.Series, column: str, profile: CountryProfile, problems: Problems
                ) -> tuple[pd.Series, np.ndarray]:
    """'YYYY-MM-DD' strings (NA where empty or unreadable) and the mask of the cells read as Jalali."""
    t = to_ascii_digits_series(text.astype(str).str.strip())
    # the common case, YYYY-MM-DD, sliced in Arrow; the other shapes through a regex on the rest
    iso = t.str.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}").to_numpy(bool)
    y = _numbers(t.str.slice(0, 4), iso)
    m = _numbers(t.str.slice(5, 7), iso)
    d = _numbers(t.str.slice(8, 10), iso)
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
        real = stamp.notna().to_numpy()
        at = np.flatnonzero(greg)
        # a real date already written YYYY-MM-DD is its own text (strftime per value was a fifth of
        # parsing); only the other shapes (slashes, dots, YYYYMMDD, single digits) are formatted
        as_is = real & iso[greg]
        out.iloc[at[as_is]] = t.iloc[at[as_is]].astype("string").to_numpy()
        shaped_other = real & ~iso[greg]
        if shaped_other.any():
            out.iloc[at[shaped_other]] = stamp[shaped_other].dt.strftime("%Y-%m-%d").astype("string").to_numpy()
    if jalali.any():
        out[jalali] = _jalali_to_gregorian(y[jalali].astype(int), m[jalali].astype(int), d[jalali].astype(int))

    empty = (t == "").to_numpy()
    bad = ~empty & out.isna().to_numpy()
    day_first = bad & t.str.fullmatch(_DAY_FIRST).to_numpy(bool)
    problems.add(day_first, column, "INVALID_DATE", _quoting(
                 day_first, f"{column} ", text, " puts the day first; write the year first (YYYY-MM-DD), so "
                 "that day and month cannot be mistaken"))
    problems.add(bad & ~day_first & jalali, column, "INVALID_DATE", _quoting(
                 bad & ~day_first & jalali, f"{column} ", text, " is not a real Jalali (Solar Hijri) date"))
    problems.add(bad & ~day_first & ~jalali, column, "INVALID_DATE", _quoting(
                 bad & ~day_first & ~jalali, f"{column} ", text, " is not a real date written YYYY-MM-DD"))
    return out, jalali & out.notna().to_numpy()


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
    """Each distinct label normalized and mapped once: a file of a million rows has a handful of
    benefit labels (normalizing every cell's name was a fifth of parsing)."""
    labels = benefit_labels(country)
    codes, uniques = pd.factorize(text.astype(str).str.strip())
    distinct = pd.Series(uniques, dtype=object).astype(str)
    mapped = normalize_name_series(distinct).map(labels).fillna(distinct.str.upper())
    values = mapped.to_numpy(dtype=object)
    out = np.empty(len(codes), dtype=object)
    out[:] = values[codes] if len(values) else None
    return pd.Series(out, index=text.index).astype("string")


def parse_rows(raw: pd.DataFrame, profile: CountryProfile, problems: Problems
               ) -> tuple[pd.DataFrame, np.ndarray]:
    """The typed frame (positional index): text columns normalized with NA for empty cells, amounts
    Int64, birth_date 'YYYY-MM-DD'. Returns (frame, mask of the birth dates converted from Jalali).
    Every rule is per cell or per row, so the rows of several files can be parsed in one call."""
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
    norm["insured_id"], norm["share_bp"] = parse_survivor_fields(raw, norm, profile, problems)
    return norm, jalali


def parse_share(text: pd.Series, column: str, problems: Problems) -> pd.Series:
    """Int32 basis points (NA where empty or refused): '50' -> 5000, '33.33' -> 3333, '12.5%' -> 1250.
    Exact: the whole and decimal digits are read as integers, never as a float. A share is more
    than 0 and at most 100 percent, with at most 2 decimals (nothing is rounded)."""
    out = pd.Series(pd.NA, index=text.index, dtype="Int32")
    stripped = text.astype(str).str.strip()
    filled = (stripped != "").to_numpy()
    if not filled.any():
        return out
    # only the filled cells (survivor rows), in Arrow: sign, digits, decimal point, percent sign
    t = (to_ascii_digits_series(stripped[filled])
         .str.replace(_PERCENT_SIGN, "", regex=True)
         .str.replace("\u066b", ".", regex=False)
         .str.replace(f"^[{_MINUS}]", "-", regex=True))
    shaped = np.zeros(len(text), dtype=bool)
    shaped[filled] = t.str.fullmatch(_SHARE).to_numpy(bool)
    decimals = t.str.replace(r"^[^.]*\.?", "", regex=True)  # the digits after the point, '' if none
    too_fine = np.zeros(len(text), dtype=bool)
    too_fine[filled] = shaped[filled] & (decimals.str.len() > 2).to_numpy(bool)
    read = shaped & ~too_fine
    in_range = np.zeros(len(text), dtype=bool)
    if read.any():
        sub = read[filled]
        number = t[sub]
        whole = number.str.replace(r"^-|\..*$", "", regex=True).astype(np.int64).to_numpy()
        hundredths = decimals[sub].str.ljust(2, "0").astype(np.int64).to_numpy()
        bp = np.where(number.str.startswith("-").to_numpy(bool), -1, 1) * (whole * 100 + hundredths)
        good = (bp > 0) & (bp <= MAX_SHARE_BP)
        in_range[np.flatnonzero(read)[good]] = True
        out[in_range] = bp[good].astype(np.int32)
    problems.add(filled & ~shaped, column, "INVALID_SHARE", _worded(
        filled & ~shaped, f"{column} '", text, "' is not a percentage: write the share in percent with at most 2 "
        "decimals and an optional % sign (e.g. 50, 33.33, 12.5%)"))
    problems.add(too_fine, column, "INVALID_SHARE", _worded(
        too_fine, f"{column} '", text, "' has more than 2 decimals; shares are given to a hundredth of a percent "
        "(nothing is rounded: correct the share in the branch system)"))
    problems.add(read & ~in_range, column, "INVALID_SHARE", _worded(
        read & ~in_range, f"{column} '", text, "' is not a share of a pension: it must be more than 0% and at "
        "most 100%"))
    return out


def parse_survivor_fields(raw: pd.DataFrame, norm: pd.DataFrame, profile: CountryProfile, problems: Problems
                          ) -> tuple[pd.Series, pd.Series]:
    """(insured_id, share_bp) of each row: NA where empty, or everywhere when the file has no survivor
    columns. The insured id is normalized and checked like a national id (it is one: the deceased
    insured person's); survivor rows must give both fields, other benefit types neither."""
    insured = pd.Series(pd.NA, index=raw.index, dtype="string")
    if not all(c in raw.columns for c in SURVIVOR_COLUMNS):
        return insured, pd.Series(pd.NA, index=raw.index, dtype="Int32")
    ids = profile.national_id
    text = raw["insured_id"].astype(str).str.strip()
    written = (text != "").to_numpy()
    if written.any():  # survivors are a minority: normalize only the ids that are there
        compact = ids.compact_series(text[written]).astype("string")
        insured[written] = compact.mask(compact.str.strip() == "")
    given = {"insured_id": insured.notna().to_numpy(),
             "share_percent": (raw["share_percent"].astype(str).str.strip() != "").to_numpy()}

    benefit = norm["benefit_type"]
    survivor = benefit.isin(SURVIVOR_BENEFITS).to_numpy(bool)
    other = benefit.isin(list(benefit_rules(profile.code))).to_numpy(bool) & ~survivor  # unknown: reported so
    survivors = ", ".join(SURVIVOR_BENEFITS)
    for c in SURVIVOR_COLUMNS:  # first: on such a row the field should not be there at all
        problems.add(other & given[c], c, "SURVIVOR_FIELDS_ON_OTHER_BENEFIT", _worded(
            other & given[c], f"{c} is given but benefit type ", benefit, f" is not a survivor benefit "
            f"({survivors}); leave insured_id and share_percent empty on this row, or correct the benefit type"))
    share = parse_share(raw["share_percent"], "share_percent", problems)

    valid = np.zeros(len(raw), dtype=bool)
    if given["insured_id"].any():
        valid[given["insured_id"]] = ids.valid_mask(insured[given["insured_id"]])
    bad = given["insured_id"] & ~valid
    if bad.any():  # masked like a national id, with the reason validate() gives
        why = pd.Series(pd.NA, index=raw.index, dtype=object)
        why[bad] = _per_value(insured[bad], lambda v: f"{ids.mask(v)}: {_id_reason(ids, v)}")
        problems.add(bad, "insured_id", "INVALID_NATIONAL_ID", _worded(bad, "insured_id ", why, ""))
    own = valid & (insured == norm["national_id"]).to_numpy(dtype=bool, na_value=False)
    problems.add(own, "insured_id", "INVALID_NATIONAL_ID",
                 "insured_id is the payee's own national id; a survivor draws the pension of another, deceased "
                 "insured person: give that person's national id")
    for c in SURVIVOR_COLUMNS:
        problems.add(survivor & ~given[c], c, "MISSING_VALUE", _worded(
            survivor & ~given[c], f"{c} is empty; a survivor benefit (", benefit, ") needs the deceased insured "
            "person's national id (insured_id) and the survivor's share of the pension (share_percent)"))
    return insured, share


def _worded(mask: np.ndarray, before: str, values: pd.Series, after: str) -> pd.Series | str:
    """`before + value + after` for each row of `mask`, worded only for those rows (a million-row file
    has few bad ones; concatenating whole columns of text would cost more than the check itself)."""
    if not mask.any():
        return ""  # Problems.add adds nothing
    out = pd.Series(np.full(len(mask), "", dtype=object), dtype=object)
    out[mask] = (before + values[mask].astype(str) + after).to_numpy(dtype=object)
    return out


def _id_reason(module: ModuleType, value: str) -> str:
    """Why an identifier is refused, in the words of its module's validate() (stdnum's exceptions)."""
    try:
        module.validate(value)
    except Exception as e:  # stdnum's ValidationError subclasses carry the reason
        return str(e).rstrip(".").lower() or "is not valid"
    return "is not valid"


def _per_value(values: pd.Series, fn: Callable[[str], str]) -> np.ndarray:
    """`fn` once per distinct value (a bad placeholder id is often repeated)."""
    codes, uniques = pd.factorize(values.astype(str))
    return np.array([fn(str(v)) for v in uniques], dtype=object)[codes]
