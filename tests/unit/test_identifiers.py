"""Unit tests for payroll.identifiers (ir_nid, kr_rrn, iban, kr_account)."""

from __future__ import annotations

import datetime
import functools
import random
from collections.abc import Callable
from types import ModuleType

import numpy as np
import pandas as pd
import pytest
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength

from payroll.identifiers import iban, ir_nid, kr_account, kr_rrn

PERSIAN = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def ir_check(nine: str) -> str:
    """Independent implementation of the national-code check digit, for the tests."""
    r = sum(int(d) * (10 - i) for i, d in enumerate(nine)) % 11
    return str(r if r < 2 else 11 - r)


# --------------------------------------------------------------------------- ir_nid


@pytest.mark.parametrize(
    "code", ["0013542419", "1234567891", "0000000124", "9876543210", "2741010145", "4400123456", "0034567895"]
)
def test_ir_nid_known_valid(code: str) -> None:
    assert ir_check(code[:9]) == code[9]
    assert ir_nid.calc_check_digit(code[:9]) == code[9]
    assert ir_nid.validate(code) == code
    assert ir_nid.is_valid(code)


def test_ir_nid_computed_valid_codes() -> None:
    rng = random.Random(1)
    for _ in range(50):
        nine = "".join(rng.choice("0123456789") for _ in range(9))
        code = nine + ir_check(nine)
        if len(set(code)) > 1:
            assert ir_nid.is_valid(code), code


def test_ir_nid_wrong_check_digit() -> None:
    assert not ir_nid.is_valid("0013542418")
    with pytest.raises(InvalidChecksum):
        ir_nid.validate("0013542418")


def test_ir_nid_padding() -> None:
    assert ir_nid.compact("013542419") == "0013542419"
    assert ir_nid.compact("13542419") == "0013542419"
    assert ir_nid.validate("013542419") == "0013542419"
    assert ir_nid.compact("1354241") == "1354241"  # 7 digits: not padded
    with pytest.raises(InvalidLength):
        ir_nid.validate("1354241")


def test_ir_nid_persian_and_separators() -> None:
    assert ir_nid.compact("۰۰۱۳۵۴۲۴۱۹") == "0013542419"
    assert ir_nid.validate("۰۰۱۳۵۴۲۴۱۹") == "0013542419"
    assert ir_nid.validate("٠٠١٣٥٤٢٤١٩") == "0013542419"
    assert ir_nid.validate("۰۱۳۵۴۲۴۱۹") == "0013542419"  # 9 Persian digits, padded
    assert ir_nid.validate("001-354241-9") == "0013542419"
    assert ir_nid.validate(" 001 354 2419\u200c") == "0013542419"


@pytest.mark.parametrize("digit", "0123456789")
def test_ir_nid_ten_equal_digits_refused(digit: str) -> None:
    code = digit * 10
    assert ir_check(code[:9]) == code[9]  # the arithmetic passes ...
    with pytest.raises(InvalidComponent):  # ... the policy refuses
        ir_nid.validate(code)
    assert not ir_nid.is_valid(code)


def test_ir_nid_format_errors() -> None:
    with pytest.raises(InvalidFormat):
        ir_nid.validate("00135424a9")
    with pytest.raises(InvalidFormat):
        ir_nid.validate("")
    with pytest.raises(InvalidLength):
        ir_nid.validate("00135424190")


def test_ir_nid_format_and_mask() -> None:
    assert ir_nid.format("0013542419") == "001-354241-9"
    assert ir_nid.format("۰۱۳۵۴۲۴۱۹") == "001-354241-9"
    assert ir_nid.mask("0013542419") == "******2419"
    assert ir_nid.mask("013542419") == "******2419"
    assert ir_nid.mask("12345") == "*****"


# --------------------------------------------------------------------------- kr_rrn


def test_kr_rrn_valid_old_numbers() -> None:
    for number in ("971013-9019902", "8501011234566", "990228-2987652", "201231-4123455"):
        assert kr_rrn.is_valid(number)
        assert kr_rrn.has_valid_check_digit(number)
        assert kr_rrn.validate(number, strict_checksum=True) == number.replace("-", "")


