"""The application: the API under /api/v1 (its OpenAPI document at /api/v1/openapi.json; no Swagger page,
which would load its scripts from a CDN this network and the content security policy refuse) and the
pages (payroll.web.pages), on one service-layer context.

Uploads over the size limit are refused from their Content-Length before a byte of the body is read
(413); an upload without one is read to the limit and refused past it. Every response carries
headers that keep the pages out of frames and scripts from elsewhere.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from payroll import services
from payroll.config import Settings, load_settings
from payroll.web import pages, problems
from payroll.web.api import router
from payroll.web.security import LoginThrottle, Sessions

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                                 b"script-src 'self'; frame-ancestors 'none'; form-action 'self'"),
]
BODY_SLACK = 1024 * 1024  # multipart boundaries and the form's other fields


class Guard:
    """Refuses bodies over the limit by Content-Length (413, problem details) and adds security headers."""

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app, self.max_body = app, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            response = problems.problem(413, "UPLOAD_TOO_LARGE", f"the request body is over the {self.max_body}-byte "
                                        "limit", scope.get("path"))
            await response(scope, receive, send)
            return
        if length is None:  # chunked: counted as it arrives, refused (413) once past the limit
            received = 0
            inner = receive

            async def receive() -> Any:
                nonlocal received
                message = await inner()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > self.max_body:
                        # an HTTPException: FastAPI turns any other error while parsing a body into a 400
                        raise HTTPException(413, f"the request body is over the {self.max_body}-byte limit")
                return message

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        app.state.ctx.dispose()

    app = FastAPI(title="Pension payment engine", version="1", lifespan=lifespan,
                  description="Branch lists, approvals, runs, bank files, exception reports and the audit trail. "
                  "Sign in with POST /api/v1/auth/token; send the token as `Authorization: Bearer <token>`. "
                  "Errors are RFC 9457 problem details.",
                  openapi_url="/api/v1/openapi.json", docs_url=None, redoc_url=None)
    app.state.ctx = services.Context(settings)
    app.state.sessions = Sessions(settings)
    app.state.throttle = LoginThrottle(settings.login_attempts, settings.login_window_seconds)
    problems.install(app)
    app.include_router(router)
    pages.install(app)
    app.add_middleware(Guard, max_body=settings.max_file_bytes + BODY_SLACK)
    return app
