"""Submissions through the service layer: receipts, versions, approvals bound to content, refusals."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from payroll import services
from payroll.errors import Refused
from payroll.services import Context
from payroll.store.models import Approval, AuditEntry, Submission
from tests.conftest import SAMPLE, make_context

B01 = SAMPLE / "branches" / "B01.csv"


def _submit(ctx: Context, path: Path = B01, branch: str = "B01", **kw: object) -> dict:
    return services.submit(ctx, path, branch=branch, period="2026-11", user=f"clerk-{branch.lower()}", **kw)


def _rows(ctx: Context, model: type) -> int:
    with ctx.uow() as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


def _declared(plan: dict, branch: str = "B01") -> tuple[int, int]:
    s = next(s for s in plan["submissions"] if s["branch"] == branch and s["expect"] == "accepted")
    return s["declared_count"], s["declared_total"]


def test_receipt_names_every_rejected_row_and_stores_the_file(ctx: Context, plan: dict, expected: dict) -> None:
    count, total = _declared(plan)
    r = _submit(ctx, declared_count=count, declared_total=total)
    b01 = expected["branches"]["B01"]
    assert (r["status"], r["rows"], r["rows_rejected"]) == ("accepted", b01["rows_in_file"], b01["rows_rejected_total"])
    assert (r["accepted_rows"], r["accepted_total"]) == (b01["accepted_rows"], b01["accepted_total"])
    assert r["content_sha256"] == hashlib.sha256(B01.read_bytes()).hexdigest()
    planted = {(p["row"], p["code"]) for p in expected["planted"] if p["branch"] == "B01" and p["stage"] == "intake"}
    assert {(e["row"], e["code"]) for e in r["errors"]} == planted
    assert all(e["column"] and e["message"] for e in r["errors"])
    with ctx.uow() as s:
        sub = s.get(Submission, r["submission_id"])
        assert Path(sub.raw_path).read_bytes() == B01.read_bytes()
        assert Path(sub.rows_path).is_file()


def test_declared_totals_that_do_not_reconcile_reject_the_file_whole(ctx: Context, plan: dict) -> None:
    count, total = _declared(plan)
    r = _submit(ctx, declared_count=count, declared_total=total + 1)
    assert r["status"] == "rejected" and r["accepted_rows"] == 0
    assert [e["code"] for e in r["errors"] if e["row"] is None] == ["DECLARED_TOTAL_MISMATCH"]
    assert str(total + 1) in r["errors"][0]["message"] and str(total) in r["errors"][0]["message"]
    # the same bytes with the same wrong total again (a resumed flow, a second collection): the same
    # verdict, not a second submission
    same = _submit(ctx, declared_count=count, declared_total=total + 1)
    assert (same["submission_id"], same["status"], same["duplicate"]) == (r["submission_id"], "rejected", True)
    again = _submit(ctx, declared_count=count, declared_total=total)
    assert (again["status"], again["version"]) == ("accepted", 2)


def test_the_same_bytes_are_recognised_not_stored_twice(ctx: Context) -> None:
    first = _submit(ctx)
    second = _submit(ctx)
    assert second["submission_id"] == first["submission_id"] and second["duplicate"] is True
    assert _rows(ctx, Submission) == 1


def test_new_version_supersedes_and_voids_the_old_approvals(ctx: Context, tmp_path: Path) -> None:
    first = _submit(ctx)
    services.approve_submission(ctx, first["submission_id"], user="head-b01")
    changed = tmp_path / "B01.csv"
    lines = B01.read_text(encoding="utf-8").splitlines(keepends=True)
    changed.write_text("".join(lines[:-1]), encoding="utf-8")  # the branch drops its last payee
    second = _submit(ctx, changed)
    assert second["supersedes"] == [first["submission_id"]] and second["version"] == 2
    with pytest.raises(Refused) as e:
        services.approve_submission(ctx, first["submission_id"], user="prov-thr")
    assert e.value.code == "WRONG_STATE"
    # the new version starts again at level 1: the old level-1 approval bound to other content
    with pytest.raises(Refused) as e:
        services.approve_submission(ctx, second["submission_id"], user="prov-thr")
    assert e.value.code == "WRONG_ROLE"
    assert services.approve_submission(ctx, second["submission_id"], user="head-b01")["level"] == 1


def test_approval_levels_in_order_bound_to_the_hash(ctx: Context) -> None:
    r = _submit(ctx)
    sid = r["submission_id"]
    with pytest.raises(Refused) as e:
        services.approve_submission(ctx, sid, user="head-b01", expect_sha256="0" * 64)
    assert e.value.code == "HASH_MISMATCH"
    one = services.approve_submission(ctx, sid, user="head-b01", expect_sha256=r["content_sha256"])
    assert (one["level"], one["status"]) == (1, "accepted")
    two = services.approve_submission(ctx, sid, user="prov-thr")
    assert (two["level"], two["status"]) == (2, "approved")
    with ctx.uow() as s:
        hashes = set(s.execute(select(Approval.content_sha256).where(Approval.item_id == sid)).scalars())
    assert hashes == {r["content_sha256"]}


@pytest.mark.parametrize(("user", "code"), [
    ("clerk-b01", "WRONG_ROLE"),          # the maker's role never checks
    ("head-b02", "OUT_OF_SCOPE"),         # another branch's head
    ("prov-thr", "WRONG_ROLE"),           # level 2 before level 1
    ("audit-1", "SOD_AUDITOR_READ_ONLY"),
    ("admin-1", "SOD_ADMIN_NEVER_APPROVES"),
    ("nobody", "NOT_FOUND"),
])
def test_who_may_not_approve(ctx: Context, user: str, code: str) -> None:
    sid = _submit(ctx)["submission_id"]
    audit_before = _rows(ctx, AuditEntry)
    with pytest.raises(Refused) as e:
        services.approve_submission(ctx, sid, user=user)
    assert e.value.code == code
    assert _rows(ctx, AuditEntry) == audit_before and _rows(ctx, Approval) == 0


def test_province_approver_of_another_province_is_refused(ctx: Context) -> None:
    sid = _submit(ctx)["submission_id"]
    services.approve_submission(ctx, sid, user="head-b01")
    with pytest.raises(Refused) as e:
        services.approve_submission(ctx, sid, user="prov-isf")
    assert e.value.code == "OUT_OF_SCOPE"


def test_rejection_needs_a_reason_and_returns_the_list(ctx: Context) -> None:
    sid = _submit(ctx)["submission_id"]
    with pytest.raises(Refused) as e:
        services.reject_submission(ctx, sid, user="head-b01", reason="  ")
    assert e.value.code == "REASON_REQUIRED"
    r = services.reject_submission(ctx, sid, user="head-b01", reason="row 64: wrong SHEBA")
    assert r["status"] == "returned"
    with pytest.raises(Refused) as e:
        services.approve_submission(ctx, sid, user="head-b01")
    assert e.value.code == "WRONG_STATE"
    assert services.show_submission(ctx, sid)["status_reason"] == "row 64: wrong SHEBA"


def test_a_clerk_submits_only_for_their_branch(ctx: Context) -> None:
    with pytest.raises(Refused) as e:
        services.submit(ctx, B01, branch="B02", period="2026-11", user="clerk-b01")
    assert e.value.code == "OUT_OF_SCOPE"
    with pytest.raises(Refused) as e:
        services.submit(ctx, B01, branch="B01", period="2026-11", user="head-b01")
    assert e.value.code == "WRONG_ROLE"
    assert _rows(ctx, Submission) == 0


def test_oversized_file_is_refused_before_it_is_read(tmp_path: Path, db_url: str) -> None:
    small = make_context(tmp_path / "home", db_url, max_file_bytes=1000)
    services.init_database(small, sample=True)
    with pytest.raises(Refused) as e:
        _submit(small)
    assert e.value.code == "FILE_TOO_LARGE"
    # nothing of the file is stored (the objects folder holds only the sample's reference extracts)
    assert [p for p in (small.home / "objects").rglob("*") if p.is_file() and "reference" not in p.parts] == []
    small.dispose()


def test_bad_period_and_missing_file(ctx: Context, tmp_path: Path) -> None:
    with pytest.raises(Refused) as e:
        services.submit(ctx, B01, branch="B01", period="2026-13", user="clerk-b01")
    assert e.value.code == "INVALID_PERIOD"
    with pytest.raises(Refused) as e:
        _submit(ctx, tmp_path / "nope.csv")
    assert e.value.code == "FILE_NOT_FOUND"


def test_a_branch_file_and_an_extract_behind_an_fsspec_url(ctx: Context, plan: dict, tmp_path: Path) -> None:
    """Workers that share an object store name files by URL (here fsspec's in-memory filesystem, as s3://
    or gcs:// would be): the same receipt as from the local file, and the same refusal when missing."""
    import fsspec

    fs = fsspec.filesystem("memory")
    fs.pipe_file(f"/{tmp_path.name}/B01/B01.csv", B01.read_bytes())
    count, total = _declared(plan)
    local = _submit(ctx, declared_count=count, declared_total=total)
    remote = _submit(ctx, f"memory://{tmp_path.name}/B01/B01.csv", declared_count=count, declared_total=total)
    assert remote["submission_id"] == local["submission_id"] and remote["duplicate"]  # the same bytes
    with pytest.raises(Refused) as e:
        _submit(ctx, f"memory://{tmp_path.name}/B01/nope.csv")
    assert e.value.code == "FILE_NOT_FOUND"
    deaths = SAMPLE / "deaths.csv"
    fs.pipe_file(f"/{tmp_path.name}/ref/deaths.csv", deaths.read_bytes())
    r = services.load_reference(ctx, "deaths", f"memory://{tmp_path.name}/ref/deaths.csv", actor="admin-1")
    assert (r["file"], r["rows"]) == ("deaths.csv", len(deaths.read_text(encoding="utf-8").splitlines()) - 1)
    fs.rm(f"/{tmp_path.name}", recursive=True)


def test_an_approvers_comment_stays_with_the_signature(ctx: Context, plan: dict) -> None:
    count, total = _declared(plan)
    r = _submit(ctx, declared_count=count, declared_total=total)
    a = services.approve_submission(ctx, r["submission_id"], user="head-b01", comment="  totals match the ledger ")
    assert a["comment"] == "totals match the ledger"
    shown = services.show_submission(ctx, r["submission_id"])
    assert [(x["user"], x["decision"], x["reason"]) for x in shown["approvals"]] == \
        [("head-b01", "approve", "totals match the ledger")]
    with ctx.uow() as s:
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "submission.approve")).scalar_one()
        assert '"comment": "totals match the ledger"' in entry.detail or "totals match the ledger" in entry.detail


