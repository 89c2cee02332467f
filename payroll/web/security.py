"""Sessions, CSRF and sign-in throttling for the portal and the API.

- **Tokens**: short-lived (``PENSION_SESSION_MINUTES``, default 15), signed with HMAC-SHA256 by
  itsdangerous over ``{"u": user_id, "g": the user's session generation, "n": nonce}`` with the issue
  time; the secret is a 32-byte random
  file (``PENSION_WEB_SECRET_FILE``, default ``$PENSION_HOME/keys/web-secret``, created 0600). The API
  takes it as ``Authorization: Bearer <token>``; the pages keep it in an HttpOnly, SameSite=Strict cookie
  (Secure when ``PENSION_COOKIE_SECURE``). Each request reads the user from the database again, so a
  role changed or a password removed counts at once, and so does a revocation: signing out (the pages'
  ``POST /logout``, the API's ``POST /api/v1/auth/logout``) and a new password move the user's session
  generation on, which ends every session of the user issued before (payroll.services.users).
- **CSRF**: a request authenticated by the cookie that changes anything must carry the session's CSRF
  token (an HMAC of the session token) in the ``X-CSRF-Token`` header or a ``csrf_token`` form field;
  bearer requests need none (a browser never adds that header by itself).
- **Sign-in throttling**: more than ``PENSION_LOGIN_ATTEMPTS`` failures for one user id, or from one
  client address, within ``PENSION_LOGIN_WINDOW_SECONDS`` refuse further tries with 429 until the window
  passes. Counted in this process: several API processes count separately (a proxy's own limit goes in
  front of them).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any, NamedTuple

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from payroll.config import Settings
from payroll.errors import TooManyAttempts, Unauthenticated
from payroll.store.files import make_private_dir

COOKIE = "pension_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"


def load_secret(path: Path) -> bytes:
    """The signing secret, made (0600) on first use."""
    if not path.exists():
        make_private_dir(path.parent)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_hex(32).encode())
        finally:
            os.close(fd)
    data = path.read_bytes().strip()
    if len(data) < 32:
        raise RuntimeError(f"{path}: the web secret is shorter than 32 bytes")
    return data


class Claims(NamedTuple):
    """What a valid session token says: whose session it is, and in which of their generations."""

    user_id: str
    generation: int


class Sessions:
    def __init__(self, settings: Settings) -> None:
        self._secret = load_secret(settings.web_secret_path)
        self._serializer = URLSafeTimedSerializer(self._secret, salt="pension-session")
        self.max_age = settings.session_minutes * 60

    def issue(self, user_id: str, generation: int) -> str:
        """A token for `user_id`'s session in their session `generation` (payroll.services.users)."""
        return self._serializer.dumps({"u": user_id, "g": generation, "n": secrets.token_hex(8)})

    def claims_of(self, token: str) -> Claims:
        """Who the token names, when its signature is good and it has not expired (whether the session
        was since revoked is the database's to say: payroll.services.users.find_user)."""
        try:
            data: Any = self._serializer.loads(token, max_age=self.max_age)
        except SignatureExpired:
            raise Unauthenticated("TOKEN_EXPIRED", "the session has expired; sign in again") from None
        except BadSignature:
            raise Unauthenticated("BAD_TOKEN", "the session token is not valid") from None
        if not isinstance(data, dict) or not isinstance(data.get("u"), str) or type(data.get("g")) is not int:
            raise Unauthenticated("BAD_TOKEN", "the session token is not valid")
        return Claims(data["u"], data["g"])

    def csrf(self, token: str) -> str:
        return hmac.new(self._secret, b"csrf:" + token.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, token: str, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(self.csrf(token), given or "")


class LoginThrottle:
    """Failed sign-ins per key (a user id, a client address) within a sliding window."""

    def __init__(self, attempts: int, window_seconds: int) -> None:
        self.attempts, self.window = attempts, window_seconds
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        """The failures of `key` within the window (a new, unstored deque when it has none)."""
        q = self._failures.get(key)
        if q is None:
            return deque()
        while q and q[0] <= now - self.window:
            q.popleft()
        if not q:
            del self._failures[key]
        return q

    def _forget_old(self, now: float) -> None:
        """Keys whose failures are all older than the window are dropped, so refused sign-ins with ever new
        user ids cost no memory past the window."""
        for key in [k for k, q in self._failures.items() if not q or q[-1] <= now - self.window]:
            del self._failures[key]

    def check(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                q = self._recent(key, now)
                if len(q) >= self.attempts:
                    retry = int(q[0] + self.window - now) + 1
                    raise TooManyAttempts("TOO_MANY_ATTEMPTS", f"too many failed sign-ins; try again in {retry} s",
                                          retry_after=retry)

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._failures) > 10_000:
                self._forget_old(now)
            for key in keys:
                q = self._recent(key, now)
                q.append(now)
                self._failures[key] = q

    def succeeded(self, user_key: str) -> None:
        with self._lock:
            self._failures.pop(user_key, None)
