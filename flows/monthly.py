"""The monthly run as a Prefect flow: intake per branch (mapped), approvals, consolidation and checks,
run approvals, release, exception report. Each task is one service call.

Approvals are given by the plan (the demo's scripted users), or waited for: with `wait_for_approval`
the flow pauses while any branch list of the period awaits a signature (pause key
`lists-<period>-wait-<n>`), then for each signature the run's approval chain asks (`run-<id>-slot-<n>`);
`pension approve` / `pension reject` record the decision and resume it (flows.approval). Without either,
the flow stops after creating the run, which then waits for finance in the database.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.futures import wait
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError

from payroll import services
from payroll.config import load_settings


class BranchFile(BaseModel):
    branch: str
    file: Path
    user: str
    declared_count: int | None = None
    declared_total: int | None = None


class MonthlyPlan(BaseModel):
    period: str = Field(pattern=r"^[0-9]{4}-[0-9]{2}$")
    submissions: list[BranchFile]
    submission_approvals: dict[str, list[str]] = {}
    run_created_by: str
    run_approvers: list[str] = []
    released_by: str | None = None
    out_dir: Path | None = None
    wait_for_approval: bool = False
    approval_timeout_seconds: int = Field(default=7 * 24 * 3600, ge=1)
    approval_poll_seconds: int = Field(default=5, ge=1)  # how often a paused flow asks whether it was resumed


def _transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry only what the database may answer differently next time (lock timeouts, races)."""
    try:
        state.result()
    except DBAPIError:
        return True
    except Exception:
        return False
    return False


def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    ctx = services.Context()
    try:
        return fn(ctx, *args, **kwargs)
    finally:
        ctx.dispose()


@task(name="submit-branch-list", task_run_name="submit {branch_file.branch}", retries=2, retry_delay_seconds=1,
      retry_condition_fn=_transient)
def submit_branch_list(branch_file: BranchFile, period: str) -> dict[str, Any]:
    receipt = _call(services.submit, branch_file.file, branch=branch_file.branch, period=period,
                    user=branch_file.user, declared_count=branch_file.declared_count,
                    declared_total=branch_file.declared_total)
    get_run_logger().info("branch %s: submission %s %s, %s rows, %s rejected", branch_file.branch,
                          receipt["submission_id"], receipt["status"], receipt["rows"], receipt["rows_rejected"])
    return receipt


@task(name="approve-branch-list", task_run_name="approve submission {submission_id}", retries=2,
      retry_delay_seconds=1, retry_condition_fn=_transient)
def approve_branch_list(submission_id: int, approvers: list[str]) -> dict[str, Any]:
    """The plan's signatures, skipping those already given (a resumed flow signs nothing twice)."""
    state = _call(services.show_submission, submission_id)
    signed = {a["user"] for a in state["approvals"] if a["decision"] == "approve"}
    result: dict[str, Any] = state
    for user in approvers:
        if result.get("state", result.get("status")) == "approved" or user in signed:
            continue
        result = _call(services.approve_submission, submission_id, user=user)
    return result


@task(name="create-run")
def create_run(period: str, user: str) -> dict[str, Any]:
    run = _call(services.create_run, period, user=user, reuse=True)  # a resumed flow keeps the run it made
    get_run_logger().info("run %s: payable %s for %s, held %s, blocked %s", run["run_id"], run["payable_count"],
                          run["payable_total"], run["held_count"], run["blocked_count"])
    return run


@task(name="approve-run", task_run_name="approve run {run_id} as {user}")
def approve_run(run_id: int, user: str) -> dict[str, Any]:
    """One signature, unless the user gave it already or the run waits for none (a resumed flow)."""
    state = _call(services.show_run, run_id)
    if state["status"] != "awaiting_approval" or user in {a["user"] for a in state["approvals"]}:
        return state
    return _call(services.approve_run, run_id, user=user)


@task(name="lists-awaiting-approval", task_run_name="lists of {period} awaiting approval")
def lists_awaiting(period: str) -> list[dict[str, Any]]:
    return _call(services.awaiting_approval, period)


