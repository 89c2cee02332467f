"""The portal's pages: server-rendered HTML (Jinja2) over the same service layer as the API.

Sign-in keeps the session token in an HttpOnly, SameSite=Strict cookie (``payroll.web.security.COOKIE``,
Secure when ``PENSION_COOKIE_SECURE``). Every page needs it: without a valid one a request is sent to
``/login?next=<path>`` (303). Every form that changes anything carries the session's CSRF token in the
hidden field ``csrf_token``; a POST without it is refused with a 403 page and changes nothing. The services
check role and scope, as for the API: a refusal is shown on the page with its code and the HTTP status of
``payroll.web.problems.status_of``, never a stack trace.

Labels are in Persian (right to left), Korean and English (``payroll.web.i18n``): ``?lang=`` (kept in the
``lang`` cookie), else the browser's Accept-Language, else the country profile. Nothing is fetched from
elsewhere: the style sheet and the one script (upload progress) are served from ``/static``.

``install(app)`` mounts ``/static`` and adds the pages' routes (no prefix).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

import jinja2
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.routing import Match
from starlette.staticfiles import StaticFiles

from payroll import services
from payroll.approvals import Actor
from payroll.catalog import SEVERITY_RANK, catalog
from payroll.errors import PolicyViolation, Refused, TooManyAttempts, Unauthenticated
from payroll.payments import totals_by
from payroll.services import portal
from payroll.services.access import AUDIT_READERS, BANK_FILE_READERS, RUN_READERS
from payroll.services.reports import EXCEPTION_FORMATS, run_figures
from payroll.services.run_summary import previous_period
from payroll.services.trace import trace
from payroll.services.users import find_user, sign_out
from payroll.web import i18n
from payroll.web.problems import status_of
from payroll.web.security import COOKIE, CSRF_FIELD, Sessions

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
LANG_COOKIE = "lang"
PAGE_SIZE = 50
REPORT_FORMATS = ("xlsx", "html", "csv")
REPORT_MEDIA = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson",
                "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                "html": "text/html; charset=utf-8"}
APPROVERS = ("branch_head", "province_approver")
RUN_SIGNERS = ("finance", "finance_lead")
TRACERS = ("clerk", "branch_head", "province_approver", "finance", "finance_lead", "auditor")

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

_env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR), autoescape=True,
                          undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


# --- who is asking, in which language ----------------------------------------------------------------


class NeedLogin(Exception):
    """No valid session: the page sends the browser to the sign-in form."""

    def __init__(self, next_path: str | None) -> None:
        super().__init__("sign in first")
        self.next_path = next_path


class Shown(Exception):
    """A refusal raised before a page's handler runs (the CSRF check), shown as the error page."""

    def __init__(self, view: View, error: Refused) -> None:
        super().__init__(error.message)
        self.view, self.error = view, error


@dataclass
class View:
    """One request of a page: the reader, their language, and how to answer them."""

    request: Request
    lang: str
    who: Actor | None = None
    token: str | None = None
    set_lang: str | None = None  # the ?lang= choice to keep in the cookie

    @property
    def ctx(self) -> services.Context:
        ctx: services.Context = self.request.app.state.ctx
        return ctx

    @property
    def user(self) -> str:
        assert self.who is not None  # every page but the sign-in form has one
        return self.who.user_id

    @property
    def csrf(self) -> str:
        return sessions_of(self.request).csrf(self.token) if self.token else ""

    def t(self, key: str, **values: Any) -> str:
        return i18n.label(self.lang, key, **values)

    def render(self, template: str, status: int = 200, **data: Any) -> HTMLResponse:
        ctx = self.ctx
        country = ctx.country
        lang = self.lang
        path = self.request.url.path

        def money(value: Any) -> str:
            return i18n.format_amount(value, lang, country.currency)

        def lang_link(code: str) -> str:
            return f"{path}?lang={code}"

        page = {
            "lang": lang, "dir": i18n.direction(lang), "t": self.t, "who": self.who, "csrf": self.csrf,
            "csrf_field": CSRF_FIELD, "currency": country.currency, "money": money,
            "num": lambda v: i18n.format_number(v, lang),
            "pct": lambda v: i18n.format_percent(v, lang),
            "when": lambda v: time_element(v, i18n.format_when(v, country.code, country.timezone)),
            "day": lambda v: time_element(v, i18n.format_date(v, country.code)),
            "state": lambda kind, v: i18n.value(lang, kind, v),
            "languages": [(code, i18n.LANGUAGE_NAMES[code], lang_link(code)) for code in i18n.LANGUAGES],
            "nav": nav_for(self.who), "path": path, "done": done_message(self),
        }
        flash = FLASH_COOKIE in self.request.cookies
        body = _env.get_template(template).render(**page, **data)
        response = HTMLResponse(body, status_code=status)
        response.headers["Cache-Control"] = "no-store"
        if self.set_lang:
            response.set_cookie(LANG_COOKIE, self.set_lang, max_age=365 * 24 * 3600, path="/", samesite="lax",
                                secure=ctx.settings.cookie_secure)
        if flash:  # said once
            response.delete_cookie(FLASH_COOKIE, path="/", httponly=True, samesite="strict",
                                   secure=ctx.settings.cookie_secure)
        return response

    def refused(self, e: Refused) -> HTMLResponse:
        return self.render("error.html", status=status_of(e), error=e)


