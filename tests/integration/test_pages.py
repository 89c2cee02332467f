"""The portal's pages (payroll.web.pages) through FastAPI's TestClient on SQLite: the cookie session and
its CSRF token, the redirect to the sign-in form, and the sample month walked by its users: the clerk
uploads B01 and reads the receipt, the branch head and the provincial approver approve it from their
inboxes, finance makes the run, reads its dashboard, two other finance users approve it and it is
released with its bank files; the auditor filters the exception report, reads the audit trail and traces
a payee. Labels in Persian (right to left), Korean and English.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import lxml.html
import pytest
from fastapi import FastAPI

from payroll import services
from payroll.config import Settings
from payroll.services import portal
from payroll.services.users import set_password
from payroll.web import pages
from payroll.web.app import create_app
from payroll.web.security import COOKIE
from tests.conftest import SAMPLE

with warnings.catch_warnings():  # starlette would rather have httpx2, which is not installed here
    warnings.filterwarnings("ignore", message=".*httpx.*starlette.testclient.*")
    from fastapi.testclient import TestClient

PASSWORD = "correct horse battery"
B01 = SAMPLE / "branches" / "B01.csv"


def _users() -> dict[str, str]:
    rows = [line.split(",") for line in (SAMPLE / "users.csv").read_text(encoding="utf-8").splitlines()[1:]]
    province = next(r[4] for r in rows if r[0] == "clerk-b01")
    approver = next(r[0] for r in rows if r[2] == "province_approver" and r[4] == province)
    return {"clerk": "clerk-b01", "head": "head-b01", "province": approver, "maker": "fin-1", "checker1": "fin-2",
            "checker2": "fin-3", "auditor": "audit-1", "lead": "lead-1"}


USERS = _users()


def portal_app(settings: Settings) -> FastAPI:
    application = create_app(settings)
    if not any(getattr(r, "path", None) == "/login" for r in application.routes):
        pages.install(application)  # until create_app installs the pages itself
    return application


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    tmp = tmp_path_factory.mktemp("pages")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("PREFECT_API_URL", raising=False)  # no Prefect server: decisions resume no flow
        application = portal_app(Settings(home=tmp / "home", db_url=f"sqlite:///{tmp / 'pension.db'}"))
        ctx = application.state.ctx
        services.init_database(ctx, sample=True)
        for user in USERS.values():
            set_password(ctx, user, PASSWORD)
        yield application
        ctx.dispose()


def browser(app: FastAPI, user: str | None = None, lang: str = "en") -> TestClient:
    """A client that keeps cookies like a browser, signed in as `user`."""
    client = TestClient(app, follow_redirects=False, headers={"Accept-Language": lang})
    if user is not None:
        r = client.post("/login", data={"username": user, "password": PASSWORD})
        assert r.status_code == 303, r.text
    return client


def html(r: Any) -> Any:
    return lxml.html.fromstring(r.text)


def csrf_of(r: Any) -> str:
    found = html(r).xpath("//input[@name='csrf_token']/@value")
    assert found and found[0], "the page has no CSRF field"
    return str(found[0])


def refusal(r: Any) -> str:
    return str(html(r).xpath("string(//*[@id='error-code'])")).strip()


@dataclass
class Month:
    submission_id: int
    receipt: Any  # the receipt page's response
    inbox: dict[str, Any]  # approver -> their inbox before approving
    approved: dict[str, Any]  # approver -> the inbox after approving
    run_id: int
    dashboard: Any


@pytest.fixture(scope="module")
def month(app: FastAPI, plan: dict) -> Month:
    """B01's list walked through the pages up to a run awaiting approval."""
    decl = next(s for s in plan["submissions"] if s["branch"] == "B01" and s["expect"] == "accepted")
    clerk = browser(app, USERS["clerk"])
    form = clerk.get("/submissions/new")
    assert form.status_code == 200
    receipt = clerk.post("/submissions/new", data={
        "csrf_token": csrf_of(form), "branch": "B01", "period": plan["period"],
        "declared_count": str(decl["declared_count"]), "declared_total": str(decl["declared_total"])},
        files={"file": ("B01.csv", B01.read_bytes(), "text/csv")})
    assert receipt.status_code == 201, receipt.text
    submission_id = int(html(receipt).xpath("//*[@id='receipt']/@data-submission-id")[0])

    inbox, approved = {}, {}
    for who in ("head", "province"):
        approver = browser(app, USERS[who])
        page = approver.get("/inbox")
        inbox[who] = page
        row = html(page).xpath(f"//tr[@data-submission-id='{submission_id}']")[0]
        if who == "head":  # a return needs a reason: refused, and the list still waits
            r = approver.post(f"/submissions/{submission_id}/reject", data={"csrf_token": csrf_of(page), "reason": " "})
            assert (r.status_code, refusal(r)) == (422, "REASON_REQUIRED")
        expect = row.xpath(".//input[@name='expect_sha256']/@value")[0]
        r = approver.post(f"/submissions/{submission_id}/approve", data={
            "csrf_token": csrf_of(page), "expect_sha256": expect, "comment": "totals checked against the ledger"})
        assert (r.status_code, r.headers["location"]) == (303, "/inbox"), r.text
        approved[who] = approver.get(r.headers["location"])

    maker = browser(app, USERS["maker"])
    runs = maker.get("/runs")
    r = maker.post("/runs", data={"csrf_token": csrf_of(runs), "period": plan["period"]})
    assert r.status_code == 303, r.text
    run_id = int(re.fullmatch(r"/runs/([0-9]+)", r.headers["location"]).group(1))  # type: ignore[union-attr]
    dashboard = maker.get(r.headers["location"])
    assert dashboard.status_code == 200, dashboard.text
    return Month(submission_id, receipt, inbox, approved, run_id, dashboard)


