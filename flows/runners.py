"""Which Prefect task runner runs the per-branch work, by configuration (payroll.config.Settings):

- ``PENSION_TASK_RUNNER=thread`` (the default): Prefect's thread pool in the flow's process,
  ``PENSION_TASK_WORKERS`` threads (default: Prefect's own choice). One machine; the quality gate holds
  a lock on the process's Great Expectations context, so intake gains little from more threads.
- ``PENSION_TASK_RUNNER=dask``: prefect-dask's ``DaskTaskRunner``. With ``PENSION_DASK_ADDRESS`` (a
  scheduler address such as ``tcp://10.0.0.5:8786``) the tasks go to that cluster; without it a
  temporary ``distributed.LocalCluster`` of ``PENSION_DASK_WORKERS`` worker processes (one thread each)
  is started for the flow run and torn down after it.

Every worker, local or remote, must see the same store and files as the flow: the same
``PENSION_DB_URL`` (PostgreSQL for several machines), ``PENSION_HOME`` on a shared volume or the
branch files behind an fsspec URL, and the same ``PREFECT_API_URL`` so that the task runs show in the
Prefect UI. A LocalCluster's workers inherit the flow process's environment. Tasks stay coarse (a branch
file, a run, a release): a Dask task costs 70 to 100 ms here against 6 to 13 ms on threads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from payroll.config import Settings, load_settings
from payroll.errors import Refused

if TYPE_CHECKING:
    from prefect.task_runners import TaskRunner


def task_runner(settings: Settings | None = None) -> TaskRunner[Any]:
    """The task runner the settings ask for (a new instance: a runner is started once per flow run)."""
    from prefect.task_runners import ThreadPoolTaskRunner

    settings = settings or load_settings()
    if settings.task_runner == "thread":
        return ThreadPoolTaskRunner(max_workers=settings.task_workers)
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError:  # pragma: no cover - prefect-dask is a pinned dependency
        raise Refused("NO_DASK", "PENSION_TASK_RUNNER=dask needs prefect-dask (pip install prefect-dask)") from None
    if settings.dask_address:
        return DaskTaskRunner(address=settings.dask_address)
    return DaskTaskRunner(cluster_class="distributed.LocalCluster",
                          cluster_kwargs={"n_workers": settings.dask_workers, "threads_per_worker": 1,
                                          "processes": True, "dashboard_address": None})


def describe(settings: Settings | None = None) -> dict[str, Any]:
    """What runs the tasks, for the operator (CLI output, logs)."""
    settings = settings or load_settings()
    if settings.task_runner == "thread":
        return {"task_runner": "thread", "workers": settings.task_workers}
    if settings.dask_address:
        return {"task_runner": "dask", "address": settings.dask_address}
    return {"task_runner": "dask", "local_cluster_workers": settings.dask_workers}


def configured(flow_obj: Any, settings: Settings | None = None) -> Any:
    """The flow with the configured task runner (``flow.with_options``); what callers run and deploy."""
    return flow_obj.with_options(task_runner=task_runner(settings))


def default_task_runner() -> TaskRunner[Any]:
    """The runner a flow is decorated with, read from the environment when its module is imported: what
    a deployment's flow run (loaded from its entrypoint in a fresh process) runs its tasks on. Callers in
    this process use :func:`configured`, which reads the settings again. A configuration that does not
    validate gives the thread runner here; the flow's first service call refuses it, naming the field."""
    from prefect.task_runners import ThreadPoolTaskRunner
    from pydantic import ValidationError

    try:
        settings = load_settings()
    except ValidationError:
        return ThreadPoolTaskRunner()
    return task_runner(settings)
