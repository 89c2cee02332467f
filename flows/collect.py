"""`collect-branch-files`: the branch inbox collected once, one task per branch folder (never per file
or row). Each task is one service call (payroll.services.collect_branch), which holds every rule:
what is settled, claiming, receipts, processed/ and rejected/.

The flow ends Failed (with the summary as its result) when a file failed unexpectedly; that file is
back in its folder and the next scheduled collection tries it again.
"""

from __future__ import annotations

import time
from typing import Any

from prefect import flow, get_run_logger, task, unmapped
from prefect.futures import wait
from prefect.states import Failed, State

from flows.monthly import _call, _transient
from flows.runners import default_task_runner
from payroll import logs, services
from payroll.services.inbox import DEFAULT_SETTLE_SECONDS


@task(name="list-branch-folders")
def list_branch_folders(inbox: str) -> list[str]:
    return services.list_branch_folders(inbox)


@task(name="collect-branch-folder", task_run_name="collect {branch}", retries=2, retry_delay_seconds=1,
      retry_condition_fn=_transient)
def collect_branch_folder(inbox: str, branch: str, settle_seconds: float) -> dict[str, Any]:
    summary = _call(services.collect_branch, inbox, branch, settle_seconds=settle_seconds)
    log = get_run_logger()
    for e in summary["files"]:
        if e["outcome"] == "failed":
            log.error("branch %s: %s failed: %s (%s)", branch, e["file"], e["error"], e["reason"])
            continue
        detail = e["reason"] or (e["error"] or {}).get("code")
        log.info("branch %s: %s %s%s%s", branch, e["file"], e["outcome"],
                 f" as submission {e['submission_id']}" if e["submission_id"] else "", f" ({detail})" if detail else "")
    return summary


@flow(name="collect-branch-files", log_prints=False, task_runner=default_task_runner())
def collect_branch_files(inbox: str, settle_seconds: float = DEFAULT_SETTLE_SECONDS
                         ) -> dict[str, Any] | State[Any]:
    logs.configure()
    log = get_run_logger()
    branches = list_branch_folders(inbox)
    futures = collect_branch_folder.map(unmapped(inbox), branches, unmapped(settle_seconds))
    wait(futures)
    summary = services.merge_summaries(inbox, [f.result() for f in futures])
    counts = summary["counts"]
    log.info("inbox %s: %s branch folders; %s", inbox, len(branches),
             ", ".join(f"{n} {outcome}" for outcome, n in counts.items()))
    if counts["failed"]:
        return Failed(message=f"{counts['failed']} file(s) failed and were left for the next collection",
                      data=summary)
    return summary


def run_collection(inbox: str | None = None, settle_seconds: float = DEFAULT_SETTLE_SECONDS) -> dict[str, Any]:
    """Collect once through the flow (what `pension collect` does). Call flows.serve.prefect_environment
    before importing this module."""
    started = time.perf_counter()
    ctx = services.Context()
    try:
        inbox = inbox or services.default_inbox(ctx.settings)
    finally:
        ctx.dispose()
    services.list_branch_folders(inbox)  # an inbox that is not there is refused before Prefect starts
    from flows.runners import configured

    state = configured(collect_branch_files)(inbox, settle_seconds, return_state=True)
    summary = state.result(raise_on_failure=False)
    if isinstance(summary, BaseException):  # the flow itself crashed (not a file: those are in the summary)
        raise summary
    if not isinstance(summary, dict):
        raise RuntimeError(f"collect-branch-files ended {state.type.value} without a summary: {state.message}")
    return {**summary, "flow_run": str(state.state_details.flow_run_id), "state": state.type.value,
            "seconds": round(time.perf_counter() - started, 1)}
