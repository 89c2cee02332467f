"""The HTTP API (``/api/v1``): JSON over the service layer; every route names its user from the session
and the services check role and scope (payroll.services.access, payroll.approvals). Errors are problem
details (payroll.web.problems)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, Response, UploadFile
from fastapi.security import OAuth2PasswordBearer
from pydantic import BaseModel, Field

from payroll import services
from payroll.errors import PolicyViolation, Refused, Unauthenticated
from payroll.services import portal
from payroll.services.reports import EXCEPTION_FORMATS
from payroll.services.trace import trace
from payroll.services.users import authenticate, find_user, sign_out
from payroll.web.security import COOKIE, CSRF_HEADER, Claims, LoginThrottle, Sessions

PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
router = APIRouter(prefix="/api/v1", responses={
    401: {"description": "not signed in, or the session expired", **PROBLEM},
    403: {"description": "the policy refuses: role, scope, separation of duties, CSRF", **PROBLEM},
    404: {"description": "no such item", **PROBLEM},
    409: {"description": "the item's state forbids it", **PROBLEM},
    422: {"description": "the request or its file cannot be accepted", **PROBLEM},
})
# documents the bearer scheme in OpenAPI; the session cookie of the pages is accepted too (principal)
bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)
PERIOD = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
MAX_ID = 2**62  # ids are 64-bit integers in the store
RunId = Annotated[int, Path(ge=1, le=MAX_ID)]
SubmissionId = Annotated[int, Path(ge=1, le=MAX_ID)]
MEDIA = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson",
         "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "html": "text/html; charset=utf-8"}


def ctx_of(request: Request) -> services.Context:
    ctx: services.Context = request.app.state.ctx
    return ctx


def sessions_of(request: Request) -> Sessions:
    s: Sessions = request.app.state.sessions
    return s


def session_token(request: Request) -> tuple[str, bool] | None:
    """(token, from the cookie?) of the request, if any: the Authorization header wins."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip(), False
    cookie = request.cookies.get(COOKIE)
    return (cookie, True) if cookie else None


def principal(request: Request, _: Annotated[str | None, Depends(bearer)] = None) -> str:
    """The signed-in user's id; 401 without a valid session, 403 for a cookie request that changes
    something without the session's CSRF token."""
    return session_of(request).user_id


def session_of(request: Request) -> Claims:
    """The request's live session (see `principal`)."""
    found = session_token(request)
    if found is None:
        raise Unauthenticated("NOT_SIGNED_IN", "sign in first (POST /api/v1/auth/token) and send the token as "
                              "Authorization: Bearer <token>")
    token, cookie = found
    sessions = sessions_of(request)
    claims = sessions.claims_of(token)
    if cookie and request.method not in SAFE_METHODS and not sessions.csrf_ok(token, request.headers.get(CSRF_HEADER)):
        raise PolicyViolation("CSRF", f"a change made with the session cookie needs the {CSRF_HEADER} header")
    find_user(ctx_of(request), claims.user_id, claims.generation)
    return claims


User = Annotated[str, Depends(principal)]


# --- sign-in ----------------------------------------------------------------------------------------


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    user_id: str
    role: str
    csrf_token: str


def sign_in(request: Request, username: str, password: str) -> Token:
    """Check the password (throttled per user id and client address) and issue a session token."""
    throttle: LoginThrottle = request.app.state.throttle
    client = request.client.host if request.client else "unknown"
    keys = (f"user:{username}", f"addr:{client}")
    throttle.check(*keys)
    try:
        signed_in = authenticate(ctx_of(request), username, password)
    except Unauthenticated:
        throttle.failed(*keys)
        raise
    throttle.succeeded(keys[0])
    who = signed_in.actor
    sessions = sessions_of(request)
    token = sessions.issue(who.user_id, signed_in.generation)
    return Token(access_token=token, expires_in=sessions.max_age, user_id=who.user_id, role=who.role,
                 csrf_token=sessions.csrf(token))


@router.post("/auth/token", response_model=Token, tags=["auth"],
             responses={401: {"description": "wrong user id or password"}, 429: {"description": "too many tries"}})
def token(request: Request, username: Annotated[str, Form(max_length=64)],
          password: Annotated[str, Form(max_length=256)]) -> Token:
    """Sign in (OAuth2 password form): a short-lived bearer token."""
    return sign_in(request, username, password)


@router.post("/auth/logout", status_code=204, tags=["auth"], response_class=Response,
             responses={204: {"description": "signed out: every session of the user has ended"}})
def logout(request: Request, _: Annotated[str | None, Depends(bearer)] = None) -> Response:
    """Sign out: the token (and every other session of the same user) is refused from now on. With the
    session cookie it needs the X-CSRF-Token header, as every change does."""
    claims = session_of(request)
    sign_out(ctx_of(request), claims.user_id, claims.generation)
    return Response(status_code=204)


@router.get("/me", tags=["auth"])
def me(request: Request, user: User) -> dict[str, Any]:
    return portal.whoami(ctx_of(request), user)


