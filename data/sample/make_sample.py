"""Generate the sample month (IR, IRR, period 2026-11) that the demo runs on, with planted cases, and the
two months released before it (2026-09, 2026-10) that the history checks compare November with.

Deterministic: one random.Random(20261121) drives everything; running it twice gives byte-identical
files. Writes next to itself. Run: `.venv/bin/python data/sample/make_sample.py`.

The expected figures are computed here from the planted rows, not by running the engine: `totals`
for November run alone on a fresh store (the history checks then find nothing), `with_history` for
November run after September and October were released (as the demo does).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
import random
import re
import unicodedata
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

SEED = 20261121
PERIOD = "2026-11"
PERIOD_START = dt.date(2026, 11, 1)
HERE = Path(__file__).resolve().parent
REFERENCE = HERE.parent / "reference"

# the months released before November, oldest first; the history checks compare with the last
HISTORY_PERIODS = ("2026-09", "2026-10")
LAST_RELEASED = HISTORY_PERIODS[-1]
# the deaths extract in force when September and October were run: made at the end of October, so it
# lacks the deaths reported late and every death after it
HISTORY_DEATHS = "history/deaths-2026-10.csv"
HISTORY_DEATHS_CUTOFF = "2026-10-31"
ADMIN = "admin-1"  # loads the reference extracts (users.csv)

COUNTRY = "IR"
CURRENCY = "IRR"
MIN_PENSION = 104_000_000
MAX_PENSION = 420_000_000
MIN_CHILD_PENSION = 10_000_000  # benefit_rules.csv: SURVIVOR_CHILD min_gross
AMOUNT_JUMP_PERCENT = 20  # payroll.config default: net up more than this against October is held
NAME_SIMILARITY_THRESHOLD = 90.0  # payroll.config default

BRANCHES = [  # branch_code, name, province_code
    ("B01", "شعبه ۱ تهران", "THR"),
    ("B02", "شعبه ۲ تهران", "THR"),
    ("B03", "شعبه ۳ تهران", "THR"),
    ("B04", "شعبه ۱ اصفهان", "ISF"),
    ("B05", "شعبه ۲ اصفهان", "ISF"),
    ("B06", "شعبه ۳ اصفهان", "ISF"),
    ("B07", "شعبه ۱ مشهد", "KHR"),
    ("B08", "شعبه ۲ مشهد", "KHR"),
]
BRANCH_CODES = [b[0] for b in BRANCHES]
PROVINCE_OF = {b[0]: b[2] for b in BRANCHES}
PROVINCES = ["THR", "ISF", "KHR"]
BOM_BRANCHES = {"B03"}
PARQUET_BRANCHES = {"B05"}
# B06 exports from the Iranian legacy branch system: XLSX, Persian headers in its own order, Persian
# benefit labels (data/reference/column_maps.csv, system ir-legacy; benefit_rules.csv labels)
XLSX_BRANCHES = {"B06"}
BRANCH_SYSTEM = {"B06": "ir-legacy"}
LEGACY_HEADERS = {  # field -> ir-legacy header, in the legacy system's column order
    "national_id": "کد ملی", "pension_id": "شماره مستمری", "full_name": "نام و نام خانوادگی",
    "benefit_type": "نوع مستمری", "insured_id": "کد ملی بیمه شده", "share_percent": "سهم (درصد)",
    "birth_date": "تاریخ تولد", "account_code": "شماره شبا",
    "gross_amount": "مبلغ ناخالص", "deduction_amount": "کسورات", "net_amount": "خالص پرداختی",
}
LEGACY_LABELS = {"OLD_AGE": "بازنشستگی", "DISABILITY": "از کار افتادگی", "SURVIVOR": "بازماندگان",
                 "SURVIVOR_CHILD": "فرزند بازمانده"}
XLSX_SHEET = "فهرست مستمری بگیران"

COLUMNS = [
    "pension_id", "national_id", "full_name", "birth_date", "benefit_type",
    "gross_amount", "deduction_amount", "net_amount", "account_code",
]
# survivor benefits: the deceased insured person whose pension is shared, and the survivor's share in
# percent; filled on every SURVIVOR / SURVIVOR_CHILD row, empty on every other row
SURVIVOR_COLUMNS = ["insured_id", "share_percent"]
FILE_COLUMNS = COLUMNS + SURVIVOR_COLUMNS
AMOUNT_COLUMNS = ("gross_amount", "deduction_amount", "net_amount")

BENEFIT_TYPES = [("OLD_AGE", 75), ("SURVIVOR", 20), ("DISABILITY", 5)]  # of ordinary payees
SURVIVOR_BENEFITS = ("SURVIVOR", "SURVIVOR_CHILD")
ALL_BENEFITS = ("OLD_AGE", "SURVIVOR", "DISABILITY", "SURVIVOR_CHILD")
BANKS = [("013", 50), ("017", 20), ("012", 15), ("054", 10), ("018", 5)]

INTAKE_CODES = [
    "INVALID_NATIONAL_ID", "AMOUNT_MISMATCH", "NON_POSITIVE_AMOUNT", "UNKNOWN_BENEFIT_TYPE",
    "INVALID_ACCOUNT_CODE", "DUPLICATE_ROW", "INVALID_DATE", "MISSING_VALUE",
]
# run checks that find something in November alone (no released period before it)
RUN_CODES = [
    "NOT_IN_REGISTRY", "IDENTITY_MISMATCH", "NAME_VARIANT", "DECEASED", "DIED_IN_PERIOD",
    "ACCOUNT_UNKNOWN", "ACCOUNT_CLOSED", "ACCOUNT_NOT_OWNED", "ACCOUNT_NOT_DEDICATED",
    "DUPLICATE_ACROSS_BRANCHES", "DUPLICATE_IN_BRANCH", "DUPLICATE_PENSION_ID", "DOUBLE_BENEFIT",
    "DOUBLE_BENEFIT_OVER_CAP", "ACCOUNT_SHARED_ACROSS_PAYEES", "SURVIVOR_SHARES_OVER_100",
]
# run checks that need the payments released before November (September, October)
HISTORY_CODES = [
    "ACCOUNT_CHANGED", "ACCOUNT_CHANGED_REPEATEDLY", "AMOUNT_JUMP", "NEW_PAYEE", "OVERPAID_AFTER_DEATH",
    "PAYEE_VANISHED",
]
NOT_PLANTED = {"DIED_IN_PERIOD_HELD": "needs the death policy 'hold'; the demo runs the default 'pay'"}
NORMALIZATION_CASES = [
    "PERSIAN_DIGITS_ID", "ARABIC_INDIC_DIGITS_ID", "LEADING_ZERO_DROPPED", "ARABIC_YEH_KAF",
    "ZWNJ_IN_NAME", "SPACED_ACCOUNT_CODE", "DOUBLE_SPACE_IN_NAME",
]


def _run_severities() -> dict[str, str]:
    """Severity of every run code, from the exception catalogue the engine reads."""
    with open(REFERENCE / "exception_codes.csv", newline="", encoding="utf-8") as f:
        return {r["code"]: r["severity"] for r in csv.DictReader(f) if r["stage"] == "run"}


def _double_benefit_caps() -> dict[frozenset[str], int]:
    """IR's permitted double benefits and their combined gross caps (double_benefits.csv)."""
    with open(REFERENCE / "double_benefits.csv", newline="", encoding="utf-8") as f:
        return {frozenset(r["benefits"].split("|")): int(r["max_combined_gross"])
                for r in csv.DictReader(f) if r["country"] == COUNTRY}


RUN_SEVERITY = _run_severities()
assert set(RUN_CODES + HISTORY_CODES) | set(NOT_PLANTED) == set(RUN_SEVERITY), set(RUN_SEVERITY)
DOUBLE_BENEFIT_CAP = _double_benefit_caps()[frozenset({"OLD_AGE", "SURVIVOR"})]
SEVERITY_ORDER = {"REPORT": 0, "WARN": 1, "HOLD": 2, "BLOCK": 3}

# Canonical Persian forms only: Persian yeh U+06CC, keheh U+06A9, no ZWNJ, no hamza forms.
MALE_FIRST = [
    "محمد", "علی", "حسین", "حسن", "رضا", "مهدی", "احمد", "محمود", "عباس", "جواد", "مصطفی",
    "ابراهیم", "اسماعیل", "یوسف", "غلامرضا", "غلامحسین", "اکبر", "اصغر", "قاسم", "کاظم", "جعفر",
    "صادق", "ناصر", "منصور", "فرهاد", "بهرام", "داریوش", "سعید", "مجید", "حمید", "مسعود", "محسن",
    "مرتضی", "هادی", "نادر", "پرویز", "کریم", "رحیم", "یعقوب", "حبیب", "شهرام", "ایرج", "منوچهر",
    "جمشید", "خسرو", "فریدون", "هوشنگ", "نصرالله", "اسدالله", "کامران", "بیژن", "تقی", "یدالله",
    "کیومرث", "ولی",
]
MALE_COMPOUND = ["محمد رضا", "علی اکبر", "محمد علی", "امیر حسین", "محمد حسین", "علی اصغر", "محمد تقی"]
FEMALE_FIRST = [
    "فاطمه", "زهرا", "مریم", "معصومه", "زینب", "کبری", "صغری", "طاهره", "اشرف", "پروین", "شهین",
    "مهین", "ثریا", "منیژه", "فرشته", "عفت", "اعظم", "بتول", "خدیجه", "سکینه", "رقیه", "صدیقه",
    "نرگس", "منیره", "شهناز", "ملیحه", "فریبا", "مهری", "ناهید", "سیمین", "اقدس", "ربابه", "حمیده",
    "لیلا", "مینا", "سهیلا", "زهره", "پروانه", "فرزانه", "اکرم", "شکوه", "کوکب", "نسرین", "ژاله",
]
FEMALE_COMPOUND = ["فاطمه زهرا", "زهرا سادات", "مریم سادات"]
SURNAMES = [
    "احمدی", "محمدی", "حسینی", "رضایی", "کریمی", "موسوی", "جعفری", "هاشمی", "قاسمی", "صادقی",
    "رحیمی", "کاظمی", "ابراهیمی", "عباسی", "نوری", "حیدری", "اکبری", "طاهری", "مرادی", "سلیمانی",
    "یوسفی", "شریفی", "زارعی", "نظری", "مختاری", "امینی", "باقری", "بهرامی", "فرهادی", "صالحی",
    "قربانی", "رستمی", "خسروی", "تهرانی", "اصفهانی", "شیرازی", "کرمانی", "یزدی", "نجفی", "فتحی",
    "جلالی", "کامرانی", "خلیلی", "ملکی", "بابایی", "توکلی", "عسگری", "فاضلی", "میرزایی", "دهقان",
    "کشاورز", "زمانی", "افشار", "سلطانی", "شفیعی", "تقوی", "مهدوی", "اسدی", "منصوری", "نادری",
    "قنبری", "حقیقی", "ستاری", "غفاری", "یزدانی", "امیری", "ایزدی", "کیانی", "پورمحمد", "نیکپور",
]

