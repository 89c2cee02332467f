"""A deterministic synthetic national month: branch payee lists, reference extracts, a plan and what the
engine must report for them, at any size up to national scale (10,000,000 payees, 600 branches).

    .venv/bin/python -m payroll.synth OUT --payees 100000 --branches 40 --seed 7 [--fmt parquet]

Why: data/sample is a hand-sized month (2,000 rows) whose every planted row is named; the checks,
intake and the run need a month at the size and with the profile of a real institution to be measured
and proven correct, and a generator that can make it again byte for byte from a seed instead of a
multi-gigabyte file in the repository.

`generate(out, payees=, branches=, seed=)` writes, in the engine's input formats (same columns as
data/sample):

- `branches.csv`, `users.csv`: the branches (about 30 provinces) and every user: per branch a clerk
  and a branch head, a provincial approver per province, hq finance fin-1..3, lead-1, audit-1, admin-1;
- `registry.csv` (`registry.parquet` with fmt="parquet"), `deaths.csv`, `accounts.csv`: the civil
  registry extract, the death records and the account registry in force;
- `branches/<code>.csv` (or `.parquet`: amounts int64, the rest strings, survivor fields null where
  not a survivor, as data/sample/branches/B05.parquet), the standard headers, UTF-8 without BOM;
- `plan.json`: the submissions (with declared count and total), approvals and the run's users, in the
  layout of data/sample/plan.json's top level;
- `expected.json`: what the engine must report, computed here from what was planted, never by running
  the engine: each submission's outcome, the intake rejections per code, the run's rows, payable,
  held and blocked counts and totals, the findings per code and the payable total per bank.

Same arguments, same bytes: one numpy Generator drives every draw, in a fixed order. Everything is
vectorized (numpy, pyarrow); Python loops only run over branches and over the few planted rows.
Memory: the rows are held as integer columns (indices into small tables of names and dates, ids as
int64), and text is made per branch file or per chunk of a reference file while writing: 10 M payees
peak at about 3 GiB.

The profile (per thousand payees unless said; each planted kind at least once):

- branch sizes skewed: lognormal quantiles, calibrated so that the largest 5% of branches hold 25%
  of the payees;
- benefits: old-age 75%, survivor 20% (groups of 1 to 4 sharing one deceased insured person's
  pension: a spouse 50% (SURVIVOR), children 25% each (SURVIVOR_CHILD); 4 orphans 25% each; never
  more than 100%), disability 5%; each survivor on their own account;
- amounts in whole IRR (multiples of 1,000): 35% at the minimum pension of benefit_rules.csv, a body
  up to 40,000,000 above it and a Zipf tail up to the cap; survivors get their share of the insured
  person's pension, at least their type's minimum; deductions none (35%) or up to 7% of the gross;
- 2.5 DECEASED before the period (BLOCK): 99% died in the 6 months before it, 1% long dead
  (3 to 12 years before);
- 0.5 people listed by two branches: half DUPLICATE_ACROSS_BRANCHES (HOLD, both rows), half a
  permitted double benefit (double_benefits.csv): an old-age pensioner also drawing a survivor pension
  in another branch, 80% within the combined cap (DOUBLE_BENEFIT, WARN, paid), 20% over it
  (DOUBLE_BENEFIT_OVER_CAP, HOLD);
- 1.0 names or birth dates that differ from the registry: Arabic yeh/kaf in the file (20%) and a
  zero-width non-joiner inside a compound first name (15%) normalize away (no finding); surname written
  first (20%) is a NAME_VARIANT (WARN, paid: the token-sort score is 100); another name in the registry
  (25%: other first name of the other gender, other surname, no compound names, so that the score is
  far below the threshold) and another birth date in the registry (20%) are IDENTITY_MISMATCH (HOLD);
- 0.2 national ids with a wrong check digit: INVALID_NATIONAL_ID at intake (the row is refused, the
  list accepted);
- 5 account changes in the last 30 days. ACCOUNT_CHANGED and ACCOUNT_CHANGED_REPEATEDLY compare with
  an earlier released list, which a single month does not have, so they cannot fire here. The change
  shows in this month's account registry instead: the old account closed, the new one open; 80% of the
  lists give the new account (no finding), 10% still give the old one (ACCOUNT_CLOSED, HOLD) and for
  10% the registry extract does not have the new account yet (ACCOUNT_UNKNOWN, HOLD);
- 0.05 accounts shared by two unrelated payees of two branches (in one branch the quality gate would
  refuse both rows as ACCOUNT_SHARED): ACCOUNT_SHARED_ACROSS_PAYEES on both rows (HOLD), and
  ACCOUNT_NOT_OWNED on the row of the one who does not hold it;
- one branch (two from 20 branches on) declares a total that does not reconcile: plan.json declares it,
  the submission is refused (DECLARED_TOTAL_MISMATCH) and the run lists the branch as missing; its
  rows count nowhere in the run. Pairs planted across branches never involve such a branch.

Everything else is clean: unique national ids, pension ids and accounts; every payee registered with
the same name and birth date, alive, on an open dedicated account of their own; ages and amounts
within their benefit type's limits. Not planted: NOT_IN_REGISTRY, DIED_IN_PERIOD, DUPLICATE_IN_BRANCH,
DUPLICATE_PENSION_ID, ACCOUNT_NOT_DEDICATED, SURVIVOR_SHARES_OVER_100 and the other intake codes, and
the history codes (NEW_PAYEE, AMOUNT_JUMP, PAYEE_VANISHED, OVERPAID_AFTER_DEATH, ACCOUNT_CHANGED*):
there is no released month before this one.

The engine loads `branches.csv` and `users.csv` as `system` (admin-1 exists only once users.csv is
loaded), then the registry, deaths and accounts as admin-1 (plan.json's reference_loaded_by).
Only IR is generated (national code, SHEBA, IRR).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import shutil
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from payroll.config import REPO_DATA_DIR

REFERENCE = REPO_DATA_DIR / "reference"
CURRENCY = "IRR"
ADMIN = "admin-1"
RUN_USERS = {"created_by": "fin-1", "approvers": ["fin-2", "fin-3"], "released_by": "fin-1", "lead": "lead-1"}

FILE_COLUMNS = ["pension_id", "national_id", "full_name", "birth_date", "benefit_type", "gross_amount",
                "deduction_amount", "net_amount", "account_code", "insured_id", "share_percent"]
AMOUNT_COLUMNS = ("gross_amount", "deduction_amount", "net_amount")
BENEFITS = ("OLD_AGE", "DISABILITY", "SURVIVOR", "SURVIVOR_CHILD")  # codes 0..3 of the benefit column
OLD_AGE, DISABILITY, SURVIVOR, CHILD = range(4)
# a survivor group of n members: (benefit, share percent) of each, never over 100% together
GROUPS: dict[int, list[tuple[int, int]]] = {
    1: [(SURVIVOR, 50)],
    2: [(SURVIVOR, 50), (CHILD, 25)],
    3: [(SURVIVOR, 50), (CHILD, 25), (CHILD, 25)],
    4: [(CHILD, 25)] * 4,
}
GROUP_SIZE_WEIGHTS = [0.45, 0.30, 0.17, 0.08]
SHARES = ["50", "25"]  # share_percent text, by index

# banks (data/reference/banks_ir.csv) and their share of payees' accounts
BANK_WEIGHTS = {"013": 30, "017": 20, "012": 12, "054": 8, "018": 8, "019": 6, "015": 5, "056": 5,
                "057": 4, "016": 2}

PROVINCES = [  # code, Persian name, relative number of branches
    ("THR", "تهران", 14), ("KHR", "خراسان رضوی", 7), ("ISF", "اصفهان", 6), ("FAR", "فارس", 5),
    ("KHZ", "خوزستان", 5), ("AZS", "آذربایجان شرقی", 4), ("MZN", "مازندران", 4), ("AZG", "آذربایجان غربی", 3),
    ("KRM", "کرمان", 3), ("ALB", "البرز", 3), ("SBL", "سیستان و بلوچستان", 3), ("GIL", "گیلان", 3),
    ("KSH", "کرمانشاه", 2), ("HRM", "هرمزگان", 2), ("LRS", "لرستان", 2), ("HMD", "همدان", 2),
    ("KRD", "کردستان", 2), ("GLS", "گلستان", 2), ("MRK", "مرکزی", 2), ("QOM", "قم", 2), ("QZV", "قزوین", 1),
    ("ARD", "اردبیل", 1), ("YZD", "یزد", 1), ("ZNJ", "زنجان", 1), ("BSH", "بوشهر", 1),
    ("CHB", "چهارمحال و بختیاری", 1), ("KHN", "خراسان شمالی", 1), ("KHS", "خراسان جنوبی", 1),
    ("KBD", "کهگیلویه و بویراحمد", 1), ("SMN", "سمنان", 1), ("ILM", "ایلام", 1),
]

# Canonical Persian forms only (Persian yeh U+06CC, keheh U+06A9, no ZWNJ, no hamza or alef madda):
# a name here equals itself after the engine's normalization and name key.
MALE_FIRST = [
    "محمد", "علی", "حسین", "حسن", "رضا", "مهدی", "احمد", "محمود", "عباس", "جواد", "مصطفی", "ابراهیم",
    "اسماعیل", "یوسف", "غلامرضا", "غلامحسین", "اکبر", "اصغر", "قاسم", "کاظم", "جعفر", "صادق", "ناصر",
    "منصور", "فرهاد", "بهرام", "داریوش", "سعید", "مجید", "حمید", "مسعود", "محسن", "مرتضی", "هادی", "نادر",
    "پرویز", "کریم", "رحیم", "یعقوب", "حبیب", "شهرام", "ایرج", "منوچهر", "جمشید", "خسرو", "فریدون",
    "هوشنگ", "نصرالله", "اسدالله", "کامران", "بیژن", "تقی", "یدالله", "کیومرث", "ولی",
]
MALE_COMPOUND = ["محمد رضا", "علی اکبر", "محمد علی", "امیر حسین", "محمد حسین", "علی اصغر", "محمد تقی"]
FEMALE_FIRST = [
    "فاطمه", "زهرا", "مریم", "معصومه", "زینب", "کبری", "صغری", "طاهره", "اشرف", "پروین", "شهین", "مهین",
    "ثریا", "منیژه", "فرشته", "عفت", "اعظم", "بتول", "خدیجه", "سکینه", "رقیه", "صدیقه", "نرگس", "منیره",
    "شهناز", "ملیحه", "فریبا", "مهری", "ناهید", "سیمین", "اقدس", "ربابه", "حمیده", "لیلا", "مینا",
    "سهیلا", "زهره", "پروانه", "فرزانه", "اکرم", "شکوه", "کوکب", "نسرین", "ژاله",
]
FEMALE_COMPOUND = ["فاطمه زهرا", "زهرا سادات", "مریم سادات"]
SURNAMES = [
    "احمدی", "محمدی", "حسینی", "رضایی", "کریمی", "موسوی", "جعفری", "هاشمی", "قاسمی", "صادقی", "رحیمی",
    "کاظمی", "ابراهیمی", "عباسی", "نوری", "حیدری", "اکبری", "طاهری", "مرادی", "سلیمانی", "یوسفی", "شریفی",
    "زارعی", "نظری", "مختاری", "امینی", "باقری", "بهرامی", "فرهادی", "صالحی", "قربانی", "رستمی", "خسروی",
    "تهرانی", "اصفهانی", "شیرازی", "کرمانی", "یزدی", "نجفی", "فتحی", "جلالی", "کامرانی", "خلیلی", "ملکی",
    "بابایی", "توکلی", "عسگری", "فاضلی", "میرزایی", "دهقان", "کشاورز", "زمانی", "افشار", "سلطانی",
    "شفیعی", "تقوی", "مهدوی", "اسدی", "منصوری", "نادری", "قنبری", "حقیقی", "ستاری", "غفاری", "یزدانی",
    "امیری", "ایزدی", "کیانی", "پورمحمد", "نیکپور",
]
FIRST_NAMES = MALE_FIRST + MALE_COMPOUND + FEMALE_FIRST + FEMALE_COMPOUND
N_MALE = len(MALE_FIRST) + len(MALE_COMPOUND)
N_SUR = len(SURNAMES)
PERSIAN_YEH, ARABIC_YEH, KEHEH, ARABIC_KAF, ZWNJ = "\u06cc", "\u064a", "\u06a9", "\u0643", "\u200c"
PERSIAN_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")

# per thousand payees
RATES = {"deceased": 2.5, "duplicated": 0.5, "mismatch": 1.0, "invalid_id": 0.2, "account_change": 5.0,
         "account_shared": 0.05}
LONG_DEAD_SHARE = 0.01
MISMATCH_SPLIT = [("arabic_letters", 0.20), ("zwnj", 0.15), ("reordered", 0.20), ("name_differs", 0.25),
                  ("birth_date_differs", 0.20)]
ACCOUNT_CHANGE_SPLIT = [("clean", 0.80), ("file_stale", 0.10), ("registry_stale", 0.10)]
OVER_CAP_SHARE = 0.2  # of the permitted double benefits
WRONG_TOTAL_DELTAS = (1_000_000, -9_000)  # what the branch's cover note gets wrong
EPOCH = np.datetime64("1900-01-01", "D")  # dates are int days since EPOCH
LAST_DAY = np.datetime64("2100-12-31", "D")
CHUNK = 1_000_000  # rows of a reference file made into text at a time


# --------------------------------------------------------------------------- reference data


@dataclass(frozen=True)
class Rules:
    """What the generator must respect, read from data/reference (the engine reads the same files)."""

    min_gross: dict[int, int]
    max_gross: dict[int, int]
    min_age: dict[int, int]
    max_age: dict[int, int]
    double_cap: int  # OLD_AGE + SURVIVOR combined gross cap
    severity: dict[str, str]
    run_lead_over: int | None  # a run whose payable total exceeds this needs the finance lead too
    banks: set[str]


def _rows(name: str) -> list[dict[str, str]]:
    with open(REFERENCE / name, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _rules(country: str) -> Rules:
    rules = {r["benefit_type"]: r for r in _rows("benefit_rules.csv") if r["country"] == country}
    caps = {frozenset(r["benefits"].split("|")): int(r["max_combined_gross"])
            for r in _rows("double_benefits.csv") if r["country"] == country}
    lead = [int(r["min_total"]) for r in _rows("approval_chain.csv")
            if r["item_type"] == "run" and r["min_total"] and "finance_lead" in r["roles"]]
    return Rules(
        min_gross={i: int(rules[b]["min_gross"]) for i, b in enumerate(BENEFITS)},
        max_gross={i: int(rules[b]["max_gross"]) for i, b in enumerate(BENEFITS)},
        min_age={i: int(rules[b]["min_age"]) for i, b in enumerate(BENEFITS)},
        max_age={i: int(rules[b]["max_age"]) for i, b in enumerate(BENEFITS)},
        double_cap=caps[frozenset({"OLD_AGE", "SURVIVOR"})],
        severity={r["code"]: r["severity"] for r in _rows("exception_codes.csv")},
        run_lead_over=min(lead) if lead else None,
        banks={r["bank_code"] for r in _rows(f"banks_{country.lower()}.csv")},
    )


# --------------------------------------------------------------------------- identifiers and text


# the 4 ASCII digits of 0000..9999 as one native uint32 each: digits are made 4 at a time
_QUADS = np.frombuffer("".join(f"{i:04d}" for i in range(10_000)).encode("ascii"), dtype=np.uint32)


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """(n, width) ASCII digits of non-negative integers, zero-padded on the left (one int64 division
    per 4 digits: per-digit division was most of the time spent writing 10 M rows)."""
    groups = (width + 3) // 4
    out = np.empty((len(values), groups), dtype=np.uint32)
    v = values.astype(np.int64, copy=True)
    for g in range(groups - 1, -1, -1):
        v, low = np.divmod(v, 10_000)
        out[:, g] = _QUADS[low]
    return out.view(np.uint8)[:, groups * 4 - width:]


def _text(buf: np.ndarray) -> pa.Array:
    """A string array from (n, width) ASCII bytes, without a Python object per value."""
    n, width = buf.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    data = np.ascontiguousarray(buf)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


# weighted digit sums of 000..999 for the national code's three groups of three digits (weights 10..2)
_NID_WEIGHTS = [np.array([sum(int(d) * w for d, w in zip(f"{i:03d}", ws, strict=True)) for i in range(1000)],
                         dtype=np.int64) for ws in ((10, 9, 8), (7, 6, 5), (4, 3, 2))]


def nid_check_digit(nine: np.ndarray) -> np.ndarray:
    """Iranian national code check digit of the first nine digits (payroll.identifiers.ir_nid):
    s = sum(d[i] * (10 - i)), r = s % 11, r if r < 2 else 11 - r; by groups of three digits."""
    high, rest = np.divmod(nine.astype(np.int64), 1_000_000)
    mid, low = np.divmod(rest, 1000)
    r = (_NID_WEIGHTS[0][high] + _NID_WEIGHTS[1][mid] + _NID_WEIGHTS[2][low]) % 11
    return np.where(r < 2, r, 11 - r)


def sheba_check(bank: np.ndarray, number: np.ndarray) -> np.ndarray:
    """ISO 7064 mod 97-10 check digits of the SHEBA IR cc BBB 0 NNNNNNNNNNNNNNNNNN: the BBAN is
    bank (3 digits), 0, number (18 digits); mod 97 of BBAN + '1827' + '00', in int64 by parts."""
    rem = (bank.astype(np.int64) * pow(10, 25, 97) + (number % 97) * pow(10, 6, 97) + 182700 % 97) % 97
    return 98 - rem


def account_text(check: np.ndarray, bank: np.ndarray, number: np.ndarray) -> pa.Array:
    """SHEBA text (26 ASCII characters) of accounts kept as integers until they are written."""
    n = len(bank)
    buf = np.empty((n, 26), dtype=np.uint8)
    buf[:, 0], buf[:, 1] = ord("I"), ord("R")
    buf[:, 2:4] = _digits(check, 2)
    buf[:, 4:7] = _digits(bank, 3)
    buf[:, 7] = ord("0")
    buf[:, 8:26] = _digits(number, 18)
    return _text(buf)


def _nullable(values: pa.Array, valid: np.ndarray) -> pa.Array:
    """Null where not `valid` (a survivor field on a row that is no survivor's): empty in CSV, null in
    Parquet, as in data/sample."""
    return pc.if_else(pa.array(valid), values, pa.scalar(None, values.type))


# --------------------------------------------------------------------------- the month


@dataclass
class Month:
    """Every generated fact, as integer columns: rows (the payee lists' rows, branch after branch),
    persons (the registry: payees, the deceased insured persons survivors draw from, unrelated
    people; person i is row i's payee unless planted otherwise) and accounts."""

    period: str
    codes: list[str]  # branch codes; branch i's rows are rows[starts[i]:starts[i + 1]]
    provinces: list[tuple[str, str]]  # per branch: province code, branch name
    starts: np.ndarray
    names: list[str]  # the name table: every full name a file or the registry writes
    # rows
    person: np.ndarray
    benefit: np.ndarray
    share: np.ndarray  # index into SHARES, -1: not a survivor
    insured: np.ndarray  # person index of the deceased insured person, -1: none
    gross: np.ndarray
    deduction: np.ndarray
    account: np.ndarray  # account index
    pension_id: np.ndarray
    file_nid: np.ndarray
    file_name: np.ndarray
    file_dob: np.ndarray
    # persons
    nid: np.ndarray
    reg_name: np.ndarray
    reg_dob: np.ndarray
    death: np.ndarray  # int days since EPOCH, -1: alive
    # accounts
    acc_bank: np.ndarray
    acc_number: np.ndarray
    acc_holder: np.ndarray
    acc_dedicated: np.ndarray
    acc_open: np.ndarray
    acc_listed: np.ndarray  # in the account registry extract

    @property
    def net(self) -> np.ndarray:
        return self.gross - self.deduction

    def branch_of_rows(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.codes), dtype=np.int32), np.diff(self.starts))


def _similarity_bound(a: str, b: str) -> float:
    """An upper bound of every score the engine's name comparison can give two names (payroll.names:
    the better of the Indel ratio of the names without spaces and of their token-sorted forms): the
    longest common subsequence of two strings is at most the common part of their character
    multisets, whatever the order, so 2 * common / (len a + len b) bounds both ratios (x 100)."""
    common = sum((Counter(a) & Counter(b)).values())
    spaces = min(a.count(" "), b.count(" "))
    spaced = 200 * common / (len(a) + len(b))
    compact = 200 * (common - spaces) / (len(a) + len(b) - a.count(" ") - b.count(" "))
    return max(spaced, compact)


def _count(payees: int, per_thousand: float, at_least: int = 1) -> int:
    return max(at_least, int(per_thousand * payees / 1000 + 0.5))


def _split(total: int, parts: list[tuple[str, float]]) -> dict[str, int]:
    """`total` shared by weight, largest remainders first; each part at least 1 when total allows."""
    raw = [total * w for _, w in parts]
    out = [int(x) for x in raw]
    for i in sorted(range(len(parts)), key=lambda i: (out[i] - raw[i], i))[: total - sum(out)]:
        out[i] += 1
    for i in range(len(parts)):  # a kind that rounded to 0 takes one from the largest
        if out[i] == 0 and total >= len(parts):
            j = int(np.argmax(out))
            out[j] -= 1
            out[i] += 1
    return {name: n for (name, _), n in zip(parts, out, strict=True)}


def branch_sizes(payees: int, branches: int) -> np.ndarray:
    """Sizes from lognormal quantiles, sigma chosen (bisection) so that the largest 5% of branches
    hold a quarter of the payees; every branch has at least one row."""
    z = np.array([statistics.NormalDist().inv_cdf((i + 0.5) / branches) for i in range(branches)])
    top = max(1, int(0.05 * branches + 0.5))

    def top_share(sigma: float) -> float:
        w = np.exp(sigma * z)
        return float(np.sort(w)[-top:].sum() / w.sum())

    lo, hi = 0.0, 6.0
    if top_share(lo) < 0.25:
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if top_share(mid) < 0.25 else (lo, mid)
    w = np.exp(lo * z)
    exact = w / w.sum() * (payees - branches)
    sizes = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - sizes), kind="stable")
    sizes[order[: payees - branches - int(sizes.sum())]] += 1
    return sizes + 1