# --- submissions ------------------------------------------------------------------------------------


@router.post("/submissions", status_code=201, tags=["submissions"],
             responses={413: {"description": "the file is over the size limit"}})
def upload(request: Request, response: Response, user: User,
           file: Annotated[UploadFile, File(description="CSV, XLSX or Parquet")],
           branch: Annotated[str, Form(max_length=16)], period: Annotated[str, Form(pattern=PERIOD)],
           declared_count: Annotated[int | None, Form(ge=0, le=10**9)] = None,
           declared_total: Annotated[int | None, Form(ge=0, le=10**18)] = None) -> dict[str, Any]:
    """Upload a branch list (multipart); the receipt, with every rejected row and why. 201 for a new
    submission, 200 for the same bytes sent again."""
    ctx = ctx_of(request)
    limit = ctx.settings.max_file_bytes
    data = file.file.read(limit + 1)
    if len(data) > limit:
        raise Refused("FILE_TOO_LARGE", f"{file.filename}: over the {limit}-byte limit")
    r = services.submit_bytes(ctx, data, file.filename or "upload", branch=branch, period=period, user=user,
                              declared_count=declared_count, declared_total=declared_total)
    if r.get("duplicate"):
        response.status_code = 200
    return r


@router.get("/submissions", tags=["submissions"])
def submissions(request: Request, user: User, period: Annotated[str | None, Query(pattern=PERIOD)] = None,
                branch: Annotated[str | None, Query(max_length=16)] = None,
                state: Annotated[str | None, Query(max_length=16)] = None,
                limit: Annotated[int, Query(ge=1, le=500)] = 100,
                offset: Annotated[int, Query(ge=0, le=10**9)] = 0) -> dict[str, Any]:
    """The branch lists the user may read, newest first."""
    return portal.list_submissions(ctx_of(request), user=user, period=period, branch=branch, state=state,
                                   limit=limit, offset=offset)


@router.get("/submissions/{submission_id}", tags=["submissions"])
def submission(request: Request, user: User, submission_id: SubmissionId) -> dict[str, Any]:
    """A branch list: receipt, validation result, rejected rows, approvals and its versions."""
    return portal.submission_for(ctx_of(request), submission_id, user=user)


class Approve(BaseModel):
    expect_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$",
                                      description="refuse unless the item still has this content hash")
    comment: str | None = Field(default=None, max_length=1000)


class Reject(BaseModel):
    reason: str = Field(min_length=1, max_length=1000)


@router.post("/submissions/{submission_id}/approve", tags=["approvals"])
def approve_submission(request: Request, user: User, submission_id: SubmissionId, body: Approve | None = None
                       ) -> dict[str, Any]:
    """Sign the next level of a branch list; resumes the period's waiting flow (with a Prefect server)."""
    from flows.approval import after_list_decision

    ctx = ctx_of(request)
    r = services.approve_submission(ctx, submission_id, user=user, expect_sha256=body.expect_sha256 if body else None,
                                    comment=body.comment if body else None)
    resumed, warning = after_list_decision(ctx.settings, r, user, "approve")
    return {**r, "resumed_flow_runs": resumed, **({"warning": warning} if warning else {})}


@router.post("/submissions/{submission_id}/reject", tags=["approvals"])
def reject_submission(request: Request, user: User, submission_id: SubmissionId, body: Reject) -> dict[str, Any]:
    """Return a branch list to its branch with a reason."""
    from flows.approval import after_list_decision

    ctx = ctx_of(request)
    r = services.reject_submission(ctx, submission_id, user=user, reason=body.reason)
    resumed, warning = after_list_decision(ctx.settings, r, user, "reject")
    return {**r, "resumed_flow_runs": resumed, **({"warning": warning} if warning else {})}


@router.get("/approvals/inbox", tags=["approvals"])
def inbox(request: Request, user: User) -> dict[str, Any]:
    """The branch lists waiting for a signature the user may give now."""
    return portal.approval_inbox(ctx_of(request), user=user)


# --- runs -------------------------------------------------------------------------------------------


class NewRun(BaseModel):
    period: str = Field(pattern=PERIOD)


@router.get("/runs", tags=["runs"])
def runs(request: Request, user: User, limit: Annotated[int, Query(ge=1, le=500)] = 100,
         offset: Annotated[int, Query(ge=0, le=10**9)] = 0) -> dict[str, Any]:
    return portal.list_runs(ctx_of(request), user=user, limit=limit, offset=offset)


@router.post("/runs", status_code=201, tags=["runs"])
def create_run(request: Request, user: User, body: NewRun) -> dict[str, Any]:
    """Consolidate the period's approved lists into a run and check it (finance)."""
    return services.create_run(ctx_of(request), body.period, user=user)


@router.get("/runs/{run_id}", tags=["runs"])
def run(request: Request, user: User, run_id: RunId) -> dict[str, Any]:
    return portal.run_for(ctx_of(request), run_id, user=user)