def time_element(value: Any, shown: str) -> Markup:
    """A date or time as <time>, left to right inside right-to-left text."""
    if not shown:
        return Markup("")
    return Markup('<time datetime="{}" dir="ltr">{}</time>').format(str(value), shown)


def sessions_of(request: Request) -> Sessions:
    s: Sessions = request.app.state.sessions
    return s


def language_of(request: Request) -> tuple[str, str | None]:
    """(language, the ?lang= choice to keep in the cookie or None)."""
    asked = request.query_params.get("lang")
    ctx: services.Context = request.app.state.ctx
    lang = i18n.choose_language(asked, request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"),
                                ctx.country.code)
    return lang, asked if asked in i18n.LANGUAGES else None


def anonymous(request: Request) -> View:
    lang, chosen = language_of(request)
    return View(request, lang, set_lang=chosen)


def _gettable(path: str) -> bool:
    scope = {"type": "http", "path": path, "root_path": "", "method": "GET"}
    return any(route.matches(scope)[0] == Match.FULL for route in router.routes)


def signed_in(request: Request) -> View:
    """The page's reader from the session cookie, read from the database again (a role changed or a
    password removed counts at once); NeedLogin without a valid session."""
    view = anonymous(request)
    token = request.cookies.get(COOKIE)
    path = request.url.path
    if request.method == "GET" and request.url.query:
        path += "?" + request.url.query
    next_path = path if request.method == "GET" or _gettable(request.url.path) else None
    if not token:
        raise NeedLogin(next_path)
    try:
        claims = sessions_of(request).claims_of(token)
        view.who = find_user(request.app.state.ctx, claims.user_id, claims.generation)
    except Refused:
        raise NeedLogin(next_path) from None
    view.token = token
    return view


@dataclass
class Posted:
    view: View
    form: FormData


async def posted(request: Request, view: Annotated[View, Depends(signed_in)]) -> Posted:
    """A signed-in reader's form, refused (403) unless it carries the session's CSRF token."""
    form = await request.form()
    given = form.get(CSRF_FIELD)
    if not isinstance(given, str) or not sessions_of(request).csrf_ok(view.token or "", given):
        await form.close()
        raise Shown(view, PolicyViolation("CSRF", view.t("error.csrf")))
    return Posted(view, form)


async def login_form(request: Request) -> FormData:
    return await request.form()


Reader = Annotated[View, Depends(signed_in)]
Form = Annotated[Posted, Depends(posted)]


def text(form: FormData, name: str, max_length: int = 1000) -> str:
    value = form.get(name)
    return value.strip()[:max_length] if isinstance(value, str) else ""


def optional(value: str | None, max_length: int = 64) -> str | None:
    value = (value or "").strip()
    return value[:max_length] if value else None


