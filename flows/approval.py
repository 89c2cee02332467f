"""Approvals as Prefect pauses: a run's flow waits for each signature, and the approval command resumes it.

The database stays the system of record. The flow (`monthly-run` with ``wait_for_approval``) pauses with
a key per signature slot, ``run-<id>-slot-<n>``, so the Prefect UI shows what each run waits for. The
approval command (``pension approve run``, and later the portal) calls the service first, which checks
the policy and records the signature; only then does it resume the paused flow with the decision as
typed run input. On resuming, the flow reads the run's state from the database again and either pauses
for the next slot, goes on to release, or stops when the run is no longer awaiting approval.

Prefect is imported inside the functions (``flows.serve.prefect_environment`` must run first).
"""

from __future__ import annotations

from typing import Any

PAUSED = "Paused"


def pause_key(run_id: int, slot: int) -> str:
    """Prefect pause keys take lowercase letters, digits and dashes."""
    return f"run-{run_id}-slot-{slot}"


def decision_model() -> Any:
    """The typed run input a resumed flow receives (a Prefect RunInput)."""
    from prefect.input import RunInput

    class RunDecision(RunInput):
        run_id: int
        user: str
        level: int
        status: str  # the run's status after the signature: awaiting_approval | approved

    return RunDecision


async def _paused_for(run_id: int) -> list[tuple[Any, str]]:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateName

    prefix = f"run-{run_id}-slot-"
    async with get_client() as client:
        runs = await client.read_flow_runs(flow_run_filter=FlowRunFilter(
            state=FlowRunFilterState(name=FlowRunFilterStateName(any_=[PAUSED]))))
    out = []
    for fr in runs:
        key = fr.state.state_details.pause_key if fr.state and fr.state.state_details else None
        if key and key.startswith(prefix):
            out.append((fr.id, key))
    return out


def resume_run_flows(run_id: int, decision: dict[str, Any]) -> list[str]:
    """Resume every flow run paused for a signature of run `run_id` with `decision` (already recorded
    in the database); returns the ids of the flow runs resumed."""
    import asyncio

    from prefect.flow_runs import aresume_flow_run

    async def go() -> list[str]:
        resumed = []
        for flow_run_id, _ in await _paused_for(run_id):
            await aresume_flow_run(flow_run_id, run_input=decision)
            resumed.append(str(flow_run_id))
        return resumed

    return asyncio.run(go())


def waiting_runs(run_id: int) -> list[tuple[str, str]]:
    """(flow run id, pause key) of the flow runs paused for run `run_id`."""
    import asyncio

    return [(str(i), k) for i, k in asyncio.run(_paused_for(run_id))]