@pytest.fixture(scope="module")
def released(app: FastAPI, month: Month) -> TestClient:
    """The run approved by two finance users other than its maker, and released by the maker."""
    for who in ("checker1", "checker2"):
        checker = browser(app, USERS[who])
        page = checker.get(f"/runs/{month.run_id}")
        r = checker.post(f"/runs/{month.run_id}/approve", data={
            "csrf_token": csrf_of(page), "expect_sha256": html(page).xpath("//input[@name='expect_sha256']/@value")[0]})
        assert r.status_code == 303, r.text
    maker = browser(app, USERS["maker"])
    page = maker.get(f"/runs/{month.run_id}")
    r = maker.post(f"/runs/{month.run_id}/release", data={"csrf_token": csrf_of(page)})
    assert r.status_code == 303, r.text
    return maker


# --- the session ------------------------------------------------------------------------------------


def test_sign_in_sets_an_httponly_strict_cookie_and_sign_out_clears_it(app: FastAPI) -> None:
    client = browser(app)
    form = client.get("/login")
    assert form.status_code == 200
    assert html(form).xpath("//form[@id='login-form']//input[@name='username']")
    assert html(form).xpath("//form[@id='login-form']//input[@name='password' and @type='password']")
    assert html(form).xpath("//button[@id='login']")

    r = client.post("/login", data={"username": USERS["clerk"], "password": PASSWORD})
    assert (r.status_code, r.headers["location"]) == (303, "/")
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith(f"{COOKIE}="))
    attributes = {a.strip().split("=")[0].lower(): a.strip() for a in cookie.split(";")[1:]}
    assert "httponly" in attributes and attributes["samesite"].lower() == "samesite=strict"
    assert attributes["path"] == "Path=/" and attributes["max-age"] == f"Max-Age={app.state.sessions.max_age}"
    assert "secure" not in attributes  # PENSION_COOKIE_SECURE is off for http://127.0.0.1

    home = client.get("/")
    assert home.status_code == 200 and html(home).xpath("//*[@id='page-title']")
    assert html(home).xpath("//a[@href='/submissions/new']")  # the clerk's task
    out = client.post("/logout", data={"csrf_token": csrf_of(home)})
    assert (out.status_code, out.headers["location"]) == (303, "/login")
    assert any(c.startswith(f'{COOKIE}=""') or "Max-Age=0" in c for c in out.headers.get_list("set-cookie"))
    assert client.get("/").status_code == 303


