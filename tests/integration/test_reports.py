"""The run's reports on SQLite and PostgreSQL: the exception report as CSV, JSON lines, XLSX and HTML, and
the run summary finance reads before approving. Their totals are the run's; national ids are masked for
every reader whose role does not need them; no spreadsheet cell is a formula."""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import lxml.html
import openpyxl
import pytest

from payroll import services
from payroll.errors import Refused
from payroll.identifiers import kr_rrn
from payroll.masking import ids_in
from payroll.services import Context
from payroll.services.reports import SEVERITIES, WIDE_COLUMNS, exception_rows, export_exceptions
from payroll.services.run_summary import run_summary
from tests import month
from tests.conftest import make_context

FORMATS = ("csv", "jsonl", "xlsx", "html")
FULL_READERS = ("audit-1", "fin-1", "lead-1")  # auditor, finance, finance_lead
MASKED_READERS = ("clerk-b01", "head-b01", "prov-thr", "admin-1", None, "nobody-known")
FILES = Path(__file__).resolve().parent.parent / "data" / "intake"


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _text(path: Path) -> str:
    """Everything a reader of the file could see: an XLSX's XML parts unzipped, any other file decoded."""
    if path.suffix == ".xlsx":
        with zipfile.ZipFile(path) as z:
            return "".join(z.read(n).decode("utf-8") for n in z.namelist())
    return path.read_bytes().decode("utf-8-sig")


def _secrets(ctx: Context, run_id: int) -> set[str]:
    """Every full national id of the run's exceptions: the rows' own and those in their details."""
    found: set[str] = set()
    for r in exception_rows(ctx, run_id):
        found |= {r["national_id"]} if r["national_id"] else set()
        found |= ids_in(json.loads(r["detail"]))
    return {i for i in found if len(i) >= 8}


def _value(td: Any) -> Any:
    """A cell's number (its data-value) or its text."""
    v = td.get("data-value")
    return (float(v) if "." in v else int(v)) if v is not None else td.text_content()


def _cells(table: Any) -> list[dict[str, Any]]:
    """An HTML table's body rows as {header: number or text}."""
    heads = [th.text_content() for th in table.xpath("./thead/tr/th")]
    return [{h: _value(td) for h, td in zip(heads, tr.xpath("./td"), strict=True)}
            for tr in table.xpath("./tbody/tr")]


def _foot(table: Any) -> dict[str, Any]:
    """An HTML table's footer (its totals) as {header: number or text}."""
    heads = [th.text_content() for th in table.xpath("./thead/tr/th")]
    return {h: _value(td) for h, td in zip(heads, table.xpath("./tfoot/tr/td"), strict=True)}


def _self_contained(doc: Any) -> None:
    """No script, style sheet, image or frame from anywhere but the page itself."""
    assert doc.xpath("//script[@src] | //link | //iframe | //object | //embed") == []
    assert all(img.get("src", "").startswith("data:image/png;base64,") for img in doc.iter("img"))
    assert all(not a.get("href", "#").startswith(("http:", "https:", "//")) for a in doc.iter("a"))


def _sheet_rows(ws: Any) -> list[dict[str, Any]]:
    rows = list(ws.iter_rows(values_only=True))
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


