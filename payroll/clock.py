"""The engine's one clock: every time that lands in the store, the audit chain, a manifest or a bank
file is read through ``now()``, so a test (or a replay) can pin it with ``fixed(at)``.

``now()`` is timezone-aware UTC. ``fixed(at)`` pins it for the duration of a ``with`` block, for every
thread of the process (the Prefect thread runner and the release's worker pool see the same time) and
for processes forked inside the block; blocks nest, the innermost wins. Timing of work (durations,
timeouts) is not the clock's business: it keeps ``time.perf_counter``/``time.monotonic``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

_lock = threading.Lock()
_pinned: list[datetime] = []


def now() -> datetime:
    """The current time, timezone-aware UTC (the pinned time inside ``fixed``)."""
    with _lock:
        if _pinned:
            return _pinned[-1]
    return datetime.now(UTC)


def _as_utc(at: datetime | str) -> datetime:
    if isinstance(at, str):
        at = datetime.fromisoformat(at.replace("Z", "+00:00") if at.endswith("Z") else at)
    if at.tzinfo is None:
        raise ValueError(f"fixed({at!r}): the time must carry a timezone (e.g. 2026-11-20T09:30:00Z)")
    return at.astimezone(UTC)


@contextmanager
def fixed(at: datetime | str) -> Iterator[datetime]:
    """Pin ``now()`` to `at` (an aware datetime, or ISO 8601 text such as ``2026-11-20T09:30:00.123456Z``)
    inside the block; yields the pinned time, in UTC."""
    pinned = _as_utc(at)
    with _lock:
        _pinned.append(pinned)
    try:
        yield pinned
    finally:
        with _lock:
            for i in range(len(_pinned) - 1, -1, -1):  # this block's entry, even if blocks end out of order
                if _pinned[i] is pinned:
                    del _pinned[i]
                    break