def test_a_session_cookie_is_revoked_by_sign_out_and_by_a_password_change(app: FastAPI) -> None:
    """The cookie a browser kept (or someone copied) stops working once its user signs out or gets a new
    password: the pages send it to the sign-in form and the API answers 401 TOKEN_REVOKED."""
    user = "head-b06"  # a user of no other test here
    set_password(app.state.ctx, user, PASSWORD)
    client = browser(app, user)
    home = client.get("/")
    assert home.status_code == 200
    kept = client.cookies[COOKIE]
    assert client.post("/logout", data={"csrf_token": csrf_of(home)}).status_code == 303
    copied = TestClient(app, follow_redirects=False, cookies={COOKIE: kept})
    assert copied.get("/").status_code == 303 and copied.get("/").headers["location"].startswith("/login")
    r = copied.get("/api/v1/me")
    assert (r.status_code, r.json()["code"]) == (401, "TOKEN_REVOKED")
    r = copied.get("/api/v1/me", headers={"Authorization": f"Bearer {kept}"})
    assert (r.status_code, r.json()["code"]) == (401, "TOKEN_REVOKED")

    again = browser(app, user)
    assert again.get("/").status_code == 200
    set_password(app.state.ctx, user, "another password of twelve")
    assert again.get("/").status_code == 303
    assert browser(app).post("/login", data={"username": user, "password": PASSWORD}).status_code == 401


def test_a_wrong_password_shows_the_form_again_with_401(app: FastAPI) -> None:
    client = browser(app)
    r = client.post("/login", data={"username": USERS["auditor"], "password": "not the password at all"})
    assert r.status_code == 401
    assert refusal(r) == "BAD_CREDENTIALS" and html(r).xpath("//form[@id='login-form']")
    assert not any(c.startswith(f"{COOKIE}=") for c in r.headers.get_list("set-cookie"))


def test_too_many_failed_sign_ins_answer_429(app: FastAPI) -> None:
    """A second app on the same home: its own throttle, so this test's failures block no other test."""
    other = portal_app(app.state.ctx.settings)
    client = browser(other)
    statuses = [client.post("/login", data={"username": USERS["lead"], "password": "wrong password, again"})
                .status_code for _ in range(other.state.throttle.attempts + 1)]
    assert statuses[:-1] == [401] * other.state.throttle.attempts
    r = client.post("/login", data={"username": USERS["lead"], "password": PASSWORD})
    assert (r.status_code, refusal(r)) == (429, "TOO_MANY_ATTEMPTS") and int(r.headers["retry-after"]) > 0
    assert html(r).xpath("//form[@id='login-form']")
    other.state.ctx.dispose()


def test_pages_without_a_session_go_to_the_sign_in_form(app: FastAPI) -> None:
    client = browser(app)
    for path in ("/", "/submissions/new", "/submissions", "/inbox", "/runs", "/runs/1", "/runs/1/exceptions",
                 "/audit", "/trace"):
        r = client.get(path)
        assert r.status_code == 303, path
        assert r.headers["location"] == "/login?" + urlencode({"next": path})
    assert browser(app).get("/runs?page=2").headers["location"] == "/login?next=%2Fruns%3Fpage%3D2"
    forged = TestClient(app, follow_redirects=False, cookies={COOKIE: "garbage"})
    assert forged.get("/inbox").headers["location"] == "/login?next=%2Finbox"
    # a form posted without a session: to the sign-in form, then back to the page of the form
    r = client.post("/runs", data={"period": "2026-11"})
    assert (r.status_code, r.headers["location"]) == (303, "/login?next=%2Fruns")
    # after signing in, to the page asked for; never to another site
    r = client.post("/login", data={"username": USERS["auditor"], "password": PASSWORD, "next": "/audit"})
    assert r.headers["location"] == "/audit"
    r = browser(app).post("/login", data={"username": USERS["auditor"], "password": PASSWORD,
                                          "next": "//evil.example/"})
    assert r.headers["location"] == "/"


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(app: FastAPI) -> None:
    ctx = app.state.ctx
    clerk = browser(app, USERS["clerk"])
    before = portal.list_submissions(ctx, user=USERS["clerk"])["total"]
    trail = len(portal.audit_trail(ctx, user=USERS["auditor"], limit=500)["items"])
    fields = {"branch": "B01", "period": "2026-11"}
    upload = {"file": ("B01.csv", B01.read_bytes(), "text/csv")}
    for extra in ({}, {"csrf_token": "0" * 64}):
        r = clerk.post("/submissions/new", data={**fields, **extra}, files=upload)
        assert (r.status_code, refusal(r)) == (403, "CSRF")
        assert "Traceback" not in r.text
    # another session's token is no good either
    other = browser(app, USERS["clerk"])
    r = clerk.post("/submissions/new", data={**fields, "csrf_token": csrf_of(other.get("/submissions/new"))},
                   files=upload)
    assert r.status_code == 403
    maker = browser(app, USERS["maker"])
    runs = portal.list_runs(ctx, user=USERS["maker"])["total"]
    assert maker.post("/runs", data={"period": "2026-11"}).status_code == 403
    assert portal.list_submissions(ctx, user=USERS["clerk"])["total"] == before
    assert portal.list_runs(ctx, user=USERS["maker"])["total"] == runs
    assert len(portal.audit_trail(ctx, user=USERS["auditor"], limit=500)["items"]) == trail


