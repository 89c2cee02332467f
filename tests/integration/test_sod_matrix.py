"""The separation-of-duties matrix through the service layer, cell by cell: for every action, every
role (and scope) that must be refused is refused with its reason, nothing is written for a refusal, and
the one who may act then does. The rules themselves are unit-tested in tests/unit/test_approvals.py;
this is what the CLI, the flows and the portal get."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from payroll import services
from payroll.errors import Refused
from payroll.services import Context
from payroll.services.audit_export import export_audit
from payroll.services.trace import trace
from payroll.store.models import AuditEntry
from tests import month
from tests.conftest import SAMPLE

EVERYONE = ("clerk-b01", "clerk-b02", "head-b01", "head-b02", "prov-thr", "prov-isf", "fin-1", "fin-2", "fin-3",
            "lead-1", "audit-1", "admin-1")


def _entries(ctx: Context) -> int:
    with ctx.uow() as s:
        return s.execute(select(func.count()).select_from(AuditEntry)).scalar_one()


def _cells(ctx: Context, action: str, call: Callable[[str], Any], refused: dict[str, str], allowed: str) -> Any:
    """Every user in `refused` gets exactly that code and writes nothing; then `allowed` acts."""
    assert set(refused) | {allowed} <= set(EVERYONE)
    before = _entries(ctx)
    got = {}
    for user in refused:
        with pytest.raises(Refused) as e:
            call(user)
        got[user] = e.value.code
    assert got == refused, action
    assert _entries(ctx) == before, f"{action}: a refusal wrote to the audit trail"
    return call(allowed)


def test_every_cell_of_the_matrix(ctx: Context, plan: dict, tmp_path: Path) -> None:
    b01 = next(s for s in plan["submissions"] if s["branch"] == "B01")

    def submit(user: str) -> dict:
        return services.submit(ctx, SAMPLE / b01["file"], branch="B01", period=plan["period"], user=user,
                               declared_count=b01["declared_count"], declared_total=b01["declared_total"])

    # a branch list is made by a clerk of that branch, and by nobody else
    receipt = _cells(ctx, "submit", submit, {
        "clerk-b02": "OUT_OF_SCOPE", "head-b01": "WRONG_ROLE", "prov-thr": "WRONG_ROLE", "fin-1": "WRONG_ROLE",
        "lead-1": "WRONG_ROLE", "audit-1": "WRONG_ROLE", "admin-1": "WRONG_ROLE"}, "clerk-b01")
    sid = receipt["submission_id"]

    # level 1: the head of that branch; level 2: the approver of its province; never the maker, never twice
    def approve_sub(user: str) -> dict:
        return services.approve_submission(ctx, sid, user=user)

    _cells(ctx, "approve submission L1", approve_sub, {
        "clerk-b01": "WRONG_ROLE", "head-b02": "OUT_OF_SCOPE", "prov-thr": "WRONG_ROLE", "fin-1": "WRONG_ROLE",
        "audit-1": "SOD_AUDITOR_READ_ONLY", "admin-1": "SOD_ADMIN_NEVER_APPROVES"}, "head-b01")
    _cells(ctx, "approve submission L2", approve_sub, {
        "head-b01": "WRONG_ROLE", "prov-isf": "OUT_OF_SCOPE", "lead-1": "WRONG_ROLE",
        "audit-1": "SOD_AUDITOR_READ_ONLY", "admin-1": "SOD_ADMIN_NEVER_APPROVES"}, "prov-thr")
    others = [r for r in month.submit_all(ctx, plan) if r["branch_code"] != "B01"]
    month.approve_all(ctx, plan, others)

    # a run is made by finance; approved by two other finance users; released by finance
    run = _cells(ctx, "create run", lambda u: services.create_run(ctx, plan["period"], user=u), {
        "clerk-b01": "WRONG_ROLE", "head-b01": "WRONG_ROLE", "prov-thr": "WRONG_ROLE", "audit-1": "WRONG_ROLE",
        "admin-1": "WRONG_ROLE"}, "fin-1")
    rid = run["run_id"]

    def approve_run(user: str) -> dict:
        return services.approve_run(ctx, rid, user=user)

    _cells(ctx, "approve run L1", approve_run, {
        "fin-1": "SOD_MAKER_CHECKER", "clerk-b01": "WRONG_ROLE", "head-b01": "WRONG_ROLE", "prov-thr": "WRONG_ROLE",
        "audit-1": "SOD_AUDITOR_READ_ONLY", "admin-1": "SOD_ADMIN_NEVER_APPROVES"}, "fin-2")
    _cells(ctx, "approve run L2", approve_run, {"fin-2": "SOD_TWO_LEVELS", "fin-1": "SOD_MAKER_CHECKER"}, "lead-1")
    released = _cells(ctx, "release", lambda u: services.release_run(ctx, rid, user=u), {
        "clerk-b01": "WRONG_ROLE", "prov-thr": "WRONG_ROLE", "audit-1": "WRONG_ROLE", "admin-1": "WRONG_ROLE"},
        "fin-3")
    assert released["already_released"] is False

    # a held payment is cleared by a role its codes name (finance_lead), never the run's maker
    held = services.list_holds(ctx, rid)["holds"][0]["end_to_end_id"]

    def clear(user: str) -> dict:
        return services.clear_hold(ctx, rid, held, user=user, justification="checked with the branch by telephone")

    _cells(ctx, "clear hold", clear, {
        "fin-2": "WRONG_ROLE", "clerk-b01": "WRONG_ROLE", "audit-1": "SOD_AUDITOR_READ_ONLY",
        "admin-1": "WRONG_ROLE"}, "lead-1")

    # reference data is the administrator's; the audit export is for auditors (and leads, administrators)
    users = tmp_path / "users.csv"
    users.write_text("user_id,name,role,branch_code,province_code\nfin-4,N,finance,,\n", encoding="utf-8")
    _cells(ctx, "load reference", lambda u: services.load_reference(ctx, "users", users, actor=u), {
        "clerk-b01": "WRONG_ROLE", "fin-1": "WRONG_ROLE", "lead-1": "WRONG_ROLE", "audit-1": "WRONG_ROLE"},
        "admin-1")
    _cells(ctx, "audit export", lambda u: export_audit(ctx, tmp_path / f"audit-{u}.csv", user=u), {
        "clerk-b01": "WRONG_ROLE", "head-b01": "WRONG_ROLE", "fin-1": "WRONG_ROLE"}, "audit-1")

    # a payee's story: within the user's branch or province; administrators never see payments
    nid = services.list_holds(ctx, rid)["holds"][0]
    branch = nid["branch_code"]
    outsider = "clerk-b02" if branch != "B02" else "clerk-b01"
    story = _cells(ctx, "trace", lambda u: trace(ctx, nid["national_id"], user=u), {
        outsider: "OUT_OF_SCOPE", "prov-isf" if branch in ("B01", "B02", "B03") else "prov-thr": "OUT_OF_SCOPE",
        "admin-1": "SOD_ADMIN_NO_PAYMENTS"}, "audit-1")
    assert story["found"] and branch in story["branches"]
