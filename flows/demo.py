"""`pension demo`: the sample month end to end through the monthly-run flow on the embedded default.

The demo keeps its own SQLite database and files under PENSION_HOME/demo (recreated on every demo,
so it can run again and again) and uses Prefect's temporary local server unless PREFECT_API_URL
points at a real one.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from flows.serve import prefect_environment
from payroll.config import Settings, load_settings


def _prepare_environment(settings: Settings, home: Path) -> None:
    prefect_environment(settings)  # Prefect's home beside the engine's, as for every flow
    os.environ["PENSION_HOME"] = str(home)
    os.environ["PENSION_DB_URL"] = f"sqlite:///{home / 'pension.db'}"


def load_plan(sample_dir: Path, out_dir: Path) -> dict[str, Any]:
    raw = json.loads((sample_dir / "plan.json").read_text(encoding="utf-8"))
    return {
        "period": raw["period"],
        "submissions": [{"branch": s["branch"], "file": str(sample_dir / s["file"]), "user": s["user"],
                         "declared_count": s.get("declared_count"), "declared_total": s.get("declared_total")}
                        for s in raw["submissions"]],
        "submission_approvals": raw["submission_approvals"],
        "run_created_by": raw["run"]["created_by"],
        "run_approvers": raw["run"]["approvers"],
        "released_by": raw["run"]["released_by"],
        "out_dir": str(out_dir),
    }


def run_demo(out: Path | None = None) -> dict[str, Any]:
    started = time.perf_counter()
    settings = load_settings()
    home = settings.resolved_home / "demo"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    out_dir = (out or home / "out").resolve()
    _prepare_environment(settings, home)

    from flows.monthly import MonthlyPlan, monthly_run  # after the environment is set
    from payroll import services

    ctx = services.Context()
    try:
        services.init_database(ctx, sample=True)
        plan = MonthlyPlan.model_validate(load_plan(ctx.settings.data_dir / "sample", out_dir))
        state = monthly_run(plan, return_state=True)
        result = state.result()
        audit = services.verify_audit(ctx)
    finally:
        ctx.dispose()
    receipts = result["receipts"]
    release = result["release"]
    return {
        "period": plan.period,
        "currency": ctx.country.currency,
        "flow_run": str(state.state_details.flow_run_id),
        "seconds": round(time.perf_counter() - started, 1),
        "submissions": {"accepted": sum(r["status"] == "accepted" for r in receipts),
                        "rejected": sum(r["status"] == "rejected" for r in receipts),
                        "receipts": [{k: r[k] for k in ("submission_id", "branch_code", "status", "rows",
                                                         "rows_rejected", "counted_total", "declared_total")}
                                     for r in receipts]},
        "rows_rejected": sum(r["rows_rejected"] for r in receipts if r["status"] == "accepted"),
        "run": result["run"],
        "files": release["files"] if release else [],
        "manifest": release["manifest"] if release else None,
        "exception_report": result["exception_report"]["path"] if result["exception_report"] else None,
        "audit": audit,
        "database": ctx.settings.database_url,
        "out_dir": str(out_dir),
    }
