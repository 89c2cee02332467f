"""Who may sign in to the portal, and how: passwords hashed with argon2id (argon2-cffi's defaults,
RFC 9106's second recommended option), set by an administrator or the system and never stored or
logged in the clear.

A user signs in with user id and password (:func:`authenticate`); a wrong password, an unknown user and
a user without a password give the same refusal (``BAD_CREDENTIALS``), and verifying costs the same
either way, so the answer does not tell which user ids exist. Setting a password is on the audit chain
(``user.password_set``, with who set it; never the hash).

A session is good while its user's session generation is the one it was issued in (:func:`find_user`):
signing out (:func:`sign_out`, ``user.sign_out`` on the audit chain) and a new password move the
generation on, which ends every session of the user at once, on every device and in every API process.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.orm import Session

from payroll import audit
from payroll.approvals import Actor, require_role
from payroll.audit import now_iso
from payroll.errors import Refused, Unauthenticated
from payroll.services.context import Context, actor
from payroll.store.models import User

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256


@cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()


@cache
def _dummy_hash() -> str:
    return _hasher().hash("no such user: the same work as a real check")


def set_password(ctx: Context, user_id: str, password: str, *, by: str = "system") -> dict[str, Any]:
    """Set `user_id`'s password, by an administrator (or the system: the operator's CLI)."""
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise Refused("WEAK_PASSWORD", f"a password has {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters; "
                      f"this one has {len(password)}")
    hashed = _hasher().hash(password)
    with ctx.uow() as session:
        role = "system"
        if by != "system":
            who = actor(session, by)
            require_role(who, ("admin",), "setting a password")
            role = who.role
        user = _locked(session, user_id)
        if user is None:
            from payroll.errors import NotFound

            raise NotFound("user", user_id)
        user.password_hash, user.password_set_at = hashed, now_iso()
        user.session_generation += 1  # whoever knew the old password is signed out
        audit.append(session, actor=by, role=role, action="user.password_set", item_type="user", item_id=user_id,
                     detail={"user_role": user.role, "sessions_ended": True})
        return {"user_id": user_id, "role": user.role, "password_set_at": user.password_set_at}


@dataclass(frozen=True)
class SignedIn:
    """A user whose password was right, and the session generation a token for them is issued in."""

    actor: Actor
    generation: int


def authenticate(ctx: Context, user_id: str, password: str) -> SignedIn:
    """The user, when the password is theirs; refuses BAD_CREDENTIALS otherwise (whatever the reason)."""
    bad = Unauthenticated("BAD_CREDENTIALS", "wrong user id or password")
    if len(password) > MAX_PASSWORD_LENGTH or len(user_id) > 64:
        raise bad
    with ctx.uow() as session:
        user = session.get(User, user_id)
        stored = user.password_hash if user is not None else None
        try:
            _hasher().verify(stored or _dummy_hash(), password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            raise bad from None
        if user is None or stored is None:
            raise bad
        if _hasher().check_needs_rehash(stored):
            user.password_hash = _hasher().hash(password)
        return SignedIn(actor(session, user_id), user.session_generation)


def session_generation(ctx: Context, user_id: str) -> int:
    """The generation a session of `user_id` issued now belongs to (0 for an unknown user)."""
    with ctx.uow() as session:
        user = session.get(User, user_id)
        return user.session_generation if user is not None else 0


def _locked(session: Session, user_id: str) -> User | None:
    """The user's row, locked until the transaction ends (FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE
    already serializes writers): a session generation is read and moved on by one transaction at a time, so
    two that end sessions at once (a sign-out and a new password) never both write the same next value."""
    return session.get(User, user_id, with_for_update=True, populate_existing=True)


def _live_user(session: Session, user_id: str, generation: int, *, lock: bool = False) -> User:
    user = _locked(session, user_id) if lock else session.get(User, user_id)
    if user is None or user.password_hash is None:
        raise Unauthenticated("BAD_TOKEN", "the session's user can no longer sign in")
    if generation != user.session_generation:
        raise Unauthenticated("TOKEN_REVOKED", "this session was ended (signed out, or the password was changed); "
                              "sign in again")
    return user


def find_user(ctx: Context, user_id: str, generation: int) -> Actor:
    """The user a valid token names, as the database knows them now (a role changed since sign-in
    counts from the next request); refuses TOKEN_REVOKED when the session was ended since."""
    with ctx.uow() as session:
        _live_user(session, user_id, generation)
        return actor(session, user_id)


def sign_out(ctx: Context, user_id: str, generation: int) -> dict[str, Any]:
    """End every session of the user (the token's generation must still be live: a revoked token signs
    nobody out)."""
    with ctx.uow() as session:
        user = _live_user(session, user_id, generation, lock=True)
        user.session_generation += 1
        audit.append(session, actor=user_id, role=user.role, action="user.sign_out", item_type="user",
                     item_id=user_id, detail={"sessions_ended": True})
        return {"user_id": user_id, "signed_out_at": now_iso()}
