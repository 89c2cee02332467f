"""`pension demo` ends the processes it started (Prefect's temporary server above all): on SIGTERM, and,
after a kill -9, when the next demo begins; a process whose pid merely equals a recorded one is never
touched. Real processes, the real command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from flows.demo import PIDS_FILE, end_leftovers
from payroll.errors import Refused


def _gone(p: psutil.Process) -> bool:
    try:
        return not p.is_running() or p.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait(what: str, check: Callable[[], Any], timeout: float = 180) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _demo(home: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PENSION_", "PREFECT_"))}
    env["PENSION_HOME"] = str(home)
    return subprocess.Popen([sys.executable, "-m", "payroll.cli", "demo", "--json"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _server_of(demo: subprocess.Popen[bytes], home: Path) -> list[psutil.Process]:
    """The demo's processes once its temporary server runs and is recorded in the pid file."""
    def ready() -> list[psutil.Process] | None:
        try:
            children = psutil.Process(demo.pid).children(recursive=True)
            recorded = {r["pid"] for r in json.loads((home / PIDS_FILE).read_text())["started"]}
        except (psutil.Error, OSError, ValueError, KeyError):
            return None
        servers = [c for c in children if "uvicorn" in " ".join(c.cmdline()) and c.pid in recorded]
        return children if servers else None
    assert demo.poll() is None
    return _wait("the demo's temporary Prefect server", ready)


@pytest.mark.slow
def test_a_demo_ended_by_sigterm_leaves_no_process_behind(tmp_path: Path) -> None:
    home = tmp_path / "home"
    demo = _demo(home)
    try:
        started = _server_of(demo, home)
        demo.send_signal(signal.SIGTERM)
        assert demo.wait(timeout=60) == 128 + signal.SIGTERM
        assert [p.pid for p in started if not _gone(p)] == []
        assert not (home / PIDS_FILE).exists()
    finally:
        demo.kill()
        demo.wait()


@pytest.mark.slow
def test_the_next_demo_ends_what_a_demo_killed_with_minus_9_left(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = _demo(home)
    second = None
    try:
        left = _server_of(first, home)
        first.kill()
        first.wait()
        assert all(not _gone(p) for p in left)  # the orphaned server: what kill -9 leaves
        second = _demo(home)
        _wait("the orphaned server to be ended", lambda: all(_gone(p) for p in left), timeout=120)
        assert second.poll() is None  # and the new demo goes on
        mine = _server_of(second, home)
        second.send_signal(signal.SIGINT)
        assert second.wait(timeout=60) == 128 + signal.SIGINT
        assert [p.pid for p in mine if not _gone(p)] == []
    finally:
        for d in (first, second):
            if d is not None:
                d.kill()
                d.wait()


def test_a_recycled_pid_is_never_ended_and_a_running_demo_is_left_alone(tmp_path: Path) -> None:
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        p = psutil.Process(stranger.pid)
        # the pid file of a demo killed long ago names this pid, started at another time
        dead = {"pid": 2**22 + 1, "started_at": 1.0}
        (tmp_path / PIDS_FILE).write_text(json.dumps({"demo": dead, "started": [
            {"pid": stranger.pid, "started_at": p.create_time() - 3600}]}))
        assert end_leftovers(tmp_path) == [] and not _gone(p)
        assert not (tmp_path / PIDS_FILE).exists()
        # a demo that still runs (the stranger stands in for it) keeps its processes
        me = psutil.Process(stranger.pid)
        (tmp_path / PIDS_FILE).write_text(json.dumps({"demo": {"pid": me.pid, "started_at": me.create_time()},
                                                      "started": []}))
        with pytest.raises(Refused) as e:
            end_leftovers(tmp_path)
        assert e.value.code == "DEMO_RUNNING" and not _gone(p)
        # and a recorded process that is the one recorded is ended
        (tmp_path / PIDS_FILE).write_text(json.dumps({"demo": dead, "started": [
            {"pid": p.pid, "started_at": p.create_time()}]}))
        assert end_leftovers(tmp_path) == [p.pid]
        assert _gone(p)
    finally:
        stranger.kill()
        stranger.wait()
