"""`pension demo`: the sample month end to end through the monthly-run flow on the embedded default,
after the two months released before it (data/sample/plan.json "history"), so that November's run
compares with a released period and shows every run check.

The demo keeps its own SQLite database and files under PENSION_HOME/demo (recreated on every demo,
so it can run again and again) and uses Prefect's temporary local server unless PREFECT_API_URL
points at a real one. It ends the processes it started (that server, and whatever else it started)
when it ends, on SIGTERM and SIGINT too; a demo killed with -9 cannot, so each demo records them in
PENSION_HOME/demo.pids and the next one ends what the previous one left before it begins.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import psutil

from flows.serve import prefect_environment
from payroll.config import Settings, load_settings
from payroll.errors import Refused
from payroll.store.files import make_private_dir, write_atomic

PIDS_FILE = "demo.pids"


def _identity(p: psutil.Process) -> dict[str, Any]:
    return {"pid": p.pid, "started_at": p.create_time(), "command": " ".join(p.cmdline()[:6])}


def _same_process(record: dict[str, Any]) -> psutil.Process | None:
    """The process of `record` if it still runs: the same pid AND the same start time, so that a pid the
    system gave since to another process is never taken for it."""
    try:
        p = psutil.Process(int(record["pid"]))
        if abs(p.create_time() - float(record["started_at"])) < 0.01 and p.status() != psutil.STATUS_ZOMBIE:
            return p
    except (psutil.Error, KeyError, TypeError, ValueError):
        pass
    return None


def _end(processes: list[psutil.Process]) -> list[int]:
    """Terminate the processes and their children, wait 5 s, kill what is left; return the pids ended."""
    everyone = {p.pid: p for p in processes}
    for p in processes:
        try:
            everyone.update((c.pid, c) for c in p.children(recursive=True))
        except psutil.Error:
            pass
    for p in everyone.values():
        try:
            p.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(list(everyone.values()), timeout=5)
    for p in alive:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=5)
    return sorted(everyone)


def end_leftovers(engine_home: Path) -> list[int]:
    """End the processes a previous demo started and left running (it was killed with -9): those
    recorded in engine_home/demo.pids that still run with their recorded start time. Refused
    (DEMO_RUNNING) while that demo itself still runs: its processes are in use."""
    path = engine_home / PIDS_FILE
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except ValueError:  # a torn file: nothing in it can be trusted to name a process
        path.unlink(missing_ok=True)
        return []
    demo = recorded.get("demo") or {}
    if demo.get("pid") != os.getpid() and _same_process(demo) is not None:
        raise Refused("DEMO_RUNNING", f"a demo is running (pid {demo['pid']}) on {engine_home}; wait for it or "
                      "stop it (SIGTERM or Ctrl-C ends what it started) before starting another")
    ended = _end([p for p in map(_same_process, recorded.get("started", [])) if p is not None])
    path.unlink(missing_ok=True)
    return ended


def _record(engine_home: Path) -> None:
    """Write down this demo and every process it has started so far, with their start times."""
    me = psutil.Process()
    started = [_identity(c) for c in me.children(recursive=True)]
    data = json.dumps({"demo": _identity(me), "started": started}, indent=2) + "\n"
    write_atomic(engine_home / PIDS_FILE, data.encode())


def _end_started(engine_home: Path) -> None:
    _end(psutil.Process().children(recursive=True))
    (engine_home / PIDS_FILE).unlink(missing_ok=True)


@contextmanager
def owned_processes(engine_home: Path) -> Iterator[None]:
    """Within: the processes this demo starts are recorded (call `_record` again after starting more),
    and ended on the way out, on SIGTERM and on SIGINT (then the demo exits 128 + the signal at once:
    with its server gone, nothing in the flow could finish)."""
    end_leftovers(engine_home)
    _record(engine_home)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        _end_started(engine_home)
        os._exit(128 + signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _stop_temporary_server()
        _end_started(engine_home)


def _start_temporary_server() -> None:
    """Start Prefect's temporary server now (the flows' client would on first use) so that its process
    is recorded before any flow runs. Nothing when PREFECT_API_URL names a server."""
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED

    if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
        return
    from prefect.server.api.server import SubprocessASGIServer

    SubprocessASGIServer().start()


def _stop_temporary_server() -> None:
    server_module = sys.modules.get("prefect.server.api.server")  # not imported: never started
    if server_module is not None:
        for server in list(server_module.SubprocessASGIServer._instances.values()):
            server.stop()


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
    make_private_dir(folder)
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
    settings = load_settings()
    make_private_dir(settings.resolved_home)
    with owned_processes(settings.resolved_home):
        return _run_demo(settings, out)


def _run_demo(settings: Settings, out: Path | None) -> dict[str, Any]:
    started = time.perf_counter()
    home = settings.resolved_home / "demo"
    shutil.rmtree(home, ignore_errors=True)
    make_private_dir(home)
    out_dir = (out or home / "out").resolve()
    _prepare_environment(settings, home)
    _start_temporary_server()
    _record(settings.resolved_home)

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
            _record(settings.resolved_home)  # a task runner may have started processes of its own
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
