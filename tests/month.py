"""Drive the sample month through the service layer, as the demo's plan says.

A month's plan is November's (plan.json at the top level) or one of the history months before it
(plan["history"]): the same keys, period, submissions, submission_approvals and run, with file paths
relative to data/sample.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bank_formats.formats import ReadBack, file_format
from payroll import services
from payroll.config import REPO_DATA_DIR

SAMPLE = REPO_DATA_DIR / "sample"


def submit_all(ctx: services.Context, plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [services.submit(ctx, SAMPLE / s["file"], branch=s["branch"], period=plan["period"], user=s["user"],
                            declared_count=s["declared_count"], declared_total=s["declared_total"])
            for s in plan["submissions"]]


def approve_all(ctx: services.Context, plan: dict[str, Any], receipts: list[dict[str, Any]]) -> None:
    latest = {r["branch_code"]: r["submission_id"] for r in receipts if r["status"] == "accepted"}
    for branch, sid in latest.items():
        for user in plan["submission_approvals"][branch]:
            services.approve_submission(ctx, sid, user=user)


def approved_run(ctx: services.Context, plan: dict[str, Any]) -> dict[str, Any]:
    """Submit, approve every branch, create the run and approve it twice; returns the run view."""
    approve_all(ctx, plan, submit_all(ctx, plan))
    run = services.create_run(ctx, plan["period"], user=plan["run"]["created_by"])
    for user in plan["run"]["approvers"]:
        services.approve_run(ctx, run["run_id"], user=user)
    return run


def release(ctx: services.Context, plan: dict[str, Any], run_id: int, out: Path | None = None) -> dict[str, Any]:
    return services.release_run(ctx, run_id, user=plan["run"]["released_by"], out_dir=out)


def load_deaths(ctx: services.Context, plan: dict[str, Any], month: dict[str, Any]) -> dict[str, Any]:
    """Load the deaths extract in force for `month` (a history month's or November's)."""
    return services.load_reference(ctx, "deaths", SAMPLE / month["deaths"], actor=plan["reference_loaded_by"])


def release_history(ctx: services.Context, plan: dict[str, Any], out: Path | None = None) -> list[dict[str, Any]]:
    """Run and release the months before November (2026-09, 2026-10) as the demo does, each with its
    deaths extract, then load November's deaths extract. Returns each month's run view, released;
    bank files go to out/<period> when `out` is given."""
    runs = []
    for month in plan["history"]:
        load_deaths(ctx, plan, month)
        run = approved_run(ctx, month)
        release(ctx, month, run["run_id"], out / month["period"] if out else None)
        runs.append({**run, "status": "released"})
    load_deaths(ctx, plan, plan)
    return runs


def read_back(f: dict[str, Any]) -> ReadBack:
    """A released file (a release's "files" item) read back by its own format's parser: XSD-validated
    for pain.001, totals checked against the trailer for fixed width; what it declares and holds."""
    return file_format(f["format"]).read_back(Path(f["path"]))


def sent(files: list[dict[str, Any]]) -> dict[str, int]:
    """end-to-end id -> amount over all `files`, read back from their bytes."""
    out: dict[str, int] = {}
    for f in files:
        for e2e, amount in read_back(f).transfers:
            assert e2e not in out, f"{e2e} is in two files"
            out[e2e] = amount
    return out
