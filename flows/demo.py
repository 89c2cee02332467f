"""`pension demo`: the sample month end to end through the monthly-run flow on the embedded default,
after the two months released before it (data/sample/plan.json "history"), so that November's run
compares with a released period and shows every run check.

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


def _location(folder: Path, file: str) -> str:
    """A plan's file: an fsspec URL as it is, a path relative to the plan's folder."""
    return file if "://" in file else str(folder / file)


def _month(sample_dir: Path, month: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """A MonthlyPlan's fields from one month of plan.json (November's top level or a history month)."""
    return {
        "period": month["period"],
        "submissions": [{"branch": s["branch"], "file": _location(sample_dir, s["file"]), "user": s["user"],
                         "declared_count": s.get("declared_count"), "declared_total": s.get("declared_total")}
                        for s in month["submissions"]],
        "submission_approvals": month["submission_approvals"],
        "run_created_by": month["run"]["created_by"],
        "run_approvers": month["run"]["approvers"],
        "released_by": month["run"]["released_by"],
        "out_dir": str(out_dir),
    }


def _raw_plan(sample_dir: Path) -> dict[str, Any]:
    return json.loads((sample_dir / "plan.json").read_text(encoding="utf-8"))


def load_plan(sample_dir: Path, out_dir: Path) -> dict[str, Any]:
    """November's plan (plan.json's top level)."""
    return _month(sample_dir, _raw_plan(sample_dir), out_dir)


def load_history(sample_dir: Path, out_dir: Path) -> list[tuple[Path | None, dict[str, Any]]]:
    """The months released before November, oldest first: (the deaths extract in force, the plan);
    each month's bank files and reports go to out_dir/history/<period>."""
    return [(sample_dir / m["deaths"] if m.get("deaths") else None,
             _month(sample_dir, m, out_dir / "history" / m["period"]))
            for m in _raw_plan(sample_dir).get("history", [])]


def _supplementary(ctx: Any, run_id: int, period: str, spec: dict[str, Any] | None, out_dir: Path
                   ) -> dict[str, Any] | None:
    """Clear the plan's HOLDs on the released run (finance lead, with a justification) and pay them in a
    supplementary run of the period, approved and released like any run."""
    from payroll import services

    if not spec:
        return None
    holds = services.list_holds(ctx, run_id)["holds"]
    cleared = []
    for c in spec["clear"]:
        held = next(h for h in holds if (h["branch_code"], h["pension_id"]) == (c["branch"], c["pension_id"]))
        cleared.append(services.clear_hold(ctx, run_id, held["end_to_end_id"], user=c["user"],
                                           justification=c["justification"]))
    run = services.create_supplementary_run(ctx, period, user=spec["created_by"])
    for user in spec["approvers"]:
        services.approve_run(ctx, run["run_id"], user=user)
    release = services.release_run(ctx, run["run_id"], user=spec["released_by"], out_dir=out_dir / "supplementary")
    return {"run_id": run["run_id"], "cleared": [{k: c[k] for k in ("end_to_end_id", "codes", "cleared_by")}
                                                  for c in cleared],
            "payable_count": run["payable_count"], "payable_total": run["payable_total"],
            "files": release["files"]}


def _bank_answers(ctx: Any, run_id: int, out_dir: Path) -> dict[str, Any]:
    """Stand in for the banks: a pain.002.001.03 per released file, every transfer settled (ACSC) but the
    first of Bank Melli's file, rejected as a closed account (AC04); each read with `reconcile`, one of
    them twice (nothing changes the second time)."""
    from datetime import datetime, timedelta

    from bank_formats.pain002 import write_pain002
    from payroll import services
    from payroll.services.release import plan_for
    from payroll.store.models import Run

    with ctx.uow() as session:
        run = session.get(Run, run_id)
        planned = plan_for(session, run)
        answered_at = datetime.fromisoformat(run.approved_at).astimezone(ctx.settings.tz) + timedelta(days=2)
    folder = out_dir / "bank-reports"
    folder.mkdir(parents=True, exist_ok=True)
    results, rejected = [], None
    for f in planned:
        lines: list[tuple[Any, ...]] = []
        for e2e, amount in zip(f.transfers["end_to_end_id"], f.transfers["amount"], strict=True):
            if rejected is None and f.bank.bank_code == "017":
                rejected = e2e
                lines.append((e2e, "RJCT", "AC04", int(amount), ctx.country.currency, "account closed"))
            else:
                lines.append((e2e, "ACSC", None, int(amount), ctx.country.currency))
        path = folder / f"pain002-{f.msg_id}.xml"
        write_pain002(path, msg_id=f"STS{f.msg_id}"[:35], created_at=answered_at, original_msg_id=f.msg_id,
                      original_message_name=f.bank.file_format if f.bank.file_format.startswith("pain") else "pain.001.001.09",
                      group_status=None, payments=lines, original_payment_info_id=f"{f.msg_id}P1")
        results.append(services.reconcile(ctx, run_id, path, user="fin-2"))
    again = services.reconcile(ctx, run_id, folder / f"pain002-{planned[0].msg_id}.xml", user="fin-2")
    last = results[-1]
    return {"reports": len(results), "reconciliation": last["reconciliation"], "statuses": last["statuses"],
            "rejected": rejected, "read_again_changed_nothing": again["already_read"], "folder": str(folder)}