def safe_next(value: str | None) -> str | None:
    """A local path to go to after sign-in; None for anything else (another site, a scheme, //host)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return None
    if any(ord(c) < 32 for c in value):
        return None
    return value


def see_other(path: str, **params: Any) -> RedirectResponse:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return RedirectResponse(f"{path}?{query}" if query else path, status_code=303)


# --- what each role does -----------------------------------------------------------------------------


def nav_for(who: Actor | None) -> list[tuple[str, str, str]]:
    """(label key, path, element id) of the links the reader's role uses."""
    if who is None:
        return []
    role = who.role
    links: list[tuple[str, str, str]] = [("nav.home", "/", "nav-home")]
    if role == "clerk":
        links += [("nav.upload", "/submissions/new", "nav-upload"), ("nav.submissions", "/submissions",
                                                                     "nav-submissions")]
    if role in APPROVERS:
        links += [("nav.inbox", "/inbox", "nav-inbox"), ("nav.submissions", "/submissions", "nav-submissions")]
    if role in RUN_READERS:
        links += [("nav.runs", "/runs", "nav-runs"), ("nav.submissions", "/submissions", "nav-submissions")]
    if role in AUDIT_READERS:
        links.append(("nav.audit", "/audit", "nav-audit"))
    if role in TRACERS:
        links.append(("nav.trace", "/trace", "nav-trace"))
    return links


FLASH_COOKIE = "flash"
FLASH_PART = re.compile(r"[A-Za-z0-9_-]{0,40}")
DONE = {"approve": "done.approve", "reject": "done.reject", "create": "done.create", "sign": "done.sign",
        "release": "done.release", "clear": "done.clear"}


def decided(request: Request, path: str, done: str, ident: object, status: str = "", warn: bool = False
            ) -> RedirectResponse:
    """303 to `path` after a decision; the page there says what was done (a one-time cookie, so the
    address stays the page's own)."""
    response = see_other(path)
    response.set_cookie(FLASH_COOKIE, ":".join([done, str(ident), status, "warn" if warn else ""]), max_age=120,
                        path="/", httponly=True, samesite="strict", secure=request.app.state.ctx.settings.cookie_secure)
    return response


def done_message(view: View) -> str | None:
    """The message of a decision just made (the page was reached by its redirect)."""
    parts = (view.request.cookies.get(FLASH_COOKIE) or "").split(":")
    if len(parts) != 4 or not all(FLASH_PART.fullmatch(p) for p in parts) or parts[0] not in DONE:
        return None
    done, ident, status, warn = parts
    # only an id and a known state: whatever set the cookie cannot put other words on the page
    status = i18n.value(view.lang, "state", status) if f"state.{status}" in i18n.LABELS["en"] else ""
    message = view.t(DONE[done], id=ident, status=status)
    if warn == "warn":
        message += " " + view.t("done.flow_warning")
    return message


# --- sign-in -----------------------------------------------------------------------------------------


@router.get("/login")
def login_page(request: Request) -> HTMLResponse:
    view = anonymous(request)
    return view.render("login.html", next=safe_next(request.query_params.get("next")) or "", error=None,
                       username="")


@router.post("/login")
def login(request: Request, form: Annotated[FormData, Depends(login_form)]) -> Response:
    from payroll.web.api import sign_in

    view = anonymous(request)
    username, password = text(form, "username", 64), form.get("password")
    next_path = safe_next(text(form, "next", 2000))
    try:
        if not username or not isinstance(password, str) or not password:
            raise Unauthenticated("BAD_CREDENTIALS", "wrong user id or password")
        token = sign_in(request, username, password)
    except (Unauthenticated, TooManyAttempts) as e:
        again = view.render("login.html", status=status_of(e), next=next_path or "", error=e, username=username)
        if isinstance(e, TooManyAttempts) and e.detail.get("retry_after"):
            again.headers["Retry-After"] = str(e.detail["retry_after"])
        return again
    response = see_other(next_path or "/")
    response.set_cookie(COOKIE, token.access_token, max_age=sessions_of(request).max_age, path="/", httponly=True,
                        samesite="strict", secure=request.app.state.ctx.settings.cookie_secure)
    return response


