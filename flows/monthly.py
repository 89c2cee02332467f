"""The monthly run as a Prefect flow: intake of the branch files in chunks (INTAKE_CHUNK files a task,
one quality-gate run per chunk: services.submit_many), the lists' approvals (APPROVAL_CHUNK lists a
task), consolidation and checks, run approvals, release, exception report. Each task calls the services
on one context of its own.

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
from prefect.futures import as_completed
from pydantic import BaseModel, Field, field_validator
from sqlalchemy.exc import DBAPIError

from flows.runners import default_task_runner
from payroll import logs, progress, services
from payroll.config import load_settings
from payroll.errors import Refused


class BranchFile(BaseModel):
    branch: str
    file: str  # a local path or an fsspec URL (s3://..., an object store the workers share)
    user: str
    declared_count: int | None = None
    declared_total: int | None = None

    @field_validator("file", mode="before")
    @classmethod
    def _location(cls, value: Any) -> str:
        return str(value)


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
    """One service call on a fresh context, in whatever process runs the task (a Dask worker too)."""
    ctx = services.Context()
    logs.configure(ctx.settings)
    try:
        return fn(ctx, *args, **kwargs)
    finally:
        ctx.dispose()


INTAKE_CHUNK = 25  # branch files a task submits together: one quality-gate run for all of them


@task(name="submit-branch-lists", task_run_name="submit {label}", retries=2, retry_delay_seconds=1,
      retry_condition_fn=_transient)
def submit_branch_lists(branch_files: list[BranchFile], period: str, label: str = "") -> list[dict[str, Any]]:
    """A chunk of the plan's branch files through services.submit_many: one receipt per file, in order.
    A refused file gets a receipt with status "refused" and the error and fails nothing; a retry after
    a database error finds what was stored already (the same bytes are the same submission)."""
    items = [{"path": b.file, "branch": b.branch, "period": period, "user": b.user,
              "declared_count": b.declared_count, "declared_total": b.declared_total} for b in branch_files]
    receipts = _call(services.submit_many, items)
    log = get_run_logger()
    for b, receipt in zip(branch_files, receipts, strict=True):
        if receipt["status"] == "refused":
            log.warning("branch %s: %s refused: %s", b.branch, receipt.get("file_name"), receipt["error"]["message"])
        else:
            log.info("branch %s: submission %s %s, %s rows, %s rejected", b.branch, receipt["submission_id"],
                     receipt["status"], receipt["rows"], receipt["rows_rejected"])
    return receipts


APPROVAL_CHUNK = 25  # branch lists a task signs, on one database context


@task(name="approve-branch-lists", task_run_name="approve {label}", retries=2, retry_delay_seconds=1,
      retry_condition_fn=_transient)
def approve_branch_lists(lists: list[tuple[int, list[str]]], label: str = "") -> list[dict[str, Any]]:
    """The plan's signatures on a chunk of lists (submission id, approvers in order), skipping those
    already given (a resumed flow, or a retry of this task, signs nothing twice). One context for the
    chunk: a task and a context per list cost more than the signatures (198 lists: 40 s against 2 s)."""
    return _call(_approve_lists, lists)


def _approve_lists(ctx: services.Context, lists: list[tuple[int, list[str]]]) -> list[dict[str, Any]]:
    out = []
    for submission_id, approvers in lists:
        state = services.show_submission(ctx, submission_id, data_docs=False)
        signed = {a["user"] for a in state["approvals"] if a["decision"] == "approve"}
        result: dict[str, Any] = state
        for user in approvers:
            if result.get("state", result.get("status")) == "approved" or user in signed:
                continue
            result = services.approve_submission(ctx, submission_id, user=user)
        out.append(result)
    return out


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


def _label(chunk: list[BranchFile]) -> str:
    return chunk[0].branch if len(chunk) == 1 else f"{chunk[0].branch} to {chunk[-1].branch} ({len(chunk)} files)"


def _label_lists(signing: list[tuple[str, int]]) -> str:
    return signing[0][0] if len(signing) == 1 else f"{signing[0][0]} to {signing[-1][0]} ({len(signing)} lists)"


def latest_accepted(receipts: list[dict[str, Any]]) -> dict[str, int]:
    """The newest accepted submission of each branch."""
    best: dict[str, int] = {}
    for r in receipts:
        if r["status"] == "accepted":
            best[r["branch_code"]] = max(best.get(r["branch_code"], 0), r["submission_id"])
    return best


@flow(name="monthly-run", log_prints=False, task_runner=default_task_runner())
def monthly_run(plan: MonthlyPlan) -> dict[str, Any]:
    """The month's stages, each reported to the current progress reporter (payroll.progress) from this
    process as its tasks complete, whichever task runner ran them (flows.runners)."""
    logs.configure()
    log = get_run_logger()
    report = progress.current()
    report.start("intake", total=len(plan.submissions), unit="files")
    chunks = [plan.submissions[i:i + INTAKE_CHUNK] for i in range(0, len(plan.submissions), INTAKE_CHUNK)]
    futures = [submit_branch_lists.submit(chunk, plan.period, _label(chunk)) for chunk in chunks]
    for future in as_completed(futures):
        done = future.result()
        report.advance("intake", n=len(done), rows=sum(int(r["rows"]) for r in done))
    receipts = [r for f in futures for r in f.result()]  # in the plan's order
    chosen = latest_accepted(receipts)
    refused = sum(r["status"] == "refused" for r in receipts)
    report.finish("intake", f"{len(chosen)} accepted, {sum(r['status'] == 'rejected' for r in receipts)} rejected"
                  + (f", {refused} refused" if refused else ""))
    signing = [(branch, sid) for branch, sid in sorted(chosen.items()) if plan.submission_approvals.get(branch)]
    report.start("list approvals", total=len(signing), unit="lists")
    lists = [(sid, plan.submission_approvals[branch]) for branch, sid in signing]
    approvals = [approve_branch_lists.submit(lists[i:i + APPROVAL_CHUNK],
                                             _label_lists(signing[i:i + APPROVAL_CHUNK]))
                 for i in range(0, len(lists), APPROVAL_CHUNK)]
    for a in as_completed(approvals):
        report.advance("list approvals", n=len(a.result()))
    if plan.wait_for_approval:
        wait_for_lists(plan.period, plan.approval_timeout_seconds, plan.approval_poll_seconds)
    report.finish("list approvals")
    with progress.stage("run checks", total=1, unit="runs"):
        run = create_run(plan.period, plan.run_created_by)
        report.advance("run checks", rows=int(run["payable_count"]) + int(run["held_count"]) + int(run["blocked_count"]))
    out: dict[str, Any] = {"receipts": receipts, "run": run, "release": None, "exception_report": None}
    run_status: dict[str, Any] = {"status": run["status"]}
    report.start("run approvals", total=len(plan.run_approvers) or None, unit="signatures")
    for user in plan.run_approvers:
        run_status = approve_run(run["run_id"], user)
        report.advance("run approvals")
    if run_status["status"] == "awaiting_approval" and plan.wait_for_approval:
        run_status = wait_for_signatures(run["run_id"], plan.approval_timeout_seconds, plan.approval_poll_seconds)
    report.finish("run approvals", run_status["status"])
    if run_status["status"] not in ("approved", "released"):  # released: a resumed flow finishing its month
        log.info("run %s waits for finance approval", run["run_id"])
        return out
    if plan.released_by:
        with progress.stage("release", total=1, unit="runs"):
            out["release"] = release_run(run["run_id"], plan.released_by, plan.out_dir)
            report.advance("release", rows=sum(int(f["transactions"]) for f in out["release"]["files"]))
        out["run"] = {**run, "status": "released"}
    report_dir = plan.out_dir or load_settings().resolved_home / "reports"
    # for finance (the run's maker): national ids in full
    out["exception_report"] = exception_report(run["run_id"], report_dir / f"exceptions-run{run['run_id']}.csv",
                                               plan.run_created_by)
    log.info("month %s done: run %s", plan.period, run["run_id"])
    return out


def run_month(plan_file: Path, out_dir: Path | None = None, *, wait_for_approval: bool = False,
              released_by: str | None = None) -> dict[str, Any]:
    """The month of a plan file (data/sample/plan.json's top level, as `pension synth` writes it; file
    names relative to the plan's folder) through the monthly-run flow on the configured task runner.
    What `pension month` does. Call flows.serve.prefect_environment before importing this module."""
    import json
    import time

    from flows.demo import load_plan
    from flows.runners import configured, describe

    started = time.perf_counter()
    try:
        raw = json.loads(plan_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise Refused("BAD_PLAN", f"{plan_file}: {e}") from None
    if not isinstance(raw, dict) or "submissions" not in raw or "run" not in raw:
        raise Refused("BAD_PLAN", f"{plan_file}: not a month plan (needs period, submissions, run)")
    fields = load_plan(plan_file.parent, out_dir or load_settings().resolved_home / "out" / str(raw.get("period")))
    if released_by is not None:
        fields["released_by"] = released_by
    plan = MonthlyPlan.model_validate({**fields, "wait_for_approval": wait_for_approval})
    state = configured(monthly_run)(plan, return_state=True)
    result = state.result()
    run = result["run"]
    receipts = result["receipts"]
    return {"period": plan.period, "flow_run": str(state.state_details.flow_run_id), **describe(),
            "seconds": round(time.perf_counter() - started, 1),
            "submissions": {s: sum(r["status"] == s for r in receipts)
                            for s in ("accepted", "rejected", "duplicate", "refused")},
            "rows": sum(int(r["rows"]) for r in receipts),
            "run": {k: run[k] for k in ("run_id", "status", "payable_count", "payable_total", "held_count",
                                        "blocked_count")},
            "files": [{k: f[k] for k in ("path", "format", "transactions", "control_sum")}
                      for f in (result["release"] or {}).get("files", [])],
            "exception_report": (result["exception_report"] or {}).get("path")}