@router.post("/runs/{run_id}/approve", tags=["approvals"])
def approve_run(request: Request, user: User, run_id: RunId, body: Approve | None = None) -> dict[str, Any]:
    """Sign the next slot of the run's approval chain (two finance users; the lead above the threshold)."""
    from flows.approval import after_run_signature

    ctx = ctx_of(request)
    r = services.approve_run(ctx, run_id, user=user, expect_sha256=body.expect_sha256 if body else None)
    resumed, warning = after_run_signature(ctx.settings, r, user)
    return {**r, "resumed_flow_runs": resumed, **({"warning": warning} if warning else {})}


@router.post("/runs/{run_id}/release", tags=["runs"])
def release(request: Request, user: User, run_id: RunId) -> dict[str, Any]:
    """Write the banks' files and the signed manifest of an approved run (once a period)."""
    return services.release_run(ctx_of(request), run_id, user=user)


@router.get("/runs/{run_id}/files", tags=["bank files"])
def files(request: Request, user: User, run_id: RunId) -> dict[str, Any]:
    """The released bank files and the manifest (finance)."""
    return portal.bank_files(ctx_of(request), run_id, user=user)


@router.get("/runs/{run_id}/files/{file_name}", tags=["bank files"],
            responses={200: {"content": {"application/octet-stream": {}}}})
def download(request: Request, user: User, run_id: RunId, file_name: str) -> Response:
    """One released file, its bytes checked against the recorded SHA-256 before they leave (finance)."""
    data, digest = portal.bank_file(ctx_of(request), run_id, file_name, user=user)
    return Response(data, media_type="application/octet-stream",
                    headers={"Content-Disposition": f'attachment; filename="{file_name}"',
                             "X-Content-SHA256": digest})


@router.get("/runs/{run_id}/exceptions", tags=["reports"])
def exceptions(request: Request, user: User, run_id: RunId, code: Annotated[str | None, Query(max_length=48)] = None,
               branch: Annotated[str | None, Query(max_length=16)] = None,
               severity: Annotated[str | None, Query(pattern="^(BLOCK|HOLD|WARN|INFO)$")] = None,
               limit: Annotated[int, Query(ge=1, le=500)] = 100,
               offset: Annotated[int, Query(ge=0, le=10**9)] = 0) -> dict[str, Any]:
    """A page of the run's exception report, filtered; national ids masked unless the role needs them."""
    return portal.exceptions_for(ctx_of(request), run_id, user=user, code=code, branch=branch, severity=severity,
                                 limit=limit, offset=offset)


@router.get("/runs/{run_id}/exceptions/report.{fmt}", tags=["reports"],
            responses={200: {"content": {m.split(";")[0]: {} for m in MEDIA.values()}}})
def exception_report(request: Request, user: User, run_id: RunId, fmt: str) -> Response:
    """The whole exception report as a file: csv, jsonl, xlsx or html."""
    if fmt not in EXCEPTION_FORMATS:
        raise Refused("UNKNOWN_FORMAT", f"unknown report format {fmt!r}; {', '.join(EXCEPTION_FORMATS)}")
    r = portal.export_for(ctx_of(request), run_id, fmt, user=user)
    from pathlib import Path

    return Response(Path(r["path"]).read_bytes(), media_type=MEDIA[fmt],
                    headers={"Content-Disposition": f'attachment; filename="exceptions-run{run_id}.{fmt}"'})


@router.get("/runs/{run_id}/holds", tags=["holds"])
def holds(request: Request, user: User, run_id: RunId) -> dict[str, Any]:
    return portal.holds_for(ctx_of(request), run_id, user=user)


class Clear(BaseModel):
    justification: str = Field(min_length=1, max_length=2000)


@router.post("/runs/{run_id}/holds/{end_to_end_id}/clear", tags=["holds"])
def clear(request: Request, user: User, run_id: RunId, end_to_end_id: str, body: Clear) -> dict[str, Any]:
    """Clear a HOLD with a justification (the roles the hold's codes ask for); paid by a supplementary run."""
    return services.clear_hold(ctx_of(request), run_id, end_to_end_id, user=user, justification=body.justification)


# --- audit ------------------------------------------------------------------------------------------


@router.get("/audit", tags=["audit"])
def audit(request: Request, user: User, after_seq: Annotated[int, Query(ge=0, le=2**62)] = 0,
          limit: Annotated[int, Query(ge=1, le=500)] = 100,
          action: Annotated[str | None, Query(max_length=48)] = None) -> dict[str, Any]:
    """Audit entries after a sequence number, oldest first (auditors)."""
    return portal.audit_trail(ctx_of(request), user=user, after_seq=after_seq, limit=limit, action=action)


class TraceQuery(BaseModel):
    national_id: str = Field(min_length=1, max_length=32, description="in the body, so no id reaches a URL or log")
    period: str | None = Field(default=None, pattern=PERIOD)


@router.post("/trace", tags=["audit"])
def trace_payee(request: Request, user: User, body: TraceQuery) -> dict[str, Any]:
    """A payee's story: submissions, runs, findings, holds, transfers, as the user's scope allows."""
    return trace(ctx_of(request), body.national_id, period=body.period, user=user)
