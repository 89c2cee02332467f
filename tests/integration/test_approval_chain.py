"""The approval chain as data through the services: N distinct signers at one level, a finance lead as
well above a run total, and approvers racing for the same run (exactly one outcome per slot)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import select

from payroll import services
from payroll.errors import Refused
from payroll.services import Context
from payroll.store.models import Approval, Run
from tests import month

ADMIN = "admin-1"


def _chain(ctx: Context, tmp_path: Path, run_rows: str) -> None:
    path = tmp_path / "chain.csv"
    path.write_text("item_type,level,roles,scope,required,min_total\n"
                    "submission,1,branch_head,branch,1,\nsubmission,2,province_approver,province,1,\n"
                    + run_rows, encoding="utf-8")
    services.load_reference(ctx, "approval_chain", path, actor=ADMIN)


def _run(ctx: Context, plan: dict) -> dict:
    month.approve_all(ctx, plan, month.submit_all(ctx, plan))
    return services.create_run(ctx, plan["period"], user=plan["run"]["created_by"])


def _approvals(ctx: Context, run_id: int) -> list[tuple[int, int, str]]:
    with ctx.uow() as s:
        return sorted((a.level, a.slot, a.user_id) for a in s.execute(
            select(Approval).where(Approval.item_type == "run", Approval.item_id == run_id)).scalars())


def test_a_run_over_the_threshold_waits_for_a_finance_lead(ctx: Context, plan: dict, expected: dict,
                                                           tmp_path: Path) -> None:
    total = expected["totals"]["payable_total"]
    _chain(ctx, tmp_path, "run,1,finance|finance_lead,hq,2,\n"
                          f"run,2,finance_lead,hq,1,{total - 1}\n")  # the sample month is just over it
    run = _run(ctx, plan)
    rid = run["run_id"]
    first = services.approve_run(ctx, rid, user="fin-2")
    second = services.approve_run(ctx, rid, user="fin-3")
    assert (first["level"], second["level"], second["levels_required"], second["status"]) == (
        1, 1, 3, "awaiting_approval")
    with pytest.raises(Refused) as e:
        services.approve_run(ctx, rid, user="fin-1")  # not a lead
    assert e.value.code == "WRONG_ROLE"  # level 2 is a finance lead's
    assert services.approve_run(ctx, rid, user="lead-1")["status"] == "approved"
    assert _approvals(ctx, rid) == [(1, 1, "fin-2"), (1, 2, "fin-3"), (2, 1, "lead-1")]


def test_a_run_under_the_threshold_needs_only_the_two_finance_signatures(ctx: Context, plan: dict,
                                                                        expected: dict, tmp_path: Path) -> None:
    total = expected["totals"]["payable_total"]
    _chain(ctx, tmp_path, f"run,1,finance|finance_lead,hq,2,\nrun,2,finance_lead,hq,1,{total}\n")
    rid = _run(ctx, plan)["run_id"]
    services.approve_run(ctx, rid, user="fin-2")
    assert services.approve_run(ctx, rid, user="fin-3")["status"] == "approved"


def test_a_chain_that_lets_an_auditor_approve_is_refused(ctx: Context, tmp_path: Path) -> None:
    with pytest.raises(Refused) as e:
        _chain(ctx, tmp_path, "run,1,finance|auditor,hq,2,\n")
    assert e.value.code == "INVALID_REFERENCE_FILE" and "column roles" in e.value.message


def test_approvers_racing_for_one_run_fill_each_slot_once(ctx: Context, plan: dict) -> None:
    rid = _run(ctx, plan)["run_id"]
    barrier = threading.Barrier(3)
    done: list[dict] = []
    refused: list[str] = []

    def approve(user: str) -> None:
        barrier.wait()
        try:
            done.append(services.approve_run(ctx, rid, user=user))
        except Refused as e:
            refused.append(e.code)

    threads = [threading.Thread(target=approve, args=(u,)) for u in ("fin-2", "fin-3", "lead-1")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # two slots: two approvals land, one in each; the third finds the run approved
    assert len(done) == 2 and refused == ["WRONG_STATE"]
    assert sorted(a[:2] for a in _approvals(ctx, rid)) == [(1, 1), (2, 1)]
    with ctx.uow() as s:
        r = s.get(Run, rid)
        assert (r.status, r.levels_approved) == ("approved", 2)