# --- the month -----------------------------------------------------------------------------------------


def test_the_clerk_uploads_the_list_and_reads_the_receipt(app: FastAPI, month: Month, expected: dict) -> None:
    form = browser(app, USERS["clerk"]).get("/submissions/new")
    doc = html(form)
    assert doc.xpath("//form[@id='upload-form']/@enctype") == ["multipart/form-data"]
    assert doc.xpath("//form[@id='upload-form']//input[@name='branch']/@value") == ["B01"]  # from the user
    assert doc.xpath("//form[@id='upload-form']//input[@name='file' and @type='file']")
    assert doc.xpath("//button[@id='upload']") and doc.xpath("//script[@src='/static/portal.js']")

    receipt = html(month.receipt).xpath("//*[@id='receipt']")[0]
    b01 = expected["branches"]["B01"]
    assert receipt.get("data-status") == "accepted"
    assert int(receipt.xpath("string(.//*[@id='receipt-rows']//@data-count)")) == b01["rows_in_file"]
    assert int(receipt.xpath("string(.//*[@id='receipt-rows-rejected']//@data-count)")) == b01["rows_rejected_total"]
    rows = receipt.xpath(".//table[@id='rejected-rows']/tbody/tr")
    planted = {(p["row"], p["code"]) for p in expected["planted"] if p["branch"] == "B01" and p["stage"] == "intake"}
    assert {(int(r.get("data-row")), r.get("data-code")) for r in rows} == planted
    for r in rows:  # row number, column, code and message
        cells = [c.text_content().strip() for c in r.xpath("./td")]
        assert len(cells) == 4 and all(cells)
    assert receipt.xpath(".//*[@id='gate']/@data-success") == ["false"]  # the gate found the planted rows

    # the list's page: the same receipt and its versions
    detail = browser(app, USERS["clerk"]).get(f"/submissions/{month.submission_id}")
    assert detail.status_code == 200
    assert html(detail).xpath(f"//table[@id='versions']//tr[@data-submission-id='{month.submission_id}']")
    listing = browser(app, USERS["clerk"]).get("/submissions")
    assert html(listing).xpath(f"//table[@id='submissions']//tr[@data-submission-id='{month.submission_id}']")


def test_the_head_then_the_province_approve_from_their_inboxes(app: FastAPI, month: Month) -> None:
    sid = month.submission_id
    for who in ("head", "province"):
        row = html(month.inbox[who]).xpath(f"//tr[@data-submission-id='{sid}']")[0]
        assert row.xpath(f".//button[@id='approve-{sid}']") and row.xpath(f".//button[@id='reject-{sid}']")
        assert row.xpath(".//textarea[@name='comment']") and row.xpath(".//textarea[@name='reason']")
        assert row.xpath(".//*[@data-amount]")  # the accepted total
        after = html(month.approved[who])
        assert after.xpath("//*[@id='message']") and not after.xpath(f"//tr[@data-submission-id='{sid}']")
    view = portal.submission_for(app.state.ctx, sid, user=USERS["auditor"])
    assert (view["state"], [a["user"] for a in view["approvals"]]) == ("approved", [USERS["head"], USERS["province"]])
    # the list's page shows both signatures
    detail = html(browser(app, USERS["clerk"]).get(f"/submissions/{sid}"))
    assert len(detail.xpath("//table[@id='approvals']/tbody/tr")) == 2


