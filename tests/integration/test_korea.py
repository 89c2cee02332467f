"""The KR country profile end to end: resident registration numbers, bank-code accounts, won, and
bank files that name the account by Othr/Id with the bank code in ClrSysMmbId (Korea has no IBAN)."""

from __future__ import annotations

from pathlib import Path

from bank_formats import xsd
from bank_formats.fixedwidth import load_layout, read_fixed_width
from bank_formats.pain001 import read_pain001
from payroll import services
from payroll.identifiers import kr_rrn
from tests.conftest import make_context


def _rrn(front: str) -> str:
    return front + kr_rrn.calc_check_digit(front + "0")


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_korean_month_is_paid_to_dedicated_accounts_by_bank_code(tmp_path: Path, db_url: str) -> None:
    ctx = make_context(tmp_path / "home", db_url, country="KR")
    services.init_database(ctx)
    kim, lee, park, choi = _rrn("450312112345"), _rrn("480921223456"), _rrn("510101134567"), _rrn("390505245678")
    d = tmp_path
    services.load_reference(ctx, "branches", _write(d / "b.csv", "branch_code,name,province_code\nK01,서울 중앙,SEO\n"))
    services.load_reference(ctx, "users", _write(d / "u.csv", "user_id,name,role,branch_code,province_code\n"
                                                 "clerk-k01,김 직원,clerk,K01,\nhead-k01,이 지사장,branch_head,K01,\n"
                                                 "prov-seo,박 본부장,province_approver,,SEO\nfin-a,재무 A,finance,,\n"
                                                 "fin-b,재무 B,finance,,\nfin-c,재무 C,finance,,\n"))
    services.load_reference(ctx, "registry", _write(d / "r.csv", "national_id,full_name,birth_date\n"
                                                    f"{kim},김 민수,1945-03-12\n{lee},이 영희,1948-09-21\n"
                                                    f"{park},박 철수,1951-01-01\n{choi},최 순자,1939-05-05\n"))
    services.load_reference(ctx, "deaths", _write(d / "d.csv", f"national_id,date_of_death\n{choi},2026-09-30\n"))
    services.load_reference(ctx, "accounts", _write(d / "a.csv", "account_code,bank_code,holder_national_id,"
                                                    "dedicated,status\n"
                                                    f"088-110123456789,088,{kim},true,open\n"
                                                    f"004-22334455667,004,{lee},true,open\n"
                                                    f"011-3010123456789,011,{park},false,open\n"
                                                    f"088-110999888777,088,{choi},true,open\n"))
    listing = _write(d / "K01.csv", "pension_id,national_id,full_name,birth_date,benefit_type,gross_amount,"
                     "deduction_amount,net_amount,account_code\n"
                     f"P1,{kim[:6]}-{kim[6:]},김 민수,1945-03-12,OLD_AGE,700000,20000,680000,088-110123456789\n"
                     f"P2,{lee},이  영희,1948-09-21,SURVIVOR,450000,0,450000,004 22334455667\n"
                     f"P3,{park},박 철수,1951-01-01,DISABILITY,900000,0,900000,011-3010123456789\n"
                     f"P4,{choi},최 순자,1939-05-05,OLD_AGE,500000,0,500000,088-110999888777\n")
    receipt = services.submit(ctx, listing, branch="K01", period="2026-11", user="clerk-k01")
    assert (receipt["status"], receipt["rows_rejected"]) == ("accepted", 0), receipt["errors"]
    for user in ("head-k01", "prov-seo"):
        services.approve_submission(ctx, receipt["submission_id"], user=user)
    run = services.create_run(ctx, "2026-11", user="fin-a")
    assert run["exceptions"] == {"ACCOUNT_NOT_DEDICATED": 1, "DECEASED": 1}
    assert (run["payable_count"], run["payable_total"]) == (2, 1_130_000)
    for user in ("fin-b", "fin-c"):
        services.approve_run(ctx, run["run_id"], user=user)
    released = services.release_run(ctx, run["run_id"], user="fin-a")
    assert [(f["bank_code"], f["transactions"], f["control_sum"]) for f in released["files"]] == [
        ("004", 1, 450_000), ("088", 1, 680_000)]
    shinhan, kb = released["files"][1], released["files"][0]
    # data/reference/banks_kr.csv: Shinhan (088) takes pain.001.001.03, KB (004) a fixed-width layout
    assert shinhan["format"] == "pain.001.001.03" and xsd.validate_file(shinhan["path"], shinhan["format"]) == []
    doc = read_pain001(shinhan["path"])
    assert doc.currency == "KRW" and doc.debtor.iban is None and doc.debtor.account_id == "1000000000001"
    (tx,) = doc.transactions
    assert tx.creditor_iban is None and tx.creditor_bank_code == "088"
    assert tx.creditor_account_id == "110123456789"
    assert kb["format"] == "fixed:kr_bulk_credit_example"
    parsed = read_fixed_width(kb["path"], load_layout("kr_bulk_credit_example"))
    (data,) = parsed.of_type("data")
    assert (data["bank_code"], data["account"], data["amount"], data["name"]) == (4, "22334455667", 450_000, "이 영희")
    (header,) = parsed.of_type("header")
    assert header["company_code"] == "NPS0000001"  # the bank's parameter from the bank list
    assert Path(kb["path"]).read_bytes().decode("cp949").count("\r\n") == 3
    ctx.dispose()
