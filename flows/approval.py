"""Approvals as Prefect pauses: the monthly flow waits for each signature, and the approval resumes it.

The database stays the system of record. The flow (`monthly-run` with ``wait_for_approval``) pauses

- for the period's branch lists that wait for a signature, with the key ``lists-<period>-wait-<n>``
  (n counts the flow's waits; Prefect refuses a key a flow run used before), until no list of the
  period is left awaiting approval (approved, or returned to its branch);
- then for each signature slot of the run, with the key ``run-<id>-slot-<n>``,

so the Prefect UI shows what each flow run waits for. The approval command (``pension approve`` /
``pension reject``, and later the portal) calls the service first, which checks the policy and records
the decision; only then does it resume the paused flow with the decision as typed run input. On
resuming, the flow reads the state from the database again and either pauses again or goes on.

A decision can arrive while the flow is between two pauses (it has read the database but not yet
paused): then no flow is paused for it yet. `resume_waiting` therefore retries for a few seconds while
a monthly-run flow of the same period is running, so the decision reaches the flow's next pause; and a
flow that reads the database before pausing never waits for a decision already recorded.

Prefect is imported inside the functions (``flows.serve.prefect_environment`` must run first).
"""

from __future__ import annotations

import time
from typing import Any

PAUSED = "Paused"
RUNNING = "Running"
FLOW_NAME = "monthly-run"


def pause_key(run_id: int, slot: int) -> str:
    """Prefect pause keys take lowercase letters, digits and dashes."""
    return f"run-{run_id}-slot-{slot}"


def lists_prefix(period: str) -> str:
    return f"lists-{period}-wait-"


def lists_pause_key(period: str, n: int) -> str:
    return f"{lists_prefix(period)}{n}"


def decision_model() -> Any:
    """The typed run input a flow resumed for a run signature receives (a Prefect RunInput)."""
    from prefect.input import RunInput

    class RunDecision(RunInput):
        run_id: int
        user: str
        level: int
        status: str  # the run's status after the signature: awaiting_approval | approved

    return RunDecision


def list_decision_model() -> Any:
    """The typed run input a flow resumed for a branch list decision receives."""
    from prefect.input import RunInput

    class ListDecision(RunInput):
        submission_id: int
        branch_code: str
        user: str
        level: int
        decision: str  # approve | reject
        status: str  # the list's status after it: accepted (more levels to sign) | approved | returned

    return ListDecision


async def _flow_runs(states: list[str]) -> list[Any]:
    from prefect import get_client
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateName,
    )

    async with get_client() as client:
        return list(await client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=[FLOW_NAME])),
            flow_run_filter=FlowRunFilter(state=FlowRunFilterState(name=FlowRunFilterStateName(any_=states)))))


def _key(fr: Any) -> str | None:
    return fr.state.state_details.pause_key if fr.state and fr.state.state_details else None


def _period(fr: Any) -> str | None:
    plan = (fr.parameters or {}).get("plan")
    return plan.get("period") if isinstance(plan, dict) else None


async def _paused_for(prefix: str) -> list[tuple[Any, str]]:
    return [(fr.id, key) for fr in await _flow_runs([PAUSED]) if (key := _key(fr)) and key.startswith(prefix)]


def resume_waiting(prefix: str, period: str, decision: dict[str, Any], settle_seconds: float = 15.0) -> list[str]:
    """Resume every monthly-run flow paused with a key starting with `prefix`, giving it `decision`
    (already recorded in the database). While none is paused but a monthly-run flow of `period` is
    running, try again for up to `settle_seconds`: it may be about to pause for this very decision.
    Returns the ids of the flow runs resumed (none when no flow waits)."""
    import asyncio

    from prefect.flow_runs import aresume_flow_run

    async def go() -> list[str]:
        deadline = time.monotonic() + settle_seconds
        while True:
            paused = await _paused_for(prefix)
            if paused:
                for flow_run_id, _ in paused:
                    await aresume_flow_run(flow_run_id, run_input=decision)
                return [str(i) for i, _ in paused]
            running = [fr for fr in await _flow_runs([RUNNING]) if _period(fr) == period]
            if not running or time.monotonic() >= deadline:
                return []
            await asyncio.sleep(0.5)

    return asyncio.run(go())


def resume_run_flows(run_id: int, period: str, decision: dict[str, Any], settle_seconds: float = 15.0) -> list[str]:
    """Resume the flows paused for a signature of run `run_id` (of `period`)."""
    return resume_waiting(f"run-{run_id}-slot-", period, decision, settle_seconds)


def resume_list_flows(period: str, decision: dict[str, Any], settle_seconds: float = 15.0) -> list[str]:
    """Resume the flows of `period` paused for its branch lists."""
    return resume_waiting(lists_prefix(period), period, decision, settle_seconds)


def waiting(prefix: str) -> list[tuple[str, str]]:
    """(flow run id, pause key) of the monthly-run flows paused with a key starting with `prefix`."""
    import asyncio

    return [(str(i), k) for i, k in asyncio.run(_paused_for(prefix))]


def waiting_runs(run_id: int) -> list[tuple[str, str]]:
    return waiting(f"run-{run_id}-slot-")


def waiting_lists(period: str) -> list[tuple[str, str]]:
    return waiting(lists_prefix(period))


def _resume_if_served(settings: Any, resume: Any) -> tuple[list[str], str | None]:
    """With a Prefect server configured (PREFECT_API_URL), resume the monthly-run flows waiting for the
    decision just recorded: (flow run ids, None), or ([], why not). The decision stands either way: a
    flow that was not reached finds it in the database when it next reads it."""
    import os

    if not os.environ.get("PREFECT_API_URL"):
        return [], None
    from flows.serve import prefect_environment

    prefect_environment(settings)
    try:
        return list(resume()), None
    except Exception as e:  # noqa: BLE001 - the decision stands; the caller says why no flow was resumed
        return [], f"decision recorded, but no waiting flow was resumed: {e}"


def after_list_decision(settings: Any, r: dict[str, Any], user: str, decision: str) -> tuple[list[str], str | None]:
    """What the CLI and the portal do after approving or rejecting a branch list (`r`: the service's result)."""
    return _resume_if_served(settings, lambda: resume_list_flows(r["period"], {
        "submission_id": r["submission_id"], "branch_code": r["branch_code"], "user": user, "level": r["level"],
        "decision": decision, "status": r["status"]}))


def after_run_signature(settings: Any, r: dict[str, Any], user: str) -> tuple[list[str], str | None]:
    """What the CLI and the portal do after signing a run (`r`: the service's result)."""
    return _resume_if_served(settings, lambda: resume_run_flows(r["run_id"], r["period"], {
        "run_id": r["run_id"], "user": user, "level": r["level"], "status": r["status"]}))