def test_exception_reports_add_up_and_mask_ids_by_role(ctx: Context, plan: dict, tmp_path: Path) -> None:
    month.release_history(ctx, plan)  # so that findings about earlier periods (REPORT) exist too
    run = month.approved_run(ctx, plan)
    rid = run["run_id"]
    rows = exception_rows(ctx, rid)
    by_severity = Counter(r["severity"] for r in rows)
    assert set(by_severity) == set(SEVERITIES)
    secrets = _secrets(ctx, rid)
    assert len(secrets) > len({r["branch_code"] for r in rows})

    # masked for every role that does not need full ids, in every format, evidence and detail included
    for user in MASKED_READERS:
        for fmt in FORMATS if user in ("clerk-b01", None) else ("csv",):
            written = export_exceptions(ctx, rid, tmp_path / f"masked-{user}.{fmt}", fmt, user=user)
            assert written["masked"] is True and written["rows"] == len(rows)
            text = _text(Path(written["path"]))
            assert [s for s in secrets if s in text] == [], (user, fmt)
    masked = [json.loads(x) for x in (tmp_path / "masked-clerk-b01.jsonl").read_text(encoding="utf-8").splitlines()]
    assert all(set(r["national_id"][:6]) == {"*"} and r["national_id"][-4:] == full["national_id"][-4:]
               for r, full in zip(masked, rows, strict=True) if full["national_id"] and len(full["national_id"]) == 10)

    # in full for auditors and finance
    for user in FULL_READERS:
        for fmt in FORMATS if user == "audit-1" else ("csv",):
            written = export_exceptions(ctx, rid, tmp_path / f"full-{user}.{fmt}", fmt, user=user)
            assert written["masked"] is False
            text = _text(Path(written["path"]))
            assert secrets <= {s for s in secrets if s in text}, (user, fmt)

    # XLSX: a summary sheet and a sheet per severity; totals are the run's; no formula anywhere
    wb = openpyxl.load_workbook(tmp_path / "full-audit-1.xlsx")
    assert wb.sheetnames == ["Summary", *SEVERITIES]
    for ws in wb:
        assert ws.freeze_panes == "A2" and ws.auto_filter.ref == f"A1:{ws.cell(1, ws.max_column).column_letter}" \
            f"{ws.max_row}"
        assert all(c.data_type != "f" for line in ws.iter_rows() for c in line)
        assert all((ws.column_dimensions[c[0].column_letter].width or 0) >= 8 for c in ws.iter_cols(max_row=1))
    for sev in SEVERITIES:
        sheet = _sheet_rows(wb[sev])
        assert list(sheet[0]) == WIDE_COLUMNS and len(sheet) == by_severity[sev]
        assert {r["severity"] for r in sheet} == {sev}
    summary = _sheet_rows(wb["Summary"])
    part = {by: [r for r in summary if r["totals_by"] == by] for by in ("run", "branch", "code", "bank")}
    (whole,) = part["run"]
    assert (whole["payable_count"], whole["payable_total"], whole["held_count"], whole["blocked_count"]) == (
        run["payable_count"], run["payable_total"], run["held_count"], run["blocked_count"])
    assert whole["exceptions"] == len(rows) and all(whole[s] == by_severity[s] for s in SEVERITIES)
    for by in ("branch", "bank"):
        assert sum(r["exceptions"] for r in part[by]) == len(rows)
        assert sum(r["payable_total"] for r in part[by]) == run["payable_total"]
        assert sum(r["held_count"] for r in part[by]) == run["held_count"]
        assert sum(r["blocked_count"] for r in part[by]) == run["blocked_count"]
    assert sum(r["payable_count"] for r in part["branch"]) == run["payable_count"]
    assert {r["key"]: {"count": r["payable_count"], "total": r["payable_total"]}
            for r in part["bank"] if r["payable_count"]} == run["per_bank"]
    assert {r["key"]: Counter(x["branch_code"] for x in rows)[r["key"]] for r in part["branch"]} == {
        r["key"]: r["exceptions"] for r in part["branch"]}
    assert {r["key"]: r["exceptions"] for r in part["code"]} == dict(Counter(r["code"] for r in rows))

    # HTML: self-contained, sortable, the same totals; one table per severity
    doc = lxml.html.parse(str(tmp_path / "full-audit-1.html")).getroot()
    _self_contained(doc)
    assert doc.xpath("//table[contains(@class, 'sortable')]") and "addEventListener" in doc.xpath("//script")[0].text
    branches, codes, banks = (doc.get_element_by_id(i) for i in ("by-branch", "by-code", "by-bank"))
    assert _foot(branches)["payable_total"] == sum(r["payable_total"] for r in _cells(branches)) == run["payable_total"]
    assert _foot(branches)["payable_count"] == run["payable_count"]
    assert _foot(branches)["exceptions"] == _foot(codes)["exceptions"] == _foot(banks)["exceptions"] == len(rows)
    assert {r["key"]: r["exceptions"] for r in _cells(codes)} == dict(Counter(r["code"] for r in rows))
    assert {r["key"]: {"count": r["payable_count"], "total": r["payable_total"]}
            for r in _cells(banks) if r["payable_count"]} == run["per_bank"]
    for sev in SEVERITIES:
        found = _cells(doc.get_element_by_id(f"exceptions-{sev}"))
        assert len(found) == by_severity[sev] and {r["severity"] for r in found} == {sev}

    # the run summary: the run's figures, the change against October, masked for the clerk
    october = services.show_run(ctx, rid - 1)
    assert october["period"] == "2026-10" and october["status"] == "released"
    for user in ("clerk-b01", "fin-2"):
        got = run_summary(ctx, rid, tmp_path / f"summary-{user}.html", user=user)
        text = _text(Path(got["path"]))
        assert got["masked"] is (user == "clerk-b01")
        assert ([s for s in secrets if s in text] == []) if got["masked"] else any(s in text for s in secrets)
    assert (got["payable_count"], got["payable_total"]) == (run["payable_count"], run["payable_total"])
    assert got["previous"]["period"] == "2026-10" and got["previous"]["run_ids"] == [october["run_id"]]
    assert got["previous"]["payable_total"] == october["payable_total"]
    assert got["charts"] == ["amounts-per-province", "change-per-province", "exceptions-per-code"]
    doc = lxml.html.parse(got["path"]).getroot()
    _self_contained(doc)
    assert len(doc.xpath("//img")) == 3
    figures = {r["figure"]: r["value"] for r in _cells(doc.get_element_by_id("figures"))}
    assert figures["payable_total"] == run["payable_total"] and figures["payable_count"] == run["payable_count"]
    assert figures["previous_payable_total"] == october["payable_total"]
    assert figures["change"] == run["payable_total"] - october["payable_total"]
    provinces = doc.get_element_by_id("per-province")
    assert sum(r["payable_total"] for r in _cells(provinces)) == _foot(provinces)["payable_total"] == run["payable_total"]
    assert sum(r["previous_total"] for r in _cells(provinces)) == october["payable_total"]
    assert sum(r["payable_count"] for r in _cells(provinces)) == run["payable_count"]
    per_branch = doc.get_element_by_id("per-branch")
    assert sum(r["payable_total"] for r in _cells(per_branch)) == run["payable_total"]
    assert {r["bank_code"]: {"count": r["count"], "total": r["total"]}
            for r in _cells(doc.get_element_by_id("per-bank"))} == run["per_bank"]
    assert {r["code"]: r["count"] for r in _cells(doc.get_element_by_id("per-code"))} == dict(
        Counter(r["code"] for r in rows))
    held = _cells(doc.get_element_by_id("held-blocked"))
    assert len(held) == by_severity["HOLD"] + by_severity["BLOCK"]