def test_the_finance_dashboard_adds_up_to_the_run(app: FastAPI, month: Month) -> None:
    run = portal.run_for(app.state.ctx, month.run_id, user=USERS["maker"])
    doc = html(month.dashboard)
    assert doc.xpath("//*[@id='page-title']") and doc.xpath("//button[@id='approve-run']")
    provinces = [int(x) for x in doc.xpath("//table[@id='per-province']/tbody//td[@class='total']//@data-amount")]
    assert provinces and sum(provinces) == run["payable_total"]
    banks = [int(x) for x in doc.xpath("//table[@id='per-bank']/tbody//td[@class='total']//@data-amount")]
    assert sum(banks) == run["payable_total"]
    benefits = [int(x) for x in doc.xpath("//table[@id='per-benefit']/tbody//td[@class='total']//@data-amount")]
    assert sum(benefits) == run["payable_total"]
    codes = {r.get("data-code") for r in doc.xpath("//table[@id='exceptions-per-code']/tbody/tr")}
    assert codes == set(run["exceptions"]) | set(run["intake_rejections"])
    assert doc.xpath("//*[@id='previous-period']")
    assert not doc.xpath("//*[contains(@class, 'bank-file')]")  # nothing released yet


def test_two_other_finance_users_approve_and_the_release_lists_the_bank_files(app: FastAPI, month: Month,
                                                                             released: TestClient) -> None:
    # the maker may not sign their own run
    maker = browser(app, USERS["maker"])
    page = maker.get(f"/runs/{month.run_id}")
    doc = html(page)
    assert doc.xpath("//*[@id='run-summary']/@data-status") == ["released"]
    assert len(doc.xpath("//table[@id='run-approvals']/tbody/tr")) == 2
    links = doc.xpath("//a[contains(@class, 'bank-file')]/@href")
    files = portal.bank_files(app.state.ctx, month.run_id, user=USERS["maker"])["files"]
    assert len(links) == len(files) >= 1
    r = maker.get(links[0])
    assert r.status_code == 200 and r.headers["x-content-sha256"] == hashlib.sha256(r.content).hexdigest()
    assert r.headers["x-content-sha256"] in {f["sha256"] for f in files}
    assert doc.xpath("//table[@id='manifest']")
    # the auditor reads the dashboard but downloads no bank file
    auditor = browser(app, USERS["auditor"])
    assert not html(auditor.get(f"/runs/{month.run_id}")).xpath("//a[contains(@class, 'bank-file')]")
    r = auditor.get(links[0])
    assert (r.status_code, refusal(r)) == (403, "WRONG_ROLE")


def test_holds_of_the_released_run_are_cleared_by_the_roles_their_codes_name(app: FastAPI, month: Month,
                                                                           released: TestClient) -> None:
    checker = browser(app, USERS["checker1"])
    page = checker.get(f"/runs/{month.run_id}/holds")
    assert page.status_code == 200
    held = html(page).xpath("//table[@id='holds']/tbody/tr/@data-end-to-end-id")
    assert held and len(held) == portal.holds_for(app.state.ctx, month.run_id, user=USERS["auditor"])["held_count"]
    why = "The payee's identity card was checked by the branch head in person."
    r = checker.post(f"/runs/{month.run_id}/holds/{held[0]}/clear", data={"csrf_token": csrf_of(page),
                                                                           "justification": why})
    assert (r.status_code, refusal(r)) == (403, "WRONG_ROLE")  # these codes are the finance lead's
    lead = browser(app, USERS["lead"])
    page = lead.get(f"/runs/{month.run_id}/holds")
    r = lead.post(f"/runs/{month.run_id}/holds/{held[0]}/clear", data={"csrf_token": csrf_of(page),
                                                                        "justification": "too short"})
    assert (r.status_code, refusal(r)) == (422, "JUSTIFICATION_TOO_SHORT")
    r = lead.post(f"/runs/{month.run_id}/holds/{held[0]}/clear", data={"csrf_token": csrf_of(page),
                                                                        "justification": why})
    assert r.status_code == 303
    after = html(lead.get(r.headers["location"]))
    assert held[0] in after.xpath("string(//*[@id='message'])")
    row = after.xpath(f"//tr[@data-end-to-end-id='{held[0]}']")[0]
    assert why in row.text_content() and not row.xpath(".//form")


