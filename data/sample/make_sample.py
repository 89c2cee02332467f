"""Generate the sample month (IR, IRR, period 2026-11) that the demo runs on, with planted cases.

Deterministic: one random.Random(20261121) drives everything; running it twice gives byte-identical
files. Writes next to itself. Run: `.venv/bin/python data/sample/make_sample.py`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
import re
import unicodedata
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

SEED = 20261121
PERIOD = "2026-11"
PERIOD_START = dt.date(2026, 11, 1)
HERE = Path(__file__).resolve().parent

COUNTRY = "IR"
CURRENCY = "IRR"
MIN_PENSION = 104_000_000
MAX_PENSION = 420_000_000

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
    "benefit_type": "نوع مستمری", "birth_date": "تاریخ تولد", "account_code": "شماره شبا",
    "gross_amount": "مبلغ ناخالص", "deduction_amount": "کسورات", "net_amount": "خالص پرداختی",
}
LEGACY_LABELS = {"OLD_AGE": "بازنشستگی", "DISABILITY": "از کار افتادگی", "SURVIVOR": "بازماندگان"}
XLSX_SHEET = "فهرست مستمری بگیران"

COLUMNS = [
    "pension_id", "national_id", "full_name", "birth_date", "benefit_type",
    "gross_amount", "deduction_amount", "net_amount", "account_code",
]
AMOUNT_COLUMNS = ("gross_amount", "deduction_amount", "net_amount")

BENEFIT_TYPES = [("OLD_AGE", 75), ("SURVIVOR", 20), ("DISABILITY", 5)]
BANKS = [("013", 50), ("017", 20), ("012", 15), ("054", 10), ("018", 5)]

INTAKE_CODES = [
    "INVALID_NATIONAL_ID", "AMOUNT_MISMATCH", "NON_POSITIVE_AMOUNT", "UNKNOWN_BENEFIT_TYPE",
    "INVALID_ACCOUNT_CODE", "DUPLICATE_ROW", "INVALID_DATE", "MISSING_VALUE",
]
RUN_SEVERITY = {
    "NOT_IN_REGISTRY": "HOLD",
    "IDENTITY_MISMATCH": "HOLD",
    "DECEASED": "BLOCK",
    "DIED_IN_PERIOD": "WARN",
    "ACCOUNT_UNKNOWN": "HOLD",
    "ACCOUNT_CLOSED": "HOLD",
    "ACCOUNT_NOT_OWNED": "HOLD",
    "ACCOUNT_NOT_DEDICATED": "HOLD",
    "DUPLICATE_ACROSS_BRANCHES": "HOLD",
}
RUN_CODES = list(RUN_SEVERITY)
NORMALIZATION_CASES = [
    "PERSIAN_DIGITS_ID", "ARABIC_INDIC_DIGITS_ID", "LEADING_ZERO_DROPPED", "ARABIC_YEH_KAF",
    "ZWNJ_IN_NAME", "SPACED_ACCOUNT_CODE", "DOUBLE_SPACE_IN_NAME",
]

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
    stage: str | None = None  # intake | run | normalization | None (clean)
    code: str | None = None
    note: str = ""
    row: int = 0  # row as a spreadsheet numbers it: the header is row 1, the first payee row 2

    def values(self) -> list[str | int]:
        return [getattr(self, c) for c in COLUMNS]

    @property
    def bank_code(self) -> str:
        return compact_account(self.account_code)[4:7]


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
    ) -> Person:
        rng = self.rng
        bt = benefit_type or self.pick_weighted(BENEFIT_TYPES)
        female_share = {"SURVIVOR": 0.85, "OLD_AGE": 0.25, "DISABILITY": 0.2, "NONE": 0.5}[bt]
        gender = "F" if rng.random() < female_share else "M"
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

    def row_for(self, branch: str, p: Person, account_code: str, pension_id: str | None = None) -> Row:
        gross, deduction = self.amounts()
        return Row(
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

    def clean_payee(self, branch: str, benefit_type: str | None = None, **person_kw) -> Row:
        """A payee who triggers nothing: registered, alive, own open dedicated account."""
        p = self.new_person(benefit_type, **person_kw)
        self.register(p)
        return self.row_for(branch, p, self.open_account(p.national_id))


# --------------------------------------------------------------------------- planted cases


def tag(row: Row, stage: str, code: str, note: str) -> Row:
    row.stage, row.code, row.note = stage, code, note
    return row


def plant(w: World) -> tuple[dict[str, list[Row]], list[tuple[Row, Row]]]:
    """Planted rows per branch, and (original, copy) pairs for exact duplicate rows."""
    rng = w.rng
    rows: dict[str, list[Row]] = {b: [] for b in BRANCH_CODES}
    dup_pairs: list[tuple[Row, Row]] = []

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
        copy = Row(**{**original.__dict__})
        tag(copy, "intake", "DUPLICATE_ROW", f"exact copy of pension {original.pension_id}")
        dup_pairs.append((original, copy))

    r = w.clean_payee("B07", "OLD_AGE", birth_date="1955-02-20")
    r.birth_date = "1955-02-30"
    add(tag(r, "intake", "INVALID_DATE", "birth_date 1955-02-30 (registry: 1955-02-20)"))

    r = w.clean_payee("B06")
    r.full_name = ""
    add(tag(r, "intake", "MISSING_VALUE", "empty full_name"))

    # ---- run checks: accepted rows with exactly one finding --------------------
    for branch in ("B02", "B05", "B08"):
        p = w.new_person()
        add(tag(w.row_for(branch, p, w.open_account(p.national_id)), "run", "NOT_IN_REGISTRY",
                "national id absent from the registry"))

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

    for branch, died in (("B04", "2026-08-14"), ("B05", "2025-12-02"), ("B08", "2019-03-30")):
        r = w.clean_payee(branch, "OLD_AGE")
        w.deaths[r.national_id] = died
        add(tag(r, "run", "DECEASED", f"died {died}"))
    r = w.clean_payee("B03", "OLD_AGE")
    w.deaths[r.national_id] = "2026-11-10"
    add(tag(r, "run", "DIED_IN_PERIOD", "died 2026-11-10; paid for November"))

    for branch in ("B01", "B06"):
        p = w.new_person()
        w.register(p)
        add(tag(w.row_for(branch, p, w.new_account_code(w.pick_weighted(BANKS))), "run",
                "ACCOUNT_UNKNOWN", "valid SHEBA, not in accounts.csv"))
    for branch in ("B02", "B07"):
        p = w.new_person()
        w.register(p)
        add(tag(w.row_for(branch, p, w.open_account(p.national_id, status="closed")), "run",
                "ACCOUNT_CLOSED", "own dedicated account, status closed"))
    not_owned_targets = []
    for branch in ("B03", "B08"):
        p = w.new_person()
        w.register(p)
        w.open_account(p.national_id)  # the payee's own account exists but is not the one on the row
        not_owned_targets.append(add(tag(w.row_for(branch, p, ""), "run", "ACCOUNT_NOT_OWNED", "")))
    for branch in ("B04", "B05"):
        p = w.new_person()
        w.register(p)
        add(tag(w.row_for(branch, p, w.open_account(p.national_id, dedicated=False)), "run",
                "ACCOUNT_NOT_DEDICATED", "own open account, dedicated=false"))

    for first_branch, second_branch in (("B01", "B04"), ("B02", "B07")):
        a = w.clean_payee(first_branch)
        b = Row(**{**a.__dict__})
        b.branch, b.pension_id = second_branch, w.new_pension_id()
        note = "same person also paid by {}"
        add(tag(a, "run", "DUPLICATE_ACROSS_BRANCHES", note.format(f"{second_branch} ({b.pension_id})")))
        add(tag(b, "run", "DUPLICATE_ACROSS_BRANCHES", note.format(f"{first_branch} ({a.pension_id})")))

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
            row.note = "account of an unrelated registry person (open, dedicated)"
        else:
            w.open_account(
                p.national_id,
                dedicated=rng.random() < 0.6,
                status="open" if rng.random() < 0.85 else "closed",
            )
    return rows, dup_pairs


# --------------------------------------------------------------------------- assembly


def build() -> tuple[World, dict[str, list[Row]], list[dict[str, str]]]:
    rng = random.Random(SEED)
    w = World(rng)
    users = make_users(w)
    planted, dup_pairs = plant(w)
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
    return w, files, users


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
    schema = pa.schema([
        (c, pa.int64() if c in AMOUNT_COLUMNS else pa.string()) for c in COLUMNS
    ])
    table = pa.table({c: [getattr(r, c) for r in rows] for c in COLUMNS}, schema=schema)
    pq.write_table(table, path, compression="snappy")


def write_xlsx(path: Path, rows: list[Row]) -> None:
    """As the legacy system exports: ids and dates as text, amounts as numbers, labels in Persian.
    Fixed document dates keep the file byte for byte reproducible."""
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
            if f in AMOUNT_COLUMNS and isinstance(v, str) and v.isascii() and v.lstrip("-").isdigit():
                v = int(v)
            out.append(None if v == "" else v)
        ws.append(out)
    fixed = datetime.datetime(2026, 11, 1)
    wb.properties.created = wb.properties.modified = fixed
    buf = io.BytesIO()
    wb.save(buf)
    out = io.BytesIO()  # the zip entries carry the time they were written: pin them too
    with zipfile.ZipFile(buf) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            info = zipfile.ZipInfo(item.filename, date_time=fixed.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            data = src.read(item.filename)
            if item.filename == "docProps/core.xml":  # openpyxl stamps 'modified' with the save time
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2026-11-01T00:00:00Z", data)
            dst.writestr(info, data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(out.getvalue())


def branch_file(b: str) -> str:
    if b in PARQUET_BRANCHES:
        return f"branches/{b}.parquet"
    return f"branches/{b}.xlsx" if b in XLSX_BRANCHES else f"branches/{b}.csv"


def write_json(path: Path, obj: object) -> None:
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------- expected figures


def expected_figures(files: dict[str, list[Row]]) -> dict:
    branches = {}
    rejected = Counter({c: 0 for c in INTAKE_CODES})
    findings = Counter({c: 0 for c in RUN_CODES})
    by_severity = Counter({"BLOCK": 0, "HOLD": 0, "WARN": 0})
    by_bank: dict[str, dict[str, int]] = {bank: {"count": 0, "total": 0} for bank, _ in sorted(BANKS)}
    tot = Counter()
    planted = []
    for b in BRANCH_CODES:
        rows = files[b]
        rej = Counter({c: 0 for c in INTAKE_CODES})
        fnd = Counter({c: 0 for c in RUN_CODES})
        acc = [r for r in rows if r.stage != "intake"]
        for r in rows:
            if r.stage == "intake":
                rej[r.code] += 1
            elif r.stage == "run":
                fnd[r.code] += 1
            if r.stage:
                planted.append({
                    "code": r.code, "stage": r.stage,
                    "severity": RUN_SEVERITY.get(r.code) if r.stage == "run"
                    else ("BLOCK" if r.stage == "intake" else None),
                    "branch": b, "row": r.row, "pension_id": r.pension_id,
                    "national_id": r.person.national_id, "note": r.note,
                })
            elif r.note:
                planted.append({
                    "code": None, "stage": None, "severity": None, "branch": b, "row": r.row,
                    "pension_id": r.pension_id, "national_id": r.person.national_id, "note": r.note,
                })
        payable = [r for r in acc if r.stage != "run" or RUN_SEVERITY[r.code] == "WARN"]
        held = [r for r in acc if r.stage == "run" and RUN_SEVERITY[r.code] == "HOLD"]
        blocked = [r for r in acc if r.stage == "run" and RUN_SEVERITY[r.code] == "BLOCK"]
        branches[b] = {
            "file": branch_file(b),
            "rows_in_file": len(rows),
            "rows_rejected_total": sum(rej.values()),
            "rows_rejected": dict(rej),
            "accepted_rows": len(acc),
            "accepted_total": sum(r.net_amount for r in acc),
            "findings": dict(fnd),
            "held_count": len(held),
            "blocked_count": len(blocked),
            "payable_count": len(payable),
            "payable_total": sum(r.net_amount for r in payable),
        }
        rejected.update(rej)
        findings.update(fnd)
        for r in acc:
            if r.stage == "run":
                by_severity[RUN_SEVERITY[r.code]] += 1
        for r in payable:
            by_bank[r.bank_code]["count"] += 1
            by_bank[r.bank_code]["total"] += r.net_amount
        for k in ("rows_in_file", "accepted_rows", "accepted_total", "held_count", "blocked_count",
                  "payable_count", "payable_total"):
            tot[k] += branches[b][k]
        tot["held_total"] += sum(r.net_amount for r in held)
        tot["blocked_total"] += sum(r.net_amount for r in blocked)
    totals = {
        "rows_in_files": tot["rows_in_file"],
        "rows_rejected_total": sum(rejected.values()),
        "rows_rejected": dict(rejected),
        "accepted_rows": tot["accepted_rows"],
        "accepted_total": tot["accepted_total"],
        "findings_total": sum(findings.values()),
        "findings": dict(findings),
        "findings_by_severity": dict(by_severity),
        "held_count": tot["held_count"],
        "held_total": tot["held_total"],
        "blocked_count": tot["blocked_count"],
        "blocked_total": tot["blocked_total"],
        "warned_count": by_severity["WARN"],
        "payable_count": tot["payable_count"],
        "payable_total": tot["payable_total"],
        "payable_by_bank": by_bank,
    }
    return {"branches": branches, "totals": totals, "planted": planted}


def declared(rows: list[Row]) -> tuple[int, int]:
    return len(rows), sum(r.net_amount for r in rows)


def make_plan(files: dict[str, list[Row]]) -> dict:
    subs = []
    for b in BRANCH_CODES:
        count, total = declared(files[b])
        entry = {"branch": b, "file": branch_file(b), "user": f"clerk-{b.lower()}",
                 "declared_count": count, "declared_total": total}
        if b == "B07":
            subs.append({**entry, "declared_total": total + 1_000_000, "expect": "rejected",
                         "note": "clerk mistyped the total on the cover note"})
        subs.append({**entry, "expect": "accepted"})
    approvals = {b: [f"head-{b.lower()}", f"prov-{PROVINCE_OF[b].lower()}"] for b in BRANCH_CODES}
    return {
        "period": PERIOD,
        "country": COUNTRY,
        "currency": CURRENCY,
        "submissions": subs,
        "submission_approvals": approvals,
        "run": {"created_by": "fin-1", "approvers": ["fin-2", "fin-3"], "released_by": "fin-1"},
    }


# --------------------------------------------------------------------------- README


def fmt(n: int) -> str:
    return f"{n:,}"


def make_readme(exp: dict) -> str:
    t = exp["totals"]
    by_code: dict[tuple[str, str], list[dict]] = {}
    for p in exp["planted"]:
        if p["stage"]:
            by_code.setdefault((p["stage"], p["code"]), []).append(p)
    lines = [
        "# Sample month: IR, IRR, period 2026-11",
        "",
        "Generated by `make_sample.py` (deterministic, seed 20261121); do not edit by hand. Regenerate with",
        "",
        "    .venv/bin/python data/sample/make_sample.py",
        "",
        "which rewrites every file here byte for byte and runs a self-check.",
        "",
        "## Files",
        "",
        "| file | what |",
        "| --- | --- |",
        "| `branches.csv` | 8 branches B01..B08 in provinces THR, ISF, KHR |",
        "| `users.csv` | clerks and heads per branch, a provincial approver per province, HQ finance, "
        "finance lead, auditor, admin |",
        "| `registry.csv` | civil registry extract: every genuine payee except the NOT_IN_REGISTRY ones, "
        "plus 500 unrelated people |",
        "| `deaths.csv` | 40 unrelated deceased (all in the registry) plus the planted deaths |",
        "| `accounts.csv` | account registry (SHEBA, bank, holder, dedicated, status) |",
        "| `branches/B01.csv` .. `B08` | the branch payee lists; `B03.csv` is UTF-8 with BOM, B05 is "
        "`B05.parquet` (amounts int64, the rest strings), B06 is `B06.xlsx` from the Iranian legacy "
        "branch system (sheet `فهرست مستمری بگیران`, Persian headers in its own column order, Persian "
        "benefit labels; its branch is registered with system `ir-legacy`), the others UTF-8 "
        "without BOM |",
        "| `plan.json` | the submissions the demo makes (B07 twice: first with a wrong declared total, "
        "rejected), approvals, the run's makers and checkers |",
        "| `expected.json` | the figures the demo must report, and every planted row "
        "(branch, row, pension id) |",
        "",
        "Row numbers below are spreadsheet rows, as the engine reports them: the header is row 1, the first payee is row 2.",
        "",
        "## Planted cases",
        "",
        "Each planted row triggers exactly one finding; everything else about it is clean.",
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
        where = ", ".join(f"{p['branch']}: {p['pension_id']} ({p['row']})" for p in ps)
        lines.append(f"| {code} | {stage} | {sev} | {len(ps)} | {where} |")
    originals = [p for p in exp["planted"] if not p["stage"]]
    lines += [
        "",
        "Intake rejections are row-level: the submission is still accepted without those rows. The first "
        "occurrence of each DUPLICATE_ROW copy ("
        + ", ".join(f"{p['branch']}: {p['pension_id']} ({p['row']})" for p in originals)
        + ") is accepted and paid. Normalization cases must produce no finding at all. DIED_IN_PERIOD is "
        "WARN: the row is paid.",
        "",
        "## What the demo must report",
        "",
        "| figure | value |",
        "| --- | --- |",
        f"| rows in files (B07 counted once) | {fmt(t['rows_in_files'])} |",
        f"| rows rejected at intake | {fmt(t['rows_rejected_total'])} |",
        f"| accepted rows | {fmt(t['accepted_rows'])} |",
        f"| accepted total (IRR) | {fmt(t['accepted_total'])} |",
        f"| run findings | {fmt(t['findings_total'])} |",
        f"| held (HOLD) | {fmt(t['held_count'])} rows, {fmt(t['held_total'])} IRR |",
        f"| blocked (BLOCK) | {fmt(t['blocked_count'])} rows, {fmt(t['blocked_total'])} IRR |",
        f"| warned, paid (WARN) | {fmt(t['warned_count'])} |",
        f"| payable | {fmt(t['payable_count'])} rows, {fmt(t['payable_total'])} IRR |",
        "",
        "Payable per bank (first 3 digits of the SHEBA BBAN):",
        "",
        "| bank | rows | total (IRR) |",
        "| --- | --- | --- |",
    ]
    for bank, v in t["payable_by_bank"].items():
        lines.append(f"| {bank} | {fmt(v['count'])} | {fmt(v['total'])} |")
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
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def main() -> None:
    w, files, users = build()
    for old in (HERE / "branches").glob("B*.*"):
        if old.suffix in (".csv", ".parquet", ".xlsx"):
            old.unlink()

    write_csv(HERE / "branches.csv", ["branch_code", "name", "province_code", "system"],
              [[*b, BRANCH_SYSTEM.get(b[0], "")] for b in BRANCHES])
    write_csv(HERE / "users.csv", ["user_id", "name", "role", "branch_code", "province_code"],
              [list(u.values()) for u in users])
    write_csv(HERE / "registry.csv", ["national_id", "full_name", "birth_date"],
              [[nid, *w.registry[nid]] for nid in sorted(w.registry)])
    write_csv(HERE / "deaths.csv", ["national_id", "date_of_death"],
              [[nid, w.deaths[nid]] for nid in sorted(w.deaths)])
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
            write_csv(path, COLUMNS, [r.values() for r in files[b]], bom=b in BOM_BRANCHES)

    exp = expected_figures(files)
    plan = make_plan(files)
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
    t = expected["totals"]
    print(f"sample month {PERIOD}: {t['rows_in_files']} rows, {t['accepted_rows']} accepted, "
          f"{t['payable_count']} payable ({t['payable_total']:,} IRR); self-check passed")


# --------------------------------------------------------------------------- self-check


def read_branch(rel: str) -> list[dict]:
    path = HERE / rel
    if path.suffix == ".parquet":
        table = pq.read_table(path)
        assert table.column_names == COLUMNS, table.column_names
        for c in COLUMNS:
            want = pa.int64() if c in AMOUNT_COLUMNS else pa.string()
            assert table.schema.field(c).type == want, (rel, c)
        return table.to_pylist()
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
            out.append({c: rec[c] if c in AMOUNT_COLUMNS else str(rec[c]) for c in COLUMNS})
        return out
    raw = path.read_bytes()
    assert b"\r" not in raw, rel
    has_bom = raw.startswith(b"\xef\xbb\xbf")
    assert has_bom == (path.stem in BOM_BRANCHES), rel
    text = raw.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert list(rows[0].keys()) == COLUMNS, rel
    for r in rows:
        for c in AMOUNT_COLUMNS:
            r[c] = int(r[c])
    return rows


def self_check() -> None:
    plan = json.loads((HERE / "plan.json").read_text(encoding="utf-8"))
    exp = json.loads((HERE / "expected.json").read_text(encoding="utf-8"))
    planted = {(p["branch"], p["row"]): p["code"] for p in exp["planted"] if p["stage"]}

    def read(name: str) -> list[dict]:
        raw = (HERE / name).read_bytes()
        assert not raw.startswith(b"\xef\xbb\xbf") and b"\r" not in raw, name
        return list(csv.DictReader(io.StringIO(raw.decode("utf-8"), newline="")))

    registry = read("registry.csv")
    deaths = read("deaths.csv")
    accounts = read("accounts.csv")
    assert len(read("branches.csv")) == 8 and len(read("users.csv")) == 8 * 2 + 3 + 6
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

    seen_pids: Counter = Counter()
    for b in BRANCH_CODES:
        rows = read_branch(branch_file(b))
        for i, r in enumerate(rows, start=2):
            code = planted.get((b, i))
            if code != "INVALID_NATIONAL_ID":
                assert national_id_is_valid(compact_national_id(r["national_id"])), (b, i, r)
            if code != "INVALID_ACCOUNT_CODE":
                assert sheba_is_valid(compact_account(r["account_code"])), (b, i, r)
            if code != "DUPLICATE_ROW":
                seen_pids[r["pension_id"]] += 1
            assert len(r["pension_id"]) == 8 and r["pension_id"].isdigit()
            if code not in INTAKE_CODES:
                assert r["net_amount"] == r["gross_amount"] - r["deduction_amount"] > 0
                assert r["gross_amount"] % 1000 == 0 and r["deduction_amount"] % 1000 == 0
                assert MIN_PENSION <= r["gross_amount"] <= MAX_PENSION
                assert r["benefit_type"] in dict(BENEFIT_TYPES)
        count, total = len(rows), sum(r["net_amount"] for r in rows)
        subs = [s for s in plan["submissions"] if s["branch"] == b]
        assert all(s["declared_count"] == count for s in subs), b
        for s in subs:
            want = total if s["expect"] == "accepted" else total + 1_000_000
            assert s["declared_total"] == want, (b, s)
        assert exp["branches"][b]["rows_in_file"] == count
    assert max(seen_pids.values()) == 1, "pension ids must be unique apart from exact duplicate rows"

    t = exp["totals"]
    assert sum(v["total"] for v in t["payable_by_bank"].values()) == t["payable_total"]
    assert sum(v["count"] for v in t["payable_by_bank"].values()) == t["payable_count"]
    assert t["accepted_rows"] == t["rows_in_files"] - t["rows_rejected_total"]
    assert t["payable_count"] == t["accepted_rows"] - t["held_count"] - t["blocked_count"]


if __name__ == "__main__":
    main()
