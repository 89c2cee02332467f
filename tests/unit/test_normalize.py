"""Unit tests for payroll.normalize."""

from __future__ import annotations

import pandas as pd
import pytest

from payroll.normalize import (
    compact_id,
    compact_id_series,
    normalize_name,
    normalize_name_series,
    to_ascii_digits,
    to_ascii_digits_series,
)

PERSIAN = "۰۱۲۳۴۵۶۷۸۹"
ARABIC_INDIC = "٠١٢٣٤٥٦٧٨٩"


def test_to_ascii_digits_persian_and_arabic_indic() -> None:
    assert to_ascii_digits(PERSIAN) == "0123456789"
    assert to_ascii_digits(ARABIC_INDIC) == "0123456789"
    assert to_ascii_digits("abc ۱-٢ 3") == "abc 1-2 3"


def test_to_ascii_digits_leaves_other_text() -> None:
    assert to_ascii_digits("IR82 Mellat") == "IR82 Mellat"
    assert to_ascii_digits("") == ""


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("۰۰۱۳۵۴۲۴۱۹", "0013542419"),
        ("001-354241-9", "0013542419"),
        (" 001 354 2419 ", "0013542419"),
        ("001\u00a0354\u200c241\u200b9\ufeff", "0013542419"),
        ("001\u2010354\u2011241\u2012\u2013\u2014\u2015\u22129", "0013542419"),
        ("001.354/241.9", "0013542419"),
        ("\u200d013542419", "013542419"),  # no padding here
        ("971013-9019902", "9710139019902"),
        ("IR82 0540 1026", "IR8205401026"),
        ("\t۰۱۲\n", "012"),
    ],
)
def test_compact_id(raw: str, expected: str) -> None:
    assert compact_id(raw) == expected


def test_compact_id_result_is_ascii() -> None:
    assert compact_id("٠٠١٣٥٤٢٤١٩").isascii()


def test_normalize_name_arabic_yeh_kaf_equal_persian() -> None:
    persian = "علی کریمی"
    assert normalize_name("علي كريمي") == persian
    assert normalize_name("على كريمى") == persian  # alef maksura
    assert normalize_name(persian) == persian


def test_normalize_name_keeps_teh_marbuta() -> None:
    assert normalize_name("فاطمة") == "فاطمة"


def test_normalize_name_zwnj_becomes_space() -> None:
    assert normalize_name("محمد\u200cرضا") == "محمد رضا"
    assert normalize_name("محمد\u200c\u200cرضا") == "محمد رضا"
    assert normalize_name("محمد \u200c رضا") == "محمد رضا"


def test_normalize_name_folds_spaces_and_strips() -> None:
    assert normalize_name("  حسن   رضایی  ") == "حسن رضایی"
    assert normalize_name("Kim  Min\u00a0 Su") == "Kim Min Su"
    assert normalize_name("a\t\nb") == "a b"


def test_normalize_name_presentation_forms() -> None:
    assert normalize_name("\ufee3\ufea4\ufee4\ufeaa") == "محمد"
    # presentation forms of Arabic kaf and yeh land on the Persian letters
    assert normalize_name("\ufedb\ufef4") == "کی"


def test_normalize_name_tatweel_and_diacritics_removed() -> None:
    assert normalize_name("مـــحمد") == "محمد"
    assert normalize_name("مُحَمَّد") == "محمد"
    assert normalize_name("عَلِیٌّ") == "علی"
    assert normalize_name("رحمٰن") == "رحمن"


def test_normalize_name_latin_case_kept_and_hangul() -> None:
    assert normalize_name("McDonald  JR") == "McDonald JR"
    assert normalize_name("김 민수") == "김 민수"
    # conjoining jamo compose under NFKC
    assert normalize_name("\u1100\u1175\u11b7") == "김"
    # fullwidth Latin is folded by NFKC
    assert normalize_name("ＫＩＭ") == "KIM"


SAMPLES = [
    "علي  كريمي",
    "محمد\u200cرضا",
    "\ufee3\ufea4\ufee4\ufeaa",
    "  مُحَمَّد ",
    "Kim\u00a0Min  Su",
    "김\u3000민수",
    "",
    "   ",
    "a\u200b\u200bb",
    "x\u2028y",
]


def test_series_forms_agree_with_scalar_and_keep_missing() -> None:
    values = SAMPLES + ["۰۰۱-۳۵۴ ۲۴۱۹", "IR82 0540\u200c1026"]
    s = pd.Series([*values, None, pd.NA], dtype="str")
    for func, vfunc in (
        (to_ascii_digits, to_ascii_digits_series),
        (compact_id, compact_id_series),
        (normalize_name, normalize_name_series),
    ):
        out = vfunc(s)
        assert len(out) == len(s)
        assert out.iloc[: len(values)].tolist() == [func(v) for v in values], func.__name__
        assert out.iloc[len(values) :].isna().all(), func.__name__


def test_series_forms_accept_object_dtype() -> None:
    s = pd.Series(["علي", None], dtype=object)
    out = normalize_name_series(s.astype("str"))
    assert out.iloc[0] == "علی"
    assert pd.isna(out.iloc[1])