PERSIAN_YEH, ARABIC_YEH = "\u06cc", "\u064a"
KEHEH, ARABIC_KAF = "\u06a9", "\u0643"
ZWNJ = "\u200c"


# --------------------------------------------------------------------------- identifiers


def national_id_check_digit(nine: str) -> str:
    s = sum(int(nine[i]) * (10 - i) for i in range(9))
    r = s % 11
    return str(r if r < 2 else 11 - r)


def national_id_is_valid(nid: str) -> bool:
    return (
        len(nid) == 10
        and nid.isascii()
        and nid.isdigit()
        and len(set(nid)) > 1
        and national_id_check_digit(nid[:9]) == nid[9]
    )


def sheba_check_digits(bban: str) -> str:
    # I=18, R=27; ISO 7064 mod 97-10 over BBAN + country + "00"
    return f"{98 - int(bban + '1827' + '00') % 97:02d}"


def sheba_is_valid(code: str) -> bool:
    return (
        len(code) == 26
        and code[:2] == "IR"
        and code[2:].isascii()
        and code[2:].isdigit()
        and int(code[4:] + "1827" + code[2:4]) % 97 == 1
    )


_DIGIT_FOLD = {0x06F0 + d: str(d) for d in range(10)} | {0x0660 + d: str(d) for d in range(10)}


def compact_national_id(text: str) -> str:
    """What the engine is expected to do to an id before validating (used by the self-check only)."""
    s = text.translate(_DIGIT_FOLD).replace(" ", "").replace("-", "").strip()
    if s.isascii() and s.isdigit() and len(s) in (8, 9):
        s = s.zfill(10)
    return s


def compact_account(text: str) -> str:
    return text.replace(" ", "").upper()


# --------------------------------------------------------------------------- data model


@dataclass
class Person:
    national_id: str
    full_name: str
    birth_date: str
    gender: str
    benefit_type: str


def _in_history() -> dict[str, dict[str, Any]]:
    return {p: {} for p in HISTORY_PERIODS}


@dataclass
class Row:
    branch: str
    pension_id: str
    national_id: str
    full_name: str
    birth_date: str
    benefit_type: str
    gross_amount: int
    deduction_amount: int
    net_amount: int
    account_code: str
    person: Person
    insured_id: str = ""  # survivors only: the deceased insured person's national id
    share_percent: str = ""  # survivors only: the share of that person's pension, in percent
    stage: str | None = None  # intake | run | history | normalization | None (clean)
    code: str | None = None
    note: str = ""
    row: int = 0  # row as a spreadsheet numbers it: the header is row 1, the first payee row 2
    # a second finding the planted row necessarily triggers: in any run (also) / only after the
    # history months (also_history); and a REPORT finding about the person after the history months
    also: list[str] = field(default_factory=list)
    also_history: list[str] = field(default_factory=list)
    reports: list[str] = field(default_factory=list)
    # the row in each history month (None: absent from both), as field overrides of its clean form
    history: dict[str, dict[str, Any]] | None = field(default_factory=_in_history)
    history_findings: dict[str, list[str]] = field(default_factory=dict)  # period -> codes (WARN only)
    history_rows: dict[str, int] = field(default_factory=dict)  # period -> row in that month's file

    def values(self) -> list[str | int]:
        return [getattr(self, c) for c in FILE_COLUMNS]

    def copy(self, **changes: Any) -> Row:
        """A new row with the same values; the lists and the history of its own."""
        fresh = {"also": [], "also_history": [], "reports": [], "history": _in_history(),
                 "history_findings": {}, "history_rows": {}}
        return dataclasses.replace(self, **{**fresh, **changes})

    @property
    def bank_code(self) -> str:
        return compact_account(self.account_code)[4:7]

    def findings(self, with_history: bool) -> list[str]:
        """The codes the engine reports on this row (REPORT findings are no row's)."""
        out = []
        if self.stage == "run" or (self.stage == "history" and with_history):
            out.append(str(self.code))
        return out + self.also + (self.also_history if with_history else [])

    def status(self, with_history: bool) -> str:
        worst = max((SEVERITY_ORDER[RUN_SEVERITY[c]] for c in self.findings(with_history)), default=0)
        return {0: "PAYABLE", 1: "PAYABLE", 2: "HOLD", 3: "BLOCK"}[worst]


