"""Ending a user's sessions moves their session generation on once per ending, even when two end at once
(a sign-out and a new password from two API processes): on PostgreSQL a read-then-write of the counter
lost one of them, and a token issued before both stayed good."""

from __future__ import annotations

import threading

import pytest

import payroll.services.users as users
from payroll.errors import Unauthenticated
from payroll.services import Context


def _two_at_once(monkeypatch: pytest.MonkeyPatch, *calls) -> list[object]:  # type: ignore[no-untyped-def]
    """Run the calls in two threads; each waits (up to 3 s) at its audit entry for the other to have read
    the user too, the interleaving that loses an update when the row is not locked."""
    barrier = threading.Barrier(len(calls))
    real = users.audit.append

    def append(*args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            barrier.wait(timeout=3)
        except threading.BrokenBarrierError:
            pass  # the other one waits for this one's row lock: it cannot get here first
        return real(*args, **kwargs)

    monkeypatch.setattr(users.audit, "append", append)
    results: list[object] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            results[i] = calls[i]()
        except Exception as e:  # noqa: BLE001
            results[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_two_new_passwords_at_once_move_the_generation_on_twice(ctx: Context,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    before = users.session_generation(ctx, "clerk-b01")
    results = _two_at_once(monkeypatch,
                           lambda: users.set_password(ctx, "clerk-b01", "first new password", by="admin-1"),
                           lambda: users.set_password(ctx, "clerk-b01", "second new password", by="admin-1"))
    assert all(isinstance(r, dict) for r in results), results
    assert users.session_generation(ctx, "clerk-b01") == before + 2


def test_a_sign_out_and_a_new_password_at_once_both_end_the_sessions(ctx: Context,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    users.set_password(ctx, "clerk-b01", "the first password", by="admin-1")
    generation = users.session_generation(ctx, "clerk-b01")
    results = _two_at_once(monkeypatch,
                           lambda: users.sign_out(ctx, "clerk-b01", generation),
                           lambda: users.set_password(ctx, "clerk-b01", "a second password", by="admin-1"))
    # the password is always set; the sign-out either came first or found its session already ended
    assert isinstance(results[1], dict), results
    assert isinstance(results[0], dict) or (isinstance(results[0], Unauthenticated)
                                            and results[0].code == "TOKEN_REVOKED"), results
    ended = 2 if isinstance(results[0], dict) else 1
    assert users.session_generation(ctx, "clerk-b01") == generation + ended
    with pytest.raises(Unauthenticated):
        users.find_user(ctx, "clerk-b01", generation)
