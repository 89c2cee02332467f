"""insert_rows: the run's exception rows written as plain tuples in bulk (COPY on PostgreSQL, executemany
on SQLite), read back exactly, inside the caller's transaction; and their lineage looked up at once."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from sqlalchemy import select

from payroll.checks import NO_ROW
from payroll.services import Context
from payroll.services import runs as runs_service
from payroll.services.runs import EXCEPTION_COLUMNS, insert_rows, run_exception_rows
from payroll.store.models import Run, RunException, User

AWKWARD = ["plain", "tab\there", "new\nline", "back\\slash", "quote ' \" ", "\\N", "", "ی ک ‌ ۱۲۳", "😀", "a,b|c"]


def _run(session) -> int:  # type: ignore[no-untyped-def]
    user = session.execute(select(User.user_id).limit(1)).scalar_one()
    run = Run(period="2026-11", status="awaiting_approval", created_by=user, created_at="2026-11-20T00:00:00",
              payments_path="objects/runs/x.parquet", content_sha256="0" * 64, rows=0, payable_count=0,
              payable_total=0, held_count=0, blocked_count=0, summary="{}", levels_approved=0)
    session.add(run)
    session.flush()
    return run.id


def _rows(run_id: int) -> list[tuple[object, ...]]:
    out = []
    for i, text in enumerate(AWKWARD):
        detail = json.dumps({"evidence": text, "n": i}, ensure_ascii=False, sort_keys=True)
        out.append((run_id, f"CODE_{i}", "HOLD", "run", f"B{i:03d}", 10 + i, f"{i:064d}", i + 2,
                    None if i == 3 else text, None if i == 4 else f"00{i}", detail))
    return out


def test_insert_rows_writes_every_value_as_given_in_chunks(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runs_service, "INSERT_CHUNK", 3)  # several executemany chunks on SQLite
    with ctx.uow() as session:
        run_id = _run(session)
        rows = _rows(run_id)
        assert insert_rows(session, RunException.__tablename__, EXCEPTION_COLUMNS, iter(rows)) == len(rows)
    with ctx.uow() as session:
        got = [tuple(getattr(e, c) for c in EXCEPTION_COLUMNS) for e in session.execute(
            select(RunException).where(RunException.run_id == run_id).order_by(RunException.id)).scalars()]
    assert got == rows


def test_insert_rows_rolls_back_with_the_transaction(ctx: Context) -> None:
    with pytest.raises(RuntimeError), ctx.uow() as session:
        run_id = _run(session)
        insert_rows(session, RunException.__tablename__, EXCEPTION_COLUMNS, _rows(run_id))
        raise RuntimeError("crash after the insert")
    with ctx.uow() as session:
        assert session.execute(select(RunException).where(RunException.run_id == run_id)).first() is None


def test_insert_rows_of_nothing_writes_nothing(ctx: Context) -> None:
    with ctx.uow() as session:
        assert insert_rows(session, RunException.__tablename__, EXCEPTION_COLUMNS, []) == 0


def test_run_exception_rows_take_the_payment_lineage_or_the_finding_s_own() -> None:
    payments = pd.DataFrame({"row_key": [5, 9, 2], "branch_code": ["B1", "B2", "B3"], "submission_id": [1, 2, 3],
                             "source_sha256": ["a", "b", "c"], "row_no": [2, 3, 4], "pension_id": ["P1", "P2", "P3"],
                             "national_id": ["N1", "N2", "N3"]})
    own = {"branch_code": "B0", "submission_id": 7, "source_sha256": "z", "row_no": 9, "pension_id": "P0",
           "national_id": "N0"}
    exceptions = pd.DataFrame({"row_key": [2, NO_ROW, 9], "code": ["X", "Y", "Z"], "severity": ["HOLD", "REPORT", "WARN"],
                               "detail": [{"e": 1}, {"e": 2, "lineage": own}, {"e": 3}]})
    assert run_exception_rows(4, payments, exceptions) == [
        (4, "X", "HOLD", "run", "B3", 3, "c", 4, "P3", "N3", '{"e": 1}'),
        (4, "Y", "REPORT", "run", "B0", 7, "z", 9, "P0", "N0", '{"e": 2}'),
        (4, "Z", "WARN", "run", "B2", 2, "b", 3, "P2", "N2", '{"e": 3}'),
    ]
    with pytest.raises(ValueError):
        run_exception_rows(4, payments, exceptions.assign(row_key=[2, 3, 9]))
