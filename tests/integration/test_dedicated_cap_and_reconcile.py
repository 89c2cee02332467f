"""Korea's capped dedicated account end to end: the split into legs, the bank files, the signed manifest,
the banks' status reports read back (partial, repeated, wrong), and a rejected leg reissued."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import select

from bank_formats import xsd
from bank_formats.camt054 import write_camt054
from bank_formats.formats import file_format
from bank_formats.pain002 import write_pain002
from payroll import services, signing
from payroll.errors import Refused
from payroll.identifiers import kr_rrn
from payroll.services.context import Context
from payroll.store.models import RunException
from tests.conftest import make_context

SEOUL = timezone(timedelta(hours=9))
CAP = 1_850_000


def _rrn(front: str) -> str:
    return front + kr_rrn.calc_check_digit(front + "0")


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


KIM, LEE, PARK, CHOI = _rrn("450312112345"), _rrn("480921223456"), _rrn("510101134567"), _rrn("390505245678")
ACCOUNTS = ("account_code,bank_code,holder_national_id,dedicated,status\n"
            f"088-110123456789,088,{KIM},true,open\n"
            f"020-1002003004005,020,{KIM},false,open\n"   # Kim's ordinary account: takes the excess
            f"004-22334455667,004,{LEE},true,open\n"      # Lee has no ordinary account
            f"011-3010123456789,011,{PARK},true,open\n"
            f"081-77788899900,081,{CHOI},true,open\n")


@pytest.fixture
def kr(tmp_path: Path, db_url: str):  # type: ignore[no-untyped-def]
    ctx = make_context(tmp_path / "home", db_url, country="KR")
    services.init_database(ctx)
    d = tmp_path
    services.load_reference(ctx, "branches", _write(d / "b.csv", "branch_code,name,province_code\nK01,서울 중앙,SEO\n"))
    services.load_reference(ctx, "users", _write(d / "u.csv", "user_id,name,role,branch_code,province_code\n"
                                                 "clerk-k01,김 직원,clerk,K01,\nhead-k01,이 지사장,branch_head,K01,\n"
                                                 "prov-seo,박 본부장,province_approver,,SEO\nfin-a,재무 A,finance,,\n"
                                                 "fin-b,재무 B,finance,,\nfin-c,재무 C,finance,,\n"
                                                 "lead-a,재무 팀장,finance_lead,,\n"))
    services.load_reference(ctx, "registry", _write(d / "r.csv", "national_id,full_name,birth_date\n"
                                                    f"{KIM},김 민수,1945-03-12\n{LEE},이 영희,1948-09-21\n"
                                                    f"{PARK},박 철수,1951-01-01\n{CHOI},최 순자,1939-05-05\n"))
    services.load_reference(ctx, "deaths", _write(d / "d.csv", "national_id,date_of_death\n"))
    services.load_reference(ctx, "accounts", _write(d / "a.csv", ACCOUNTS))
    listing = _write(d / "K01.csv", "pension_id,national_id,full_name,birth_date,benefit_type,gross_amount,"
                     "deduction_amount,net_amount,account_code\n"
                     f"P1,{KIM},김 민수,1945-03-12,OLD_AGE,2600000,100000,2500000,088-110123456789\n"
                     f"P2,{LEE},이 영희,1948-09-21,OLD_AGE,2000000,0,2000000,004-22334455667\n"
                     f"P3,{PARK},박 철수,1951-01-01,DISABILITY,900000,0,900000,011-3010123456789\n"
                     f"P4,{CHOI},최 순자,1939-05-05,OLD_AGE,1850000,0,1850000,081-77788899900\n")
    receipt = services.submit(ctx, listing, branch="K01", period="2026-11", user="clerk-k01")
    assert (receipt["status"], receipt["rows_rejected"]) == ("accepted", 0), receipt["errors"]
    for user in ("head-k01", "prov-seo"):
        services.approve_submission(ctx, receipt["submission_id"], user=user)
    yield ctx
    ctx.dispose()


def _release(ctx: Context) -> tuple[dict, dict]:
    run = services.create_run(ctx, "2026-11", user="fin-a")
    for user in ("fin-b", "fin-c"):
        services.approve_run(ctx, run["run_id"], user=user)
    return run, services.release_run(ctx, run["run_id"], user="fin-a")


def _transfers(released: dict) -> dict[str, tuple[str, int, str]]:
    """end-to-end id -> (bank code, amount, msg id), read back from the released files themselves."""
    manifest = json.loads(Path(released["manifest"]).read_text(encoding="utf-8"))
    out = {}
    for f in manifest["files"]:
        back = file_format(f["format"]).read_back(Path(released["archive"]) / f["file"])
        for e2e, amount in back.transfers:
            out[e2e] = (f["bank_code"], amount, f["msg_id"])
    return out


def test_over_the_cap_the_excess_goes_to_the_ordinary_account_or_is_held(kr: Context) -> None:
    run, released = _release(kr)
    assert run["exceptions"] == {"CAP_EXCESS_HELD": 1, "CAP_SPLIT": 1}
    # Kim 2,500,000: 1,850,000 + 650,000; Lee 2,000,000: 1,850,000 paid, 150,000 held; Park and Choi whole
    assert (run["payable_count"], run["payable_total"]) == (4, 2_500_000 + CAP + 900_000 + 1_850_000)
    got = _transfers(released)
    kim = {e: v for e, v in got.items() if e.endswith(("-1", "-2")) and v[0] in ("088", "020")}
    assert sorted((v[0], v[1]) for v in kim.values()) == [("020", 650_000), ("088", CAP)]
    assert len({e[:-2] for e in kim}) == 1  # one payment reference, two legs
    assert sorted(v[1] for e, v in got.items() if v[0] == "004") == [CAP]
    assert [e for e, v in got.items() if v[0] == "004"][0].endswith("-1")  # its excess may follow as -2
    unsplit = [e for e, v in got.items() if v[0] in ("011", "081")]
    assert len(unsplit) == 2 and not any(e.endswith(("-1", "-2")) for e in unsplit)
    assert sum(v[1] for v in got.values()) == run["payable_total"]  # the legs reconcile to the run
    assert sum(f["transactions"] for f in released["files"]) == len(got) == 5
    for f in released["files"]:
        if f["format"].startswith("pain.001"):
            assert xsd.validate_file(f["path"], f["format"]) == []
    rows = services.list_holds(kr, run["run_id"])
    assert rows["held_count"] == 0  # the held excess does not hold the capped part


def test_a_release_folder_verifies_and_any_change_is_caught(kr: Context, tmp_path: Path) -> None:
    _, released = _release(kr)
    folder = Path(released["archive"])
    pub = signing.public_key_path(kr.settings.release_key_path)
    assert services.verify_release(folder, pub)["ok"]
    sig = (folder / "manifest.json.sig").read_bytes()

    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    manifest = json.loads((copy / "manifest.json").read_text(encoding="utf-8"))
    manifest["control_sum"] += 1
    (copy / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    bad = services.verify_release(copy, pub)
    assert not bad["ok"] and "not signed by key" in bad["problems"][0]

    shutil.rmtree(copy)
    shutil.copytree(folder, copy)
    name = released["files"][0]["path"].rsplit("/", 1)[1]
    data = (copy / name).read_bytes()
    (copy / name).write_bytes(data.replace(b"1850000", b"1850001", 1))
    (copy / "extra.txt").write_text("x")
    bad = services.verify_release(copy, pub)
    assert not bad["ok"]
    assert any(name in p and "differ" in p for p in bad["problems"])
    assert any("extra.txt" in p for p in bad["problems"])

    other = tmp_path / "other.pem"
    signing.ensure_key(other)
    assert not services.verify_release(folder, signing.public_key_path(other))["ok"]
    # a re-release after the archive is lost gives the same bytes and the same signature
    shutil.rmtree(folder)
    again = services.release_run(kr, released["run_id"], user="fin-a")
    assert again["already_released"] and (folder / "manifest.json.sig").read_bytes() == sig


def _pain002(path: Path, msg_id: str, original: str, lines: list[tuple], **kw) -> Path:  # type: ignore[type-arg]
    write_pain002(path, message="pain.002.001.03", msg_id=msg_id, created_at=datetime(2026, 11, 26, 9, tzinfo=SEOUL),
                  original_msg_id=original, group_status=kw.pop("group_status", None), payments=lines,
                  original_payment_info_id=f"{original}P1" if lines else None, **kw)
    return path


def test_status_reports_are_reconciled_once_and_a_rejected_leg_is_reissued(kr: Context, tmp_path: Path) -> None:
    run, released = _release(kr)
    rid = run["run_id"]
    got = _transfers(released)
    by_bank: dict[str, list[str]] = {}
    for e2e, (bank, _, _) in got.items():
        by_bank.setdefault(bank, []).append(e2e)
    kim_ordinary = by_bank["020"][0]
    msg = {bank: got[ids[0]][2] for bank, ids in by_bank.items()}

    # Woori rejects Kim's ordinary leg: account closed
    woori = _pain002(tmp_path / "woori.xml", "WOORI-STS-1", msg["020"],
                     [(kim_ordinary, "RJCT", "AC04", 650_000, "KRW", "account closed 2026-11-20")])
    first = services.reconcile(kr, rid, woori, user="fin-b")
    assert first["outcomes"] == {"applied": 1} and first["reconciliation"] == "partial"
    assert first["statuses"]["rejected"] == 1
    again = services.reconcile(kr, rid, woori, user="fin-b")  # the same file: nothing changes
    assert again["already_read"] and again["statuses"] == first["statuses"]

    # a partial report from Shinhan, then one with an unknown id, a wrong amount and a contradiction
    kim_dedicated = by_bank["088"][0]
    shinhan = _pain002(tmp_path / "shinhan.xml", "SHINHAN-STS-1", msg["088"],
                       [(kim_dedicated, "ACSC", None, CAP, "KRW")])
    assert services.reconcile(kr, rid, shinhan, user="fin-b")["outcomes"] == {"applied": 1}
    park = by_bank["011"][0]
    messy = _pain002(tmp_path / "messy.xml", "NH-STS-1", msg["011"],
                     [(park, "ACSC", None, 900_001, "KRW"), ("PEN202611NOSUCHPAYMENT0000", "ACSC", None, None, None)])
    r = services.reconcile(kr, rid, messy, user="fin-b")
    assert r["outcomes"] == {"amount_mismatch": 1, "unknown_reference": 1}
    conflict = _pain002(tmp_path / "conflict.xml", "WOORI-STS-2", msg["020"],
                        [(kim_ordinary, "ACSC", None, 650_000, "KRW")])
    assert services.reconcile(kr, rid, conflict, user="fin-b")["outcomes"] == {"conflict": 1}
    reused = _pain002(tmp_path / "reused.xml", "WOORI-STS-1", msg["020"], [(kim_ordinary, "ACCP", None, None, None)])
    with pytest.raises(Refused) as e:
        services.reconcile(kr, rid, reused, user="fin-b")
    assert e.value.code == "BANK_REPORT_ID_REUSED"

    # the rest settle: KB's whole file by a group status, Park's and Choi's by a camt.054 debit notification
    kb = _pain002(tmp_path / "kb.xml", "KB-STS-1", msg["004"], [], group_status="ACSC")
    assert services.reconcile(kr, rid, kb, user="fin-b")["outcomes"] == {"applied": 1}
    notice = tmp_path / "camt.xml"
    write_camt054(notice, message="camt.054.001.02", msg_id="NOTICE-1", created_at=datetime(2026, 11, 26, tzinfo=SEOUL),
                  account_other_id=kr.settings.debtor_account[3:], currency="KRW",
                  entries=[(park, 900_000, "DBIT", "BOOK", None), (by_bank["081"][0], 1_850_000, "DBIT", "BOOK", None)],
                  booking_date=datetime(2026, 11, 25).date())
    done = services.reconcile(kr, rid, notice, user="fin-b")
    assert done["outcomes"] == {"applied": 2}
    assert done["reconciliation"] == "reconciled" and done["without_status"] == 0
    assert done["statuses"] == {"settled": 4, "rejected": 1, "accepted": 0, "pending": 0}
    # days later Choi's money comes back (the receiving bank found the account closed): settled -> rejected
    choi = by_bank["081"][0]
    back = tmp_path / "return.xml"
    write_camt054(back, message="camt.054.001.08", msg_id="NOTICE-2", created_at=datetime(2026, 11, 28, tzinfo=SEOUL),
                  account_other_id=kr.settings.debtor_account[3:], currency="KRW",
                  entries=[(choi, 1_850_000, "CRDT", "BOOK", "AC04")], booking_date=datetime(2026, 11, 28).date())
    returned = services.reconcile(kr, rid, back, user="fin-b")
    assert returned["outcomes"] == {"applied": 1} and returned["reconciliation"] == "reconciled"
    assert returned["statuses"] == {"settled": 3, "rejected": 2, "accepted": 0, "pending": 0}
    assert [x["bank_status"] for x in returned["lines"]] == ["RTRN"]
    with kr.uow() as s:
        found = {(e.code, json.loads(e.detail)["end_to_end_id"]) for e in s.execute(
            select(RunException).where(RunException.run_id == rid, RunException.stage == "bank")).scalars()}
    assert found == {("BANK_REJECTED", kim_ordinary), ("BANK_REJECTED", choi), ("BANK_AMOUNT_MISMATCH", park),
                     ("BANK_STATUS_CONFLICT", kim_ordinary)}

    # the rejected leg is cleared and reissued to Kim's new ordinary account, and Lee's held excess paid to
    # the ordinary account Lee has opened since; nothing else is paid again
    services.load_reference(kr, "accounts", _write(tmp_path / "a2.csv", ACCOUNTS.replace(
        f"020-1002003004005,020,{KIM},false,open", f"020-1002003004005,020,{KIM},false,closed\n"
        f"023-55566677788,023,{KIM},false,open\n090-3333444455556,090,{LEE},false,open")))
    payment = kim_ordinary[:-2]
    lee = by_bank["004"][0][:-2]
    with pytest.raises(Refused) as e:  # paid, with an amount query: not something a reissue may pay again
        services.clear_hold(kr, rid, park, user="lead-a", justification="the bank reported another amount")
    assert e.value.code == "NOT_HELD"
    services.clear_hold(kr, rid, payment, user="lead-a", justification="new ordinary account 023 registered by payee")
    cleared = services.clear_hold(kr, rid, lee, user="lead-a", justification="ordinary account 090 opened by the payee")
    assert cleared["codes"] == ["CAP_EXCESS_HELD"]
    sup = services.create_supplementary_run(kr, "2026-11", user="fin-b")
    assert (sup["payable_count"], sup["payable_total"]) == (2, 650_000 + 150_000)
    for user in ("fin-a", "fin-c"):
        services.approve_run(kr, sup["run_id"], user=user)
    paid = services.release_run(kr, sup["run_id"], user="fin-b")
    assert [(f["bank_code"], f["transactions"], f["control_sum"]) for f in paid["files"]] == [
        ("023", 1, 650_000), ("090", 1, 150_000)]
    ids = [etree.parse(f["path"]).xpath("//*[local-name()='EndToEndId']/text()") for f in paid["files"]]
    assert ids == [[payment + "-2"], [lee + "-2"]]  # the same payment references, the ordinary-account leg
    with pytest.raises(Refused) as e:  # and it is never reissued twice
        services.clear_hold(kr, rid, payment, user="lead-a", justification="new ordinary account 023 registered again")
    assert e.value.code == "ALREADY_PAID"


def test_a_held_excess_cleared_without_an_ordinary_account_is_held_again_not_paid(kr: Context) -> None:
    run, released = _release(kr)
    lee = next(e for e, v in _transfers(released).items() if v[0] == "004")[:-2]
    services.clear_hold(kr, run["run_id"], lee, user="lead-a", justification="payee promised an ordinary account")
    sup = services.create_supplementary_run(kr, "2026-11", user="fin-b")
    assert (sup["payable_count"], sup["payable_total"], sup["held_count"]) == (0, 0, 1)
    assert sup["exceptions"] == {"CAP_EXCESS_HELD": 1}  # to be cleared on this run once there is an account


def test_the_hold_list_shows_what_the_bank_held_who_clears_it_and_what_a_supplementary_run_pays(
        kr: Context, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    run, released = _release(kr)
    rid = run["run_id"]
    got = _transfers(released)
    by_bank = {v[0]: e for e, v in got.items()}
    kim_ordinary, park = by_bank["020"], by_bank["011"]
    lee = by_bank["004"][:-2]
    rejected = _pain002(tmp_path / "woori.xml", "WOORI-STS-1", got[kim_ordinary][2],
                        [(kim_ordinary, "RJCT", "AC04", 650_000, "KRW", "account closed 2026-11-20")])
    services.reconcile(kr, rid, rejected, user="fin-b")
    services.reconcile(kr, rid, _pain002(tmp_path / "nh.xml", "NH-STS-1", got[park][2],
                                         [(park, "ACSC", None, 900_001, "KRW")]), user="fin-b")
    kim = kim_ordinary[:-2]

    listed = services.list_holds(kr, rid)
    rows = {h["end_to_end_id"]: h for h in listed["holds"]}
    assert (listed["held_count"], listed["held_total"]) == (0, 0)  # no row of the run is HOLD as a whole
    assert set(rows) == {kim, lee, park}
    assert (rows[kim]["status"], rows[kim]["codes"], rows[kim]["clearable_by"]) == \
        ("PAYABLE", ["BANK_REJECTED"], ["finance_lead"])
    assert (rows[kim]["net_amount"], rows[kim]["supplementary_amount"], rows[kim]["clearance"]) == \
        (2_500_000, 650_000, None)  # the rejected leg, never the capped part the bank paid
    assert [f["detail"]["reason_code"] for f in rows[kim]["findings"] if f["code"] == "BANK_REJECTED"] == ["AC04"]
    assert (rows[lee]["codes"], rows[lee]["clearable_by"], rows[lee]["supplementary_amount"]) == \
        (["CAP_EXCESS_HELD"], ["finance_lead"], 150_000)
    # paid, with an amount query: listed, but nothing for a clearance or a supplementary run to pay
    assert (rows[park]["codes"], rows[park]["clearable_by"], rows[park]["supplementary_amount"]) == \
        (["BANK_AMOUNT_MISMATCH"], [], 0)
    assert "not paid again" in rows[park]["not_clearable"]

    services.clear_hold(kr, rid, kim, user="lead-a", justification="new ordinary account 023 registered by payee")
    after = {h["end_to_end_id"]: h for h in services.list_holds(kr, rid)["holds"]}
    assert after[kim]["clearance"]["cleared_by"] == "lead-a" and after[kim]["clearance"]["paid_in_run_id"] is None
    assert after[kim]["clearance"]["codes"] == ["BANK_REJECTED"] and after[kim]["supplementary_amount"] == 650_000
    summary = services.list_holds(kr, rid)
    assert (summary["cleared_count"], summary["awaiting_payment_count"], summary["awaiting_payment_total"]) == \
        (1, 1, 650_000)

    monkeypatch.setenv("PENSION_HOME", str(kr.home))
    monkeypatch.setenv("PENSION_DB_URL", kr.settings.database_url)
    monkeypatch.setenv("PENSION_COUNTRY", "KR")
    from payroll import cli

    capsys.readouterr()
    assert cli.main(["hold", "list", str(rid)]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if kim in x)
    assert "BANK_REJECTED" in line and "clearable by finance_lead" in line and "cleared by lead-a" in line
    assert "supplementary run pays 650,000" in line
    assert "awaiting payment 650,000" in out.splitlines()[0]
