"""A payee's story on SQLite and PostgreSQL: from the branch file to the bank's status, in time order,
for whom the user may see."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bank_formats.pain002 import write_pain002
from payroll import services
from payroll.errors import PolicyViolation, Refused
from payroll.services import Context
from payroll.services.trace import trace
from payroll.store.models import Submission
from tests import month

TEHRAN = timezone(timedelta(hours=3, minutes=30))
WHY = "Registry extract lags; the payee appeared at the branch with an identity card."
PERSIAN = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


def _planted(expected: dict, code: str, branch: str | None = None) -> dict[str, Any]:
    return next(p for p in expected["planted"] if p["code"] == code and (branch is None or p["branch"] == branch))


def _events(story: dict[str, Any], event: str) -> list[dict[str, Any]]:
    return [e for e in story["events"] if e["event"] == event]


def _in_time_order(story: dict[str, Any]) -> bool:
    times = [datetime.fromisoformat(e["at"]) for e in story["events"]]
    return times == sorted(times)


def test_the_story_of_a_planted_payee_from_branch_file_to_bank_status(
        ctx: Context, plan: dict, expected: dict, tmp_path: Path) -> None:
    payee = _planted(expected, "NAME_VARIANT", "B02")  # a WARN: the row is paid
    nid, branch = payee["national_id"], payee["branch"]
    run = month.approved_run(ctx, plan)
    rid = int(run["run_id"])

    before = trace(ctx, nid, user="audit-1")
    assert before["runs"] == [rid] and _events(before, "payment.released") == []

    released = month.release(ctx, plan, rid, tmp_path / "out")
    # the bank settles the payee's transfer
    story = trace(ctx, nid, user="fin-2")
    e2e = story["payments"][0]
    leg = _events(story, "payment.released")[0]["legs"][0]
    report = tmp_path / "status.xml"
    write_pain002(report, msg_id="BANK-STS-1", created_at=datetime(2026, 11, 26, 9, tzinfo=TEHRAN),
                  original_msg_id=leg["msg_id"], group_status=None, original_payment_info_id=f"{leg['msg_id']}P1",
                  payments=[(e2e, "ACSC", None, leg["amount"], "IRR")])
    services.reconcile(ctx, rid, report, user="fin-2")

    # asked in Persian digits, by an auditor
    story = trace(ctx, nid.translate(PERSIAN), user="audit-1")
    assert (story["national_id"], story["found"], story["scope"]) == (nid, True, "all branches")
    assert _in_time_order(story)
    assert story["branches"] == [branch] and story["pension_ids"] == [payee["pension_id"]]
    assert story["runs"] == [rid] and story["payments"] == [e2e]
    assert [e["event"] for e in story["events"]] == [
        "submission.received", "submission.approval", "submission.approval", "run.created", "run.finding",
        "run.approval", "run.approval", "payment.released", "bank.status"]

    received = _events(story, "submission.received")[0]
    with ctx.uow() as s:
        sub = s.execute(select(Submission).where(Submission.branch_code == branch,
                                                 Submission.status == "approved")).scalar_one()
        assert (received["submission_id"], received["version"], received["file_name"], received["sha256"]) == \
            (sub.id, sub.version, sub.file_name, sub.content_sha256)
    assert [(r["row_no"], r["pension_id"]) for r in received["rows"]] == [(payee["row"], payee["pension_id"])]

    approvals = _events(story, "submission.approval")
    assert [(a["level"], a["user"], a["decision"]) for a in approvals] == \
        [(1, plan["submission_approvals"][branch][0], "approve"), (2, plan["submission_approvals"][branch][1], "approve")]
    assert [a["role"] for a in approvals] == ["branch_head", "province_approver"]

    created = _events(story, "run.created")[0]
    assert (created["run_id"], created["kind"], created["status"]) == (rid, "main", "released")
    [row] = created["payments"]
    assert (row["row_no"], row["status"], row["end_to_end_id"], row["branch_code"]) == \
        (payee["row"], "PAYABLE", e2e, branch)
    [finding] = _events(story, "run.finding")
    assert (finding["code"], finding["severity"], finding["row_no"]) == ("NAME_VARIANT", "WARN", payee["row"])
    assert finding["evidence"] and finding["evidence"] == finding["detail"]["evidence"]
    assert [a["user"] for a in _events(story, "run.approval")] == plan["run"]["approvers"]

    [paid] = _events(story, "payment.released")
    assert paid["payment_id"] == e2e and [g["end_to_end_id"] for g in paid["legs"]] == [e2e]
    carried = next(f for f in released["files"] if Path(f["path"]).name == leg["file"])
    assert (leg["msg_id"], leg["file_sha256"], leg["amount"]) == (carried["msg_id"], carried["sha256"],
                                                                  row["net_amount"])
    assert month.sent([carried])[e2e] == leg["amount"]  # the file's own bytes carry the transfer

    [status] = _events(story, "bank.status")
    assert (status["end_to_end_id"], status["outcome"], status["iso_status"]) == (e2e, "settled", "ACSC")
    assert status["report"]["msg_id"] == "BANK-STS-1"

    # the other written forms of the id tell the same story; a period narrows it
    assert trace(ctx, f"{nid[:3]}-{nid[3:9]}-{nid[9]}", user="lead-1")["events"] == story["events"]
    assert trace(ctx, nid, period="2026-11", user="audit-1")["events"] == story["events"]
    assert trace(ctx, nid, period="2026-10", user="audit-1")["found"] is False


def test_a_payee_split_over_two_refah_files_a_held_payee_cleared_and_an_intake_rejection(
        ctx: Context, plan: dict, expected: dict) -> None:
    double = _planted(expected, "DOUBLE_BENEFIT", "B01")  # paid by B01 and by B06, both at Refah (013)
    held = _planted(expected, "NOT_IN_REGISTRY", "B02")
    rejected = _planted(expected, "INVALID_ACCOUNT_CODE", "B01")
    run = month.approved_run(ctx, plan)
    rid = int(run["run_id"])
    released = month.release(ctx, plan, rid)

    story = trace(ctx, double["national_id"].lstrip("0"), user="audit-1")  # a leading zero dropped
    assert story["branches"] == ["B01", "B06"] and len(story["payments"]) == 2
    legs = [g for e in _events(story, "payment.released") for g in e["legs"]]
    assert len(legs) == 2
    files = {Path(f["path"]).name: f for f in released["files"]}
    for g in legs:
        assert g["end_to_end_id"] in month.sent([files[g["file"]]])  # the right part of the bank's files
    assert sorted(f["code"] for f in _events(story, "run.finding")) == ["DOUBLE_BENEFIT", "DOUBLE_BENEFIT"]

    services.clear_hold(ctx, rid, trace(ctx, held["national_id"], user="audit-1")["payments"][0],
                        user="lead-1", justification=WHY)
    story = trace(ctx, held["national_id"], user="audit-1")
    [created] = _events(story, "run.created")
    assert [p["status"] for p in created["payments"]] == ["HOLD"]
    assert [(f["code"], f["severity"]) for f in _events(story, "run.finding")] == [("NOT_IN_REGISTRY", "HOLD")]
    assert _events(story, "payment.released") == []  # a held payment is in no bank file
    [cleared] = _events(story, "hold.cleared")
    assert (cleared["run_id"], cleared["end_to_end_id"], cleared["codes"], cleared["cleared_by"]) == \
        (rid, story["payments"][0], ["NOT_IN_REGISTRY"], "lead-1")
    assert story["events"][-1]["event"] == "hold.cleared" and _in_time_order(story)

    story = trace(ctx, rejected["national_id"], user="audit-1")
    [row] = _events(story, "intake.row_rejected")
    assert (row["row_no"], row["code"], row["column"]) == (rejected["row"], "INVALID_ACCOUNT_CODE", "account_code")
    assert _events(story, "submission.received")[0]["rows"] == []  # the row never entered the list
    assert [(f["code"], f["stage"], f["severity"]) for f in _events(story, "run.finding")] == \
        [("INVALID_ACCOUNT_CODE", "intake", "BLOCK")]
    assert story["payments"] == [] and _in_time_order(story)


def test_who_may_trace_whom(ctx: Context, plan: dict, expected: dict) -> None:
    month.approved_run(ctx, plan)
    b02 = _planted(expected, "NAME_VARIANT", "B02")["national_id"]  # a payee of B02 (THR)
    double = _planted(expected, "DOUBLE_BENEFIT", "B01")["national_id"]  # of B01 (THR) and B06 (ISF)

    for user in ("audit-1", "fin-1", "lead-1", "clerk-b02", "head-b02", "prov-thr"):
        assert trace(ctx, b02, user=user)["branches"] == ["B02"], user
    for user in ("clerk-b01", "head-b03", "prov-isf"):
        with pytest.raises(PolicyViolation) as e:
            trace(ctx, b02, user=user)
        assert e.value.code == "OUT_OF_SCOPE" and "may trace only payees of" in e.value.message
    with pytest.raises(PolicyViolation) as e:
        trace(ctx, b02, user="admin-1")
    assert e.value.code == "SOD_ADMIN_NO_PAYMENTS"

    # a person paid by two branches: each branch and province sees its own part only
    whole = trace(ctx, double, user="audit-1")
    assert whole["branches"] == ["B01", "B06"]
    for user, branch in (("clerk-b01", "B01"), ("head-b06", "B06"), ("prov-thr", "B01"), ("prov-isf", "B06")):
        part = trace(ctx, double, user=user)
        assert part["branches"] == [branch], user
        assert {e["branch_code"] for e in part["events"] if "branch_code" in e} == {branch}
        assert {p["branch_code"] for e in _events(part, "run.created") for p in e["payments"]} == {branch}
        assert {a["submission_id"] for a in _events(part, "submission.approval")} == set(part["submissions"])

    # an id the engine never saw: an empty story for HQ, a refusal (the same as for another branch's payee)
    # for a branch user, so that a refusal says nothing about other branches
    unknown = "0013542419"
    story = trace(ctx, unknown, user="audit-1")
    assert (story["found"], story["events"], story["runs"]) == (False, [], [])
    with pytest.raises(PolicyViolation) as e:
        trace(ctx, unknown, user="clerk-b01")
    assert e.value.code == "OUT_OF_SCOPE"
    with pytest.raises(Refused) as r:
        trace(ctx, unknown, period="2026-13", user="audit-1")
    assert r.value.code == "INVALID_PERIOD"


def test_a_changed_stored_file_is_refused_not_read(ctx: Context, plan: dict, expected: dict) -> None:
    payee = _planted(expected, "NAME_VARIANT", "B02")
    receipts = month.submit_all(ctx, plan)
    sid = next(r["submission_id"] for r in receipts if r["branch_code"] == "B02" and r["status"] == "accepted")
    with ctx.uow() as s:
        stored = s.execute(select(Submission.rows_path).where(Submission.id == sid)).scalar_one()
    assert stored is not None
    path = Path(stored)
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(Refused) as e:
        trace(ctx, payee["national_id"], user="audit-1")
    assert e.value.code == "STORED_FILE_CHANGED" and f"submission {sid}" in e.value.message


def test_a_payee_across_months_who_vanished(ctx: Context, plan: dict, expected: dict) -> None:
    vanished = next(p for p in expected["with_history"]["planted"] if p["code"] == "PAYEE_VANISHED")
    history = month.release_history(ctx, plan)
    november = month.approved_run(ctx, plan)
    story = trace(ctx, vanished["national_id"], user="audit-1")
    assert _in_time_order(story)
    months = [(e["period"], e["branch_code"]) for e in _events(story, "submission.received")]
    assert months == [("2026-09", vanished["branch"]), ("2026-10", vanished["branch"])]
    assert story["runs"] == [h["run_id"] for h in history] + [november["run_id"]]
    assert len(_events(story, "payment.released")) == 2  # paid in September and October
    [finding] = _events(story, "run.finding")
    assert (finding["run_id"], finding["code"], finding["severity"]) == (november["run_id"], "PAYEE_VANISHED", "REPORT")
    assert story["events"][-1]["event"] == "run.approval"  # November's run, not released here
    # November alone: no list carried the payee, the run's finding says so
    alone = trace(ctx, vanished["national_id"], period="2026-11", user="audit-1")
    assert [e["event"] for e in alone["events"]] == ["run.created", "run.finding", "run.approval", "run.approval"]
