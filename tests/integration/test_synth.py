"""The synthetic national month (payroll.synth) through the engine's services: what the engine reports
must equal what the generator planted (expected.json), exactly.

SQLite only (not the `db_url` fixture): the month is large and the point is the generator's
agreement with the engine, not the database. The 1,000,000-payee variant is marked slow.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import select

from payroll import services
from payroll.services import Context
from payroll.store.models import Run
from payroll.synth import generate
from tests.conftest import make_context


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_same_seed_gives_the_same_bytes_and_another_seed_other_bytes(tmp_path: Path) -> None:
    args: dict[str, Any] = {"payees": 3_000, "branches": 12}
    first = generate(tmp_path / "a", seed=5, **args)
    second = generate(tmp_path / "b", seed=5, **args)
    other = generate(tmp_path / "c", seed=6, **args)
    a, b, c = (_digest(tmp_path / x) for x in "abc")
    assert a == b and first == second and other != first
    assert len(a) == 7 + 12 and set(a) == set(c)
    assert all(a[f] != c[f] for f in a if f not in ("branches.csv",)), "another seed must change every file"
    parquet = generate(tmp_path / "p", seed=5, fmt="parquet", **args)
    again = generate(tmp_path / "q", seed=5, fmt="parquet", **args)
    assert _digest(tmp_path / "p") == _digest(tmp_path / "q") and parquet["run"] == again["run"] == first["run"]
    assert (tmp_path / "p" / "registry.parquet").is_file() and (tmp_path / "p" / "branches" / "B001.parquet").is_file()


def _run_month(ctx: Context, data: Path) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, float]]:
    """Load the reference data, submit every list as its clerk, approve the accepted ones (head, then
    province), create the run as the plan's maker and approve it. Returns (receipts, run view, seconds)."""
    plan = json.loads((data / "plan.json").read_text(encoding="utf-8"))
    files = json.loads((data / "expected.json").read_text(encoding="utf-8"))["files"]
    seconds: dict[str, float] = {}
    t = time.perf_counter()
    services.init_database(ctx)
    # admin-1 exists once users.csv is loaded: branches and users are loaded by the system
    services.load_reference(ctx, "branches", data / files["branches"])
    services.load_reference(ctx, "users", data / files["users"])
    for kind in ("registry", "deaths", "accounts"):
        services.load_reference(ctx, kind, data / files[kind], actor=plan["reference_loaded_by"])
    seconds["load"] = time.perf_counter() - t
    t = time.perf_counter()
    receipts = [services.submit(ctx, data / s["file"], branch=s["branch"], period=plan["period"], user=s["user"],
                                declared_count=s["declared_count"], declared_total=s["declared_total"])
                for s in plan["submissions"]]
    seconds["submit"] = time.perf_counter() - t
    t = time.perf_counter()
    for r in receipts:
        if r["status"] == "accepted":
            for user in plan["submission_approvals"][r["branch_code"]]:
                services.approve_submission(ctx, r["submission_id"], user=user)
    seconds["approve"] = time.perf_counter() - t
    t = time.perf_counter()
    run = services.create_run(ctx, plan["period"], user=plan["run"]["created_by"])
    seconds["run"] = time.perf_counter() - t
    for user in plan["run"]["approvers"]:
        services.approve_run(ctx, run["run_id"], user=user)
    assert services.show_run(ctx, run["run_id"])["status"] == "approved"
    return receipts, run, seconds


def _assert_engine_reports_expected(ctx: Context, receipts: list[dict[str, Any]], run: dict[str, Any],
                                    exp: dict[str, Any]) -> None:
    got = [{"branch": r["branch_code"], "status": r["status"], "rows": r["rows"], "rows_rejected": r["rows_rejected"],
            "accepted_rows": r["accepted_rows"], "accepted_total": r["accepted_total"],
            "counted_total": r["counted_total"], "declared_count": r["declared_count"],
            "declared_total": r["declared_total"],
            "file_errors": [e["code"] for e in r["errors"] if e["row"] is None]} for r in receipts]
    want = [{k: v for k, v in s.items() if k != "file"} for s in exp["submissions"]]
    assert got == want
    row_errors = Counter(e["code"] for r in receipts if r["status"] == "accepted" for e in r["errors"] if e["row"])
    assert dict(row_errors) == exp["intake_rejections"]

    e = exp["run"]
    assert run["intake_rejections"] == exp["intake_rejections"]
    assert run["exceptions"] == e["findings"]
    assert (run["rows"], run["payable_count"], run["payable_total"]) == (e["rows"], e["payable_count"],
                                                                         e["payable_total"])
    assert (run["held_count"], run["blocked_count"]) == (e["held_count"], e["blocked_count"])
    assert [m["branch_code"] for m in run["missing_branches"]] == e["missing_branches"]
    assert run["per_bank"] == e["payable_by_bank"]
    with ctx.uow() as session:
        stored = session.execute(select(Run).where(Run.id == run["run_id"])).scalar_one()
        summary = json.loads(stored.summary)
        payments = pd.read_parquet(stored.payments_path, columns=["status", "net_amount"])
    assert summary["per_branch"] == e["payable_by_branch"]
    totals = payments.groupby("status")["net_amount"].agg(["count", "sum"])
    for status, count, total in (("HOLD", "held_count", "held_total"), ("BLOCK", "blocked_count", "blocked_total")):
        have = (int(totals.loc[status, "count"]), int(totals.loc[status, "sum"])) if status in totals.index else (0, 0)
        assert have == (e[count], e[total]), status


def _month(tmp_path: Path, payees: int, branches: int, seed: int, fmt: str = "csv") -> dict[str, float]:
    data = tmp_path / "month"
    t = time.perf_counter()
    exp = generate(data, payees=payees, branches=branches, seed=seed, fmt=fmt)
    generated = time.perf_counter() - t
    ctx = make_context(tmp_path / "home", f"sqlite:///{tmp_path / 'pension.db'}")
    try:
        receipts, run, seconds = _run_month(ctx, data)
        _assert_engine_reports_expected(ctx, receipts, run, exp)
    finally:
        ctx.dispose()
    seconds["generate"] = generated
    print({k: round(v, 1) for k, v in seconds.items()})
    return seconds


def test_the_engine_reports_what_was_planted_in_a_month_of_100k_payees(tmp_path: Path) -> None:
    # 20 branch files: the quality gate costs about 1 s a file whatever its size (benchmarks/RESULTS.md)
    _month(tmp_path, payees=100_000, branches=20, seed=11)


@pytest.mark.slow
def test_the_engine_reports_what_was_planted_in_a_month_of_1m_payees(tmp_path: Path) -> None:
    _month(tmp_path, payees=1_000_000, branches=200, seed=12, fmt="parquet")