def test_a_first_run_has_nothing_to_compare_and_reports_are_reproducible(ctx: Context, plan: dict,
                                                                         tmp_path: Path) -> None:
    run = month.approved_run(ctx, plan)
    rid = run["run_id"]
    got = run_summary(ctx, rid, tmp_path / "summary.html")  # no reader named: masked
    assert got["masked"] is True and got["previous"] is None
    assert (got["payable_count"], got["payable_total"]) == (run["payable_count"], run["payable_total"])
    assert (got["held_count"], got["blocked_count"]) == (run["held_count"], run["blocked_count"])
    assert got["per_bank"] == run["per_bank"]
    assert sum(v["total"] for v in got["per_province"].values()) == run["payable_total"]
    assert got["charts"] == ["amounts-per-province", "exceptions-per-code"]
    doc = lxml.html.parse(got["path"]).getroot()
    assert "there is no previous period to compare" in doc.text_content()
    assert [s for s in _secrets(ctx, rid) if s in _text(Path(got["path"]))] == []
    # the same report twice is the same bytes: no clock in the workbook, the page or its charts
    again = run_summary(ctx, rid, tmp_path / "again.html")
    assert Path(again["path"]).read_bytes() == Path(got["path"]).read_bytes()
    first = export_exceptions(ctx, rid, tmp_path / "a.xlsx", "xlsx", user="audit-1")
    second = export_exceptions(ctx, rid, tmp_path / "b.xlsx", "xlsx", user="audit-1")
    assert Path(first["path"]).read_bytes() == Path(second["path"]).read_bytes()
    with pytest.raises(Refused) as e:
        export_exceptions(ctx, rid, tmp_path / "x.pdf", "pdf")
    assert e.value.code == "UNKNOWN_FORMAT"