def test_kr_rrn_post_2020_random_digits() -> None:
    number = "210315-3123450"  # born 2021; last digits random, check digit would be 4
    assert kr_rrn.calc_check_digit("210315312345") == "4"
    assert kr_rrn.validate(number) == "2103153123450"
    assert kr_rrn.is_valid(number)
    assert not kr_rrn.has_valid_check_digit(number)
    assert not kr_rrn.is_valid(number, strict_checksum=True)
    with pytest.raises(InvalidChecksum):
        kr_rrn.validate(number, strict_checksum=True)


@pytest.mark.parametrize(
    ("number", "error"),
    [
        ("971013-901990", InvalidLength),
        ("971013-90199021", InvalidLength),
        ("97101A-9019902", InvalidFormat),
        ("971313-1019902", InvalidComponent),  # month 13
        ("970230-1019902", InvalidComponent),  # 30 February
        ("970001-1019902", InvalidComponent),  # month 0
        ("971000-1019902", InvalidComponent),  # day 0
        ("010229-3019902", InvalidComponent),  # 2001 is not a leap year
        ("000229-1019902", InvalidComponent),  # 1900 is not a leap year
    ],
)
def test_kr_rrn_invalid(number: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        kr_rrn.validate(number)
    assert not kr_rrn.is_valid(number)


def test_kr_rrn_century_digit() -> None:
    assert kr_rrn.get_birth_date("000229-3000000") == datetime.date(2000, 2, 29)
    assert kr_rrn.get_birth_date("000229-4000000") == datetime.date(2000, 2, 29)
    assert kr_rrn.get_birth_date("971013-1000000") == datetime.date(1997, 10, 13)
    assert kr_rrn.get_birth_date("971013-7000000") == datetime.date(2097, 10, 13)
    assert kr_rrn.get_birth_date("971013-9000000") == datetime.date(1897, 10, 13)
    assert kr_rrn.get_birth_date("971013-0000000") == datetime.date(1897, 10, 13)
    assert kr_rrn.is_valid("960229-5000000")  # 1996 leap, foreigner digit


def test_kr_rrn_compact_format_mask() -> None:
    assert kr_rrn.compact(" ۹۷۱۰۱۳–۹۰۱۹۹۰۲ ") == "9710139019902"
    assert kr_rrn.format("9710139019902") == "971013-9019902"
    assert kr_rrn.mask("971013-9019902") == "971013-9******"
    assert kr_rrn.mask("97101") == "*****"
    assert not kr_rrn.has_valid_check_digit("97101x9019902")


# --------------------------------------------------------------------------- iban

SHEBA = "IR820540102680020817909002"


def test_iban_sheba_valid() -> None:
    assert iban.validate(SHEBA) == SHEBA
    assert iban.calc_check_digits("IR", "0540102680020817909002") == "82"
    assert iban.calc_check_digits("IR0540102680020817909002") == "82"
    assert iban.bank_code(SHEBA) == "054"


def test_iban_other_countries_valid() -> None:
    for number in ("DE89370400440532013000", "GB29NWBK60161331926819", "IR220120000000003555555555"):
        assert iban.is_valid(number), number


@pytest.mark.parametrize("pos", range(2, 26))
def test_iban_one_digit_changed(pos: int) -> None:
    digit = SHEBA[pos]
    changed = SHEBA[:pos] + str((int(digit) + 1) % 10) + SHEBA[pos + 1 :]
    assert not iban.is_valid(changed)
    with pytest.raises(InvalidChecksum):
        iban.validate(changed)


def test_iban_compacts_lower_case_spaced_persian() -> None:
    for raw in (
        "ir820540102680020817909002",
        "IR82 0540 1026 8002 0817 9090 02",
        "ir82-0540-1026-8002-0817-9090-02",
        "IR۸۲ ۰۵۴۰ ۱۰۲۶ ۸۰۰۲ ۰۸۱۷ ۹۰۹۰ ۰۲",
    ):
        assert iban.compact(raw) == SHEBA
        assert iban.validate(raw) == SHEBA


@pytest.mark.parametrize(
    ("number", "error"),
    [
        ("1R820540102680020817909002", InvalidFormat),
        ("IRX20540102680020817909002", InvalidFormat),
        ("IR82054010268002081790900", InvalidLength),
        ("IR8205401026800208179090021", InvalidLength),
        ("IR82054010268002081790900A", InvalidFormat),
        ("DE8937040044053201300", InvalidLength),
        ("XX0012345678901", InvalidChecksum),
        ("XX00123456789", InvalidLength),
    ],
)
def test_iban_invalid(number: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        iban.validate(number)


def test_iban_format_mask() -> None:
    assert iban.format("ir820540102680020817909002") == "IR82 0540 1026 8002 0817 9090 02"
    assert iban.mask(SHEBA) == "IR82******************9002"
    assert len(iban.mask(SHEBA)) == len(SHEBA)
    assert iban.mask("IR82") == "****"
    with pytest.raises(InvalidComponent):
        iban.bank_code("DE89370400440532013000")


# --------------------------------------------------------------------------- kr_account


def test_kr_account_valid() -> None:
    assert kr_account.validate("088-110123456789") == "088110123456789"
    assert kr_account.validate("004 1234567890") == "0041234567890"  # 10-digit account
    assert kr_account.validate("090-33331234567890") == "09033331234567890"  # 14-digit account
    assert kr_account.validate("۰۹۲-۱۰۰۰۱۲۳۴۵۶۷۸") == "092100012345678"
    assert kr_account.bank_code("088-110123456789") == "088"
    assert kr_account.BANK_CODES[kr_account.bank_code("081-1234567890")] == "Hana"


@pytest.mark.parametrize(
    ("number", "error"),
    [
        ("088-11012345678a", InvalidFormat),
        ("088-123456789", InvalidLength),  # 9-digit account
        ("088-123456789012345", InvalidLength),  # 15-digit account
        ("999-110123456789", InvalidComponent),
        ("001-110123456789", InvalidComponent),
        ("", InvalidFormat),
    ],
)
def test_kr_account_invalid(number: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        kr_account.validate(number)
    assert not kr_account.is_valid(number)


def test_kr_account_format_mask() -> None:
    assert kr_account.format("088110123456789") == "088-110123456789"
    assert kr_account.mask("088-110123456789") == "088-********6789"
    assert kr_account.mask("0881234") == "*******"


# --------------------------------------------------------------------------- valid_mask agreement


def _gen_ir(rng: random.Random) -> str:
    nine = "".join(rng.choice("0123456789") for _ in range(9))
    code = nine + ir_check(nine)
    kind = rng.randrange(10)
    if kind == 0:
        code = code[:-1] + str((int(code[-1]) + 1) % 10)
    elif kind == 1:
        code = rng.choice("0123456789") * 10
    elif kind == 2:
        code = code.lstrip("0") if code.startswith("0") else code[1:]
    elif kind == 3:
        code = code.translate(rng.choice([PERSIAN, ARABIC_INDIC]))
    elif kind == 4:
        code = f"{code[:3]}-{code[3:9]}-{code[9]}"
    elif kind == 5:
        i = rng.randrange(10)
        code = code[:i] + rng.choice("aX۵ ") + code[i + 1 :]
    elif kind == 6:
        code = code + rng.choice("0123456789")
    return code


def _gen_rrn(rng: random.Random) -> str:
    day = datetime.date(1900, 1, 1) + datetime.timedelta(days=rng.randrange(47000))
    s = rng.choice("1256" if day.year < 2000 else "3478")
    twelve = day.strftime("%y%m%d") + s + "".join(rng.choice("0123456789") for _ in range(5))
    number = twelve + kr_rrn.calc_check_digit(twelve)
    kind = rng.randrange(10)
    if kind == 0:
        number = number[:2] + f"{rng.randrange(100):02d}" + number[4:]
    elif kind == 1:
        number = number[:4] + f"{rng.randrange(29, 33):02d}" + number[6:]
    elif kind == 2:
        number = number[:6] + rng.choice("0123456789") + number[7:]
    elif kind == 3:
        number = number[:-1] + rng.choice("0123456789")
    elif kind == 4:
        number = number[:6] + "-" + number[6:]
    elif kind == 5:
        number = number[: rng.randrange(13)]
    elif kind == 6:
        number = number.translate(PERSIAN) + rng.choice(["", "1", "x"])
    return number


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def _gen_iban(rng: random.Random) -> str:
    country, bban = rng.choice(
        [
            ("IR", rng.choice(["012", "013", "017", "054"]) + _digits(rng, 19)),
            ("IR", "".join(rng.choice("0123456789") for _ in range(22))),
            ("DE", "".join(rng.choice("0123456789") for _ in range(18))),
            ("GB", "NWBK" + "".join(rng.choice("0123456789") for _ in range(14))),
            ("NL", "ABNA" + "".join(rng.choice("0123456789") for _ in range(10))),
            ("NO", "".join(rng.choice("0123456789") for _ in range(11))),
            ("MT", "MALT" + "".join(rng.choice("0123456789ABCZ") for _ in range(23))),
        ]
    )
    number = country + iban.calc_check_digits(country, bban) + bban
    kind = rng.randrange(10)
    if kind == 0:
        i = rng.randrange(2, len(number))
        number = number[:i] + rng.choice("0123456789") + number[i + 1 :]
    elif kind == 1:
        i = rng.randrange(4, len(number) - 1)
        number = number[:i] + number[i + 1] + number[i] + number[i + 2 :]
    elif kind == 2:
        number = number.lower()
    elif kind == 3:
        number = " ".join(number[i : i + 4] for i in range(0, len(number), 4))
    elif kind == 4:
        number = number[:-1] if rng.random() < 0.5 else number + "0"
    elif kind == 5:
        i = rng.randrange(len(number))
        number = number[:i] + rng.choice("A#۷") + number[i + 1 :]
    elif kind == 6:
        number = number.translate(PERSIAN)
    return number


def _gen_account(rng: random.Random) -> str:
    code = rng.choice([*kr_account.BANK_CODES, "001", "999", "08"])
    account = "".join(rng.choice("0123456789") for _ in range(rng.randint(8, 16)))
    number = code + rng.choice(["", "-", " "]) + account
    if rng.random() < 0.1:
        number = number.translate(PERSIAN)
    if rng.random() < 0.05:
        number = number + "x"
    return number


@pytest.mark.parametrize(
    ("module", "gen"),
    [(ir_nid, _gen_ir), (kr_rrn, _gen_rrn), (iban, _gen_iban), (kr_account, _gen_account)],
    ids=["ir_nid", "kr_rrn", "iban", "kr_account"],
)
def test_valid_mask_agrees_with_is_valid(module: ModuleType, gen: Callable[[random.Random], str]) -> None:
    rng = random.Random(20240601)
    values: list[str | None] = [gen(rng) for _ in range(300)]
    for i in rng.sample(range(len(values)), 20):
        values[i] = None
    values += ["", None]
    raw = pd.Series(values, dtype="str")
    raw.iloc[-1] = pd.NA
    mask = module.valid_mask(module.compact_series(raw))
    expected = np.array([v is not None and module.is_valid(v) for v in values])
    assert isinstance(mask, np.ndarray) and mask.dtype == bool and mask.shape == (len(values),)
    mismatches = [(values[i], bool(mask[i])) for i in np.flatnonzero(mask != expected)]
    assert not mismatches
    # the generated data exercises both outcomes substantially
    assert 50 <= int(expected.sum()) <= len(values) - 50
    assert not mask[raw.isna().to_numpy()].any()


def test_valid_mask_object_series_with_missing() -> None:
    s = pd.Series(["0013542419", pd.NA, None, "0013542418"], dtype=object)
    assert ir_nid.valid_mask(s).tolist() == [True, False, False, False]
    assert kr_account.valid_mask(pd.Series([], dtype="str")).tolist() == []


# --------------------------------------------------------------------------- iban.valid_mask at scale


def _reference_iban_valid_mask(numbers: pd.Series) -> np.ndarray:
    """The former ``iban.valid_mask`` (regexes, a Series.map of the lengths, an (n, 34) int64 fold), verbatim."""
    s = pd.Series(numbers, copy=False).astype("str").fillna("")
    ok = s.str.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}").to_numpy(dtype=bool, na_value=False, copy=True)
    country = s.str.slice(0, 2)
    expected = country.map(iban.LENGTHS).to_numpy(dtype=np.float64, na_value=np.nan)
    length = s.str.len().to_numpy(dtype=np.int64)
    ok &= np.where(np.isnan(expected), True, length == expected)
    is_ir = (country == "IR").to_numpy(dtype=bool, na_value=False, copy=True)
    ok &= ~is_ir | s.str.fullmatch(r"IR[0-9]{24}").to_numpy(dtype=bool, na_value=False, copy=True)
    if not ok.any():
        return ok
    fixed = s.where(ok, "XX00" + "0" * 11)
    rearranged = (fixed.str.slice(4) + fixed.str.slice(0, 4)).str.rjust(34, "0")
    c = np.frombuffer("".join(rearranged.tolist()).encode("ascii"), dtype=np.uint8).reshape(-1, 34)
    c = c.astype(np.int64)
    letter = c >= ord("A")
    value = np.where(letter, c - (ord("A") - 10), c - ord("0"))
    r = np.zeros(len(s), dtype=np.int64)
    for col in range(34):
        r = np.where(letter[:, col], r * 100 + value[:, col], r * 10 + value[:, col]) % 97
    return ok & (r == 1)


_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _iban_with_check(country: str, bban: str) -> str:
    """country + mod 97-10 check digits + bban, computed independently of the module."""
    n = int("".join(str(int(ch, 36)) for ch in bban + country + "00"))
    return f"{country}{98 - n % 97:02d}{bban}"


def _gen_iban_mixed(rng: random.Random) -> str | None:
    def alnum(n: int) -> str:
        return "".join(rng.choices(_ALNUM, k=n))

    def digits(n: int) -> str:
        return "".join(rng.choices(_ALNUM[:10], k=n))

    country, bban = rng.choice(
        [
            lambda: ("IR", digits(22)),
            lambda: ("IR", rng.choice(["012", "013", "017", "054"]) + digits(19)),
            lambda: ("IR", digits(21) + rng.choice("ABZ")),  # checksum fine, SHEBA needs digits
            lambda: ("IR", digits(rng.choice([21, 23]))),  # checksum fine, wrong SHEBA length
            lambda: ("DE", digits(18)),
            lambda: ("GB", "NWBK" + digits(14)),
            lambda: ("FR", digits(10) + alnum(11) + digits(2)),
            lambda: ("NL", "ABNA" + digits(10)),
            lambda: ("TR", digits(6) + alnum(16)),
            lambda: ("NO", digits(11)),  # 15, the shortest
            lambda: ("MT", "MALT" + alnum(23)),
            lambda: ("LC", alnum(28)),  # 32
            lambda: ("XK", alnum(rng.randint(11, 30))),  # not in the table: any of 15..34
            lambda: ("QQ", alnum(rng.choice([10, 31]))),  # 14 and 35: out of range, checksum fine
            lambda: ("DE", digits(rng.choice([17, 19]))),  # table length violated, checksum fine
        ]
    )()
    number = _iban_with_check(country, bban)
    kind = rng.randrange(24)
    if kind == 0:
        i = rng.randrange(2, len(number))
        number = number[:i] + rng.choice(_ALNUM[:10]) + number[i + 1 :]
    elif kind == 1:
        i = rng.randrange(2, len(number) - 1)
        number = number[:i] + number[i + 1] + number[i] + number[i + 2 :]
    elif kind == 2:
        number = number.lower()
    elif kind == 3:
        i = rng.randrange(len(number))
        number = number[:i] + number[i].lower() + number[i + 1 :]
    elif kind == 4:
        number = rng.choice([number[:-1], number + rng.choice(_ALNUM), number[: rng.randrange(16)]])
    elif kind == 5:  # non-ASCII digits and look-alikes; keeps the length in characters
        i = rng.randrange(len(number))
        number = number[:i] + rng.choice("۷٣０５ＩＲİıKÅß\u200c") + number[i + 1 :]
    elif kind == 6:
        number = number.translate(PERSIAN)
    elif kind == 7:
        i = rng.randrange(len(number))
        number = number[:i] + rng.choice(" -#?*\n\t\x00.") + number[i + 1 :]
    elif kind == 8:
        number = rng.choice([" ".join(number[i : i + 4] for i in range(0, len(number), 4)), number + "\n"])
    elif kind == 9:
        number = rng.choice(["", " ", "IR", "XX00", "0" * 26, "A" * 34, digits(26), alnum(26)])
    elif kind == 10:
        return None
    elif kind == 11:  # check digits or country code not in place
        i = rng.randrange(4)
        number = number[:i] + rng.choice("AZ09") + number[i + 1 :]
    return number


@functools.cache
def _iban_mixed_values() -> list[str | None]:
    rng = random.Random(20250707)
    return [_gen_iban_mixed(rng) for _ in range(50_000)]


@pytest.mark.parametrize("batch", [None, 997])
def test_iban_valid_mask_agrees_at_scale(batch: int | None, monkeypatch: pytest.MonkeyPatch) -> None:
    if batch is not None:  # several batches per length group, and a last one that is shorter
        monkeypatch.setattr(iban, "_BATCH", batch)
    values = _iban_mixed_values()
    raw = pd.Series(values, dtype="str")
    raw.iloc[random.Random(7).sample(range(len(values)), 50)] = pd.NA

    # the uncompacted values (lower case, spaces and non-ASCII digits are all invalid here), as str and object
    mask = iban.valid_mask(raw)
    assert isinstance(mask, np.ndarray) and mask.dtype == bool and mask.shape == (len(values),)
    assert np.array_equal(mask, _reference_iban_valid_mask(raw))
    as_object = raw.astype(object).where(raw.notna(), None)
    assert np.array_equal(iban.valid_mask(as_object), mask)

    # the compacted values, against the former implementation and the scalar is_valid
    compacted = iban.compact_series(raw)
    mask = iban.valid_mask(compacted)
    assert np.array_equal(mask, _reference_iban_valid_mask(compacted))
    expected = np.array([isinstance(v, str) and iban.is_valid(v) for v in compacted.tolist()])
    mismatches = [(values[i], bool(mask[i])) for i in np.flatnonzero(mask != expected)]
    assert not mismatches

    # the data exercises both outcomes, many lengths and countries
    assert 10_000 <= int(mask.sum()) <= len(values) - 10_000
    valid = compacted[mask]
    assert set(valid.str.len()) >= {15, 18, 22, 26, 27, 31, 32, 34}
    assert set(valid.str.slice(0, 2)) >= {"IR", "DE", "GB", "FR", "NL", "TR", "NO", "MT", "XK"}


def test_iban_valid_mask_odd_inputs() -> None:
    ok = "IR820540102680020817909002"
    values = [ok, None, np.nan, pd.NA, "", 820540102680020817909002, 1.5, ok + "\n", " " + ok, ok.lower()]
    s = pd.Series(values, dtype=object)
    assert iban.valid_mask(s).tolist() == _reference_iban_valid_mask(s).tolist()
    assert iban.valid_mask(s).tolist() == [True] + [False] * 9
    assert iban.valid_mask(pd.Series([], dtype="str")).tolist() == []
    assert iban.valid_mask(pd.Series([None, None], dtype=object)).tolist() == [False, False]
