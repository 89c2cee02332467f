"""Drive the sample month through the service layer, as the demo's plan says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
