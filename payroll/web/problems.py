"""Errors as RFC 9457 problem details (``application/problem+json``).

A refusal of the engine (payroll.errors.Refused) keeps its code and message: ``type`` names the code
(``/problems/out-of-scope``), ``title`` the HTTP reason, ``detail`` the engine's message, ``code`` the
code, and ``errors`` the rows and columns of a refused file when there are any. Statuses:

- 401 no or bad credentials; 403 the policy refuses (role, scope, separation of duties);
- 404 no such item; 409 the item's state forbids it (already released, changed since, not released);
- 413 a file over the size limit; 422 a request the engine cannot accept (bad period, refused file);
- 429 too many failed sign-ins; 500 stored data that no longer matches its recorded hash; 503 the
  database is not initialised or not upgraded, or the release signing key is missing.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from payroll.errors import NotFound, PolicyViolation, Refused, TooManyAttempts, Unauthenticated, WrongState

MEDIA_TYPE = "application/problem+json"
CONFLICT = {"HASH_MISMATCH", "APPROVAL_VOID", "NOT_RELEASED", "NOTHING_TO_PAY", "NOTHING_CLEARED"}
INTEGRITY = {"STORED_FILE_CHANGED", "ARCHIVE_CHANGED", "REPORT_TOTALS_DIFFER", "SUMMARY_MISMATCH"}
UNAVAILABLE = {"NOT_INITIALIZED", "SCHEMA_OUTDATED", "SIGNING_KEY_MISSING"}
TOO_LARGE = {"FILE_TOO_LARGE", "UPLOAD_TOO_LARGE"}


def status_of(e: Refused) -> int:
    if isinstance(e, Unauthenticated):
        return 401
    if isinstance(e, TooManyAttempts):
        return 429
    if isinstance(e, PolicyViolation):
        return 403
    if isinstance(e, NotFound):
        return 404
    if isinstance(e, WrongState) or e.code in CONFLICT:
        return 409
    if e.code in TOO_LARGE:
        return 413
    if e.code in INTEGRITY:
        return 500
    if e.code in UNAVAILABLE:
        return 503
    return 422


def problem(status: int, code: str, detail: str, instance: str | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": f"/problems/{code.lower().replace('_', '-')}", "title": HTTPStatus(status).phrase,
                            "status": status, "detail": detail, "code": code}
    if instance:
        body["instance"] = instance
    body.update({k: v for k, v in extra.items() if v is not None})
    headers = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="pension"'
    if status == 429 and extra.get("retry_after"):
        headers["Retry-After"] = str(extra["retry_after"])
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def from_refused(e: Refused, instance: str | None = None) -> JSONResponse:
    detail = dict(e.detail)
    errors = detail.pop("errors", None)
    retry_after = detail.pop("retry_after", None)
    return problem(status_of(e), e.code, e.message, instance, errors=errors, retry_after=retry_after,
                   context=detail or None)


def install(app: FastAPI) -> None:
    """Problem details for refusals, validation errors and HTTP errors of the API's routes."""

    @app.exception_handler(Refused)
    async def refused(request: Request, e: Refused) -> JSONResponse:
        return from_refused(e, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, e: RequestValidationError) -> JSONResponse:
        errors = [{"location": ".".join(str(p) for p in err.get("loc", ())), "message": err.get("msg"),
                   "type": err.get("type")} for err in e.errors()]
        return problem(422, "INVALID_REQUEST", "the request does not match the API's schema", request.url.path,
                       errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException) -> JSONResponse:
        code = HTTPStatus(e.status_code).name
        response = problem(e.status_code, code, str(e.detail), request.url.path)
        response.headers.update(e.headers or {})
        if e.status_code == 405:  # Starlette names the methods of one route; a path may have several
            allowed = {m for m in ("GET", "POST", "PUT", "PATCH", "DELETE") for route in request.app.router.routes
                       if route.matches({**request.scope, "method": m})[0] == Match.FULL}
            if allowed:
                response.headers["Allow"] = ", ".join(sorted(allowed))
        return response

    @app.exception_handler(DataError)
    async def bad_value(request: Request, e: DataError) -> JSONResponse:
        # a value the database cannot hold (a NUL in text on PostgreSQL, an integer past 64 bits): the
        # request's fault, and the unit of work has rolled back
        return problem(422, "INVALID_VALUE", "a value in the request cannot be stored or looked up (a NUL "
                       "character, or a number out of range)", request.url.path)

    @app.exception_handler(OverflowError)
    async def overflow(request: Request, e: OverflowError) -> JSONResponse:
        return problem(422, "INVALID_VALUE", "a number in the request is out of range", request.url.path)