def test_formula_like_names_stay_text_in_the_workbook_and_escaped_in_the_page(ctx: Context, tmp_path: Path) -> None:
    src = tmp_path / "B01.csv"
    shutil.copy(FILES / "formula_injection.csv", src)
    r = services.submit(ctx, src, branch="B01", period="2026-11", user="clerk-b01")
    for user in ("head-b01", "prov-thr"):
        services.approve_submission(ctx, r["submission_id"], user=user)
    run = services.create_run(ctx, "2026-11", user="fin-1")
    names = {'=HYPERLINK("http://x.example","click")', "+98 21 5555", "-2+3", "@SUM(A1:A9)"}

    book = export_exceptions(ctx, run["run_id"], tmp_path / "ex.xlsx", "xlsx", user="audit-1")
    wb = openpyxl.load_workbook(book["path"])
    assert all(c.data_type != "f" for ws in wb for line in ws.iter_rows() for c in line)
    got = {c.value for line in wb["HOLD"].iter_rows(min_row=2) for c in line if c.column_letter == "G"}
    assert got == names  # the payee names, as they were sent, as text
    assert all(c.data_type == "s" and c.quotePrefix for line in wb["HOLD"].iter_rows(min_row=2)
               for c in line if c.column_letter == "G")
    with zipfile.ZipFile(book["path"]) as z:
        assert not any(re.search(rb"<f[ >]", z.read(n)) for n in z.namelist() if n.startswith("xl/worksheets/"))

    page = export_exceptions(ctx, run["run_id"], tmp_path / "ex.html", "html", user="audit-1")
    raw = Path(page["path"]).read_text(encoding="utf-8")
    assert "=HYPERLINK(&#34;http://x.example&#34;,&#34;click&#34;)" in raw and '"http://x.example"' not in raw
    doc = lxml.html.parse(page["path"]).getroot()
    _self_contained(doc)
    assert {r["full_name"] for r in _cells(doc.get_element_by_id("exceptions-HOLD"))} == names


