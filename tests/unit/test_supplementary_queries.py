"""What a supplementary run pays again of payments a bank rejected: read once per run, not per clearance."""

from __future__ import annotations

import json

from sqlalchemy import create_engine, event
from sqlalchemy.orm import Session

from payroll.legs import DEDICATED, ORDINARY
from payroll.services.supplementary import rejected_amounts
from payroll.store.models import Base, HoldClearance, TransferStatus


def _clearance(run_id: int, e2e: str, codes: list[str]) -> HoldClearance:
    return HoldClearance(run_id=run_id, end_to_end_id=e2e, codes=json.dumps(codes))


def _status(run_id: int, e2e: str, outcome: str, amount: int) -> TransferStatus:
    return TransferStatus(run_id=run_id, end_to_end_id=e2e, outcome=outcome, iso_status="RJCT", amount=amount,
                          report_id=1, updated_at="2026-11-30T00:00:00Z")


def test_rejected_amounts_reads_each_run_once_whatever_the_number_of_clearances() -> None:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute",
                 lambda conn, cursor, statement, *args: statements.append(statement))
    with Session(engine) as session:
        session.add_all([_status(1, f"E{i}", "rejected", 100 + i) for i in range(20)])
        session.add_all([_status(1, "L0" + DEDICATED, "rejected", 7), _status(1, "L0" + ORDINARY, "rejected", 5),
                         _status(1, "S0", "settled", 999), _status(2, "E0", "rejected", 1000)])
        session.flush()
        taken = ([_clearance(1, f"E{i}", ["BANK_REJECTED"]) for i in range(20)]
                 + [_clearance(1, "L0", ["BANK_REJECTED"]), _clearance(1, "S0", ["BANK_REJECTED"]),
                    _clearance(1, "H0", ["NAME_MISMATCH"]), _clearance(2, "E0", ["BANK_REJECTED"])])
        statements.clear()
        out = rejected_amounts(session, taken)
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 2  # runs 1 and 2
    assert out == {**{f"E{i}": 100 + i for i in range(1, 20)}, "E0": 100 + 1000, "L0": 12, "S0": 0}
