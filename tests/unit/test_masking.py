"""Masking of national ids by role (payroll.masking)."""

from __future__ import annotations

import json

import pytest

from payroll.approvals import ROLES
from payroll.masking import FULL_ID_ROLES, IdMasker, ids_in, mask_national_id, needs_full_ids

IR_ID = "0013542419"
KR_ID = "9710139019902"


def test_korean_rrn_shows_birth_date_and_gender_digit() -> None:
    assert mask_national_id(KR_ID, "KR") == "9710139******"
    assert mask_national_id("971013-9019902", "KR") == "9710139******"  # the written form, compacted
    assert len(mask_national_id(KR_ID, "KR")) == 13


def test_iranian_national_code_shows_the_last_four_digits() -> None:
    assert mask_national_id(IR_ID, "IR") == "******2419"
    assert mask_national_id("001-354241-9", "IR") == "******2419"
    assert mask_national_id("13542419", "IR") == "******2419"  # leading zeros dropped by a spreadsheet
    assert mask_national_id("۰۰۱۳۵۴۲۴۱۹", "IR") == "******2419"  # Persian digits


@pytest.mark.parametrize(("value", "country"), [("12345", "IR"), ("12AB5678901", "IR"), ("123456789012", "KR"),
                                                (IR_ID, "KR"), (KR_ID, "IR"), (IR_ID, "XX")])
def test_anything_else_is_masked_entirely(value: str, country: str) -> None:
    masked = mask_national_id(value, country)
    assert set(masked) == {"*"} and len(masked) == len(value)


def test_empty_stays_empty_and_masks_never_look_like_formulas() -> None:
    assert mask_national_id("", "IR") == ""
    for value, country in ((IR_ID, "IR"), (KR_ID, "KR"), ("-12345678", "IR"), ("=1+2", "IR")):
        assert not mask_national_id(value, country).startswith(("=", "+", "-", "@"))


def test_full_ids_only_for_auditors_and_finance() -> None:
    assert FULL_ID_ROLES == {"auditor", "finance", "finance_lead"}
    assert {r for r in ROLES if needs_full_ids(r)} == {"auditor", "finance", "finance_lead"}
    for role in ("clerk", "branch_head", "province_approver", "admin", None, "", "unknown"):
        assert needs_full_ids(role) is False


def test_ids_in_collects_every_id_key() -> None:
    detail = {"paid_by": [{"national_id": "0013542419", "row": 4}, {"national_id": "0084575948"}],
              "holder_national_id": "0067749828", "insured_id": "0499370899", "row": 1234567890,
              "evidence": "not collected from text 0000000000"}
    assert ids_in(detail) == {"0013542419", "0084575948", "0067749828", "0499370899"}


def test_masker_masks_known_ids_inside_text_and_leaves_other_numbers() -> None:
    m = IdMasker.for_role("clerk", "IR", known=["0084575948", "0067749828", None, "12"])
    text = (f"national id {IR_ID} is paid on 2 rows: B01 pension 123 (OLD_AGE) row 12; account held by "
            "0067749828, not by 001-354241-9; amount 10084575948 on 2026-11-01; also 0084575948.")
    got = m.text(text, own=IR_ID)
    assert IR_ID not in got and "0067749828" not in got and "001-354241-9" not in got
    assert got.count("******2419") == 2 and "******9828" in got and got.endswith("also ******5948.")
    assert "10084575948" in got  # a longer number that merely contains a known id is not one
    assert "row 12;" in got and "2026-11-01" in got and "pension 123 " in got


def test_masker_keeps_detail_json_valid_and_in_order() -> None:
    m = IdMasker.for_role("branch_head", "KR")
    detail = json.dumps({"paid_by": [{"national_id": KR_ID, "gross_amount": 9710139019902}],
                         "insured_id": "8001011234567", "evidence": f"survivors of 8001011234567: {KR_ID} 50%"},
                        ensure_ascii=False)
    m.learn(ids_in(json.loads(detail)))
    out = json.loads(m.json_text(detail, own=KR_ID))
    assert list(out) == ["paid_by", "insured_id", "evidence"]
    assert out["paid_by"] == [{"national_id": "9710139******", "gross_amount": 9710139019902}]  # numbers stay
    assert out["insured_id"] == "8001011******"
    assert out["evidence"] == "survivors of 8001011******: 9710139****** 50%"


def test_a_reader_who_needs_full_ids_gets_everything_unchanged() -> None:
    m = IdMasker.for_role("auditor", "IR", known=[IR_ID])
    detail = json.dumps({"national_id": IR_ID, "evidence": f"id {IR_ID}"})
    assert m.full and m.national_id(IR_ID) == IR_ID
    assert m.text(f"id {IR_ID}", IR_ID) == f"id {IR_ID}" and m.json_text(detail, IR_ID) == detail