def _released_b01(ctx: Context, plan: dict) -> tuple[int, int]:
    """B01's list submitted, approved, run and released alone; returns (submission id, run id)."""
    count, total = _declared(plan)
    sid = _submit(ctx, declared_count=count, declared_total=total)["submission_id"]
    for user in plan["submission_approvals"]["B01"]:
        services.approve_submission(ctx, sid, user=user)
    run = services.create_run(ctx, "2026-11", user="fin-1")
    for user in ("fin-2", "fin-3"):
        services.approve_run(ctx, run["run_id"], user=user)
    services.release_run(ctx, run["run_id"], user="fin-1")
    return sid, run["run_id"]


def _stored(ctx: Context) -> list[str]:
    return sorted(str(p.relative_to(ctx.home)) for p in ctx.home.rglob("*") if p.is_file()
                  and p.relative_to(ctx.home).parts[0] in ("raw", "rows", "validations", "datadocs"))


def test_a_list_for_a_released_period_is_refused_and_the_paid_list_stays_approved(
        ctx: Context, plan: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    sid, rid = _released_b01(ctx, plan)
    changed = tmp_path / "B01.csv"
    lines = B01.read_text(encoding="utf-8").splitlines(keepends=True)
    changed.write_text("".join(lines[:-1]), encoding="utf-8")  # a late correction: the last payee dropped
    before = (_rows(ctx, Submission), _rows(ctx, AuditEntry), _stored(ctx))

    with pytest.raises(Refused) as e:
        _submit(ctx, changed)
    assert e.value.code == "PERIOD_RELEASED"
    # it says where late corrections go: a hold cleared on the released run, then a supplementary run
    assert f"run {rid}" in e.value.message and "pension hold clear" in e.value.message
    assert "pension run supplementary --period 2026-11" in e.value.message
    with pytest.raises(Refused) as e:  # a branch that sent nothing before the release: the same
        _submit(ctx, SAMPLE / "branches" / "B02.csv", branch="B02")
    assert e.value.code == "PERIOD_RELEASED"
    with ctx.uow() as s:
        paid = s.get(Submission, sid)
        assert (paid.status, paid.status_reason) == ("approved", None)
    assert (_rows(ctx, Submission), _rows(ctx, AuditEntry), _stored(ctx)) == before  # nothing stored
    assert _submit(ctx)["duplicate"] is True  # the paid bytes again: the paid list's receipt, as before

    # the command line: exit 1 with the code, and nothing stored either
    monkeypatch.setenv("PENSION_HOME", str(ctx.home))
    monkeypatch.setenv("PENSION_DB_URL", ctx.settings.database_url)
    from payroll import cli

    capsys.readouterr()
    args = ["submit", str(changed), "--branch", "B01", "--period", "2026-11", "--as", "clerk-b01"]
    assert cli.main([*args, "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "PERIOD_RELEASED"
    assert cli.main(args) == 1
    assert capsys.readouterr().err.startswith("refused [PERIOD_RELEASED]: period 2026-11 was released")
    assert (_rows(ctx, Submission), _rows(ctx, AuditEntry), _stored(ctx)) == before


def test_copies_of_one_file_sent_at_once_are_one_submission_and_two_files_get_two_versions(ctx: Context,
                                                                                          plan: dict) -> None:
    """Issue 24: the duplicate check and the insert are one decision. Six copies of the same bytes sent
    at the same moment store one submission, and the other five get its duplicate receipt (same id);
    two different files at once get versions one after the other, never the same one and never an error."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    count, total = _declared(plan)
    data = B01.read_bytes()

    def at_once(jobs: list[tuple[bytes, str]]) -> list[dict]:
        start = threading.Barrier(len(jobs))

        def send(job: tuple[bytes, str]) -> dict:
            start.wait()
            return services.submit_bytes(ctx, job[0], job[1], branch="B01", period=plan["period"],
                                         user="clerk-b01", declared_count=count, declared_total=total)

        with ThreadPoolExecutor(len(jobs)) as pool:
            return list(pool.map(send, jobs))

    receipts = at_once([(data, "B01.csv")] * 6)
    stored = [r for r in receipts if not r.get("duplicate")]
    assert len(stored) == 1
    assert {r["submission_id"] for r in receipts} == {stored[0]["submission_id"]}
    assert _rows(ctx, Submission) == 1

    # two different files (one more row's worth of whitespace makes other bytes) at once: versions 2 and 3
    receipts = at_once([(data + b"\n", "B01-a.csv"), (data + b"\n\n", "B01-b.csv")])
    assert sorted(r["version"] for r in receipts) == [2, 3]
    assert not any(r.get("duplicate") for r in receipts)
    assert _rows(ctx, Submission) == 3


def test_a_list_refused_for_a_limit_is_read_again_after_the_limit_is_raised(ctx: Context) -> None:
    path = SAMPLE / "branches" / "B01.csv"
    strict = make_context(ctx.home, ctx.settings.db_url, max_rows=3)
    try:
        first = services.submit(strict, path, branch="B01", period="2026-11", user="clerk-b01")
    finally:
        strict.dispose()
    assert first["status"] == "rejected" and "TOO_MANY_ROWS" in str(first)
    again = services.submit(ctx, path, branch="B01", period="2026-11", user="clerk-b01")
    assert not again.get("duplicate"), again
    assert again["status"] == "accepted" and again["submission_id"] != first["submission_id"]
    # and the same bytes once more are the accepted submission, a duplicate
    third = services.submit(ctx, path, branch="B01", period="2026-11", user="clerk-b01")
    assert third.get("duplicate") and third["submission_id"] == again["submission_id"]
