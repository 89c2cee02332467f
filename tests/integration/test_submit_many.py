"""Many branch files at once (services.submit_many): one quality-gate run per batch, yet each branch its
own receipt, verdict, validation result and Data Docs page, equal to what one-by-one submission gives;
a refused file never holds back a good one."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from payroll import services
from payroll.errors import Refused
from payroll.services import Context
from payroll.store.models import Submission
from tests.conftest import SAMPLE, make_context

PERIOD = "2026-11"


def _items(plan: dict) -> list[dict[str, Any]]:
    return [{"path": SAMPLE / s["file"], "branch": s["branch"], "period": PERIOD, "user": s["user"],
             "declared_count": s.get("declared_count"), "declared_total": s.get("declared_total")}
            for s in plan["submissions"]]


def _verdict(r: dict[str, Any]) -> dict[str, Any]:
    """A receipt without what differs between two homes (ids, timings, paths)."""
    v = r.get("validation") or {}
    return {k: r.get(k) for k in ("status", "state", "branch_code", "version", "file_name", "content_sha256",
                                  "rows", "rows_rejected", "accepted_rows", "accepted_total", "counted_total",
                                  "errors", "source", "duplicate")} | {
        "validation": {k: v.get(k) for k in ("success", "expectations", "failed")} if v else None}


@pytest.mark.parametrize("batch_rows", [1, 600, 100_000])
def test_a_batch_gives_every_branch_the_receipt_it_gets_alone(ctx: Context, plan: dict, expected: dict,
                                                               tmp_path: Path, batch_rows: int) -> None:
    many = services.submit_many(ctx, _items(plan), batch_rows=batch_rows)
    alone_ctx = make_context(tmp_path / "alone", f"sqlite:///{tmp_path / 'alone.db'}")
    try:
        services.init_database(alone_ctx, sample=True)
        alone = [services.submit(alone_ctx, i["path"], branch=i["branch"], period=PERIOD, user=i["user"],
                                 declared_count=i["declared_count"], declared_total=i["declared_total"])
                 for i in _items(plan)]
    finally:
        alone_ctx.dispose()
    assert [_verdict(r) for r in many] == [_verdict(r) for r in alone]
    assert [r["status"] for r in many] == [s["expect"] for s in expected["submissions"]]
    assert any(r["rows_rejected"] for r in many)  # the sample plants bad rows: findings were keyed back


def test_a_refused_file_never_holds_back_a_good_one(ctx: Context, plan: dict, tmp_path: Path) -> None:
    items = _items(plan)[:3]
    stranger = {**items[0], "branch": "B02"}  # B01's clerk sending for B02: refused unread
    missing = {**items[1], "path": tmp_path / "nowhere.csv"}
    unsafe = {"data": b"x", "file_name": "../B03.csv", "branch": "B03", "period": PERIOD, "user": "clerk-b03"}
    receipts = services.submit_many(ctx, [stranger, items[0], missing, unsafe, items[1], items[2]],
                                    batch_rows=100_000)
    assert [r["status"] for r in receipts] == ["refused", "accepted", "refused", "refused", "accepted", "accepted"]
    assert [r["error"]["code"] for r in receipts if r["status"] == "refused"] == [
        "OUT_OF_SCOPE", "FILE_NOT_FOUND", "UNSAFE_FILE_NAME"]
    assert receipts[0]["submission_id"] is None and "B02" in receipts[0]["error"]["message"]
    with ctx.uow() as s:
        assert s.execute(select(func.count()).select_from(Submission)).scalar_one() == 3
    # the single-file way in still raises what refuses it
    with pytest.raises(Refused) as e:
        services.submit(ctx, tmp_path / "nowhere.csv", branch="B01", period=PERIOD, user="clerk-b01")
    assert e.value.code == "FILE_NOT_FOUND"


def test_a_file_that_cannot_be_read_is_rejected_alone_and_copies_in_one_batch_are_one_submission(
        ctx: Context, plan: dict, tmp_path: Path) -> None:
    items = _items(plan)[:2]
    broken = tmp_path / "B03.csv"
    broken.write_bytes(b"pension_id,national_id\n1,2\n")  # columns missing: refused before the gate
    receipts = services.submit_many(ctx, [items[0], {**items[0]}, {**items[1], "path": broken, "branch": "B03",
                                                                   "user": "clerk-b03", "declared_count": None,
                                                                   "declared_total": None}, items[1]])
    assert [r["status"] for r in receipts] == ["accepted", "accepted", "rejected", "accepted"]
    assert receipts[1]["duplicate"] is True and receipts[1]["submission_id"] == receipts[0]["submission_id"]
    assert receipts[2]["errors"][0]["code"] == "MISSING_COLUMNS" and receipts[2]["data_docs"] is None


def test_data_docs_are_rendered_from_the_stored_result_when_first_asked_for(ctx: Context, plan: dict) -> None:
    receipts = services.submit_many(ctx, _items(plan)[:3])
    pages = [Path(r["data_docs"]) for r in receipts]
    assert len(set(pages)) == 3 and not any(p.exists() for p in pages)  # nobody has looked yet
    shown = services.show_submission(ctx, receipts[1]["submission_id"])
    assert Path(shown["data_docs"]) == pages[1] and pages[1].exists()
    html = pages[1].read_text(encoding="utf-8")
    assert "Branch B02, 2026-11: B02.csv" in html
    assert not pages[0].exists()
    assert services.data_docs_page(ctx, receipts[0]["submission_id"]) == pages[0] and pages[0].exists()
    # one file alone: the same (the CLI asks for the page at once: tests/e2e/test_cli_month.py)
    copy = ctx.home.parent / "B04.csv"
    shutil.copy(SAMPLE / "branches" / "B04.csv", copy)
    r = services.submit(ctx, copy, branch="B04", period=PERIOD, user="clerk-b04")
    assert not Path(r["data_docs"]).exists()
    assert services.data_docs_page(ctx, r["submission_id"]) == Path(r["data_docs"]) and Path(r["data_docs"]).exists()


def test_files_are_parsed_in_threads_with_the_same_receipts(ctx: Context, plan: dict, tmp_path: Path) -> None:
    """workers=2: files read in threads ahead of the batch, each batch gated in a thread while the one
    before it is stored; the receipts are the one-thread path's, in the items' order."""
    receipts = services.submit_many(ctx, _items(plan), workers=2, batch_rows=500)
    assert [r["status"] for r in receipts] == [s["expect"] for s in plan["submissions"]]
    one_ctx = make_context(tmp_path / "one", f"sqlite:///{tmp_path / 'one.db'}")
    try:
        services.init_database(one_ctx, sample=True)
        one = services.submit_many(one_ctx, _items(plan), workers=1, batch_rows=500)
    finally:
        one_ctx.dispose()
    assert [_verdict(r) for r in receipts] == [_verdict(r) for r in one]