def _days(date: dt.date) -> int:
    return int((np.datetime64(date.isoformat(), "D") - EPOCH).astype(np.int64))


def _years_before(date: dt.date, years: int) -> dt.date:
    try:
        return date.replace(year=date.year - years)
    except ValueError:  # 29 February
        return date.replace(year=date.year - years, day=28)


def _build(payees: int, branches: int, seed: int, period: str, rules: Rules) -> tuple[Month, dict[str, Any]]:
    """Draw the population, lay it out in branch lists, plant the cases. Returns the month and the
    planted row indices per kind (for expected.json)."""
    if branches < 2:
        raise ValueError("at least 2 branches: some cases are planted across branches")
    if payees < 10 * branches or payees < 200:
        raise ValueError("too few payees for the branches (at least 10 a branch and 200 in all)")
    rng = np.random.default_rng(seed)
    year, month = (int(x) for x in period.split("-"))
    start = dt.date(year, month, 1)
    end = dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)
    start_day = _days(start)

    # ---- branches: sizes, provinces, names -------------------------------------------------------
    width = max(3, len(str(branches)))
    codes = [f"B{i + 1:0{width}d}" for i in range(branches)]
    sizes = rng.permutation(branch_sizes(payees, branches))
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    weights = np.array([p[2] for p in PROVINCES], dtype=np.float64)
    first = list(range(min(branches, len(PROVINCES))))  # every province has a branch when there are enough
    rest = rng.choice(len(PROVINCES), size=branches - len(first), p=weights / weights.sum()).tolist()
    province_of = first + rest
    seen: dict[int, int] = {}
    provinces = []
    for p in province_of:
        seen[p] = seen.get(p, 0) + 1
        provinces.append((PROVINCES[p][0], f"شعبه {str(seen[p]).translate(PERSIAN_DIGITS)} {PROVINCES[p][1]}"))

    # ---- households: single pensioners and survivor groups, shuffled, cut into branches -----------
    n_disability = int(payees * 0.05 + 0.5)
    target_survivors = int(payees * 0.20 + 0.5)
    mean_group = sum((i + 1) * w for i, w in enumerate(GROUP_SIZE_WEIGHTS))
    n_groups = int(target_survivors / mean_group + 0.5)
    group_size = rng.choice(np.arange(1, 5), size=n_groups, p=GROUP_SIZE_WEIGHTS)
    n_survivors = int(group_size.sum())
    n_single = payees - n_survivors
    single_benefit = np.full(n_single, OLD_AGE, dtype=np.int8)
    single_benefit[rng.choice(n_single, n_disability, replace=False)] = DISABILITY
    unit_size = np.concatenate([np.ones(n_single, dtype=np.int64), group_size])
    order = rng.permutation(len(unit_size))
    unit = np.repeat(order, unit_size[order])  # per row: its household
    unit_start = np.repeat(np.cumsum(unit_size[order]) - unit_size[order], unit_size[order])
    member = np.arange(payees) - unit_start
    is_group = unit >= n_single
    group = np.where(is_group, unit - n_single, -1)

    comp_benefit = np.full((5, 4), -1, dtype=np.int8)
    comp_share = np.full((5, 4), -1, dtype=np.int8)
    for size, members in GROUPS.items():
        for k, (b, pc_) in enumerate(members):
            comp_benefit[size, k], comp_share[size, k] = b, SHARES.index(str(pc_))
    gsize = np.where(is_group, group_size[np.maximum(group, 0)], 0)
    benefit = np.where(is_group, comp_benefit[gsize, np.minimum(member, 3)],
                       single_benefit[np.minimum(unit, n_single - 1)]).astype(np.int8)
    share = np.where(is_group, comp_share[gsize, np.minimum(member, 3)], -1).astype(np.int8)

    # ---- persons: payees (row i is person i), deceased insured persons, unrelated people ----------
    n_extra = max(10, payees // 10)
    n_db = _count(payees, RATES["duplicated"], 2)
    n_legit = n_db // 2
    n_persons = payees + n_groups + n_legit + n_extra
    nine = rng.choice(10**9, size=n_persons + 16, replace=False).astype(np.int64)
    check = nid_check_digit(nine)
    ten_equal = (nine % 111_111_111 == 0) & (nine // 111_111_111 == check)
    nid = (nine * 10 + check)[~ten_equal][:n_persons]
    insured_base, extra_base = payees, payees + n_groups + n_legit

    person_benefit = np.concatenate([benefit, np.full(n_persons - payees, -1, dtype=np.int8)])
    female_share = np.select([person_benefit == OLD_AGE, person_benefit == DISABILITY,
                              person_benefit == SURVIVOR, person_benefit == CHILD], [0.25, 0.2, 0.85, 0.5], 0.5)
    female = rng.random(n_persons) < female_share
    female[insured_base:extra_base] = rng.random(n_groups + n_legit) < 0.15
    compound = rng.random(n_persons) < 0.1
    male_first = np.where(compound, len(MALE_FIRST) + rng.integers(0, len(MALE_COMPOUND), n_persons),
                          rng.integers(0, len(MALE_FIRST), n_persons))
    female_first = N_MALE + np.where(compound, len(FEMALE_FIRST) + rng.integers(0, len(FEMALE_COMPOUND), n_persons),
                                     rng.integers(0, len(FEMALE_FIRST), n_persons))
    first_name = np.where(female, female_first, male_first)
    surname = rng.integers(0, N_SUR, n_persons)
    # a survivor group's children carry the insured person's surname
    insured_of_row = np.where(is_group, insured_base + group, -1)
    children = np.flatnonzero(benefit == CHILD)
    surname[children] = surname[insured_of_row[children]]
    name = (first_name * N_SUR + surname).astype(np.int32)

    def ages(lo: int, hi: int, n: int) -> np.ndarray:
        """Birth days of people aged lo..hi (whole years) at the end of the period."""
        first_day = _days(_years_before(end, hi + 1)) + 1
        last_day = _days(_years_before(end, lo))
        return rng.integers(first_day, last_day + 1, n).astype(np.int32)

    dob = np.empty(n_persons, dtype=np.int32)
    for b, (lo, hi) in {OLD_AGE: (50, 95), DISABILITY: (25, 80), SURVIVOR: (30, 95), CHILD: (1, 18)}.items():
        assert rules.min_age[b] <= lo and hi <= rules.max_age[b]
        rows_b = np.flatnonzero(person_benefit == b)
        dob[rows_b] = ages(lo, hi, len(rows_b))
    dob[insured_base:extra_base] = ages(45, 100, n_groups + n_legit)
    dob[extra_base:] = ages(20, 95, n_extra)
    death = np.full(n_persons, -1, dtype=np.int32)
    death[insured_base:extra_base] = rng.integers(_days(_years_before(start, 25)), start_day - 60,
                                                  n_groups + n_legit)
    extra_dead = extra_base + np.sort(rng.choice(n_extra, n_extra // 4, replace=False))
    died = rng.integers(_days(_years_before(start, 20)), start_day, len(extra_dead))
    death[extra_dead] = np.maximum(died, dob[extra_dead] + 18 * 366)  # died an adult, before the period

    # ---- amounts ---------------------------------------------------------------------------------
    def pensions(n: int) -> np.ndarray:
        """Gross old-age / disability pensions and insured persons' pensions: integer draws only."""
        low, cap = rules.min_gross[OLD_AGE], rules.max_gross[OLD_AGE]
        body = rng.integers(0, 40_000, n) * 1000
        tail = (rng.zipf(2.5, n) - 1) * 20_000_000
        g = np.minimum(low + body + tail, cap)
        return np.where(rng.random(n) < 0.35, low, g).astype(np.int64)

    insured_pension = pensions(n_groups)
    gross = pensions(payees)
    survivors = np.flatnonzero(is_group)
    pct = np.array([50, 25], dtype=np.int64)[share[survivors]]
    part = insured_pension[group[survivors]] * pct // 100 // 1000 * 1000
    low = np.where(benefit[survivors] == CHILD, rules.min_gross[CHILD], rules.min_gross[SURVIVOR])
    gross[survivors] = np.maximum(part, low)

    def deductions(g: np.ndarray) -> np.ndarray:
        d = rng.integers(0, g // 1000 * 7 // 100 + 1) * 1000
        return np.where(rng.random(len(g)) < 0.35, 0, d).astype(np.int64)

    deduction = deductions(gross)

    # ---- accounts: each payee's own (account i is person i's), the unrelated people's -------------
    n_change = _count(payees, RATES["account_change"])
    n_extra_acc = n_extra // 2
    n_acc = payees + n_change + n_extra_acc
    bank_codes = np.array([int(b) for b in BANK_WEIGHTS], dtype=np.int64)
    assert {f"{b:03d}" for b in bank_codes} <= rules.banks, "a bank the reference list does not have"
    bank_p = np.array(list(BANK_WEIGHTS.values()), dtype=np.float64)
    acc_bank = bank_codes[rng.choice(len(bank_codes), n_acc, p=bank_p / bank_p.sum())]
    # unique: the low 10 digits are a bijection (times a unit mod 10**10) of a permutation of 0..n_acc-1
    low_part = (rng.permutation(n_acc).astype(np.int64) * 7_368_787_777 + 1_234_567_891) % 10**10
    acc_number = rng.integers(0, 10**8, n_acc) * 10**10 + low_part
    acc_holder = np.concatenate([np.arange(payees), np.full(n_change, -1),
                                 extra_base + rng.integers(0, n_extra, n_extra_acc)]).astype(np.int64)
    acc_dedicated = np.ones(n_acc, dtype=bool)
    acc_open = np.ones(n_acc, dtype=bool)
    acc_listed = np.ones(n_acc, dtype=bool)
    acc_dedicated[-n_extra_acc:] = rng.random(n_extra_acc) < 0.6
    acc_open[-n_extra_acc:] = rng.random(n_extra_acc) < 0.85

    pension_id = rng.choice(9 * 10**9, size=payees, replace=False).astype(np.int64) + 10**9
    m = Month(
        period=period, codes=codes, provinces=provinces, starts=starts,
        names=[f"{f} {s}" for f in FIRST_NAMES for s in SURNAMES],
        person=np.arange(payees, dtype=np.int64), benefit=benefit, share=share,
        insured=insured_of_row.astype(np.int64), gross=gross, deduction=deduction,
        account=np.arange(payees, dtype=np.int64), pension_id=pension_id,
        file_nid=nid[:payees].copy(), file_name=name[:payees].copy(), file_dob=dob[:payees].copy(),
        nid=nid, reg_name=name.copy(), reg_dob=dob.copy(), death=death,
        acc_bank=acc_bank, acc_number=acc_number, acc_holder=acc_holder, acc_dedicated=acc_dedicated,
        acc_open=acc_open, acc_listed=acc_listed,
    )
    planted = _plant(m, rng, rules, n_legit, n_db - n_legit, insured_base + n_groups, start_day, sizes,
                     first_name, surname)
    return m, planted


def _plant(m: Month, rng: np.random.Generator, rules: Rules, n_legit: int, n_dup: int, legit_insured: int,
           start_day: int, sizes: np.ndarray, first_name: np.ndarray, surname: np.ndarray) -> dict[str, Any]:
    """Plant every kind on rows not planted yet (one kind a row; a pair's two rows are one case);
    returns the planted rows per kind and the branches whose declared total is wrong."""
    payees = len(m.person)
    branch = m.branch_of_rows()
    free = np.ones(payees, dtype=bool)
    single_old = m.benefit == OLD_AGE
    single_old &= m.insured < 0
    planted: dict[str, Any] = {}

    n_wrong = 2 if len(m.codes) >= 20 else 1
    small = np.argsort(sizes, kind="stable")[: max(n_wrong, len(m.codes) // 2)]
    wrong = np.sort(rng.choice(small, n_wrong, replace=False))
    accepted_branch = np.ones(len(m.codes), dtype=bool)
    accepted_branch[wrong] = False
    planted["wrong_total_branches"] = [int(b) for b in wrong]
    in_accepted = accepted_branch[branch]

    def pick(mask: np.ndarray, k: int) -> np.ndarray:
        candidates = np.flatnonzero(mask & free)
        if len(candidates) < k:
            raise ValueError(f"not enough rows to plant {k} cases; generate more payees")
        chosen = rng.choice(candidates, k, replace=False)
        free[chosen] = False
        return chosen.astype(np.int64)

    def pairs(k: int) -> tuple[np.ndarray, np.ndarray]:
        """k (first, second) single old-age rows of two different accepted branches."""
        first = pick(single_old & in_accepted, k)
        # spare rows to swap in: at least 64, so a small month with few branches still finds one
        spare = pick(single_old & in_accepted, min(k * 2 + 64, int((single_old & in_accepted & free).sum())))
        second, rest = spare[:k].copy(), list(spare[k:])
        for i in np.flatnonzero(branch[first] == branch[second]).tolist():  # a few: swap in another row
            j = next((j for j, row in enumerate(rest) if branch[row] != branch[first[i]]), None)
            if j is None:
                raise ValueError("cannot plant a pair across two accepted branches; generate more branches")
            rest.append(second[i])
            second[i] = rest.pop(j)
        free[np.array(rest, dtype=np.int64)] = True
        return first, second

    # ---- deaths before the period ------------------------------------------------------------------
    n_dead = _count(payees, RATES["deceased"])
    n_long = max(1, int(n_dead * LONG_DEAD_SHARE + 0.5))
    # long dead (3 to 12 years before the period): adults only, so that they died after their birth
    long_dead = pick(m.benefit != CHILD, n_long)
    m.death[m.person[long_dead]] = rng.integers(start_day - 12 * 365, start_day - 3 * 365, n_long)
    recent = pick(np.ones(payees, dtype=bool), n_dead - n_long)  # in the 6 months before the period
    m.death[m.person[recent]] = rng.integers(start_day - 183, start_day, len(recent))
    planted["deceased_recent"], planted["deceased_long_ago"] = recent, long_dead

    # ---- one person in two branches -----------------------------------------------------------------
    n_over = int(n_legit * OVER_CAP_SHARE + 0.5) if n_legit >= 2 else 0
    n_over = max(n_over, 1) if n_legit >= 2 else n_over
    old, second = pairs(n_legit + n_dup)
    cap = rules.double_cap
    for i, (x, y) in enumerate(zip(old.tolist(), second.tolist(), strict=True)):
        m.person[y], m.account[y] = m.person[x], m.account[x]
        m.file_nid[y], m.file_name[y], m.file_dob[y] = m.file_nid[x], m.file_name[x], m.file_dob[x]
        if i >= n_legit:
            continue  # the same old-age pension twice: DUPLICATE_ACROSS_BRANCHES
        low = rules.min_gross[SURVIVOR]
        over = i < n_over
        old_gross = int(rng.integers(low // 1000, (cap // 2 if not over else cap - low) // 1000)) * 1000
        if over:
            survivor = int(rng.integers((cap - old_gross) // 1000 + 1, (cap - old_gross) // 1000 + 100_000)) * 1000
        else:
            survivor = int(rng.integers(low // 1000, (cap - old_gross) // 1000 + 1)) * 1000
        m.gross[x], m.gross[y] = old_gross, survivor
        m.deduction[x] = min(int(m.deduction[x]), old_gross // 1000 * 7 // 100 * 1000)
        m.deduction[y] = min(int(m.deduction[y]), survivor // 1000 * 7 // 100 * 1000)
        m.benefit[y], m.share[y], m.insured[y] = SURVIVOR, SHARES.index("50"), legit_insured + i
        surname[legit_insured + i] = surname[m.person[x]]  # the late spouse
    planted["double_benefit_over_cap"] = np.stack([old[:n_over], second[:n_over]], axis=1)
    planted["double_benefit"] = np.stack([old[n_over:n_legit], second[n_over:n_legit]], axis=1)
    planted["duplicate_across_branches"] = np.stack([old[n_legit:], second[n_legit:]], axis=1)
    m.reg_name[legit_insured:legit_insured + n_legit] = (
        first_name[legit_insured:legit_insured + n_legit] * N_SUR + surname[legit_insured:legit_insured + n_legit])

    # ---- names and birth dates that differ from the registry ---------------------------------------
    split = _split(_count(payees, RATES["mismatch"]), MISMATCH_SPLIT)
    table = m.names
    has_letters = np.array([PERSIAN_YEH in n or KEHEH in n for n in table])
    has_compound = np.array([" " in FIRST_NAMES[i // N_SUR] for i in range(len(table))])
    base = m.file_name.copy()  # every row's name is still one of the table's first len(table) names

    def add_name(text: str) -> int:
        table.append(text)
        return len(table) - 1

    rows = pick(has_letters[base], split["arabic_letters"])
    for r in rows.tolist():
        m.file_name[r] = add_name(table[m.file_name[r]].replace(PERSIAN_YEH, ARABIC_YEH).replace(KEHEH, ARABIC_KAF))
    planted["name_arabic_letters"] = rows
    rows = pick(has_compound[base], split["zwnj"])
    for r in rows.tolist():
        first, last = FIRST_NAMES[m.file_name[r] // N_SUR], SURNAMES[m.file_name[r] % N_SUR]
        m.file_name[r] = add_name(f"{first.replace(' ', ZWNJ)} {last}")
    planted["name_zwnj"] = rows
    rows = pick(np.ones(payees, dtype=bool), split["reordered"])
    for r in rows.tolist():
        first, last = FIRST_NAMES[m.file_name[r] // N_SUR], SURNAMES[m.file_name[r] % N_SUR]
        m.file_name[r] = add_name(f"{last} {first}")
    planted["name_reordered"] = rows
    rows = pick(~has_compound[base], split["name_differs"])
    for r in rows.tolist():  # the registry knows the person by a quite different name
        p = int(m.person[r])
        pool = range(len(MALE_FIRST)) if first_name[p] >= N_MALE else range(N_MALE, N_MALE + len(FEMALE_FIRST))
        while True:
            other = int(rng.choice(list(pool))) * N_SUR + int(rng.integers(0, N_SUR))
            if other % N_SUR != surname[p] and _similarity_bound(table[other], table[m.file_name[r]]) <= 80:
                break
        m.reg_name[p] = other
    planted["name_differs"] = rows
    rows = pick(np.ones(payees, dtype=bool), split["birth_date_differs"])
    shift = rng.choice(np.array([-366, -365, 365, 366, -31, 31, 10, -10]), len(rows))
    m.reg_dob[m.person[rows]] = m.file_dob[rows] + shift
    planted["birth_date_differs"] = rows

    # ---- national ids with a wrong check digit: refused at intake ----------------------------------
    big = sizes[branch] >= 100
    rows = pick(big if big.any() else np.ones(payees, dtype=bool), _count(payees, RATES["invalid_id"]))
    wrong_digit = (m.file_nid[rows] % 10 + rng.integers(1, 10, len(rows))) % 10
    m.file_nid[rows] = m.file_nid[rows] // 10 * 10 + wrong_digit
    planted["invalid_national_id"] = rows

    # ---- account changes in the last 30 days -------------------------------------------------------
    n_change = int((m.acc_holder[payees:] < 0).sum())
    cut = _split(n_change, ACCOUNT_CHANGE_SPLIT)
    rows = pick(np.ones(payees, dtype=bool), n_change)
    old_acc = payees + np.arange(n_change)
    m.acc_holder[old_acc] = m.person[rows]
    m.acc_open[old_acc] = False  # the account the payee left: closed
    clean, stale = rows[: cut["clean"]], rows[cut["clean"]:cut["clean"] + cut["file_stale"]]
    lagging = rows[cut["clean"] + cut["file_stale"]:]
    m.account[stale] = old_acc[cut["clean"]:cut["clean"] + cut["file_stale"]]  # the list still gives the old one
    m.acc_listed[m.account[lagging]] = False  # the extract does not have the new account yet...
    m.acc_open[old_acc[cut["clean"] + cut["file_stale"]:]] = True  # ...and the old one still open
    planted["account_changed_clean"], planted["account_changed_file_stale"] = clean, stale
    planted["account_changed_registry_stale"] = lagging

    # ---- one account, two unrelated payees ---------------------------------------------------------
    holder, user = pairs(_count(payees, RATES["account_shared"]))
    m.account[user] = m.account[holder]
    planted["account_shared"] = np.stack([holder, user], axis=1)

    m.deduction[:] = np.minimum(m.deduction, m.gross // 1000 * 7 // 100 * 1000)
    return planted


# --------------------------------------------------------------------------- what the engine must report

SEVERITY_RANK = {"REPORT": 0, "WARN": 1, "HOLD": 2, "BLOCK": 3}
# planted kind -> the run findings it gives on each of its rows (pairs: first row, second row)
RUN_FINDINGS: dict[str, Any] = {
    "deceased_recent": ["DECEASED"],
    "deceased_long_ago": ["DECEASED"],
    "double_benefit": (["DOUBLE_BENEFIT"], ["DOUBLE_BENEFIT"]),
    "double_benefit_over_cap": (["DOUBLE_BENEFIT_OVER_CAP"], ["DOUBLE_BENEFIT_OVER_CAP"]),
    "duplicate_across_branches": (["DUPLICATE_ACROSS_BRANCHES"], ["DUPLICATE_ACROSS_BRANCHES"]),
    "name_arabic_letters": [],  # normalized at intake and in the registry: the same name
    "name_zwnj": [],  # a zero-width non-joiner is a space once normalized: the same name
    "name_reordered": ["NAME_VARIANT"],
    "name_differs": ["IDENTITY_MISMATCH"],
    "birth_date_differs": ["IDENTITY_MISMATCH"],
    "account_changed_clean": [],
    "account_changed_file_stale": ["ACCOUNT_CLOSED"],
    "account_changed_registry_stale": ["ACCOUNT_UNKNOWN"],
    "account_shared": (["ACCOUNT_SHARED_ACROSS_PAYEES"], ["ACCOUNT_SHARED_ACROSS_PAYEES", "ACCOUNT_NOT_OWNED"]),
}
INTAKE_FINDINGS = {"invalid_national_id": "INVALID_NATIONAL_ID"}
NOT_PLANTED = {
    "ACCOUNT_CHANGED": "needs a released earlier month; the change shows as a closed old account instead",
    "ACCOUNT_CHANGED_REPEATEDLY": "needs released earlier months",
    "AMOUNT_JUMP": "needs a released earlier month", "NEW_PAYEE": "needs a released earlier month",
    "PAYEE_VANISHED": "needs a released earlier month", "OVERPAID_AFTER_DEATH": "needs released earlier months",
    "DIED_IN_PERIOD": "not in the profile", "NOT_IN_REGISTRY": "not in the profile",
    "DUPLICATE_IN_BRANCH": "not in the profile", "DUPLICATE_PENSION_ID": "not in the profile",
    "ACCOUNT_NOT_DEDICATED": "not in the profile", "SURVIVOR_SHARES_OVER_100": "not in the profile",
}


def _totals(rows: np.ndarray, net: np.ndarray, keys: np.ndarray, labels: list[str]) -> dict[str, dict[str, int]]:
    """count and total of `rows` per key (an index into `labels`), keys with rows only."""
    count = np.bincount(keys[rows], minlength=len(labels))
    total = np.zeros(len(labels), dtype=np.int64)
    np.add.at(total, keys[rows], net[rows])
    return {labels[k]: {"count": int(count[k]), "total": int(total[k])} for k in np.flatnonzero(count)}


def _expected(m: Month, planted: dict[str, Any], rules: Rules, fmt: str) -> tuple[dict[str, Any], list[dict]]:
    """expected.json, and the submissions of plan.json (they share the declared figures)."""
    payees = len(m.person)
    branch = m.branch_of_rows()
    net = m.net
    wrong = set(planted["wrong_total_branches"])
    accepted_branch = np.array([b not in wrong for b in range(len(m.codes))])
    refused = np.zeros(payees, dtype=bool)
    intake_code = np.full(payees, "", dtype=object)
    for kind, code in INTAKE_FINDINGS.items():
        refused[planted[kind]] = True
        intake_code[planted[kind]] = code
    in_run = accepted_branch[branch] & ~refused

    found: dict[str, list[np.ndarray]] = {}
    for kind, codes in RUN_FINDINGS.items():
        rows = planted[kind]
        for column, per_row in enumerate(codes if isinstance(codes, tuple) else (codes,)):
            on = rows[:, column] if isinstance(codes, tuple) else rows
            for code in per_row:
                found.setdefault(code, []).append(on)
    rank = np.zeros(payees, dtype=np.int8)
    findings: dict[str, int] = {}
    for code in sorted(found):
        rows = np.concatenate(found[code])
        rows = rows[in_run[rows]]
        if len(rows):
            findings[code] = len(rows)
            np.maximum.at(rank, rows, SEVERITY_RANK[rules.severity[code]])
    payable = in_run & (rank <= SEVERITY_RANK["WARN"])
    held = in_run & (rank == SEVERITY_RANK["HOLD"])
    blocked = in_run & (rank == SEVERITY_RANK["BLOCK"])
    by_severity: dict[str, int] = {}
    for code, n in findings.items():
        by_severity[rules.severity[code]] = by_severity.get(rules.severity[code], 0) + n

    submissions, plan_submissions = [], []
    for b, code in enumerate(m.codes):
        s, e = int(m.starts[b]), int(m.starts[b + 1])
        counted = int(net[s:e].sum())
        bad = int(refused[s:e].sum())
        if 100 * bad > 5 * (e - s):
            raise AssertionError(f"{code}: {bad} of {e - s} rows refused, over the engine's 5% limit")
        ok = b not in wrong
        declared = counted if ok else counted + WRONG_TOTAL_DELTAS[sorted(wrong).index(b) % 2]
        file = f"branches/{code}.{fmt}"
        submissions.append({
            "branch": code, "file": file, "status": "accepted" if ok else "rejected", "rows": e - s,
            "rows_rejected": bad, "accepted_rows": e - s - bad if ok else 0,
            "accepted_total": int(net[s:e][~refused[s:e]].sum()) if ok else 0, "counted_total": counted,
            "declared_count": e - s, "declared_total": declared,
            "file_errors": [] if ok else ["DECLARED_TOTAL_MISMATCH"],
        })
        plan_submissions.append({
            "branch": code, "file": file, "user": f"clerk-{code.lower()}", "declared_count": e - s,
            "declared_total": declared, "expect": "accepted" if ok else "rejected",
            **({} if ok else {"note": "the cover note's total does not reconcile with the list"}),
        })
    intake: dict[str, int] = {}
    for code in sorted(set(intake_code[refused & accepted_branch[branch]])):
        intake[code] = int((intake_code[accepted_branch[branch]] == code).sum())

    banks = [f"{b:03d}" for b in range(1000)]
    row_bank = m.acc_bank[m.account].astype(np.int64)
    payable_total = int(net[payable].sum())
    expected = {
        "period": m.period, "country": "IR", "currency": CURRENCY, "payees": payees, "branches": len(m.codes),
        "fmt": fmt,
        "files": {"branches": "branches.csv", "users": "users.csv", "registry": f"registry.{fmt}",
                  "deaths": "deaths.csv", "accounts": "accounts.csv", "plan": "plan.json"},
        "submissions": submissions,
        "accepted_branches": [c for b, c in enumerate(m.codes) if b not in wrong],
        "rejected_branches": [m.codes[b] for b in sorted(wrong)],
        "intake_rejections": intake,
        "run": {
            "rows": int(in_run.sum()),
            "payable_count": int(payable.sum()), "payable_total": payable_total,
            "held_count": int(held.sum()), "held_total": int(net[held].sum()),
            "blocked_count": int(blocked.sum()), "blocked_total": int(net[blocked].sum()),
            "warned_count": int((payable & (rank == SEVERITY_RANK["WARN"])).sum()),
            "findings_total": sum(findings.values()), "findings": findings,
            "findings_by_severity": dict(sorted(by_severity.items())),
            "missing_branches": [m.codes[b] for b in sorted(wrong)],
            "payable_by_bank": _totals(payable, net, row_bank, banks),
            "payable_by_branch": _totals(payable, net, branch.astype(np.int64), m.codes),
            "needs_finance_lead": rules.run_lead_over is not None and payable_total > rules.run_lead_over,
        },
        "planted": {k: (len(v) if not isinstance(v, list) else [m.codes[b] for b in v])
                    for k, v in planted.items()},
        "planted_gives": {k: (list(v) if isinstance(v, tuple) else [v]) for k, v in RUN_FINDINGS.items()}
        | {k: [[c]] for k, c in INTAKE_FINDINGS.items()},
        "not_planted": NOT_PLANTED,
    }
    return expected, plan_submissions


# --------------------------------------------------------------------------- writers


class _Sink:
    """One output file written in chunks: CSV (header, then unquoted values) or Parquet."""

    def __init__(self, path: Path, schema: pa.Schema, fmt: str) -> None:
        self.fmt = fmt
        if fmt == "csv":
            self.file = open(path, "wb")  # noqa: SIM115  (closed in close())
            self.file.write((",".join(schema.names) + "\n").encode())
            options = pacsv.WriteOptions(include_header=False, quoting_style="none")
            self.writer: Any = pacsv.CSVWriter(self.file, schema, write_options=options)
        else:
            self.writer = pq.ParquetWriter(path, schema, compression="snappy")

    def write(self, table: pa.Table) -> None:
        self.writer.write_table(table) if self.fmt == "parquet" else self.writer.write(table)

    def close(self) -> None:
        self.writer.close()
        if self.fmt == "csv":
            self.file.close()


def _write_chunks(path: Path, fmt: str, n: int, make: Callable[[np.ndarray], pa.Table]) -> None:
    """`make(indices)` for consecutive chunks of 0..n, into one file."""
    sink: _Sink | None = None
    for lo in range(0, max(n, 1), CHUNK):
        table = make(np.arange(lo, min(n, lo + CHUNK)))
        if sink is None:
            sink = _Sink(path, table.schema, fmt)
        sink.write(table)
    assert sink is not None
    sink.close()


def _write_small_csv(path: Path, header: list[str], rows: Iterable[list[str]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def _write(m: Month, out: Path, fmt: str, seed: int) -> None:
    names = pa.array(m.names, pa.string())
    dates = pa.array(np.arange(EPOCH, LAST_DAY + 1).astype(str).tolist(), pa.string())
    benefits = pa.array(list(BENEFITS), pa.string())
    shares = pa.array(SHARES, pa.string())
    acc_check = sheba_check(m.acc_bank, m.acc_number)

    def nid_text(values: np.ndarray) -> pa.Array:
        return _text(_digits(values, 10))

    # branch lists
    folder = out / "branches"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    net = m.net
    for b, code in enumerate(m.codes):
        s, e = int(m.starts[b]), int(m.starts[b + 1])
        acc = m.account[s:e]
        insured = m.insured[s:e]
        share = m.share[s:e]
        table = pa.table({
            "pension_id": _text(_digits(m.pension_id[s:e], 10)),
            "national_id": nid_text(m.file_nid[s:e]),
            "full_name": names.take(pa.array(m.file_name[s:e])),
            "birth_date": dates.take(pa.array(m.file_dob[s:e])),
            "benefit_type": benefits.take(pa.array(m.benefit[s:e])),
            "gross_amount": pa.array(m.gross[s:e], pa.int64()),
            "deduction_amount": pa.array(m.deduction[s:e], pa.int64()),
            "net_amount": pa.array(net[s:e], pa.int64()),
            "account_code": account_text(acc_check[acc], m.acc_bank[acc], m.acc_number[acc]),
            "insured_id": _nullable(nid_text(m.nid[np.maximum(insured, 0)]), insured >= 0),
            "share_percent": shares.take(pa.array(share, mask=share < 0)),
        })
        sink = _Sink(folder / f"{code}.{fmt}", table.schema, fmt)
        sink.write(table)
        sink.close()

    # the civil registry: everyone, by national id
    order = np.argsort(m.nid, kind="stable")
    _write_chunks(out / f"registry.{fmt}", fmt, len(order), lambda idx: pa.table({
        "national_id": nid_text(m.nid[order[idx]]),
        "full_name": names.take(pa.array(m.reg_name[order[idx]])),
        "birth_date": dates.take(pa.array(m.reg_dob[order[idx]])),
    }))
    dead = order[m.death[order] >= 0]
    _write_chunks(out / "deaths.csv", "csv", len(dead), lambda idx: pa.table({
        "national_id": nid_text(m.nid[dead[idx]]),
        "date_of_death": dates.take(pa.array(m.death[dead[idx]])),
    }))
    listed = np.flatnonzero(m.acc_listed)
    listed = listed[np.lexsort((m.acc_number[listed], m.acc_bank[listed], acc_check[listed]))]
    flags = pa.array(["false", "true"])
    status = pa.array(["closed", "open"])
    _write_chunks(out / "accounts.csv", "csv", len(listed), lambda idx: pa.table({
        "account_code": account_text(acc_check[listed[idx]], m.acc_bank[listed[idx]], m.acc_number[listed[idx]]),
        "bank_code": _text(_digits(m.acc_bank[listed[idx]], 3)),
        "holder_national_id": nid_text(m.nid[m.acc_holder[listed[idx]]]),
        "dedicated": flags.take(pa.array(m.acc_dedicated[listed[idx]].astype(np.int8))),
        "status": status.take(pa.array(m.acc_open[listed[idx]].astype(np.int8))),
    }))

    # branches and users (small): the users' names are drawn from their own generator
    _write_small_csv(out / "branches.csv", ["branch_code", "name", "province_code", "system"],
                     [[code, name, prov, ""] for code, (prov, name) in zip(m.codes, m.provinces, strict=True)])
    rng = np.random.default_rng([seed, 1])

    def someone() -> str:
        return f"{FIRST_NAMES[int(rng.integers(0, len(FIRST_NAMES)))]} {SURNAMES[int(rng.integers(0, N_SUR))]}"

    users = []
    for code, (prov, _) in zip(m.codes, m.provinces, strict=True):
        users.append([f"clerk-{code.lower()}", someone(), "clerk", code, prov])
        users.append([f"head-{code.lower()}", someone(), "branch_head", code, prov])
    users += [[f"prov-{p.lower()}", someone(), "province_approver", "", p] for p, _, _ in PROVINCES]
    users += [[u, someone(), role, "", ""] for u, role in (("fin-1", "finance"), ("fin-2", "finance"),
                                                          ("fin-3", "finance"), ("lead-1", "finance_lead"),
                                                          ("audit-1", "auditor"), (ADMIN, "admin"))]
    _write_small_csv(out / "users.csv", ["user_id", "name", "role", "branch_code", "province_code"], users)


def _json(path: Path, obj: object) -> None:
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def generate(out: Path, *, payees: int, branches: int, seed: int, period: str = "2026-11",
             country: str = "IR", fmt: str = "csv") -> dict[str, Any]:
    """Write the month under `out` (see the module's docstring) and return expected.json's content."""
    if country != "IR":
        raise ValueError("only IR is generated (national code, SHEBA, IRR)")
    if fmt not in ("csv", "parquet"):
        raise ValueError("fmt is csv or parquet")
    from payroll.period import Period

    period = str(Period.parse(period))
    rules = _rules(country)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    month, planted = _build(payees, branches, seed, period, rules)
    expected, submissions = _expected(month, planted, rules, fmt)
    expected["seed"] = seed
    _write(month, out, fmt, seed)
    province = {code: prov for code, (prov, _) in zip(month.codes, month.provinces, strict=True)}
    approvers = list(RUN_USERS["approvers"]) + ([RUN_USERS["lead"]] if expected["run"]["needs_finance_lead"] else [])
    plan = {
        "period": period, "country": country, "currency": CURRENCY, "deaths": "deaths.csv",
        "reference_loaded_by": ADMIN,
        "submissions": submissions,
        "submission_approvals": {c: [f"head-{c.lower()}", f"prov-{province[c].lower()}"] for c in month.codes},
        "run": {"created_by": RUN_USERS["created_by"], "approvers": approvers,
                "released_by": RUN_USERS["released_by"]},
    }
    _json(out / "plan.json", plan)
    _json(out / "expected.json", expected)
    return expected


def main() -> None:
    import resource

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--payees", type=int, default=100_000)
    ap.add_argument("--branches", type=int, default=40)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--period", default="2026-11")
    ap.add_argument("--fmt", choices=("csv", "parquet"), default="csv")
    args = ap.parse_args()
    t0 = time.perf_counter()
    exp = generate(args.out, payees=args.payees, branches=args.branches, seed=args.seed, period=args.period,
                   fmt=args.fmt)
    print(json.dumps({"seconds": round(time.perf_counter() - t0, 1),
                      "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                      "run": {k: v for k, v in exp["run"].items() if not k.startswith("payable_by")},
                      "rejected_branches": exp["rejected_branches"]}, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