class World:
    """Everything generated so far: people, the registry, deaths, accounts, and uniqueness sets."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.national_ids: set[str] = set()
        self.account_codes: set[str] = set()
        self.pension_ids: set[str] = set()
        self.name_dobs: set[tuple[str, str]] = set()
        self.registry: dict[str, tuple[str, str]] = {}
        self.deaths: dict[str, str] = {}
        self.late_deaths: set[str] = set()  # reported after October: not in the history months' extract
        self.insured: set[str] = set()  # deceased insured persons whose pensions survivors share
        self.accounts: dict[str, tuple[str, str, str, str]] = {}  # code -> bank, holder, dedicated, status

    # identifiers -------------------------------------------------------------
    def new_national_id(self, leading_zero: bool = False) -> str:
        rng = self.rng
        while True:
            if leading_zero:  # exactly one leading zero, so Excel leaves 9 digits
                nine = "0" + str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(7))
            else:
                nine = "".join(str(rng.randint(0, 9)) for _ in range(9))
            if len(set(nine)) == 1:
                continue
            nid = nine + national_id_check_digit(nine)
            if nid not in self.national_ids:
                self.national_ids.add(nid)
                return nid

    def new_account_code(self, bank: str) -> str:
        while True:
            bban = bank + "0" + "".join(str(self.rng.randint(0, 9)) for _ in range(18))
            code = "IR" + sheba_check_digits(bban) + bban
            if code not in self.account_codes:
                self.account_codes.add(code)
                return code

    def new_pension_id(self) -> str:
        while True:
            pid = str(self.rng.randint(10_000_000, 99_999_999))
            if pid not in self.pension_ids:
                self.pension_ids.add(pid)
                return pid

    # people -------------------------------------------------------------------
    def pick_weighted(self, table: list[tuple[str, int]]) -> str:
        return self.rng.choices([k for k, _ in table], weights=[w for _, w in table])[0]

    def random_date(self, first: dt.date, last: dt.date) -> str:
        return (first + dt.timedelta(days=self.rng.randint(0, (last - first).days))).isoformat()

    def random_name(self, gender: str) -> str:
        rng = self.rng
        if gender == "M":
            first = rng.choice(MALE_COMPOUND) if rng.random() < 0.15 else rng.choice(MALE_FIRST)
        else:
            first = rng.choice(FEMALE_COMPOUND) if rng.random() < 0.08 else rng.choice(FEMALE_FIRST)
        return f"{first} {rng.choice(SURNAMES)}"

    def new_person(
        self,
        benefit_type: str | None = None,
        *,
        name_ok=None,
        first_names: list[str] | None = None,
        birth_date: str | None = None,
        leading_zero: bool = False,
        dob_window: tuple[dt.date, dt.date] | None = None,
        gender: str | None = None,
    ) -> Person:
        rng = self.rng
        bt = benefit_type or self.pick_weighted(BENEFIT_TYPES)
        female_share = {"SURVIVOR": 0.85, "OLD_AGE": 0.25, "DISABILITY": 0.2, "NONE": 0.5,
                        "SURVIVOR_CHILD": 0.5, "INSURED": 0.15}[bt]
        gender = gender or ("F" if rng.random() < female_share else "M")
        while True:
            if first_names:
                name = f"{rng.choice(first_names)} {rng.choice(SURNAMES)}"
            else:
                name = self.random_name(gender)
            if name_ok is not None and not name_ok(name):
                continue
            if birth_date:
                dob = birth_date
            elif dob_window:
                dob = self.random_date(*dob_window)
            elif bt == "SURVIVOR":
                dob = self.random_date(dt.date(1940, 1, 1), dt.date(2005, 12, 31))
            elif bt == "NONE":
                dob = self.random_date(dt.date(1930, 1, 1), dt.date(2005, 12, 31))
            elif bt == "INSURED":
                dob = self.random_date(dt.date(1925, 1, 1), dt.date(1970, 12, 31))
            else:
                dob = self.random_date(dt.date(1935, 1, 1), dt.date(1975, 12, 31))
            if (name, dob) not in self.name_dobs:
                self.name_dobs.add((name, dob))
                break
        return Person(self.new_national_id(leading_zero), name, dob, gender, bt)

    def register(self, p: Person, full_name: str | None = None, birth_date: str | None = None) -> None:
        name, dob = full_name or p.full_name, birth_date or p.birth_date
        if full_name or birth_date:
            assert (name, dob) not in self.name_dobs
            self.name_dobs.add((name, dob))
        self.registry[p.national_id] = (name, dob)

    def new_insured(self, died: tuple[dt.date, dt.date] = (dt.date(2000, 1, 1), dt.date(2024, 12, 31)),
                    **person_kw: Any) -> Person:
        """A deceased insured person whose pension a survivor draws: registered, in the deaths
        extract (died years ago), never a payee."""
        p = self.new_person("INSURED", **person_kw)
        self.register(p)
        self.deaths[p.national_id] = self.random_date(*died)
        self.insured.add(p.national_id)
        return p

    def open_account(
        self, holder: str, bank: str | None = None, dedicated: bool = True, status: str = "open"
    ) -> str:
        bank = bank or self.pick_weighted(BANKS)
        code = self.new_account_code(bank)
        self.accounts[code] = (bank, holder, "true" if dedicated else "false", status)
        return code

    # amounts ------------------------------------------------------------------
    def amounts(self) -> tuple[int, int]:
        rng = self.rng
        if rng.random() < 0.30:
            gross = MIN_PENSION
        else:
            extra = int(rng.expovariate(1 / 45_000_000)) // 1000 * 1000
            gross = min(MAX_PENSION, MIN_PENSION + max(extra, 1000))
        if rng.random() < 0.35:
            deduction = 0
        else:
            deduction = rng.randint(0, gross * 7 // 100 // 1000) * 1000
        return gross, deduction

    def row_for(self, branch: str, p: Person, account_code: str, pension_id: str | None = None, *,
                insured: Person | None = None, share: str = "50") -> Row:
        """A payee row; a survivor's names a deceased insured person (a new one unless given) and a
        share (a spouse's 50%)."""
        gross, deduction = self.amounts()
        row = Row(
            branch=branch,
            pension_id=pension_id or self.new_pension_id(),
            national_id=p.national_id,
            full_name=p.full_name,
            birth_date=p.birth_date,
            benefit_type=p.benefit_type,
            gross_amount=gross,
            deduction_amount=deduction,
            net_amount=gross - deduction,
            account_code=account_code,
            person=p,
        )
        if p.benefit_type in SURVIVOR_BENEFITS:
            row.insured_id = (insured or self.new_insured()).national_id
            row.share_percent = share
        return row

    def clean_payee(self, branch: str, benefit_type: str | None = None, **person_kw: Any) -> Row:
        """A payee who triggers nothing: registered, alive, own open dedicated account."""
        p = self.new_person(benefit_type, **person_kw)
        self.register(p)
        return self.row_for(branch, p, self.open_account(p.national_id))


def set_amounts(row: Row, gross: int, deduction: int = 0) -> Row:
    row.gross_amount, row.deduction_amount, row.net_amount = gross, deduction, gross - deduction
    return row


# --------------------------------------------------------------------------- planted cases


def tag(row: Row, stage: str, code: str, note: str) -> Row:
    row.stage, row.code, row.note = stage, code, note
    return row


def plant(w: World) -> tuple[dict[str, list[Row]], list[tuple[Row, Row]], list[Row]]:
    """Planted rows per branch, (original, copy) pairs for exact duplicate rows, and the rows paid in
    the history months only (not in November's lists)."""
    rng = w.rng
    rows: dict[str, list[Row]] = {b: [] for b in BRANCH_CODES}
    dup_pairs: list[tuple[Row, Row]] = []
    history_only: list[Row] = []

    def add(row: Row) -> Row:
        rows[row.branch].append(row)
        return row

    # ---- intake: rejected rows -------------------------------------------------
    for branch in ("B01", "B04"):
        r = w.clean_payee(branch)
        nid = r.national_id
        wrong = str((int(nid[9]) + rng.randint(1, 9)) % 10)
        r.national_id = nid[:9] + wrong
        add(tag(r, "intake", "INVALID_NATIONAL_ID", f"check digit {wrong} instead of {nid[9]}"))
    r = w.clean_payee("B06")
    r.national_id = r.national_id[:5] + r.national_id[4] + r.national_id[5:]
    add(tag(r, "intake", "INVALID_NATIONAL_ID", "11 digits (one digit typed twice)"))

    r = w.clean_payee("B02")
    while r.deduction_amount == 0:
        r.deduction_amount = rng.randint(1, r.gross_amount * 7 // 100 // 1000) * 1000
    r.net_amount = r.gross_amount
    add(tag(r, "intake", "AMOUNT_MISMATCH", "net equals gross; deduction not subtracted"))
    r = w.clean_payee("B05")
    r.net_amount = r.gross_amount - r.deduction_amount + 10_000
    add(tag(r, "intake", "AMOUNT_MISMATCH", "net is 10,000 more than gross - deduction"))

    r = w.clean_payee("B03")
    r.deduction_amount, r.net_amount = r.gross_amount, 0
    add(tag(r, "intake", "NON_POSITIVE_AMOUNT", "deduction equals gross; net 0"))
    r = w.clean_payee("B08")
    r.deduction_amount = r.gross_amount + 8_500_000
    r.net_amount = r.gross_amount - r.deduction_amount
    add(tag(r, "intake", "NON_POSITIVE_AMOUNT", "deduction exceeds gross; net negative"))

    r = w.clean_payee("B04", "OLD_AGE")
    r.benefit_type = "RETIREMENT"
    add(tag(r, "intake", "UNKNOWN_BENEFIT_TYPE", "benefit_type RETIREMENT"))
    r = w.clean_payee("B07", "SURVIVOR")
    r.benefit_type = "WIDOW"
    add(tag(r, "intake", "UNKNOWN_BENEFIT_TYPE", "benefit_type WIDOW"))

    r = w.clean_payee("B01")
    code = r.account_code
    pos = rng.randint(8, 25)
    bad = code[:pos] + str((int(code[pos]) + rng.randint(1, 9)) % 10) + code[pos + 1:]
    assert not sheba_is_valid(bad)
    r.account_code = bad
    add(tag(r, "intake", "INVALID_ACCOUNT_CODE", f"one digit changed (position {pos + 1}); mod 97 fails"))
    r = w.clean_payee("B06")
    r.account_code = r.account_code[:-2]
    add(tag(r, "intake", "INVALID_ACCOUNT_CODE", "SHEBA 2 digits short (24 characters)"))

    for branch in ("B02", "B08"):
        original = add(w.clean_payee(branch))
        original.note = "first occurrence of a duplicated row: accepted and paid"
        copy = original.copy()
        tag(copy, "intake", "DUPLICATE_ROW", f"exact copy of pension {original.pension_id}")
        dup_pairs.append((original, copy))

    r = w.clean_payee("B07", "OLD_AGE", birth_date="1955-02-20")
    r.birth_date = "1955-02-30"
    add(tag(r, "intake", "INVALID_DATE", "birth_date 1955-02-30 (registry: 1955-02-20)"))

    r = w.clean_payee("B06")
    r.full_name = ""
    add(tag(r, "intake", "MISSING_VALUE", "empty full_name"))

    # ---- run checks: accepted rows with exactly one finding --------------------
    # In the history months every planted row is paid in its clean form (registry name and birth date,
    # the payee's own good account) unless said otherwise; a row absent from October is a NEW_PAYEE
    # in November, a row whose account differs from October's an ACCOUNT_CHANGED (also_history).
    for branch in ("B02", "B05", "B08"):
        p = w.new_person()
        r = add(tag(w.row_for(branch, p, w.open_account(p.national_id)), "run", "NOT_IN_REGISTRY",
                    "national id absent from the registry; new this month"))
        r.history, r.also_history = None, ["NEW_PAYEE"]

    for branch in ("B03", "B06"):
        r = w.clean_payee(branch)
        first = r.full_name.rsplit(" ", 1)[0]
        surname = r.full_name.rsplit(" ", 1)[1]
        other = rng.choice([s for s in SURNAMES if s != surname])
        w.register(r.person, full_name=f"{first} {other}")
        add(tag(r, "run", "IDENTITY_MISMATCH", f"registry name {first} {other}"))
    r = w.clean_payee("B01", "OLD_AGE")
    y, m, d = r.birth_date.split("-")
    reg_dob = f"{int(y) + 1}-{m}-{d}" if (m, d) != ("02", "29") else f"{int(y) + 4}-{m}-{d}"
    w.register(r.person, birth_date=reg_dob)
    add(tag(r, "run", "IDENTITY_MISMATCH", f"registry birth_date {reg_dob} (year differs)"))
    month, day = rng.sample(range(1, 13), 2)
    r = w.clean_payee("B07", "OLD_AGE", birth_date=f"{rng.randint(1940, 1970)}-{month:02d}-{day:02d}")
    y, m, d = r.birth_date.split("-")
    reg_dob = f"{y}-{d}-{m}"
    w.register(r.person, birth_date=reg_dob)
    add(tag(r, "run", "IDENTITY_MISMATCH", f"registry birth_date {reg_dob} (day and month swapped)"))

    for branch in ("B02", "B07"):  # the file writes the surname first: similar above the threshold
        r = w.clean_payee(branch, "OLD_AGE", first_names=MALE_FIRST + FEMALE_FIRST)
        first, surname = r.full_name.split(" ")
        r.full_name = f"{surname} {first}"
        add(tag(r, "run", "NAME_VARIANT", f"surname first; registry '{first} {surname}'"))

    for branch, died in (("B04", "2026-08-14"), ("B05", "2025-12-02"), ("B08", "2019-03-30")):
        r = w.clean_payee(branch, "OLD_AGE")
        w.deaths[r.national_id] = died
        add(tag(r, "run", "DECEASED", f"died {died}"))
        if branch == "B04":  # reported late: paid in September and October, to recover
            w.late_deaths.add(r.national_id)
            r.reports = ["OVERPAID_AFTER_DEATH"]
            r.note += "; reported late: paid in 2026-09 and 2026-10"
        else:  # re-added this month long after the death
            r.history, r.also_history = None, ["NEW_PAYEE"]
            r.note += "; not in the history months"
    r = w.clean_payee("B03", "OLD_AGE")
    w.deaths[r.national_id] = "2026-11-10"
    add(tag(r, "run", "DIED_IN_PERIOD", "died 2026-11-10; paid for November"))

    def changed_from(r: Row, account: str) -> Row:
        """The row was paid to `account` in the history months; November's account differs."""
        for period in HISTORY_PERIODS:
            r.history[period]["account_code"] = account  # type: ignore[index]
        r.also_history.append("ACCOUNT_CHANGED")
        return r

    for branch in ("B01", "B06"):
        p = w.new_person()
        w.register(p)
        good = w.open_account(p.national_id)
        add(changed_from(tag(w.row_for(branch, p, w.new_account_code(w.pick_weighted(BANKS))), "run",
                             "ACCOUNT_UNKNOWN", "valid SHEBA, not in accounts.csv"), good))
    for branch in ("B02", "B07"):
        p = w.new_person()
        w.register(p)
        good = w.open_account(p.national_id)
        add(changed_from(tag(w.row_for(branch, p, w.open_account(p.national_id, status="closed")), "run",
                             "ACCOUNT_CLOSED", "own dedicated account, status closed"), good))
    not_owned_targets = []
    for branch in ("B03", "B08"):
        p = w.new_person()
        w.register(p)
        own = w.open_account(p.national_id)  # the payee's own account exists but is not the one on the row
        not_owned_targets.append(add(changed_from(tag(w.row_for(branch, p, ""), "run", "ACCOUNT_NOT_OWNED", ""),
                                                  own)))
    for branch in ("B04", "B05"):
        p = w.new_person()
        w.register(p)
        good = w.open_account(p.national_id)
        add(changed_from(tag(w.row_for(branch, p, w.open_account(p.national_id, dedicated=False)), "run",
                             "ACCOUNT_NOT_DEDICATED", "own open account, dedicated=false"), good))

    for first_branch, second_branch in (("B01", "B04"), ("B02", "B07")):
        a = w.clean_payee(first_branch)
        b = a.copy(branch=second_branch, pension_id=w.new_pension_id())
        note = "same person also paid by {}"
        add(tag(a, "run", "DUPLICATE_ACROSS_BRANCHES", note.format(f"{second_branch} ({b.pension_id})")))
        add(tag(b, "run", "DUPLICATE_ACROSS_BRANCHES",
                note.format(f"{first_branch} ({a.pension_id})") + "; new this month"))
        b.history, b.also_history = None, ["NEW_PAYEE"]

    # one branch lists a person twice under two pension ids (the second on their second own account)
    a = w.clean_payee("B05", "OLD_AGE")
    b = w.row_for("B05", a.person, w.open_account(a.national_id))
    add(tag(a, "run", "DUPLICATE_IN_BRANCH", f"same person also under pension {b.pension_id} in B05"))
    add(tag(b, "run", "DUPLICATE_IN_BRANCH",
            f"same person also under pension {a.pension_id} in B05; second own account; new this month"))
    b.history, b.also_history = None, ["NEW_PAYEE"]

    # one pension id, two people, two branches
    a = w.clean_payee("B03")
    b = w.clean_payee("B08")
    w.pension_ids.discard(b.pension_id)
    b.pension_id = a.pension_id
    add(tag(a, "run", "DUPLICATE_PENSION_ID", f"pension id also used by B08 for {b.national_id}"))
    add(tag(b, "run", "DUPLICATE_PENSION_ID",
            f"pension id also used by B03 for {a.national_id}; new this month"))
    b.history, b.also_history = None, ["NEW_PAYEE"]

    # an old-age pensioner who also draws a survivor pension in another branch, on the same own account
    def double_benefit(old_branch: str, survivor_branch: str, old_gross: int, survivor_gross: int) -> tuple[Row, Row]:
        old = w.clean_payee(old_branch, "OLD_AGE")
        survivor = w.row_for(survivor_branch, dataclasses.replace(old.person, benefit_type="SURVIVOR"),
                             old.account_code)
        set_amounts(old, old_gross, old.deduction_amount)
        set_amounts(survivor, survivor_gross, survivor.deduction_amount)
        return add(old), add(survivor)

    cap = DOUBLE_BENEFIT_CAP
    old, survivor = double_benefit("B01", "B06", cap // 2 - 60_000_000, cap // 2 - 110_000_000)
    combined = old.gross_amount + survivor.gross_amount
    assert combined <= cap
    for r, mate in ((old, survivor), (survivor, old)):
        tag(r, "run", "DOUBLE_BENEFIT", f"OLD_AGE + SURVIVOR with {mate.branch} ({mate.pension_id}); "
            f"combined gross {combined:,} within the cap {cap:,}")
        r.history_findings = {p: ["DOUBLE_BENEFIT"] for p in HISTORY_PERIODS}
    # over the cap in November only: the survivor pension rose (less than the AMOUNT_JUMP threshold)
    old, survivor = double_benefit("B04", "B07", cap // 2 + 30_000_000, cap // 2 - 10_000_000)
    before = cap - old.gross_amount - 10_000_000
    combined = old.gross_amount + survivor.gross_amount
    assert combined > cap >= old.gross_amount + before
    for period in HISTORY_PERIODS:
        survivor.history[period].update(gross_amount=before, deduction_amount=survivor.deduction_amount)  # type: ignore[index]
    assert survivor.net_amount * 100 <= (before - survivor.deduction_amount) * (100 + AMOUNT_JUMP_PERCENT)
    for r, mate in ((old, survivor), (survivor, old)):
        tag(r, "run", "DOUBLE_BENEFIT_OVER_CAP", f"OLD_AGE + SURVIVOR with {mate.branch} ({mate.pension_id}); "
            f"combined gross {combined:,} over the cap {cap:,} (in 2026-09 and 2026-10: "
            f"{old.gross_amount + before:,}, within)")
        r.history_findings = {p: ["DOUBLE_BENEFIT"] for p in HISTORY_PERIODS}

    # two unrelated payees in different branches on one account: the holder's (own, open, dedicated)
    holder = add(w.clean_payee("B02"))
    user = add(w.clean_payee("B05"))
    changed_from(user, user.account_code)
    user.account_code = holder.account_code
    user.also.append("ACCOUNT_NOT_OWNED")
    tag(holder, "run", "ACCOUNT_SHARED_ACROSS_PAYEES", f"own account, also on B05 ({user.pension_id})")
    tag(user, "run", "ACCOUNT_SHARED_ACROSS_PAYEES",
        f"account of B02 payee {holder.national_id} ({holder.pension_id}); own account in 2026-09 and 2026-10")

    # one deceased insured person's survivors: spouse 50% (B03), two children 25% each (B07), and a
    # second 'spouse' 50% new this month (B01): 150%
    insured = w.new_insured(died=(dt.date(2018, 1, 1), dt.date(2024, 12, 31)), gender="M",
                            dob_window=(dt.date(1960, 1, 1), dt.date(1975, 12, 31)))
    family = insured.full_name.rsplit(" ", 1)[1]
    spouse = w.new_person("SURVIVOR", gender="F", dob_window=(dt.date(1962, 1, 1), dt.date(1980, 12, 31)))
    w.register(spouse)
    group = [add(w.row_for("B03", spouse, w.open_account(spouse.national_id), insured=insured, share="50"))]
    for _ in range(2):
        child = w.new_person("SURVIVOR_CHILD", name_ok=lambda n: n.endswith(" " + family),
                             dob_window=(dt.date(2010, 1, 1), dt.date(2012, 12, 31)))
        w.register(child)
        r = w.row_for("B07", child, w.open_account(child.national_id), insured=insured, share="25")
        group.append(add(set_amounts(r, rng.randint(40_000, 70_000) * 1000)))
    second = w.new_person("SURVIVOR", gender="F", dob_window=(dt.date(1962, 1, 1), dt.date(1980, 12, 31)))
    w.register(second)
    group.append(add(w.row_for("B01", second, w.open_account(second.national_id), insured=insured, share="50")))
    group[-1].history, group[-1].also_history = None, ["NEW_PAYEE"]
    shares = ", ".join(f"{r.branch} {r.share_percent}%" for r in group)
    for r in group:
        tag(r, "run", "SURVIVOR_SHARES_OVER_100", f"survivors of {insured.national_id}: {shares} = 150%"
            + ("; new this month" if r.history is None else ""))

    # ---- history checks: clean in November alone -------------------------------
    r = add(w.clean_payee("B03"))
    first = w.open_account(r.national_id)
    changed_from(r, first).also_history.clear()
    tag(r, "history", "ACCOUNT_CHANGED", f"own account {first} in 2026-09 and 2026-10, another own one now")

    r = add(w.clean_payee("B08"))
    sep, octo = w.open_account(r.national_id), w.open_account(r.national_id)
    r.history["2026-09"]["account_code"] = sep  # type: ignore[index]
    r.history["2026-10"]["account_code"] = octo  # type: ignore[index]
    r.history_findings = {"2026-10": ["ACCOUNT_CHANGED"]}
    tag(r, "history", "ACCOUNT_CHANGED_REPEATEDLY", f"own accounts {sep} (2026-09), {octo} (2026-10), a third now")

    r = add(w.clean_payee("B06"))
    before = rng.randint(120_000, 160_000) * 1000
    set_amounts(r, before * 13 // 10 // 1000 * 1000, rng.randint(0, 5) * 1_000_000)
    for period in HISTORY_PERIODS:
        r.history[period].update(gross_amount=before, deduction_amount=r.deduction_amount)  # type: ignore[index]
    was = before - r.deduction_amount
    assert r.net_amount * 100 > was * (100 + AMOUNT_JUMP_PERCENT)
    tag(r, "history", "AMOUNT_JUMP", f"net {was:,} in 2026-10, {r.net_amount:,} now "
        f"(+{(r.net_amount - was) * 100 / was:.1f}%)")

    for branch in ("B04", "B08"):
        r = add(w.clean_payee(branch))
        r.history = None
        tag(r, "history", "NEW_PAYEE", "not in 2026-09 or 2026-10")

    # paid in September and October, not in November's lists
    r = w.clean_payee("B06")
    history_only.append(tag(r, "history", "PAYEE_VANISHED", "paid in 2026-09 and 2026-10; not in B06's November "
                            "list; no death recorded"))
    r = w.clean_payee("B02", "OLD_AGE")
    w.deaths[r.national_id] = "2026-09-20"
    w.late_deaths.add(r.national_id)
    history_only.append(tag(r, "history", "OVERPAID_AFTER_DEATH", "died 2026-09-20, reported late: paid in "
                            "2026-09 and 2026-10 (October's payment to recover); not in November's lists"))

    # ---- normalization: must produce no finding ---------------------------------
    persian = str.maketrans("0123456789", "".join(chr(0x06F0 + d) for d in range(10)))
    arabic = str.maketrans("0123456789", "".join(chr(0x0660 + d) for d in range(10)))
    for branch in ("B01", "B02", "B03", "B05", "B08"):
        r = w.clean_payee(branch)
        r.national_id = r.national_id.translate(persian)
        add(tag(r, "normalization", "PERSIAN_DIGITS_ID", "national id in Persian digits"))
    for branch in ("B04", "B06", "B07"):
        r = w.clean_payee(branch)
        r.national_id = r.national_id.translate(arabic)
        add(tag(r, "normalization", "ARABIC_INDIC_DIGITS_ID", "national id in Arabic-Indic digits"))
    for branch in ("B01", "B03", "B06"):
        r = w.clean_payee(branch, leading_zero=True)
        r.national_id = r.national_id[1:]
        add(tag(r, "normalization", "LEADING_ZERO_DROPPED", "9 digits; leading zero dropped"))
    yeh_kaf = [  # branch, which letters to write in Arabic form
        ("B01", "yeh"), ("B02", "kaf"), ("B03", "both"), ("B04", "yeh"), ("B05", "kaf"),
        ("B06", "both"), ("B07", "yeh"), ("B08", "both"), ("B03", "yeh"), ("B05", "both"),
    ]
    for branch, which in yeh_kaf:
        need_yeh, need_kaf = which in ("yeh", "both"), which in ("kaf", "both")

        def ok(name: str, need_yeh: bool = need_yeh, need_kaf: bool = need_kaf) -> bool:
            return (PERSIAN_YEH in name or not need_yeh) and (KEHEH in name or not need_kaf)

        r = w.clean_payee(branch, name_ok=ok)
        name = r.full_name
        if need_yeh:
            name = name.replace(PERSIAN_YEH, ARABIC_YEH)
        if need_kaf:
            name = name.replace(KEHEH, ARABIC_KAF)
        r.full_name = name
        label = {"yeh": "Arabic yeh U+064A", "kaf": "Arabic kaf U+0643", "both": "Arabic yeh and kaf"}[which]
        add(tag(r, "normalization", "ARABIC_YEH_KAF", label))
    for branch, compound in (("B02", "محمد رضا"), ("B04", "امیر حسین"), ("B08", "محمد علی")):
        r = w.clean_payee(branch, "OLD_AGE", first_names=[compound])
        r.full_name = r.full_name.replace(compound, compound.replace(" ", ZWNJ))
        add(tag(r, "normalization", "ZWNJ_IN_NAME", f"ZWNJ where the registry has a space ({compound})"))
    for branch in ("B03", "B05", "B07"):
        r = w.clean_payee(branch)
        c = r.account_code
        r.account_code = " ".join(c[i:i + 4] for i in range(0, len(c), 4))
        add(tag(r, "normalization", "SPACED_ACCOUNT_CODE", "SHEBA in groups of 4"))
    r = w.clean_payee("B06")
    r.full_name = r.full_name.replace(" ", "  ", 1)
    add(tag(r, "normalization", "DOUBLE_SPACE_IN_NAME", "double space between words"))

    # ---- unrelated people: registry, deaths, accounts ---------------------------
    unrelated = [w.new_person("NONE") for _ in range(500)]
    for p in unrelated:
        w.register(p)
    deceased = unrelated[:40]
    for p in deceased:
        w.deaths[p.national_id] = w.random_date(dt.date(2012, 1, 1), dt.date(2026, 9, 30))
    living = unrelated[40:]
    holders = rng.sample(living, 100)
    for i, p in enumerate(holders):
        if i < len(not_owned_targets):  # someone else's open dedicated account, used by a payee's row
            code = w.open_account(p.national_id)
            row = not_owned_targets[i]
            row.account_code = code
            row.note = "account of an unrelated registry person (open, dedicated); own account before"
        else:
            w.open_account(
                p.national_id,
                dedicated=rng.random() < 0.6,
                status="open" if rng.random() < 0.85 else "closed",
            )
    return rows, dup_pairs, history_only


# --------------------------------------------------------------------------- assembly


@dataclass
class Sample:
    world: World
    files: dict[str, list[Row]]  # November's branch lists, in file order
    history: dict[str, dict[str, list[Row]]]  # period -> branch -> that month's list (clean rows)
    history_only: list[Row]  # paid in the history months, not in November's lists
    users: list[dict[str, str]]


def history_row(w: World, r: Row, period: str) -> Row:
    """The row as the branch listed it in a history month: its clean form (registry name and birth
    date, canonical national id and account) with the month's overrides (account, amounts)."""
    assert r.history is not None
    over = r.history[period]
    nid = r.person.national_id
    name, dob = w.registry[nid]
    h = r.copy(national_id=nid, full_name=name, birth_date=dob, stage=None, code=None, note="",
               account_code=over.get("account_code", compact_account(r.account_code)))
    return set_amounts(h, over.get("gross_amount", r.gross_amount), over.get("deduction_amount", r.deduction_amount))


def build() -> Sample:
    rng = random.Random(SEED)
    w = World(rng)
    users = make_users(w)
    planted, dup_pairs, history_only = plant(w)
    sizes = {b: rng.randint(240, 260) for b in BRANCH_CODES}
    files: dict[str, list[Row]] = {}
    for b in BRANCH_CODES:
        copies = [c for o, c in dup_pairs if o.branch == b]
        rows = list(planted[b])
        while len(rows) + len(copies) < sizes[b]:
            rows.append(w.clean_payee(b))
        rng.shuffle(rows)
        for copy in copies:
            at = next(i for i, r in enumerate(rows) if r.pension_id == copy.pension_id)
            rows.insert(min(len(rows), at + rng.randint(2, 5)), copy)
        for i, r in enumerate(rows, start=2):
            r.row = i
        files[b] = rows

    # the history months: November's accepted rows that were paid then, in November's order, and the
    # rows paid then only; the same rows in both months
    history: dict[str, dict[str, list[Row]]] = {p: {} for p in HISTORY_PERIODS}
    for b in BRANCH_CODES:
        order = [r for r in files[b] if r.stage != "intake" and r.history is not None]
        for r in (r for r in history_only if r.branch == b):
            order.insert(rng.randint(0, len(order)), r)
        for period in HISTORY_PERIODS:
            rows = [history_row(w, r, period) for r in order]
            for i, (r, h) in enumerate(zip(order, rows, strict=True), start=2):
                h.row = r.history_rows[period] = i
            history[period][b] = rows
    return Sample(w, files, history, history_only, users)


def make_users(w: World) -> list[dict[str, str]]:
    def name() -> str:
        return w.random_name("F" if w.rng.random() < 0.4 else "M")

    users = []
    for b, _, prov in BRANCHES:
        users.append(dict(user_id=f"clerk-{b.lower()}", name=name(), role="clerk", branch_code=b,
                          province_code=prov))
        users.append(dict(user_id=f"head-{b.lower()}", name=name(), role="branch_head", branch_code=b,
                          province_code=prov))
    for prov in PROVINCES:
        users.append(dict(user_id=f"prov-{prov.lower()}", name=name(), role="province_approver",
                          branch_code="", province_code=prov))
    for user_id, role in (("fin-1", "finance"), ("fin-2", "finance"), ("fin-3", "finance"),
                          ("lead-1", "finance_lead"), ("audit-1", "auditor"), ("admin-1", "admin")):
        users.append(dict(user_id=user_id, name=name(), role=role, branch_code="", province_code=""))
    return users


# --------------------------------------------------------------------------- writers


def write_csv(path: Path, header: list[str], rows: list[list], bom: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def write_parquet(path: Path, rows: list[Row]) -> None:
    """Amounts int64, the rest strings; a survivor field a row does not have is null."""
    schema = pa.schema([
        (c, pa.int64() if c in AMOUNT_COLUMNS else pa.string()) for c in FILE_COLUMNS
    ])
    data = {c: [getattr(r, c) for r in rows] for c in COLUMNS}
    data |= {c: [getattr(r, c) or None for r in rows] for c in SURVIVOR_COLUMNS}
    table = pa.table(data, schema=schema)
    pq.write_table(table, path, compression="snappy")


def write_xlsx(path: Path, rows: list[Row]) -> None:
    """As the legacy system exports: ids and dates as text, amounts and shares as numbers, labels in
    Persian. Fixed document dates keep the file byte for byte reproducible."""
    import datetime

    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = XLSX_SHEET
    fields = list(LEGACY_HEADERS)
    ws.append([LEGACY_HEADERS[f] for f in fields])
    for r in rows:
        out: list[object] = []
        for f in fields:
            v = getattr(r, f)
            if f == "benefit_type":
                v = LEGACY_LABELS.get(str(v), v)
            if (f in AMOUNT_COLUMNS or f == "share_percent") and isinstance(v, str) and v.isascii() \
                    and v.lstrip("-").isdigit():
                v = int(v)
            out.append(None if v == "" else v)
        ws.append(out)
    fixed = datetime.datetime(2026, 11, 1)
    wb.properties.created = wb.properties.modified = fixed
    buf = io.BytesIO()
    wb.save(buf)
    pinned = io.BytesIO()  # the zip entries carry the time they were written: pin them too
    with zipfile.ZipFile(buf) as src, zipfile.ZipFile(pinned, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            info = zipfile.ZipInfo(item.filename, date_time=fixed.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            data = src.read(item.filename)
            if item.filename == "docProps/core.xml":  # openpyxl stamps 'modified' with the save time
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2026-11-01T00:00:00Z", data)
            dst.writestr(info, data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pinned.getvalue())


def branch_file(b: str) -> str:
    if b in PARQUET_BRANCHES:
        return f"branches/{b}.parquet"
    return f"branches/{b}.xlsx" if b in XLSX_BRANCHES else f"branches/{b}.csv"


def history_file(period: str, b: str) -> str:
    return f"history/{period}/{b}.csv"


def write_json(path: Path, obj: object) -> None:
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------- expected figures


def entry(r: Row, code: str, stage: str | None, also_of: str | None = None, **extra: Any) -> dict[str, Any]:
    """One expected finding (or a clean row worth naming): where it is and why."""
    if stage in ("run", "history"):
        severity: str | None = RUN_SEVERITY[code]
    else:
        severity = "BLOCK" if stage == "intake" else None
    out = {"code": code, "stage": stage, "severity": severity, "branch": r.branch, "row": r.row,
           "pension_id": r.pension_id, "national_id": r.person.national_id, "also_of": also_of, "note": r.note}
    return out | extra


def by_bank(rows: list[Row]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {bank: {"count": 0, "total": 0} for bank, _ in sorted(BANKS)}
    for r in rows:
        out[r.bank_code]["count"] += 1
        out[r.bank_code]["total"] += r.net_amount
    return out


def month_figures(rows: dict[str, list[Row]], codes: list[str], with_history: bool,
                  reports: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(per branch, totals) of November's run over the accepted rows; `reports` are the REPORT
    findings (no row of the run), counted in the branch of the payment they name."""
    branches: dict[str, Any] = {}
    findings = Counter({c: 0 for c in codes})
    severities = Counter({s: 0 for s in ("BLOCK", "HOLD", "WARN", "REPORT")})
    payable_all: list[Row] = []
    tot: Counter = Counter()
    for b, file_rows in rows.items():
        acc = [r for r in file_rows if r.stage != "intake"]
        found = Counter({c: 0 for c in codes})
        for r in acc:
            found.update(r.findings(with_history))
        found.update(e["code"] for e in reports if e["branch"] == b)
        status = {r.row: r.status(with_history) for r in acc}
        payable = [r for r in acc if status[r.row] == "PAYABLE"]
        held = [r for r in acc if status[r.row] == "HOLD"]
        blocked = [r for r in acc if status[r.row] == "BLOCK"]
        warned = [r for r in payable if r.findings(with_history)]
        assert all(RUN_SEVERITY[c] == "WARN" for r in warned for c in r.findings(with_history))
        branches[b] = {
            "findings": dict(found),
            "held_count": len(held),
            "blocked_count": len(blocked),
            "payable_count": len(payable),
            "payable_total": sum(r.net_amount for r in payable),
        }
        findings.update(found)
        payable_all += payable
        tot.update(held_count=len(held), held_total=sum(r.net_amount for r in held), blocked_count=len(blocked),
                   blocked_total=sum(r.net_amount for r in blocked), warned_count=len(warned))
    for code, n in findings.items():
        severities[RUN_SEVERITY[code]] += n
    totals = {
        "findings_total": sum(findings.values()),
        "findings": dict(findings),
        "findings_by_severity": dict(severities) if with_history else
        {s: n for s, n in severities.items() if s != "REPORT"},
        "held_count": tot["held_count"],
        "held_total": tot["held_total"],
        "blocked_count": tot["blocked_count"],
        "blocked_total": tot["blocked_total"],
        "warned_count": tot["warned_count"],
        "payable_count": len(payable_all),
        "payable_total": sum(r.net_amount for r in payable_all),
        "payable_by_bank": by_bank(payable_all),
    }
    if with_history:
        totals["reported_count"] = severities["REPORT"]
    return branches, totals


def expected_figures(s: Sample) -> dict[str, Any]:
    files = s.files
    planted: list[dict[str, Any]] = []
    history_planted: list[dict[str, Any]] = []
    rejected = Counter({c: 0 for c in INTAKE_CODES})
    branches: dict[str, Any] = {}
    for b in BRANCH_CODES:
        rows = files[b]
        rej = Counter(str(r.code) for r in rows if r.stage == "intake")
        acc = [r for r in rows if r.stage != "intake"]
        for r in rows:
            if r.stage in ("intake", "run", "normalization"):
                planted.append(entry(r, str(r.code), r.stage))
            elif r.stage is None and r.note:
                planted.append(entry(r, None, None))  # type: ignore[arg-type]
            planted += [entry(r, c, "run", also_of=r.code) for c in r.also]
            if r.stage == "history":
                history_planted.append(entry(r, str(r.code), "history", period=PERIOD))
            history_planted += [entry(r, c, "history", also_of=r.code, period=PERIOD) for c in r.also_history]
            history_planted += [entry(r, c, "history", also_of=r.code, period=LAST_RELEASED,
                                      row=r.history_rows[LAST_RELEASED]) for c in r.reports]
        branches[b] = {
            "file": branch_file(b),
            "rows_in_file": len(rows),
            "rows_rejected_total": sum(rej.values()),
            "rows_rejected": {c: rej[c] for c in INTAKE_CODES},
            "accepted_rows": len(acc),
            "accepted_total": sum(r.net_amount for r in acc),
        }
        rejected.update(rej)
    for r in s.history_only:  # lineage: the October payment
        history_planted.append(entry(r, str(r.code), "history", period=LAST_RELEASED,
                                     row=r.history_rows[LAST_RELEASED]))
    reports = [e for e in history_planted if RUN_SEVERITY[e["code"]] == "REPORT"]

    alone, totals_alone = month_figures(files, RUN_CODES, False, [])
    for b in BRANCH_CODES:
        branches[b] |= alone[b]
    totals = {
        "rows_in_files": sum(v["rows_in_file"] for v in branches.values()),
        "rows_rejected_total": sum(rejected.values()),
        "rows_rejected": dict(rejected),
        "accepted_rows": sum(v["accepted_rows"] for v in branches.values()),
        "accepted_total": sum(v["accepted_total"] for v in branches.values()),
        **totals_alone,
    }
    with_branches, with_totals = month_figures(files, RUN_CODES + HISTORY_CODES, True, reports)

    history = []
    originals = [r for b in BRANCH_CODES for r in files[b] if r.stage != "intake" and r.history is not None]
    originals += s.history_only
    for period in HISTORY_PERIODS:
        found = Counter(c for r in originals for c in r.history_findings.get(period, []))
        assert all(RUN_SEVERITY[c] == "WARN" for c in found), found  # every row of a history month is paid
        rows = [h for b in BRANCH_CODES for h in s.history[period][b]]
        history.append({
            "period": period,
            "deaths": HISTORY_DEATHS,
            "rows": len(rows),
            "total": sum(r.net_amount for r in rows),
            "findings": dict(sorted(found.items())),
            "held_count": 0,
            "blocked_count": 0,
            "payable_count": len(rows),
            "payable_total": sum(r.net_amount for r in rows),
            "payable_by_bank": by_bank(rows),
            "branches": {b: {"file": history_file(period, b), "rows": len(s.history[period][b]),
                             "total": sum(r.net_amount for r in s.history[period][b])} for b in BRANCH_CODES},
        })
    return {
        "branches": branches,
        "totals": totals,
        "planted": planted,
        "with_history": {
            "history": history,
            "totals": with_totals,
            "branches": with_branches,
            "planted": history_planted,
            "not_planted": NOT_PLANTED,
        },
    }


def declared(rows: list[Row]) -> tuple[int, int]:
    return len(rows), sum(r.net_amount for r in rows)


def month_plan(files: dict[str, list[Row]], file_of: Any, mistyped: str | None) -> dict[str, Any]:
    """One month's submissions (`mistyped`'s first with a wrong declared total), approvals and run."""
    subs = []
    for b in BRANCH_CODES:
        count, total = declared(files[b])
        entry = {"branch": b, "file": file_of(b), "user": f"clerk-{b.lower()}",
                 "declared_count": count, "declared_total": total}
        if b == mistyped:
            subs.append({**entry, "declared_total": total + 1_000_000, "expect": "rejected",
                         "note": "clerk mistyped the total on the cover note"})
        subs.append({**entry, "expect": "accepted"})
    approvals = {b: [f"head-{b.lower()}", f"prov-{PROVINCE_OF[b].lower()}"] for b in BRANCH_CODES}
    return {"submissions": subs, "submission_approvals": approvals,
            "run": {"created_by": "fin-1", "approvers": ["fin-2", "fin-3"], "released_by": "fin-1"}}


def make_plan(s: Sample) -> dict[str, Any]:
    history = [{"period": p, "deaths": HISTORY_DEATHS,
                **month_plan(s.history[p], lambda b, p=p: history_file(p, b), None)} for p in HISTORY_PERIODS]
    return {
        "period": PERIOD,
        "country": COUNTRY,
        "currency": CURRENCY,
        "deaths": "deaths.csv",
        "reference_loaded_by": ADMIN,
        **month_plan(s.files, branch_file, "B07"),
        "history": history,
        "supplementary": supplementary_plan(s),
    }


CLEARED = ("B07", "IDENTITY_MISMATCH")  # the birth date with day and month swapped: a clerk's typo


def supplementary_plan(s: Sample) -> dict[str, Any]:
    """After November's release the finance lead clears one HOLD and it is paid in a supplementary run."""
    branch, code = CLEARED
    row = next(r for r in s.files[branch] if r.code == code and r.stage == "run")
    return {
        "clear": [{"branch": branch, "pension_id": row.pension_id, "user": "lead-1",
                   "justification": "Birth date typed day-first by the branch; the registry record and the "
                                    "payee's identity card agree (checked by phone with the branch head)."}],
        "created_by": "fin-2", "approvers": ["fin-1", "fin-3"], "released_by": "fin-2",
        "payable_count": 1, "payable_total": row.net_amount,
    }


# --------------------------------------------------------------------------- README


def fmt(n: int) -> str:
    return f"{n:,}"


def _where(ps: list[dict[str, Any]]) -> str:
    def one(p: dict[str, Any]) -> str:
        at = f"{p['branch']}: {p['pension_id']} ({p['row']}"
        if p.get("period") not in (None, PERIOD):
            at += f" of {p['period']}"
        return at + (f", also {p['also_of']})" if p["also_of"] else ")")
    return ", ".join(one(p) for p in ps)


def _figures(t: dict[str, Any], lines: list[str], header: bool = True) -> None:
    if header:
        lines += ["| figure | value |", "| --- | --- |"]
    lines += [
        f"| run findings | {fmt(t['findings_total'])} |",
        f"| held (HOLD) | {fmt(t['held_count'])} rows, {fmt(t['held_total'])} IRR |",
        f"| blocked (BLOCK) | {fmt(t['blocked_count'])} rows, {fmt(t['blocked_total'])} IRR |",
        f"| paid with a warning (WARN) | {fmt(t['warned_count'])} rows |",
    ]
    if "reported_count" in t:
        lines.append(f"| reported, no row of the run (REPORT) | {fmt(t['reported_count'])} |")
    lines += [
        f"| payable | {fmt(t['payable_count'])} rows, {fmt(t['payable_total'])} IRR |",
        "",
        "Payable per bank (first 3 digits of the SHEBA BBAN):",
        "",
        "| bank | rows | total (IRR) |",
        "| --- | --- | --- |",
    ]
    for bank, v in t["payable_by_bank"].items():
        lines.append(f"| {bank} | {fmt(v['count'])} | {fmt(v['total'])} |")


def make_readme(exp: dict) -> str:
    t, wh = exp["totals"], exp["with_history"]
    by_code: dict[tuple[str, str], list[dict]] = {}
    for p in exp["planted"]:
        if p["stage"]:
            by_code.setdefault((p["stage"], p["code"]), []).append(p)
    sep, octo = HISTORY_PERIODS
    lines = [
        "# Sample month: IR, IRR, period 2026-11, and the two months released before it",
        "",
        "Generated by `make_sample.py` (deterministic, seed 20261121); do not edit by hand. Regenerate with",
        "",
        "    .venv/bin/python data/sample/make_sample.py",
        "",
        "which rewrites every file here byte for byte and runs a self-check.",
        "",
        f"The demo (`pension demo`) first runs {sep} and {octo} through the monthly flow (submit, approve, run, "
        "approve, release), then November; November's run then shows every run check at least once "
        f"({', '.join(NOT_PLANTED)} aside: {', '.join(NOT_PLANTED.values())}).",
        "",
        "## Files",
        "",
        "| file | what |",
        "| --- | --- |",
        "| `branches.csv` | 8 branches B01..B08 in provinces THR, ISF, KHR |",
        "| `users.csv` | clerks and heads per branch, a provincial approver per province, HQ finance, "
        f"finance lead, auditor, admin (`{ADMIN}` loads the reference extracts) |",
        "| `registry.csv` | civil registry extract: every genuine payee except the NOT_IN_REGISTRY ones, the "
        "deceased insured persons survivors draw from, plus 500 unrelated people |",
        "| `deaths.csv` | the deaths extract in force for November: 40 unrelated deceased, every insured person "
        "a survivor draws from (died years ago, never a payee), and the planted deaths |",
        "| `accounts.csv` | account registry (SHEBA, bank, holder, dedicated, status) |",
        "| `branches/B01.csv` .. `B08` | November's branch payee lists; `B03.csv` is UTF-8 with BOM, B05 is "
        "`B05.parquet` (amounts int64, the rest strings, survivor fields null where not a survivor), B06 is "
        "`B06.xlsx` from the Iranian legacy branch system (sheet `فهرست مستمری بگیران`, Persian headers in "
        "its own column order, Persian benefit labels, shares as numbers; its branch is registered with "
        "system `ir-legacy`), the others UTF-8 without BOM. Every list has the survivor columns "
        "`insured_id` (the deceased insured person's national id) and `share_percent` (legacy: "
        "`کد ملی بیمه شده`, `سهم (درصد)`), filled on every SURVIVOR / SURVIVOR_CHILD row (a spouse 50, a "
        "child 25) and empty on every other row |",
        f"| `history/{sep}/B01.csv` .. `B08.csv`, `history/{octo}/...` | the branch lists of the two months "
        "released before November: plain UTF-8 CSV with the engine's standard headers (survivor columns "
        "included) |",
        f"| `{HISTORY_DEATHS}` | the deaths extract in force when {sep} and {octo} were run: `deaths.csv` "
        "without the deaths reported late and those after October |",
        "| `plan.json` | the submissions the demo makes (November at the top level, B07 twice: first with a "
        "wrong declared total, rejected; `history`: the two earlier months, each with its deaths extract), "
        "approvals, the runs' makers and checkers |",
        "| `expected.json` | `totals`, `branches`, `planted`: November run alone on a fresh store (as the "
        "integration tests run it); `with_history`: November after the history months (as the demo runs "
        "it), the history months' own figures, and the findings only the history gives |",
        "",
        "Row numbers below are spreadsheet rows, as the engine reports them: the header is row 1, the first "
        "payee is row 2. A row number `of 2026-10` is a row of that month's file (a REPORT finding names the "
        "last payment it is about).",
        "",
        "## Planted cases (November)",
        "",
        "Each planted row triggers exactly one finding; everything else about it is clean. Where a planted "
        "row necessarily triggers a second finding, that finding is listed under its own code with "
        "`also` and the row's planted code (the payee who uses another payee's account is also not the "
        "account's holder).",
        "",
        "| code | stage | severity | count | branch: pension id (row) |",
        "| --- | --- | --- | --- | --- |",
    ]
    order = [("intake", c) for c in INTAKE_CODES] + [("run", c) for c in RUN_CODES] + [
        ("normalization", c) for c in NORMALIZATION_CASES
    ]
    for stage, code in order:
        ps = by_code[(stage, code)]
        sev = {"intake": "row rejected", "run": ps[0]["severity"], "normalization": "none"}[stage]
        lines.append(f"| {code} | {stage} | {sev} | {len(ps)} | {_where(ps)} |")
    originals = [p for p in exp["planted"] if not p["stage"]]
    lines += [
        "",
        "Intake rejections are row-level: the submission is still accepted without those rows. The first "
        "occurrence of each DUPLICATE_ROW copy ("
        + ", ".join(f"{p['branch']}: {p['pension_id']} ({p['row']})" for p in originals)
        + ") is accepted and paid. Normalization cases must produce no finding at all. DIED_IN_PERIOD, "
        "NAME_VARIANT and DOUBLE_BENEFIT are WARN: the row is paid.",
        "",
        "## November alone",
        "",
        "What a run of November on a fresh store reports (no released period before it, so the history "
        "checks find nothing):",
        "",
        "| figure | value |",
        "| --- | --- |",
        f"| rows in files (B07 counted once) | {fmt(t['rows_in_files'])} |",
        f"| rows rejected at intake | {fmt(t['rows_rejected_total'])} |",
        f"| accepted rows | {fmt(t['accepted_rows'])} |",
        f"| accepted total (IRR) | {fmt(t['accepted_total'])} |",
    ]
    _figures(t, lines, header=False)
    lines += [
        "",
        "Per branch:",
        "",
        "| branch | rows in file | rejected | accepted | accepted total | held | blocked | payable "
        "| payable total |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for b, v in exp["branches"].items():
        lines.append(
            f"| {b} | {v['rows_in_file']} | {v['rows_rejected_total']} | {v['accepted_rows']} "
            f"| {fmt(v['accepted_total'])} | {v['held_count']} | {v['blocked_count']} "
            f"| {v['payable_count']} | {fmt(v['payable_total'])} |"
        )
    lines += [
        "",
        "Submissions (plan.json): every branch once, B07 twice; the first B07 submission declares a total "
        "1,000,000 IRR too high and must be rejected by the quality gate; the second is accepted. The "
        "figures above count the accepted B07 version only.",
        "",
        "## The history months",
        "",
        f"{sep} and {octo} list November's accepted rows (intake rejections excluded) in November's order, "
        "each in its clean form: the registry's name and birth date, the canonical national id and account, "
        "the payee's own open dedicated account, the same amounts. Every row of both months is paid. The "
        "exceptions:",
        "",
        f"| case | {sep} | {octo} | November |",
        "| --- | --- | --- | --- |",
        "| NEW_PAYEE rows; the NOT_IN_REGISTRY rows; the DECEASED rows of B05 and B08; the second row of each "
        "DUPLICATE_ACROSS_BRANCHES, DUPLICATE_IN_BRANCH and DUPLICATE_PENSION_ID pair; the second 'spouse' of "
        "SURVIVOR_SHARES_OVER_100 | absent | absent | listed (NEW_PAYEE) |",
        "| ACCOUNT_CHANGED; the ACCOUNT_UNKNOWN, ACCOUNT_CLOSED, ACCOUNT_NOT_OWNED, ACCOUNT_NOT_DEDICATED rows; "
        "the non-holder of ACCOUNT_SHARED_ACROSS_PAYEES | own account A | A | another account (ACCOUNT_CHANGED) |",
        "| ACCOUNT_CHANGED_REPEATEDLY | own account A | own account B | own account C |",
        "| AMOUNT_JUMP | net X | net X | net more than 1.2 X |",
        "| DOUBLE_BENEFIT_OVER_CAP: the survivor pension | combined gross within the cap | within | over |",
        "| DECEASED in B04 (died 2026-08-14, reported late) | paid | paid | blocked (OVERPAID_AFTER_DEATH "
        "reported) |",
        "| died 2026-09-20, reported late (B02) | paid | paid | not listed (OVERPAID_AFTER_DEATH reported) |",
        "| PAYEE_VANISHED (B06) | paid | paid | not listed, no death recorded |",
        "",
        f"The deaths extract in force for both history months is `{HISTORY_DEATHS}`; the demo loads it "
        f"(as `{ADMIN}`) before {sep} and `deaths.csv` before November. The double-benefit caps of IR "
        "(data/reference/double_benefits.csv) are 600,000,000 IRR, so that a pair over the cap is possible "
        "with the sample's amounts.",
        "",
        "| period | rows | total (IRR) | payable | payable total (IRR) | findings |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for h in wh["history"]:
        found = ", ".join(f"{c} {n}" for c, n in h["findings"].items()) or "none"
        lines.append(f"| {h['period']} | {fmt(h['rows'])} | {fmt(h['total'])} | {fmt(h['payable_count'])} "
                     f"| {fmt(h['payable_total'])} | {found} |")
    wt = wh["totals"]
    hist_by_code: dict[str, list[dict]] = {}
    for p in wh["planted"]:
        hist_by_code.setdefault(p["code"], []).append(p)
    lines += [
        "",
        "## What the demo must report (November after the history months)",
        "",
        "Every finding of November alone, and these, which only the history months give:",
        "",
        "| code | severity | count | branch: pension id (row) |",
        "| --- | --- | --- | --- |",
    ]
    for code in HISTORY_CODES:
        ps = hist_by_code[code]
        lines.append(f"| {code} | {RUN_SEVERITY[code]} | {len(ps)} | {_where(ps)} |")
    lines += ["", "Findings by code:", "", "| code | severity | November alone | after the history months |",
              "| --- | --- | --- | --- |"]
    for code in RUN_CODES + HISTORY_CODES:
        lines.append(f"| {code} | {RUN_SEVERITY[code]} | {t['findings'].get(code, 0)} | {wt['findings'][code]} |")
    lines.append("")
    _figures(wt, lines)
    lines += [
        "",
        "Per branch (REPORT findings count in the branch of the payment they name):",
        "",
        "| branch | held | blocked | payable | payable total |",
        "| --- | --- | --- | --- | --- |",
    ]
    for b, v in wh["branches"].items():
        lines.append(f"| {b} | {v['held_count']} | {v['blocked_count']} | {v['payable_count']} "
                     f"| {fmt(v['payable_total'])} |")
    lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def history_deaths(w: World) -> dict[str, str]:
    """The deaths extract in force for the history months: no late reports, nothing after October."""
    return {nid: d for nid, d in w.deaths.items() if nid not in w.late_deaths and d <= HISTORY_DEATHS_CUTOFF}


def main() -> None:
    s = build()
    w, files = s.world, s.files
    for old in [*(HERE / "branches").glob("B*.*"), *(HERE / "history").glob("**/*.csv")]:
        if old.suffix in (".csv", ".parquet", ".xlsx"):
            old.unlink()

    write_csv(HERE / "branches.csv", ["branch_code", "name", "province_code", "system"],
              [[*b, BRANCH_SYSTEM.get(b[0], "")] for b in BRANCHES])
    write_csv(HERE / "users.csv", ["user_id", "name", "role", "branch_code", "province_code"],
              [list(u.values()) for u in s.users])
    write_csv(HERE / "registry.csv", ["national_id", "full_name", "birth_date"],
              [[nid, *w.registry[nid]] for nid in sorted(w.registry)])
    write_csv(HERE / "deaths.csv", ["national_id", "date_of_death"],
              [[nid, w.deaths[nid]] for nid in sorted(w.deaths)])
    before = history_deaths(w)
    write_csv(HERE / HISTORY_DEATHS, ["national_id", "date_of_death"], [[nid, before[nid]] for nid in sorted(before)])
    write_csv(HERE / "accounts.csv", ["account_code", "bank_code", "holder_national_id", "dedicated", "status"],
              [[code, *w.accounts[code]] for code in sorted(w.accounts)])
    for b in BRANCH_CODES:
        path = HERE / branch_file(b)
        if b in PARQUET_BRANCHES:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_parquet(path, files[b])
        elif b in XLSX_BRANCHES:
            write_xlsx(path, files[b])
        else:
            write_csv(path, FILE_COLUMNS, [r.values() for r in files[b]], bom=b in BOM_BRANCHES)
        for period in HISTORY_PERIODS:
            write_csv(HERE / history_file(period, b), FILE_COLUMNS, [r.values() for r in s.history[period][b]])

    exp = expected_figures(s)
    plan = make_plan(s)
    expected = {
        "period": PERIOD,
        "country": COUNTRY,
        "currency": CURRENCY,
        "submissions": [
            {"branch": s["branch"], "declared_count": s["declared_count"],
             "declared_total": s["declared_total"], "expect": s["expect"]}
            for s in plan["submissions"]
        ],
        **exp,
    }
    write_json(HERE / "plan.json", plan)
    write_json(HERE / "expected.json", expected)
    (HERE / "README.md").write_text(make_readme(exp), encoding="utf-8")
    self_check()
    t, wt = expected["totals"], expected["with_history"]["totals"]
    print(f"sample month {PERIOD}: {t['rows_in_files']} rows, {t['accepted_rows']} accepted, "
          f"{t['payable_count']} payable ({t['payable_total']:,} IRR); after the history months "
          + ", ".join(f"{h['period']} ({h['payable_count']} paid)" for h in expected["with_history"]["history"])
          + f": {wt['payable_count']} payable ({wt['payable_total']:,} IRR), {wt['findings_total']} findings; "
          "self-check passed")


# --------------------------------------------------------------------------- self-check


def read_branch(rel: str, bom: bool | None = None) -> list[dict]:
    """A branch list as dicts of FILE_COLUMNS: amounts int, everything else str ('' where empty)."""
    path = HERE / rel
    if path.suffix == ".parquet":
        table = pq.read_table(path)
        assert table.column_names == FILE_COLUMNS, table.column_names
        for c in FILE_COLUMNS:
            want = pa.int64() if c in AMOUNT_COLUMNS else pa.string()
            assert table.schema.field(c).type == want, (rel, c)
        rows = table.to_pylist()
        for r in rows:
            for c in SURVIVOR_COLUMNS:
                assert r[c] != "", (rel, c)  # a survivor field a row does not have is null
                r[c] = r[c] or ""
        return rows
    if path.suffix == ".xlsx":
        import openpyxl

        wb = openpyxl.load_workbook(path, read_only=True)
        sheet = wb[XLSX_SHEET]
        values = [["" if v is None else v for v in row] for row in sheet.iter_rows(values_only=True)]
        wb.close()
        field_of = {h: f for f, h in LEGACY_HEADERS.items()}
        assert [field_of[h] for h in values[0]] == list(LEGACY_HEADERS), rel
        label_of = {v: k for k, v in LEGACY_LABELS.items()}
        out = []
        for row in values[1:]:
            rec = {field_of[h]: v for h, v in zip(values[0], row, strict=True)}
            rec["benefit_type"] = label_of.get(rec["benefit_type"], rec["benefit_type"])
            assert rec["share_percent"] == "" or isinstance(rec["share_percent"], int), rel
            out.append({c: rec[c] if c in AMOUNT_COLUMNS else str(rec[c]) for c in FILE_COLUMNS})
        return out
    raw = path.read_bytes()
    assert b"\r" not in raw, rel
    has_bom = raw.startswith(b"\xef\xbb\xbf")
    assert has_bom == (path.stem in BOM_BRANCHES if bom is None else bom), rel
    text = raw.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert list(rows[0].keys()) == FILE_COLUMNS, rel
    for r in rows:
        for c in AMOUNT_COLUMNS:
            r[c] = int(r[c])
    return rows


def check_amounts(r: dict, where: object) -> None:
    assert r["net_amount"] == r["gross_amount"] - r["deduction_amount"] > 0, where
    assert r["gross_amount"] % 1000 == 0 and r["deduction_amount"] % 1000 == 0, where
    low = MIN_CHILD_PENSION if r["benefit_type"] == "SURVIVOR_CHILD" else MIN_PENSION
    assert low <= r["gross_amount"] <= MAX_PENSION, where
    assert r["benefit_type"] in ALL_BENEFITS, where


def self_check() -> None:
    plan = json.loads((HERE / "plan.json").read_text(encoding="utf-8"))
    exp = json.loads((HERE / "expected.json").read_text(encoding="utf-8"))
    planted = {(p["branch"], p["row"]): p["code"] for p in exp["planted"] if p["stage"] and not p["also_of"]}
    wh = exp["with_history"]

    def read(name: str) -> list[dict]:
        raw = (HERE / name).read_bytes()
        assert not raw.startswith(b"\xef\xbb\xbf") and b"\r" not in raw, name
        return list(csv.DictReader(io.StringIO(raw.decode("utf-8"), newline="")))

    registry = read("registry.csv")
    deaths = read("deaths.csv")
    deaths_before = read(HISTORY_DEATHS)
    accounts = read("accounts.csv")
    assert len(read("branches.csv")) == 8 and len(read("users.csv")) == 8 * 2 + 3 + 6
    assert any(u["user_id"] == ADMIN and u["role"] == "admin" for u in read("users.csv"))
    reg_ids = [r["national_id"] for r in registry]
    assert len(reg_ids) == len(set(reg_ids)) and all(national_id_is_valid(n) for n in reg_ids)
    assert all(national_id_is_valid(r["national_id"]) for r in deaths)
    assert len({r["national_id"] for r in deaths}) == len(deaths)
    codes = [a["account_code"] for a in accounts]
    assert len(codes) == len(set(codes)) and all(sheba_is_valid(c) for c in codes)
    assert all(a["bank_code"] == a["account_code"][4:7] for a in accounts)
    assert all(national_id_is_valid(a["holder_national_id"]) for a in accounts)
    for r in registry:
        name = r["full_name"]
        assert name == unicodedata.normalize("NFKC", name) and "  " not in name
        assert not set(name) & {ARABIC_YEH, ARABIC_KAF, ZWNJ}, name
        dt.date.fromisoformat(r["birth_date"])
    reg = {r["national_id"]: (r["full_name"], r["birth_date"]) for r in registry}
    died = {r["national_id"]: r["date_of_death"] for r in deaths}
    died_before = {r["national_id"]: r["date_of_death"] for r in deaths_before}
    acc = {a["account_code"]: a for a in accounts}

    # the history months' deaths extract: deaths.csv without the late reports and later deaths
    late = {p["national_id"] for p in wh["planted"] if p["code"] == "OVERPAID_AFTER_DEATH"}
    assert late and all(nid in died for nid in late)
    assert died_before == {n: d for n, d in died.items() if n not in late and d <= HISTORY_DEATHS_CUTOFF}

    # November
    seen_pids: Counter = Counter()
    payees: set[str] = set()
    insured_shares: dict[str, list[int]] = {}
    november: dict[tuple[str, str], dict] = {}  # accepted rows by (pension id, national id)
    for b in BRANCH_CODES:
        rows = read_branch(branch_file(b))
        for i, r in enumerate(rows, start=2):
            code = planted.get((b, i))
            nid = compact_national_id(r["national_id"])
            if code != "INVALID_NATIONAL_ID":
                assert national_id_is_valid(nid), (b, i, r)
            if code != "INVALID_ACCOUNT_CODE":
                assert sheba_is_valid(compact_account(r["account_code"])), (b, i, r)
            if code not in ("DUPLICATE_ROW", "DUPLICATE_PENSION_ID"):
                seen_pids[r["pension_id"]] += 1
            assert len(r["pension_id"]) == 8 and r["pension_id"].isdigit()
            survivor = r["benefit_type"] in SURVIVOR_BENEFITS or r["benefit_type"] == "WIDOW"
            assert bool(r["insured_id"]) == bool(r["share_percent"]) == survivor, (b, i, r)
            if code not in INTAKE_CODES:
                check_amounts(r, (b, i))
                payees.add(nid)
                november[(r["pension_id"], nid)] = {**r, "branch": b, "row": i}
                if survivor:
                    insured_shares.setdefault(r["insured_id"], []).append(int(r["share_percent"]))
        count, total = len(rows), sum(r["net_amount"] for r in rows)
        subs = [s for s in plan["submissions"] if s["branch"] == b]
        assert all(s["declared_count"] == count for s in subs), b
        for s in subs:
            want = total if s["expect"] == "accepted" else total + 1_000_000
            assert s["declared_total"] == want, (b, s)
        assert exp["branches"][b]["rows_in_file"] == count
    assert max(seen_pids.values()) == 1, "pension ids must be unique apart from the planted repeats"
    over = {i: sum(s) for i, s in insured_shares.items() if sum(s) > 100}
    assert list(over.values()) == [150], over  # exactly the planted SURVIVOR_SHARES_OVER_100 group
    for nid in insured_shares:  # deceased insured persons: registered, dead before 2026, never paid
        assert nid in reg and died[nid] < "2025-01-01" and died_before[nid] == died[nid] and nid not in payees

    # the history months: every row clean and paid
    months: dict[str, dict[tuple[str, str], dict]] = {}
    for h, month in zip(wh["history"], plan["history"], strict=True):
        period = h["period"]
        assert month["period"] == period and month["deaths"] == HISTORY_DEATHS
        end = f"{period}-{31 if period.endswith('10') else 30}"
        rows_of: dict[tuple[str, str], dict] = {}
        shares: dict[str, int] = {}
        by_person: dict[str, list[dict]] = {}
        holders: dict[str, set[str]] = {}
        for b in BRANCH_CODES:
            rel = history_file(period, b)
            rows = read_branch(rel, bom=False)
            for i, r in enumerate(rows, start=2):
                nid = r["national_id"]
                assert national_id_is_valid(nid) and reg[nid] == (r["full_name"], r["birth_date"]), (rel, i)
                a = acc[r["account_code"]]
                assert (a["holder_national_id"], a["dedicated"], a["status"]) == (nid, "true", "open"), (rel, i)
                assert died_before.get(nid, "9999") > end, (rel, i)
                check_amounts(r, (rel, i))
                survivor = r["benefit_type"] in SURVIVOR_BENEFITS
                assert bool(r["insured_id"]) == bool(r["share_percent"]) == survivor, (rel, i)
                if survivor:
                    shares[r["insured_id"]] = shares.get(r["insured_id"], 0) + int(r["share_percent"])
                key = (r["pension_id"], nid)
                assert key not in rows_of, (rel, i)
                rows_of[key] = {**r, "branch": b, "row": i}
                by_person.setdefault(nid, []).append(r)
                holders.setdefault(r["account_code"], set()).add(nid)
            subs = [s for s in month["submissions"] if s["branch"] == b]
            assert [(s["file"], s["declared_count"], s["declared_total"], s["expect"]) for s in subs] == [
                (rel, len(rows), sum(r["net_amount"] for r in rows), "accepted")]
            assert h["branches"][b] == {"file": rel, "rows": len(rows), "total": sum(r["net_amount"] for r in rows)}
        assert max(shares.values()) <= 100, period
        assert all(len(n) == 1 for n in holders.values()), period
        assert len({p for p, _ in rows_of}) == len(rows_of), period
        doubles = 0
        for nid, rs in by_person.items():  # a person twice: only a permitted pair within the cap
            if len(rs) > 1:
                assert len(rs) == 2 and {r["benefit_type"] for r in rs} == {"OLD_AGE", "SURVIVOR"}, nid
                assert sum(r["gross_amount"] for r in rs) <= DOUBLE_BENEFIT_CAP, nid
                doubles += 2
        assert h["findings"].get("DOUBLE_BENEFIT", 0) == doubles
        assert (h["rows"], h["payable_count"]) == (len(rows_of), len(rows_of))
        assert h["total"] == h["payable_total"] == sum(r["net_amount"] for r in rows_of.values())
        months[period] = rows_of

    # September and October differ only in the account of the ACCOUNT_CHANGED_REPEATEDLY row
    sep, octo = (months[p] for p in HISTORY_PERIODS)
    assert list(sep) == list(octo)
    differs = [k for k in sep if sep[k] != octo[k]]
    assert len(differs) == 1 and {c for c in FILE_COLUMNS if sep[differs[0]][c] != octo[differs[0]][c]} == {
        "account_code"}
    assert wh["history"][1]["findings"].get("ACCOUNT_CHANGED") == 1

    # November against October, from the files: what the history checks must find
    def at(rows: dict, keys: set) -> set[tuple[str, int]]:
        return {(rows[k]["branch"], rows[k]["row"]) for k in keys}

    def found(code: str, period: str = PERIOD) -> set[tuple[str, int]]:
        return {(p["branch"], p["row"]) for p in wh["planted"] if p["code"] == code and p["period"] == period}

    new = set(november) - set(octo)
    assert at(november, new) == found("NEW_PAYEE")
    gone = set(octo) - set(november)
    assert at(octo, {k for k in gone if k[1] not in died}) == found("PAYEE_VANISHED", LAST_RELEASED)
    overpaid = {k for k in octo if died.get(k[1], "9999")[:7] < LAST_RELEASED}  # paid after the month of death
    assert at(octo, overpaid) == found("OVERPAID_AFTER_DEATH", LAST_RELEASED)
    both = set(november) & set(octo)
    moved = {k for k in both if compact_account(november[k]["account_code"]) != octo[k]["account_code"]}
    assert at(november, moved) == found("ACCOUNT_CHANGED") | found("ACCOUNT_CHANGED_REPEATEDLY")
    assert at(november, {k for k in moved if sep[k]["account_code"] != octo[k]["account_code"]}) == \
        found("ACCOUNT_CHANGED_REPEATEDLY")
    jump = {k for k in both
            if november[k]["net_amount"] * 100 > octo[k]["net_amount"] * (100 + AMOUNT_JUMP_PERCENT)}
    assert at(november, jump) == found("AMOUNT_JUMP")

    # the figures add up, and every run check fires after the history months
    for t in (exp["totals"], wh["totals"]):
        assert sum(v["total"] for v in t["payable_by_bank"].values()) == t["payable_total"]
        assert sum(v["count"] for v in t["payable_by_bank"].values()) == t["payable_count"]
        assert t["payable_count"] == exp["totals"]["accepted_rows"] - t["held_count"] - t["blocked_count"]
        assert t["findings_total"] == sum(t["findings"].values()) == sum(t["findings_by_severity"].values())
    t = exp["totals"]
    assert t["accepted_rows"] == t["rows_in_files"] - t["rows_rejected_total"]
    assert t["findings_total"] == len([p for p in exp["planted"] if p["stage"] == "run"])
    assert wh["totals"]["findings_total"] == t["findings_total"] + len(wh["planted"])
    missing = [c for c in RUN_SEVERITY if c not in NOT_PLANTED and not wh["totals"]["findings"].get(c)]
    assert not missing, f"run checks that do not fire after the history months: {missing}"
    assert all(not t["findings"].get(c) for c in HISTORY_CODES)


if __name__ == "__main__":
    main()
