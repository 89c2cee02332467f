"""The per-branch work on a Dask cluster (flows.runners): a generated month through `pension month` with
PENSION_TASK_RUNNER=dask against a local cluster of two worker processes started here, as a national
deployment points the flow at its cluster with PENSION_DASK_ADDRESS. The workers share the store and the
files with the flow (here: the same SQLite file and home, inherited from this process's environment)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from payroll import services
from payroll.synth import generate
from tests.conftest import make_context

PENSION = str(Path(sys.executable).with_name("pension"))


@pytest.fixture
def month(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, dict[str, Any], dict[str, str]]]:
    for k in list(os.environ):
        if k.startswith(("PENSION_", "PREFECT_")):
            monkeypatch.delenv(k)
    home, data = tmp_path / "home", tmp_path / "data"
    monkeypatch.setenv("PENSION_HOME", str(home))  # the workers inherit it: the same store as the flow
    expected = generate(data, payees=4_000, branches=4, seed=3)
    ctx = make_context(home, f"sqlite:///{home / 'pension.db'}")
    try:
        services.init_database(ctx)
        files = expected["files"]
        plan = json.loads((data / files["plan"]).read_text(encoding="utf-8"))
        services.load_reference(ctx, "branches", data / files["branches"])
        services.load_reference(ctx, "users", data / files["users"])
        for kind in ("registry", "deaths", "accounts"):
            services.load_reference(ctx, kind, data / files[kind], actor=plan["reference_loaded_by"])
    finally:
        ctx.dispose()
    yield data, expected, dict(os.environ)


@pytest.mark.slow  # about 60 s: a cluster, a Prefect server and a month; `make test-slow`
def test_a_month_runs_its_branch_tasks_on_two_dask_workers(month: tuple[Path, dict[str, Any], dict[str, str]],
                                                           tmp_path: Path) -> None:
    from distributed import Client, LocalCluster

    data, expected, env = month
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        env = {**env, "PENSION_TASK_RUNNER": "dask", "PENSION_DASK_ADDRESS": cluster.scheduler_address,
               "PENSION_LOG_FORMAT": "json", "PREFECT_LOGGING_LEVEL": "INFO"}
        p = subprocess.run([PENSION, "month", str(data / "plan.json"), "--out", str(tmp_path / "out"), "--json"],
                           env=env, capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, p.stderr[-3000:]
        executed = client.run(lambda dask_worker: dask_worker.state.executed_count)

    r = json.loads(p.stdout)
    assert r["task_runner"] == "dask" and r["address"] == cluster.scheduler_address
    plan = json.loads((data / "plan.json").read_text(encoding="utf-8"))
    accepted = len(plan["submissions"]) - len(expected["rejected_branches"])
    # every chunk of branch files (flows.monthly.INTAKE_CHUNK a task) and every chunk of list approvals
    # (APPROVAL_CHUNK a task) ran on the cluster, and both workers took some
    chunks = -(-len(plan["submissions"]) // 25)  # flows.monthly.INTAKE_CHUNK (its import needs Prefect's env)
    approval_chunks = -(-accepted // 25)  # flows.monthly.APPROVAL_CHUNK
    assert sum(executed.values()) == chunks + approval_chunks, executed
    assert len(executed) == 2 and all(n > 0 for n in executed.values()), executed
    assert r["submissions"] == {"accepted": accepted, "rejected": len(expected["rejected_branches"]), "duplicate": 0,
                                "refused": 0}
    run, want = r["run"], expected["run"]
    assert run["status"] == "released"
    assert {k: run[k] for k in ("payable_count", "payable_total", "held_count", "blocked_count")} == \
        {k: want[k] for k in ("payable_count", "payable_total", "held_count", "blocked_count")}
    assert sum(f["transactions"] for f in r["files"]) >= run["payable_count"]
    assert sum(f["control_sum"] for f in r["files"]) == run["payable_total"]
    assert Path(r["exception_report"]).is_file()
    # the flow's log: JSON lines naming the flow run, and no national id of the month
    lines = [json.loads(line) for line in p.stderr.splitlines() if line.startswith("{")]
    month_done = [e for e in lines if e["message"] == f"month {plan['period']} done: run {run['run_id']}"]
    assert len(month_done) == 1 and month_done[0]["flow_run_id"] == r["flow_run"], p.stderr[-3000:]
    # a task run in the flow's process (the run's creation) logs with its task run; the branch tasks log
    # in the workers' processes, to the Prefect server
    created = [e for e in lines if e["message"].startswith(f"run {run['run_id']}: payable")]
    assert len(created) == 1 and created[0]["task_run_name"].startswith("create-run") and created[0]["task_run_id"]
    registry = (data / expected["files"]["registry"]).read_text(encoding="utf-8").splitlines()[1:]
    ids = {line.split(",")[0] for line in registry}
    assert not any(i in p.stderr for i in ids)
