"""The dedicated account's monthly cap (payroll.legs), the split of a run's transfers into bank files
(payroll.bankfiles) and the manifest signature (payroll.signing)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from payroll import signing
from payroll.bankfiles import BankRules, check_file_name_pattern, parse_params, plan_files
from payroll.config import REPO_DATA_DIR
from payroll.legs import dedicated_account_cap, paid_total, split_over_cap, transfer_legs

CAP = 1_850_000
ACCOUNTS = pd.DataFrame({
    "account_code": ["D1", "O1", "O0", "D2", "D3", "C3"],
    "bank_code": ["088", "020", "011", "004", "081", "023"],
    "holder_national_id": ["n1", "n1", "n1", "n2", "n3", "n3"],
    "dedicated": [True, False, False, True, True, False],
    "status": ["open", "open", "closed", "open", "open", "closed"],
})


def _payments(rows: list[tuple[str, str, int, str]]) -> pd.DataFrame:
    """(national id, account, net, status) -> a payments frame indexed by row key."""
    df = pd.DataFrame(rows, columns=["national_id", "account_code", "net_amount", "status"])
    df["net_amount"] = df["net_amount"].astype("int64")
    df["bank_code"] = df["account_code"].map(ACCOUNTS.set_index("account_code")["bank_code"])
    df["end_to_end_id"] = [f"PEN202611{i:020d}" for i in range(len(df))]
    df["full_name"] = "x"
    df["pension_id"] = [f"P{i}" for i in range(len(df))]
    df["branch_code"] = "K01"
    df.index.name = "row_key"
    return df


def test_the_cap_from_reference_data() -> None:
    caps = REPO_DATA_DIR / "reference" / "dedicated_account_caps.csv"
    assert dedicated_account_cap(caps, "KR") == CAP
    assert dedicated_account_cap(caps, "IR") is None


def test_a_bad_cap_row_is_refused_naming_row_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "caps.csv"
    bad.write_text("country,monthly_cap,currency,source\nKR,1850000.5,KRW,x\n", encoding="utf-8")
    with pytest.raises(ValueError, match="row 2, column monthly_cap"):
        dedicated_account_cap(bad, "KR")


def test_split_over_the_cap_to_the_open_ordinary_account_or_held() -> None:
    payments = _payments([("n1", "D1", 2_500_000, "PAYABLE"),   # 1,850,000 + 650,000 to O1 (O0 is closed)
                          ("n2", "D2", 2_000_000, "PAYABLE"),   # no ordinary account: 150,000 held
                          ("n3", "D3", CAP, "PAYABLE"),         # exactly the cap: not split
                          ("n1", "O1", 3_000_000, "PAYABLE"),   # not a dedicated account: no cap
                          ("n2", "D2", 9_000_000, "HOLD")])     # held rows are not split
    out, findings = split_over_cap(payments, ACCOUNTS, CAP)
    assert out["excess_amount"].tolist() == [650_000, 150_000, 0, 0, 0]
    assert out["excess_account_code"].tolist() == ["O1", "", "", "", ""]
    assert sorted(zip(findings["row_key"], findings["code"], strict=True)) == [(0, "CAP_SPLIT"), (1, "CAP_EXCESS_HELD")]
    legs = transfer_legs(out.reset_index())
    assert sorted(zip(legs["end_to_end_id"].str[-2:], legs["account_code"], legs["amount"], strict=True)) == sorted([
        ("-1", "D1", CAP), ("-2", "O1", 650_000), ("-1", "D2", CAP), ("02", "D3", CAP), ("03", "O1", 3_000_000)])
    assert legs["amount"].sum() == paid_total(out) == 2_500_000 + CAP + CAP + 3_000_000
    assert paid_total(out) + 150_000 == out.loc[out["status"] == "PAYABLE", "net_amount"].sum()


def test_the_cap_is_per_month_and_per_account() -> None:
    # two payments into one dedicated account in the month: the second gets what is left of the cap
    payments = _payments([("n1", "D1", 1_000_000, "PAYABLE"), ("n1", "D1", 1_000_000, "PAYABLE")])
    out, _ = split_over_cap(payments, ACCOUNTS, CAP)
    assert out["excess_amount"].tolist() == [0, 150_000]
    # a supplementary run after 1,850,000 was credited: everything goes to the ordinary account
    out, _ = split_over_cap(_payments([("n1", "D1", 400_000, "PAYABLE")]), ACCOUNTS, CAP, credited={"D1": CAP})
    legs = transfer_legs(out.reset_index())
    assert legs[["account_code", "amount"]].values.tolist() == [["O1", 400_000]]
    assert legs["end_to_end_id"].str.endswith("-2").all()
    # no cap: nothing is split
    out, findings = split_over_cap(_payments([("n1", "D1", 9_000_000, "PAYABLE")]), ACCOUNTS, None)
    assert out["excess_amount"].tolist() == [0] and findings.empty


def _transfers(bank_counts: dict[str, int]) -> pd.DataFrame:
    rows = [(b, f"E{b}{i:05d}", 100 + i) for b, n in bank_counts.items() for i in range(n)]
    return pd.DataFrame(rows, columns=["bank_code", "end_to_end_id", "amount"])


def test_files_are_split_at_the_banks_maximum_and_named_by_pattern() -> None:
    banks = {"013": BankRules("013", "Refah", "pain.001.001.09", max_transactions=4),
             "017": BankRules("017", "Melli", "pain.001.001.03", file_name="SSO_{period}_B{bank}_{part}of{parts}{ext}")}
    planned = plan_files(_transfers({"013": 9, "017": 3}), banks, period="2026-11", run_id=7,
                         extension_of=lambda _: ".xml")
    assert [(p.name, len(p.transfers), p.msg_id) for p in planned] == [
        ("PENSION_2026-11_RUN7_BANK013_P1.xml", 4, "PEN202611R7B013F1"),
        ("PENSION_2026-11_RUN7_BANK013_P2.xml", 4, "PEN202611R7B013F2"),
        ("PENSION_2026-11_RUN7_BANK013_P3.xml", 1, "PEN202611R7B013F3"),
        ("SSO_2026-11_B017_1of1.xml", 3, "PEN202611R7B017")]
    assert pd.concat([p.transfers for p in planned])["end_to_end_id"].is_unique
    with pytest.raises(ValueError, match="'054'"):
        plan_files(_transfers({"054": 1}), banks, period="2026-11", run_id=7, extension_of=lambda _: ".xml")


@pytest.mark.parametrize("pattern, problem", [
    ("{period}_{part}{ext}", "must contain {bank}"),
    ("{period}_{bank}{ext}", "must contain {bank}"),
    ("{bank}_{part}_{nope}", "unknown field"),
    ("../{bank}_{part}", "only letters"),
    ("{bank}_{part", "malformed"),
])
def test_a_bad_file_name_pattern_is_refused(pattern: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem.replace("{", r"\{").replace("}", r"\}")):
        check_file_name_pattern(pattern)


def test_bank_params_are_a_json_object_of_strings() -> None:
    assert parse_params('{"company_code": "NPS0000001"}') == {"company_code": "NPS0000001"}
    assert parse_params("") == {}
    for bad in ('["x"]', '{"n": 1}', "{nope"):
        with pytest.raises(ValueError):
            parse_params(bad)


def test_signatures_are_deterministic_and_bound_to_the_bytes_and_the_key(tmp_path: Path) -> None:
    key = signing.ensure_key(tmp_path / "keys" / "k.pem")
    assert (tmp_path / "keys" / "k.pem").stat().st_mode & 0o777 == 0o600
    assert signing.ensure_key(tmp_path / "keys" / "k.pem").private_bytes_raw() == key.private_bytes_raw()
    public = signing.load_public_key(signing.public_key_path(tmp_path / "keys" / "k.pem"))
    data = b'{"control_sum": 100}\n'
    sig = signing.sign(key, data)
    assert sig == signing.sign(key, data)  # Ed25519 (RFC 8032) is deterministic
    assert signing.verify(public, data, sig)
    assert not signing.verify(public, data.replace(b"100", b"101"), sig)
    assert not signing.verify(public, data, b"not base64!")
    other = signing.ensure_key(tmp_path / "other.pem")
    assert not signing.verify(other.public_key(), data, sig)
    assert signing.key_id(public) == signing.key_id(key.public_key()) != signing.key_id(other.public_key())