def test_korean_ids_show_birth_date_and_gender_digit_to_a_clerk(tmp_path: Path, db_url: str) -> None:
    ctx = make_context(tmp_path / "home", db_url, country="KR")
    services.init_database(ctx)
    kim, lee, park, holder = (front + kr_rrn.calc_check_digit(front + "0")
                              for front in ("450312112345", "480921223456", "510101134567", "390505245678"))

    def load(kind: str, text: str) -> None:
        services.load_reference(ctx, kind, _write(tmp_path / f"{kind}.csv", text))

    load("branches", "branch_code,name,province_code\nK01,서울 중앙,SEO\n")
    load("users", "user_id,name,role,branch_code,province_code\nclerk-k01,김 직원,clerk,K01,\n"
                  "head-k01,이 지사장,branch_head,K01,\nprov-seo,박 본부장,province_approver,,SEO\n"
                  "fin-a,재무 A,finance,,\naudit-a,감사 A,auditor,,\n")
    load("registry", f"national_id,full_name,birth_date\n{kim},김 민수,1945-03-12\n{lee},이 영희,1948-09-21\n"
                     f"{park},박 철수,1951-01-01\n")
    load("accounts", "account_code,bank_code,holder_national_id,dedicated,status\n"
                     f"088-110123456789,088,{kim},true,open\n004-22334455667,004,{holder},true,open\n"
                     f"011-3010123456789,011,{park},false,open\n")
    listing = _write(tmp_path / "K01.csv", "pension_id,national_id,full_name,birth_date,benefit_type,gross_amount,"
                     "deduction_amount,net_amount,account_code\n"
                     f"P1,{kim},김 민수,1945-03-12,OLD_AGE,700000,20000,680000,088-110123456789\n"
                     f"P2,{lee},이 영희,1948-09-21,OLD_AGE,450000,0,450000,004-22334455667\n"
                     f"P3,{park},박 철수,1951-01-01,DISABILITY,900000,0,900000,011-3010123456789\n")
    receipt = services.submit(ctx, listing, branch="K01", period="2026-11", user="clerk-k01")
    for user in ("head-k01", "prov-seo"):
        services.approve_submission(ctx, receipt["submission_id"], user=user)
    run = services.create_run(ctx, "2026-11", user="fin-a")
    assert run["exceptions"] == {"ACCOUNT_NOT_DEDICATED": 1, "ACCOUNT_NOT_OWNED": 1}

    for user in ("clerk-k01", "audit-a"):
        paths = [Path(export_exceptions(ctx, run["run_id"], tmp_path / f"{user}.{fmt}", fmt, user=user)["path"])
                 for fmt in FORMATS]
        summary = run_summary(ctx, run["run_id"], tmp_path / f"{user}-summary.html", user=user)
        assert (summary["payable_count"], summary["payable_total"]) == (run["payable_count"], run["payable_total"])
        for path in [*paths, Path(summary["path"])]:
            text = _text(path)
            if user == "clerk-k01":
                assert not any(i in text for i in (lee, park, holder)), path.name
                assert f"{lee[:7]}******" in text and f"{park[:7]}******" in text, path.name
            else:
                assert lee in text and park in text, path.name
        if user == "clerk-k01":  # the account's holder is named only in the finding's evidence and detail
            assert f"{holder[:7]}******" in _text(paths[0])
        else:
            assert holder in _text(paths[0])
    ctx.dispose()


def test_who_read_which_report_and_trace_is_on_the_audit_chain(ctx: Context, plan: dict, expected: dict,
                                                                 tmp_path: Path) -> None:
    """Reading personal data is recorded: each report or trace made for a named user appends an audit
    entry with the file's hash and whether it carried full national ids; a trace names the payee by
    masked id and by the hash of the full id. The chain still verifies."""
    from sqlalchemy import select

    from payroll.services.trace import trace
    from payroll.store.files import sha256_bytes
    from payroll.store.models import AuditEntry

    rid = int(month.approved_run(ctx, plan)["run_id"])

    def last() -> AuditEntry:
        with ctx.uow() as s:
            entry = s.execute(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).scalar_one()
            s.expunge(entry)
            return entry

    seq = last().seq
    export_exceptions(ctx, rid, tmp_path / "none.csv", "csv")  # for nobody: masked, nothing to record
    assert last().seq == seq
    for user, full in (("audit-1", True), ("head-b01", False)):
        out = tmp_path / f"{user}.xlsx"
        export_exceptions(ctx, rid, out, "xlsx", user=user)
        e = last()
        assert (e.actor, e.action, e.item_type, e.item_id) == (user, "report.exceptions", "run", str(rid))
        assert json.loads(e.detail)["full_ids"] is full
        assert json.loads(e.detail)["sha256"] == sha256_bytes(out.read_bytes())
    run_summary(ctx, rid, tmp_path / "summary.html", user="fin-2")
    assert (last().action, json.loads(last().detail)["full_ids"]) == ("report.run_summary", True)
    nid = next(p["national_id"] for p in expected["planted"] if p["code"] == "NAME_VARIANT")
    trace(ctx, nid, user="audit-1")
    e = last()
    assert (e.action, e.item_type) == ("payee.trace", "payee")
    assert nid not in e.item_id and e.item_id.endswith(nid[-4:])
    assert json.loads(e.detail)["national_id_sha256"] == sha256_bytes(nid.encode())
    assert services.verify_audit(ctx)["ok"]
