"""The clock seam: aware UTC, pinned by fixed() for every thread, nesting, restored after."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest

from payroll import audit, clock


def test_now_is_aware_utc() -> None:
    t = clock.now()
    assert t.tzinfo is not None and t.utcoffset() == timedelta(0)
    assert abs(t - datetime.now(UTC)) < timedelta(seconds=5)


def test_fixed_pins_now_and_audit_time_in_every_thread_and_nests() -> None:
    with clock.fixed("2026-11-20T09:30:00.123456Z") as at:
        assert at == datetime(2026, 11, 20, 9, 30, 0, 123456, tzinfo=UTC)
        assert clock.now() == at
        assert audit.now_iso() == "2026-11-20T09:30:00.123456+00:00"
        seen: list[datetime] = []
        t = threading.Thread(target=lambda: seen.append(clock.now()))
        t.start()
        t.join()
        assert seen == [at]
        with clock.fixed(datetime(2027, 1, 1, 3, 30, tzinfo=timezone(timedelta(hours=3, minutes=30)))) as inner:
            assert clock.now() == inner == datetime(2027, 1, 1, tzinfo=UTC)
        assert clock.now() == at
    assert clock.now() != at


def test_fixed_needs_a_timezone() -> None:
    with pytest.raises(ValueError, match="timezone"):
        with clock.fixed(datetime(2026, 11, 20)):
            pass