def test_the_message_after_a_decision_is_said_once_and_takes_only_an_id_and_a_known_state(app: FastAPI) -> None:
    client = browser(app, USERS["auditor"])
    client.cookies.set(pages.FLASH_COOKIE, "sign:12:approved:", domain="testserver.local")
    first = client.get("/")
    assert html(first).xpath("string(//*[@id='message'])") == "Run #12 signed; it is approved."
    assert any(c.startswith(f'{pages.FLASH_COOKIE}=""') for c in first.headers.get_list("set-cookie"))
    assert not html(client.get("/")).xpath("//*[@id='message']")  # said once
    for crafted in ("sign:call 555-0100 now:approved:", "sign:12:<b>urgent</b>:", "anything:1::", "sign:1"):
        other = browser(app, USERS["auditor"])
        other.cookies.set(pages.FLASH_COOKIE, crafted, domain="testserver.local")
        assert not html(other.get("/")).xpath("//*[@id='message']"), crafted
    unknown = browser(app, USERS["auditor"])
    unknown.cookies.set(pages.FLASH_COOKIE, "sign:12:made_up_state:warn", domain="testserver.local")
    text = html(unknown.get("/")).xpath("string(//*[@id='message'])")
    assert text.startswith("Run #12 signed; it is .") and "no waiting flow" in text


def test_a_refused_signature_is_shown_with_its_code(app: FastAPI, month: Month) -> None:
    maker = browser(app, USERS["maker"])
    page = maker.get(f"/runs/{month.run_id}")
    r = maker.post(f"/runs/{month.run_id}/approve", data={"csrf_token": csrf_of(page)})
    assert r.status_code in (403, 409)  # the maker (or, once approved, the run's state) refuses
    assert refusal(r) in ("SOD_MAKER_CHECKER", "WRONG_STATE") and "Traceback" not in r.text


def test_the_auditor_filters_the_exceptions_and_downloads_the_report(app: FastAPI, month: Month) -> None:
    auditor = browser(app, USERS["auditor"])
    everything = auditor.get(f"/runs/{month.run_id}/exceptions")
    assert everything.status_code == 200
    doc = html(everything)
    assert doc.xpath("//form[@id='filters']")
    all_rows = doc.xpath("//table[@id='exceptions']/tbody/tr")
    codes = {r.get("data-code") for r in all_rows}
    assert len(codes) >= 2
    code = sorted(codes)[0]
    filtered = html(auditor.get(f"/runs/{month.run_id}/exceptions", params={"code": code}))
    rows = filtered.xpath("//table[@id='exceptions']/tbody/tr")
    assert rows and {r.get("data-code") for r in rows} == {code}
    assert len(rows) == sum(1 for r in all_rows if r.get("data-code") == code)
    assert filtered.xpath("//select[@name='code']/option[@selected]/@value") == [code]
    by_severity = html(auditor.get(f"/runs/{month.run_id}/exceptions", params={"severity": "HOLD"}))
    assert {r.get("data-severity") for r in by_severity.xpath("//table[@id='exceptions']/tbody/tr")} <= {"HOLD"}
    none = html(auditor.get(f"/runs/{month.run_id}/exceptions", params={"branch": "B99"}))
    assert not none.xpath("//table[@id='exceptions']/tbody/tr")
    for fmt in ("xlsx", "html", "csv"):
        link = doc.xpath(f"//a[@id='report-{fmt}']/@href")[0]
        r = auditor.get(link)
        assert r.status_code == 200 and r.content, fmt
    assert r.text.lstrip("\ufeff").startswith("code,")
    # a clerk reads no run's exceptions
    r = browser(app, USERS["clerk"]).get(f"/runs/{month.run_id}/exceptions")
    assert (r.status_code, refusal(r)) == (403, "WRONG_ROLE")