def _end_session(request: Request, token: str, given: object) -> bool:
    """Sign the cookie's session out when it is live and `given` is its CSRF token; False when it is
    live and the CSRF token is wrong (nothing ended)."""
    ctx, sessions = request.app.state.ctx, sessions_of(request)
    try:
        claims = sessions.claims_of(token)
        find_user(ctx, claims.user_id, claims.generation)
    except Refused:
        return True  # expired, forged or already ended: nothing to end
    if not (isinstance(given, str) and sessions.csrf_ok(token, given)):
        return False
    try:
        sign_out(ctx, claims.user_id, claims.generation)
    except Refused:
        pass  # ended meanwhile (another sign-out, a new password): ended all the same
    return True


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End the session (every session of its user: payroll.services.users.sign_out) and clear the cookie.
    The form carries the CSRF token of a live session; an expired or ended session is cleared without it."""
    form = await request.form()
    token = request.cookies.get(COOKIE)
    if token and not await run_in_threadpool(_end_session, request, token, form.get(CSRF_FIELD)):
        view = anonymous(request)
        return view.render("error.html", status=403, error=PolicyViolation("CSRF", view.t("error.csrf")))
    response = see_other("/login")
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict",
                           secure=request.app.state.ctx.settings.cookie_secure)
    return response


# --- home --------------------------------------------------------------------------------------------


@router.get("/")
def home(v: Reader) -> HTMLResponse:
    return v.render("home.html")


# --- branch lists --------------------------------------------------------------------------------------


def _upload_defaults(v: View) -> dict[str, str]:
    today = date.today()
    return {"branch": (v.who.branch_code if v.who else None) or "", "period": f"{today.year:04d}-{today.month:02d}",
            "declared_count": "", "declared_total": ""}


@router.get("/submissions/new")
def upload_page(v: Reader) -> HTMLResponse:
    return v.render("upload.html", values=_upload_defaults(v), error=None)


def _count(value: str, name: str, upper: int) -> int | None:
    value = value.strip().replace(",", "").replace("٬", "").replace(" ", "")
    if not value:
        return None
    value = value.translate(i18n.TO_ASCII_DIGITS)
    if not value.isascii() or not value.isdigit() or int(value) > upper:
        raise Refused("INVALID_REQUEST", f"{name}: a whole number from 0 to {upper} is needed; got {value!r}")
    return int(value)


@router.post("/submissions/new")
def upload(p: Form) -> HTMLResponse:
    v, form = p.view, p.form
    values = {k: text(form, k, 64) for k in ("branch", "period", "declared_count", "declared_total")}
    file = form.get("file")
    try:
        if not isinstance(file, UploadFile) or not file.filename:
            raise Refused("NO_FILE", v.t("upload.no_file"))
        declared_count = _count(values["declared_count"], "declared count", 10**9)
        declared_total = _count(values["declared_total"], "declared total", 10**18)
        limit = v.ctx.settings.max_file_bytes
        data = file.file.read(limit + 1)
        if len(data) > limit:
            raise Refused("FILE_TOO_LARGE", f"{file.filename}: over the {limit}-byte limit")
        r = services.submit_bytes(v.ctx, data, file.filename, branch=values["branch"], period=values["period"],
                                  user=v.user, declared_count=declared_count, declared_total=declared_total)
    except Refused as e:
        return v.render("upload.html", status=status_of(e), values=values, error=e)
    finally:
        if isinstance(file, UploadFile):
            file.file.close()
    return v.render("receipt.html", status=200 if r.get("duplicate") else 201, receipt=r)


@router.get("/submissions")
def submissions(v: Reader, period: str | None = None, state: str | None = None, page: int = 1) -> HTMLResponse:
    period, state, page = optional(period, 7), optional(state, 16), max(1, min(page, 10**6))
    try:
        found = portal.list_submissions(v.ctx, user=v.user, period=period, state=state, limit=PAGE_SIZE,
                                        offset=(page - 1) * PAGE_SIZE)
    except Refused as e:
        return v.refused(e)
    pages = max(1, -(-found["total"] // PAGE_SIZE))
    return v.render("submissions.html", found=found, period=period or "", state_filter=state or "", page=page,
                    pages=pages, query=lambda n: "?" + urlencode({k: x for k, x in (
                        ("period", period), ("state", state), ("page", n)) if x}))


@router.get("/submissions/{submission_id:int}")
def submission(v: Reader, submission_id: int) -> HTMLResponse:
    try:
        s = portal.submission_for(v.ctx, submission_id, user=v.user)
    except Refused as e:
        return v.refused(e)
    return v.render("submission.html", receipt=s)


# --- approvals of branch lists -------------------------------------------------------------------------


@router.get("/inbox")
def inbox(v: Reader) -> HTMLResponse:
    try:
        box = portal.approval_inbox(v.ctx, user=v.user)
        items = []
        for item in box["items"]:
            detail = portal.submission_for(v.ctx, item["submission_id"], user=v.user)
            items.append({**item, "content_sha256": detail["content_sha256"], "validation": detail["validation"],
                          "declared_count": detail["declared_count"], "declared_total": detail["declared_total"],
                          "errors": len(detail["errors"])})
    except Refused as e:
        return v.refused(e)
    return v.render("inbox.html", items=items)


def _decided(v: View, r: dict[str, Any], decision: str) -> RedirectResponse:
    from flows.approval import after_list_decision

    _, warning = after_list_decision(v.ctx.settings, r, v.user, decision)
    return decided(v.request, "/inbox", decision, r["submission_id"], r["status"], bool(warning))


@router.post("/submissions/{submission_id:int}/approve")
def approve_submission(p: Form, submission_id: int) -> Response:
    v = p.view
    expect = optional(text(p.form, "expect_sha256", 64))
    try:
        r = services.approve_submission(v.ctx, submission_id, user=v.user, expect_sha256=expect,
                                        comment=text(p.form, "comment", 1000))
    except Refused as e:
        return v.refused(e)
    return _decided(v, r, "approve")


@router.post("/submissions/{submission_id:int}/reject")
def reject_submission(p: Form, submission_id: int) -> Response:
    v = p.view
    try:
        r = services.reject_submission(v.ctx, submission_id, user=v.user, reason=text(p.form, "reason", 1000))
    except Refused as e:
        return v.refused(e)
    return _decided(v, r, "reject")


# --- runs ------------------------------------------------------------------------------------------------


@router.get("/runs")
def runs(v: Reader, page: int = 1) -> HTMLResponse:
    page = max(1, min(page, 10**6))
    try:
        found = portal.list_runs(v.ctx, user=v.user, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    except Refused as e:
        return v.refused(e)
    today = date.today()
    return v.render("runs.html", found=found, page=page, pages=max(1, -(-found["total"] // PAGE_SIZE)),
                    query=lambda n: f"?page={n}", period=f"{today.year:04d}-{today.month:02d}", can_create=v.who is not None
                    and v.who.role in RUN_SIGNERS)


@router.post("/runs")
def create_run(p: Form) -> Response:
    v = p.view
    try:
        r = services.create_run(v.ctx, text(p.form, "period", 16), user=v.user)
    except Refused as e:
        return v.refused(e)
    return decided(v.request, f"/runs/{r['run_id']}", "create", r["run_id"], r["status"])


def _change(now: dict[str, dict[str, int]], before: dict[str, dict[str, int]] | None) -> list[dict[str, Any]]:
    rows = []
    for key in sorted(set(now) | set(before or {})):
        this = now.get(key, {"count": 0, "total": 0})
        row: dict[str, Any] = {"key": key, "count": this["count"], "total": this["total"]}
        if before is not None:
            prev = before.get(key, {"count": 0, "total": 0})
            row.update(previous_count=prev["count"], previous_total=prev["total"], change=this["total"] - prev["total"],
                       change_percent=round(100 * (this["total"] - prev["total"]) / prev["total"], 1)
                       if prev["total"] else None)
        rows.append(row)
    return rows


def _sum(rows: dict[str, dict[str, int]]) -> dict[str, int]:
    return {"count": sum(v["count"] for v in rows.values()), "total": sum(v["total"] for v in rows.values())}


@router.get("/runs/{run_id:int}")
def run(v: Reader, run_id: int) -> HTMLResponse:
    try:
        view = portal.run_for(v.ctx, run_id, user=v.user)
        figures = run_figures(v.ctx, run_id)
        previous = previous_period(v.ctx, figures)
        files = None
        if view["status"] == "released" and v.who is not None and v.who.role in BANK_FILE_READERS:
            files = portal.bank_files(v.ctx, run_id, user=v.user)
    except Refused as e:
        return v.refused(e)
    payments = figures.payments
    per_benefit = totals_by(payments, "benefit_type") if "benefit_type" in payments.columns else None
    codes = catalog()
    exceptions = [{"code": code, "count": n, "severity": codes[code].severity if code in codes else "",
                   "stage": "run"} for code, n in view["exceptions"].items()]
    exceptions += [{"code": code, "count": n, "severity": codes[code].severity if code in codes else "BLOCK",
                    "stage": "intake"} for code, n in view["intake_rejections"].items()]
    exceptions.sort(key=lambda e: (-SEVERITY_RANK.get(e["severity"], 0), e["code"]))
    signer = v.who is not None and v.who.role in RUN_SIGNERS
    return v.render(
        "run.html", run=view, files=files, previous=previous,
        provinces=_change(figures.per_province, previous["per_province"] if previous else None),
        province_sum=_sum(figures.per_province),
        banks=[{"key": k, "name": figures.banks.get(k, ""), **t} for k, t in sorted(figures.per_bank.items())],
        bank_sum=_sum(figures.per_bank),
        branches=_change(figures.per_branch, previous["per_branch"] if previous else None),
        benefits=[{"key": k, **t} for k, t in sorted(per_benefit.items())] if per_benefit is not None else None,
        benefit_sum=_sum(per_benefit) if per_benefit is not None else None,
        exceptions=exceptions, can_sign=signer and view["status"] == "awaiting_approval",
        can_release=signer and view["status"] == "approved",
        manifest=files["manifest"] if files else None)


@router.post("/runs/{run_id:int}/approve")
def approve_run(p: Form, run_id: int) -> Response:
    from flows.approval import after_run_signature

    v = p.view
    try:
        r = services.approve_run(v.ctx, run_id, user=v.user,
                                 expect_sha256=optional(text(p.form, "expect_sha256", 64)))
    except Refused as e:
        return v.refused(e)
    _, warning = after_run_signature(v.ctx.settings, r, v.user)
    return decided(v.request, f"/runs/{run_id}", "sign", run_id, r["status"], bool(warning))


@router.post("/runs/{run_id:int}/release")
def release_run(p: Form, run_id: int) -> Response:
    v = p.view
    try:
        r = services.release_run(v.ctx, run_id, user=v.user)
    except Refused as e:
        return v.refused(e)
    return decided(v.request, f"/runs/{run_id}", "release", run_id, r["status"])


@router.get("/runs/{run_id:int}/files/{file_name}", response_class=Response)
def download(v: Reader, run_id: int, file_name: str) -> Response:
    """One released file, its bytes checked against the recorded SHA-256 before they leave (finance)."""
    try:
        data, digest = portal.bank_file(v.ctx, run_id, file_name, user=v.user)
    except Refused as e:
        return v.refused(e)
    return Response(data, media_type="application/octet-stream",
                    headers={"Content-Disposition": f'attachment; filename="{quote(file_name)}"; '
                                                    f"filename*=UTF-8''{quote(file_name)}",
                             "X-Content-SHA256": digest, "Cache-Control": "no-store"})


# --- holds -------------------------------------------------------------------------------------------------


@router.get("/runs/{run_id:int}/holds")
def holds(v: Reader, run_id: int) -> HTMLResponse:
    try:
        found = portal.holds_for(v.ctx, run_id, user=v.user)
    except Refused as e:
        return v.refused(e)
    return v.render("holds.html", found=found, can_clear=found["clearable"] and v.who is not None
                    and v.who.role != "auditor")


@router.post("/runs/{run_id:int}/holds/{end_to_end_id}/clear")
def clear_hold(p: Form, run_id: int, end_to_end_id: str) -> Response:
    v = p.view
    try:
        services.clear_hold(v.ctx, run_id, end_to_end_id, user=v.user,
                            justification=text(p.form, "justification", 2000))
    except Refused as e:
        return v.refused(e)
    return decided(v.request, f"/runs/{run_id}/holds", "clear", end_to_end_id)


# --- the auditor's views -------------------------------------------------------------------------------------


@router.get("/runs/{run_id:int}/exceptions")
def exceptions(v: Reader, run_id: int, code: str | None = None, branch: str | None = None,
               severity: str | None = None, page: int = 1) -> HTMLResponse:
    code, branch = optional(code, 48), optional(branch, 16)
    severity = severity if severity in SEVERITY_RANK else None
    page = max(1, min(page, 10**6))
    try:
        found = portal.exceptions_for(v.ctx, run_id, user=v.user, code=code, branch=branch, severity=severity,
                                      limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    except Refused as e:
        return v.refused(e)
    pages = max(1, -(-found["total"] // PAGE_SIZE))

    def query(n: int) -> str:
        return "?" + urlencode({k: x for k, x in (("code", code), ("branch", branch), ("severity", severity),
                                                  ("page", n)) if x})

    return v.render("exceptions.html", run_id=run_id, found=found, code=code or "", branch=branch or "",
                    severity=severity or "", severities=sorted(SEVERITY_RANK, key=lambda s: -SEVERITY_RANK[s]),
                    page=page, pages=pages, query=query, formats=REPORT_FORMATS,
                    detail_text=lambda d: json.dumps(d, ensure_ascii=False, sort_keys=True))


@router.get("/runs/{run_id:int}/exceptions/report.{fmt}", response_class=Response)
def exception_report(v: Reader, run_id: int, fmt: str) -> Response:
    try:
        if fmt not in EXCEPTION_FORMATS:
            raise Refused("UNKNOWN_FORMAT", f"unknown report format {fmt!r}; {', '.join(EXCEPTION_FORMATS)}")
        r = portal.export_for(v.ctx, run_id, fmt, user=v.user)
        data = Path(r["path"]).read_bytes()
    except Refused as e:
        return v.refused(e)
    return Response(data, media_type=REPORT_MEDIA[fmt],
                    headers={"Content-Disposition": f'attachment; filename="exceptions-run{run_id}.{fmt}"',
                             "Cache-Control": "no-store"})


@router.get("/audit")
def audit(v: Reader, after_seq: int = 0, action: str | None = None, limit: int = PAGE_SIZE) -> HTMLResponse:
    after_seq, action = max(0, min(after_seq, 2**62)), optional(action, 48)
    limit = max(1, min(limit, portal.MAX_PAGE))
    try:
        found = portal.audit_trail(v.ctx, user=v.user, after_seq=after_seq, limit=limit, action=action)
    except Refused as e:
        return v.refused(e)
    items = found["items"]
    more = None
    if len(items) == limit:
        more = "?" + urlencode({k: x for k, x in (("after_seq", items[-1]["seq"]), ("action", action),
                                                  ("limit", limit if limit != PAGE_SIZE else None)) if x})
    return v.render("audit.html", items=items, after_seq=after_seq, action=action or "", more=more,
                    detail_text=lambda d: json.dumps(d, ensure_ascii=False, sort_keys=True))


@router.get("/trace")
def trace_page(v: Reader) -> HTMLResponse:
    return v.render("trace.html", result=None, period="", error=None)


@router.post("/trace")
def trace_payee(p: Form) -> HTMLResponse:
    """The national id comes in the body only, so it never reaches a URL, a log line or the history."""
    v = p.view
    national_id, period = text(p.form, "national_id", 32), optional(text(p.form, "period", 16))
    try:
        if not national_id:
            raise Refused("INVALID_NATIONAL_ID", v.t("trace.no_id"))
        result = trace(v.ctx, national_id, period=period, user=v.user)
    except Refused as e:
        return v.render("trace.html", status=status_of(e), result=None, period=period or "", error=e)
    skip = {"at", "event"}
    events = [{"at": e["at"], "event": e["event"],
               "fields": [(k, x if isinstance(x, str | int | float | type(None))
                           else json.dumps(x, ensure_ascii=False, default=str))
                          for k, x in e.items() if k not in skip]} for e in result["events"]]
    return v.render("trace.html", result=result, events=events, period=period or "", error=None)


# --- installation --------------------------------------------------------------------------------------------


def install(app: FastAPI) -> None:
    """Mount /static and add the pages (call once, in create_app)."""

    async def need_login(request: Request, e: Exception) -> Response:
        assert isinstance(e, NeedLogin)
        return see_other("/login", next=e.next_path)

    async def shown(request: Request, e: Exception) -> Response:
        assert isinstance(e, Shown)
        return e.view.refused(e.error)

    app.add_exception_handler(NeedLogin, need_login)
    app.add_exception_handler(Shown, shown)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(router)


__all__ = ["install", "router"]