def wait_for_lists(period: str, timeout: int, poll: int) -> None:
    """Pause while any branch list of the period waits for a signature; each approval or rejection
    resumes the flow, which reads the database again."""
    from prefect.flow_runs import pause_flow_run

    from flows.approval import list_decision_model, lists_pause_key

    log = get_run_logger()
    n = 0
    while pending := lists_awaiting(period):
        n += 1
        key = lists_pause_key(period, n)
        log.info("%s waits for %s branch list(s): %s (pause key %s)", period, len(pending),
                 ", ".join(f"{p['branch_code']} submission {p['submission_id']} level {p['levels_approved'] + 1}"
                           for p in pending), key)
        d = pause_flow_run(wait_for_input=list_decision_model(), key=key, timeout=timeout, poll_interval=poll)
        log.info("%s: %s %s submission %s (branch %s) at level %s; now %s", period, d.user, d.decision,
                 d.submission_id, d.branch_code, d.level, d.status)


@task(name="run-state", task_run_name="state of run {run_id}")
def run_state(run_id: int) -> dict[str, Any]:
    return _call(services.show_run, run_id)


def wait_for_signatures(run_id: int, timeout: int, poll: int) -> dict[str, Any]:
    """Pause for each signature the run still needs; the database says when it has them all."""
    from prefect.flow_runs import pause_flow_run

    from flows.approval import decision_model, pause_key

    log = get_run_logger()
    waits: dict[int, int] = {}
    while True:
        state = run_state(run_id)
        if state["status"] != "awaiting_approval":
            return state
        slot = state["levels_approved"] + 1
        # Prefect refuses a pause key a flow run used before (the pause returns at once): a resume that
        # brought no signature (e.g. from the UI) waits again under a new key for the same slot
        waits[slot] = waits.get(slot, 0) + 1
        key = pause_key(run_id, slot) + (f"-again-{waits[slot] - 1}" if waits[slot] > 1 else "")
        log.info("run %s waits for signature %s (pause key %s)", run_id, slot, key)
        decision = pause_flow_run(wait_for_input=decision_model(), key=key, timeout=timeout, poll_interval=poll)
        log.info("run %s: %s signed level %s; run %s", run_id, decision.user, decision.level, decision.status)


@task(name="release-run")
def release_run(run_id: int, user: str, out_dir: Path | None) -> dict[str, Any]:
    return _call(services.release_run, run_id, user=user, out_dir=out_dir)


@task(name="exception-report")
def exception_report(run_id: int, out: Path, user: str) -> dict[str, Any]:
    return _call(services.export_exceptions, run_id, out, "csv", user=user)


def latest_accepted(receipts: list[dict[str, Any]]) -> dict[str, int]:
    """The newest accepted submission of each branch."""
    best: dict[str, int] = {}
    for r in receipts:
        if r["status"] == "accepted":
            best[r["branch_code"]] = max(best.get(r["branch_code"], 0), r["submission_id"])
    return best


@flow(name="monthly-run", log_prints=False)
def monthly_run(plan: MonthlyPlan) -> dict[str, Any]:
    log = get_run_logger()
    futures = submit_branch_list.map(plan.submissions, period=plan.period)
    wait(futures)
    receipts = [f.result() for f in futures]
    chosen = latest_accepted(receipts)
    approvals = [approve_branch_list.submit(sid, plan.submission_approvals.get(branch, []))
                 for branch, sid in sorted(chosen.items()) if plan.submission_approvals.get(branch)]
    wait(approvals)
    for a in approvals:
        a.result()
    if plan.wait_for_approval:
        wait_for_lists(plan.period, plan.approval_timeout_seconds, plan.approval_poll_seconds)
    run = create_run(plan.period, plan.run_created_by)
    out: dict[str, Any] = {"receipts": receipts, "run": run, "release": None, "exception_report": None}
    run_status: dict[str, Any] = {"status": run["status"]}
    for user in plan.run_approvers:
        run_status = approve_run(run["run_id"], user)
    if run_status["status"] == "awaiting_approval" and plan.wait_for_approval:
        run_status = wait_for_signatures(run["run_id"], plan.approval_timeout_seconds, plan.approval_poll_seconds)
    if run_status["status"] not in ("approved", "released"):  # released: a resumed flow finishing its month
        log.info("run %s waits for finance approval", run["run_id"])
        return out
    if plan.released_by:
        out["release"] = release_run(run["run_id"], plan.released_by, plan.out_dir)
        out["run"] = {**run, "status": "released"}
    report_dir = plan.out_dir or load_settings().resolved_home / "reports"
    # for finance (the run's maker): national ids in full
    out["exception_report"] = exception_report(run["run_id"], report_dir / f"exceptions-run{run['run_id']}.csv",
                                               plan.run_created_by)
    log.info("month %s done: run %s", plan.period, run["run_id"])
    return out