def run_demo(out: Path | None = None) -> dict[str, Any]:
    """The history months (2026-09, 2026-10), each with the deaths extract then in force, through the
    monthly flow and released; then November with its own deaths extract. Reports November, and a
    line per history month."""
    started = time.perf_counter()
    settings = load_settings()
    home = settings.resolved_home / "demo"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    out_dir = (out or home / "out").resolve()
    _prepare_environment(settings, home)

    from flows.monthly import MonthlyPlan  # after the environment is set
    from flows.monthly import monthly_run as flow
    from flows.runners import configured
    from payroll import services, signing
    from payroll.services.run_summary import run_summary

    monthly_run = configured(flow)
    ctx = services.Context()
    try:
        services.init_database(ctx, sample=True)
        sample_dir = ctx.settings.data_dir / "sample"
        raw = _raw_plan(sample_dir)
        admin = raw.get("reference_loaded_by", "admin-1")
        history = []
        for deaths, month in load_history(sample_dir, out_dir):
            if deaths is not None:
                services.load_reference(ctx, "deaths", deaths, actor=admin)
            done = monthly_run(MonthlyPlan.model_validate(month), return_state=True).result()
            run = done["run"]
            if run["status"] != "released":
                raise RuntimeError(f"history month {month['period']}: run {run['run_id']} is {run['status']}")
            history.append({k: run[k] for k in ("period", "run_id", "payable_count", "payable_total")})
        if raw.get("deaths"):
            services.load_reference(ctx, "deaths", sample_dir / raw["deaths"], actor=admin)
        plan = MonthlyPlan.model_validate(load_plan(sample_dir, out_dir))
        state = monthly_run(plan, return_state=True)
        result = state.result()
        recovery = services.export_recovery(ctx, plan.period, out_dir / f"recovery-{plan.period}.csv")
        supplementary = _supplementary(ctx, result["run"]["run_id"], plan.period, raw.get("supplementary"), out_dir)
        release = result["release"]
        verified = services.verify_release(Path(release["archive"]),
                                           signing.public_key_path(ctx.settings.release_key_path))
        reconciliation = _bank_answers(ctx, result["run"]["run_id"], out_dir)
        rid = result["run"]["run_id"]
        reports = [services.export_exceptions(ctx, rid, out_dir / f"exceptions-run{rid}.{fmt}", fmt, user=user)["path"]
                   for fmt, user in (("xlsx", "audit-1"), ("html", "audit-1"))]
        reports.append(run_summary(ctx, rid, out_dir / f"run-summary-{rid}.html", user="fin-2")["path"])
        audit = services.verify_audit(ctx)
    finally:
        ctx.dispose()
    receipts = result["receipts"]
    return {
        "period": plan.period,
        "currency": ctx.country.currency,
        "flow_run": str(state.state_details.flow_run_id),
        "seconds": round(time.perf_counter() - started, 1),
        "history": history,
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
        "recovery": {k: recovery[k] for k in ("count", "total", "path")},
        "supplementary": supplementary,
        "verify": {k: verified[k] for k in ("ok", "key_id", "files", "transactions", "control_sum", "problems")},
        "reconciliation": reconciliation,
        "reports": reports,
        "audit": audit,
        "database": ctx.settings.database_url,
        "out_dir": str(out_dir),
    }