def test_the_audit_trail_pages_and_the_trace_keeps_the_id_out_of_the_url(app: FastAPI, month: Month) -> None:
    auditor = browser(app, USERS["auditor"])
    first = html(auditor.get("/audit", params={"limit": 10}))
    seqs = [int(s) for s in first.xpath("//table[@id='audit']/tbody/tr/@data-seq")]
    assert seqs == sorted(seqs) and len(seqs) == 10
    following = auditor.get(first.xpath("//a[@id='page-next']/@href")[0])
    later = [int(s) for s in html(following).xpath("//table[@id='audit']/tbody/tr/@data-seq")]
    assert later and later[0] > seqs[-1]

    form = auditor.get("/trace")
    assert html(form).xpath("//form[@id='trace-form' and @method='post']")
    held = portal.exceptions_for(app.state.ctx, month.run_id, user=USERS["auditor"], code="IDENTITY_MISMATCH")
    national_id = held["items"][0]["national_id"]
    r = auditor.post("/trace", data={"csrf_token": csrf_of(form), "national_id": national_id})
    assert r.status_code == 200
    doc = html(r)
    assert doc.xpath("//*[@id='trace-result']/@data-found") == ["true"]
    assert "run.finding" in doc.xpath("//table[@id='trace-events']/tbody/tr/@data-event")
    assert national_id not in str(r.url)
    assert auditor.post("/trace", data={"national_id": national_id}).status_code == 403


# --- languages -------------------------------------------------------------------------------------------


def test_persian_pages_are_right_to_left_and_the_choice_is_kept(app: FastAPI, month: Month) -> None:
    maker = browser(app, USERS["maker"])
    r = maker.get(f"/runs/{month.run_id}?lang=fa")
    assert r.status_code == 200
    assert re.search(r'<html lang="fa" dir="rtl">', r.text)
    assert any(c.startswith("lang=fa") for c in r.headers.get_list("set-cookie"))
    total = html(r).xpath("//*[@id='run-payable-total']//span")[0].text_content()
    assert "\u066c" in total and total.endswith("IRR")  # the Persian thousands separator
    again = maker.get("/")  # the cookie keeps the choice
    assert re.search(r'<html lang="fa" dir="rtl">', again.text)
    assert re.search(r'<html lang="ko" dir="ltr">', maker.get("/?lang=ko").text)
    assert re.search(r'<html lang="en" dir="ltr">', maker.get("/?lang=en").text)


def test_the_language_comes_from_the_browser_else_the_country(app: FastAPI) -> None:
    assert '<html lang="ko" dir="ltr">' in browser(app, lang="ko-KR,ko;q=0.9").get("/login").text
    assert '<html lang="en" dir="ltr">' in browser(app, lang="de-DE,en;q=0.5").get("/login").text
    nothing = TestClient(app, follow_redirects=False)
    assert '<html lang="fa" dir="rtl">' in nothing.get("/login").text  # the Iranian profile
    assert '<html lang="fa" dir="rtl">' in browser(app, lang="de").get("/login").text


def test_static_files_are_served_from_the_package(app: FastAPI) -> None:
    client = browser(app)
    for name, media in (("portal.css", "text/css"), ("portal.js", "javascript")):
        r = client.get(f"/static/{name}")
        assert r.status_code == 200 and media in r.headers["content-type"]
    assert "XMLHttpRequest" in client.get("/static/portal.js").text
    assert "http://" not in client.get("/login").text and "https://" not in client.get("/login").text


def test_every_page_renders_in_every_language(app: FastAPI, month: Month, released: TestClient) -> None:
    run, sid = month.run_id, month.submission_id
    seen = {
        "clerk": ["/", "/submissions/new", "/submissions", f"/submissions/{sid}", "/trace"],
        "head": ["/", "/inbox", "/submissions"],
        "maker": ["/", "/runs", f"/runs/{run}", f"/runs/{run}/holds", f"/runs/{run}/exceptions"],
        "auditor": ["/", "/audit", f"/runs/{run}", f"/runs/{run}/exceptions?severity=HOLD", "/trace"],
    }
    for lang in ("fa", "ko", "en"):
        for who, paths in seen.items():
            client = browser(app, USERS[who], lang=lang)
            for path in paths:
                r = client.get(path)
                assert r.status_code == 200, (lang, who, path, r.text[:500])
                assert f'<html lang="{lang}" dir="{"rtl" if lang == "fa" else "ltr"}">' in r.text
                assert len(html(r).xpath("//*[@id='page-title']")) == 1
    assert "/login" in browser(app, lang="ko").get("/login").text
