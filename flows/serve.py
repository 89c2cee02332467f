"""`pension flows serve`: the engine's Prefect deployments, served from this process.

- `collect-branch-files/submission-window`: the branch inbox collected every 15 minutes on days 1 to
  20 of the month (the submission window), in the institution's time zone; one collection at a time
  (a run due while the previous one still works is cancelled, not queued).
- `monthly-run/on-demand`: the monthly run, without schedule; started with its plan as parameters.

Serving needs a Prefect server with its scheduler (`prefect server start`, PREFECT_API_URL): Prefect's
temporary server runs no background services, so nothing scheduled would ever run on it.

Prefect is imported only inside the functions, so that `prefect_environment` can set PREFECT_HOME and
friends before Prefect reads them (it does so once, on import).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from payroll.config import Settings, load_settings
from payroll.country import profile
from payroll.errors import Refused
from payroll.services.inbox import DEFAULT_SETTLE_SECONDS, default_inbox
from payroll.store.files import make_private_dir

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

COLLECT_DEPLOYMENT = "submission-window"
MONTHLY_DEPLOYMENT = "on-demand"
# Every 15 minutes on days 1 to 20 of the month: the branches' submission window.
COLLECT_CRON = "*/15 * 1-20 * *"


def prefect_environment(settings: Settings, *, quiet: bool = True) -> None:
    """Prefect's home beside the engine's, no telemetry (no network here), quiet logs unless serving;
    whatever the environment already says wins."""
    os.environ.setdefault("PREFECT_HOME", str(settings.resolved_home / "prefect"))
    # Prefect makes only the last folder of its home; the temporary server cannot start without it. 0700:
    # its database keeps flow parameters and results (what it writes inside is covered by the folder)
    make_private_dir(Path(os.environ["PREFECT_HOME"]).expanduser())
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING" if quiet else "INFO")
    os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")
    # the temporary server's start-up wait (default 20 s) runs out on a busy 2-core machine
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    # a Dask task runner's scheduler and workers (flows.runners) say only what goes wrong
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")


def build_deployments(settings: Settings | None = None, *, inbox: str | None = None, cron: str = COLLECT_CRON,
                      timezone: str | None = None, settle_seconds: float = DEFAULT_SETTLE_SECONDS
                      ) -> list[RunnerDeployment]:
    """The collection on its schedule (concurrency limit 1) and the monthly run without schedule."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.deployments.runner import EntrypointType, RunnerDeployment
    from prefect.schedules import Cron

    from flows.collect import collect_branch_files
    from flows.monthly import monthly_run

    settings = settings or load_settings()
    timezone = timezone or profile(settings.country).timezone
    try:
        schedule = Cron(cron, timezone=timezone)
    except ValueError as e:
        raise Refused("INVALID_SCHEDULE", f"cron {cron!r} in time zone {timezone}: {e}") from None
    collect = collect_branch_files.to_deployment(
        name=COLLECT_DEPLOYMENT,
        schedules=[schedule],
        paused=False,  # serving again resumes what the last shutdown paused
        concurrency_limit=ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW),
        parameters={"inbox": inbox or default_inbox(settings), "settle_seconds": settle_seconds},
        description="Collect the branch files waiting in the inbox: receipts, processed/ and rejected/.",
        tags=["pension", "intake"],
        entrypoint_type=EntrypointType.MODULE_PATH,
    )
    monthly = monthly_run.to_deployment(
        name=MONTHLY_DEPLOYMENT,
        paused=False,
        description="The monthly run: intake, approvals, consolidation and checks, release. Needs its plan.",
        tags=["pension", "payments"],
        entrypoint_type=EntrypointType.MODULE_PATH,
    )
    assert isinstance(collect, RunnerDeployment) and isinstance(monthly, RunnerDeployment)  # not a coroutine
    return [collect, monthly]


def serve(settings: Settings | None = None, *, print_starting_message: bool = True, **options: Any
          ) -> dict[str, Any]:
    """Serve the deployments until interrupted (Ctrl-C, SIGTERM); returns what was served.

    Needs a Prefect server (PREFECT_API_URL): Prefect's temporary server runs no scheduler, so a
    schedule served on it would never fire."""
    import fsspec
    from fsspec.implementations.local import LocalFileSystem
    from prefect import serve as prefect_serve
    from prefect.client.schemas.schedules import CronSchedule
    from prefect.settings import get_current_settings

    settings = settings or load_settings()
    deployments = build_deployments(settings, **options)
    if not get_current_settings().api.url:
        raise Refused("NO_PREFECT_SERVER", "serving schedules needs a Prefect server (Prefect's temporary server "
                      "runs no scheduler): start one with `prefect server start` and set PREFECT_API_URL, e.g. "
                      "http://127.0.0.1:4200/api")
    inbox = deployments[0].parameters["inbox"]
    fs, root = fsspec.core.url_to_fs(inbox)
    if isinstance(fs, LocalFileSystem):  # a fresh machine: the branches' systems write into it
        fs.makedirs(root, exist_ok=True)
    try:
        prefect_serve(*deployments, print_starting_message=print_starting_message)
    except SystemExit as e:  # Prefect's runner answers SIGTERM with sys.exit(0) once it has shut down
        if e.code not in (0, None):
            raise
    crons = [(d.name, s.schedule) for d in deployments for s in d.schedules or []
             if isinstance(s.schedule, CronSchedule)]
    return {"served": [f"{d.flow_name}/{d.name}" for d in deployments], "inbox": inbox,
            "schedules": [{"deployment": name, "cron": c.cron, "timezone": c.timezone} for name, c in crons]}


if __name__ == "__main__":
    _settings = load_settings()
    prefect_environment(_settings)
    serve(_settings)
