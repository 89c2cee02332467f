"""Refusals: the engine says no with a code and a message a person can act on.

A refusal is not a crash: the CLI turns it into exit status 1 and a JSON error object. Row-level
findings are never raised; they are data (see payroll.exceptions_catalog).
"""

from __future__ import annotations

from typing import Any


class Refused(Exception):
    """The engine refuses the request (invalid file, separation of duties, unknown id, wrong state)."""

    def __init__(self, code: str, message: str, **detail: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.detail = detail

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.detail:
            out["detail"] = self.detail
        return out


class NotFound(Refused):
    def __init__(self, what: str, ident: object) -> None:
        super().__init__("NOT_FOUND", f"{what} {ident} does not exist", what=what, id=str(ident))


class PolicyViolation(Refused):
    """Separation of duties, role or scope: the user may not do this."""


class WrongState(Refused):
    pass


class Unauthenticated(Refused):
    """No valid credentials: a wrong user or password, an expired or forged token (HTTP 401)."""


class TooManyAttempts(Refused):
    """Too many failed sign-ins for a user or an address; try again later (HTTP 429)."""
