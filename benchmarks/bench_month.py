"""A whole national month on one machine, timed stage by stage.

    .venv/bin/python benchmarks/bench_month.py --payees 100000 [--branches 40] [--seed 7] [--data DIR]
    pension bench --payees 100000            (the same)

Generates the month with `payroll.synth` (or reuses DIR when it holds one made with the same
arguments), then, on a fresh home (SQLite and local files, the embedded default), runs the month
through the engine's services as the flows do: load the reference extracts, intake of every branch
file (quality gate included), the two approval levels of every accepted list (scripted), the run
(consolidation and every check), its two finance signatures, and the release of every bank file.
Beside the checks it times a bare exact join of the same payees, registry and deaths in DuckDB.

Prints one JSON object: per stage the wall seconds and the peak RSS reached during it (sampled from
/proc every 20 ms), the totals, payees per second, the machine's cores, and whether the engine's
figures equal the generator's expectations. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024**2


class Stages:
    """Wall time and peak RSS per stage: a sampler thread keeps the highest RSS seen in the current stage."""

    def __init__(self) -> None:
        self.stages: dict[str, dict[str, Any]] = {}
        self._peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self._peak = max(self._peak, _rss_mib())
            self._stop.wait(0.02)

    @contextmanager
    def stage(self, name: str, progress: Callable[[str], None] | None = None) -> Iterator[dict[str, Any]]:
        extra: dict[str, Any] = {}
        self._peak = _rss_mib()
        if progress:
            progress(name)
        t0 = time.perf_counter()
        yield extra
        seconds = time.perf_counter() - t0
        self._peak = max(self._peak, _rss_mib())
        self.stages[name] = {"seconds": round(seconds, 2), "peak_rss_mib": round(self._peak), **extra}
        if progress:
            progress(json.dumps({name: self.stages[name]}, ensure_ascii=False))

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def _git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True,
                              cwd=Path(__file__).resolve().parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def ensure_data(data: Path, payees: int, branches: int, seed: int, fmt: str) -> tuple[dict[str, Any], float | None]:
    """The generated month in `data`, made now unless it was made with the same arguments."""
    from payroll.synth import generate

    stamp = data / "synth-args.json"
    args = {"payees": payees, "branches": branches, "seed": seed, "fmt": fmt}
    if stamp.exists() and json.loads(stamp.read_text()) == args and (data / "expected.json").exists():
        return json.loads((data / "expected.json").read_text(encoding="utf-8")), None
    if data.exists():
        shutil.rmtree(data)
    t0 = time.perf_counter()
    expected = generate(data, payees=payees, branches=branches, seed=seed, fmt=fmt)
    seconds = time.perf_counter() - t0
    stamp.write_text(json.dumps(args))
    return expected, seconds


def duckdb_bare_join(payments_path: Path, data: Path, work: Path) -> dict[str, Any]:
    """The floor the checks are measured against: payees left-joined to the registry and the deaths on
    the exact national id, in DuckDB over Parquet, counting matches (inputs converted first, untimed)."""
    import duckdb

    con = duckdb.connect()
    files = json.loads((data / "expected.json").read_text(encoding="utf-8"))["files"]
    for name in ("registry", "deaths"):
        src = data / files[name]
        target = work / f"{name}.parquet"
        if src.suffix == ".csv":
            con.execute(f"COPY (SELECT * FROM read_csv('{src}', all_varchar=true)) TO '{target}' (FORMAT parquet)")
        else:
            shutil.copy(src, target)
    t0 = time.perf_counter()
    row = con.execute(f"""
        SELECT count(*), count(r.national_id), count(d.national_id)
        FROM read_parquet('{payments_path}') p
        LEFT JOIN read_parquet('{work / "registry.parquet"}') r ON r.national_id = p.national_id
        LEFT JOIN read_parquet('{work / "deaths.parquet"}') d ON d.national_id = p.national_id
    """).fetchone()
    seconds = time.perf_counter() - t0
    con.close()
    assert row is not None
    return {"seconds": round(seconds, 2), "payees": row[0], "in_registry": row[1], "in_deaths": row[2]}


_WORKER: dict[str, Any] = {}


@contextmanager
def _bar(show: bool, what: str, total: int) -> Iterator[Callable[[dict[str, Any]], dict[str, Any]]]:
    """A rich progress bar on stderr for branch files, with rows and rows per second; `advance(receipt)`
    counts one file and returns its receipt."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn(what), BarColumn(), MofNCompleteColumn(), TextColumn("files"),
                  TextColumn("{task.fields[rows]:,} rows, {task.fields[rate]:,.0f} rows/s"), TimeElapsedColumn(),
                  console=Console(stderr=True), disable=not show) as progress:
        task = progress.add_task(what, total=total, rows=0, rate=0.0)
        t0, rows = time.perf_counter(), 0

        def advance(receipt: dict[str, Any]) -> dict[str, Any]:
            nonlocal rows
            rows += int(receipt.get("rows") or 0)
            progress.update(task, advance=1, rows=rows, rate=rows / max(time.perf_counter() - t0, 1e-9))
            return receipt

        yield advance


def _worker_init(home: str) -> None:
    os.environ["PENSION_HOME"] = home
    from payroll import services
    from payroll.config import load_settings

    _WORKER["ctx"] = services.Context(load_settings())


def _submit(job: tuple[Any, ...]) -> dict[str, Any]:
    from payroll import services

    path, branch, period, user, declared_count, declared_total = job
    return services.submit(_WORKER["ctx"], Path(path), branch=branch, period=period, user=user,
                           declared_count=declared_count, declared_total=declared_total)


def run_month(data: Path, home: Path, stages: Stages, progress: Callable[[str], None] | None = None,
              workers: int = 1, bar: bool = False) -> dict[str, Any]:
    """The month in `data` through the services, on a fresh home; returns what the engine reported."""
    os.environ["PENSION_HOME"] = str(home)
    os.environ.pop("PENSION_DB_URL", None)
    from payroll import services
    from payroll.config import load_settings

    plan = json.loads((data / "plan.json").read_text(encoding="utf-8"))
    ctx = services.Context(load_settings())
    admin = plan.get("reference_loaded_by", "admin-1")
    with stages.stage("reference", progress) as s:
        services.init_database(ctx, sample=False)
        files = json.loads((data / "expected.json").read_text(encoding="utf-8"))["files"]
        for kind in ("branches", "users"):  # by the system: admin-1 exists once users are loaded
            services.load_reference(ctx, kind, data / files[kind])
        loaded = {}
        for kind in ("registry", "deaths", "accounts"):
            loaded[kind] = services.load_reference(ctx, kind, data / files[kind], actor=admin).get("rows")
        s["rows"] = loaded
    with stages.stage("intake", progress) as s:
        jobs = [(str(data / sub["file"]), sub["branch"], plan["period"], sub["user"], sub.get("declared_count"),
                 sub.get("declared_total")) for sub in plan["submissions"]]
        with _bar(bar, "intake", len(jobs)) as advance:
            if workers > 1:  # branch files in parallel processes, as a process or Dask task runner would
                with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_worker_init, initargs=(str(home),)) as pool:
                    receipts = [advance(r) for r in pool.map(_submit, jobs)]
            else:
                _worker_init(str(home))
                receipts = [advance(_submit(job)) for job in jobs]
        s.update(files=len(receipts), rows=sum(r["rows"] for r in receipts), workers=workers,
                 rejected_files=sum(r["status"] == "rejected" for r in receipts))
    with stages.stage("list_approvals", progress) as s:
        n = 0
        for r in receipts:
            if r["status"] != "accepted":
                continue
            for user in plan["submission_approvals"][r["branch_code"]]:
                services.approve_submission(ctx, r["submission_id"], user=user)
                n += 1
        s["signatures"] = n
    with stages.stage("run", progress) as s:
        run = services.create_run(ctx, plan["period"], user=plan["run"]["created_by"])
        s.update(rows=run["rows"], payable=run["payable_count"], held=run["held_count"], blocked=run["blocked_count"])
    with stages.stage("run_approvals", progress):
        for user in plan["run"]["approvers"]:
            services.approve_run(ctx, run["run_id"], user=user)
    with stages.stage("release", progress) as s:
        release = services.release_run(ctx, run["run_id"], user=plan["run"]["released_by"],
                                       out_dir=home / "release")
        s.update(files=len(release["files"]), transfers=sum(f["transactions"] for f in release["files"]))
    with ctx.uow() as session:
        from payroll.store.models import Run

        stored = session.get(Run, run["run_id"])
        assert stored is not None
        payments_path = Path(stored.payments_path)
    ctx.dispose()
    return {"receipts": receipts, "run": run, "release": release, "payments_path": payments_path}


def compare(expected: dict[str, Any], receipts: list[dict[str, Any]], run: dict[str, Any]) -> dict[str, Any]:
    """Where the engine's figures differ from the generator's expectations (empty: they agree); the
    full comparison is tests/integration/test_synth.py."""
    e = expected["run"]
    pairs = {
        "submissions": ([(s["branch"], s["status"], s["rows_rejected"]) for s in expected["submissions"]],
                        [(r["branch_code"], r["status"], r["rows_rejected"]) for r in receipts]),
        "intake_rejections": (expected["intake_rejections"], run["intake_rejections"]),
        "findings": (e["findings"], run["exceptions"]),
        **{k: (e[k], run[k]) for k in ("rows", "payable_count", "payable_total", "held_count", "blocked_count")},
    }
    return {k: {"expected": want, "reported": got} for k, (want, got) in pairs.items() if want != got}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--payees", type=int, default=100_000)
    ap.add_argument("--branches", type=int, default=None, help="default: 600 at 1M payees and above, else 40")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--format", dest="fmt", choices=["csv", "parquet"], default="csv")
    ap.add_argument("--data", type=Path, default=None, help="keep the generated month here and reuse it")
    ap.add_argument("--home", type=Path, default=None, help="the engine's home (default: a temporary folder)")
    ap.add_argument("--workers", type=int, default=1, help="processes for the intake of branch files")
    ap.add_argument("--quiet", action="store_true", help="no stage lines on stderr")
    a = ap.parse_args(argv)
    branches = a.branches or (600 if a.payees >= 1_000_000 else 40)
    scratch = Path(tempfile.mkdtemp(prefix="pension-bench-"))
    data = a.data or scratch / "data"
    home = a.home or scratch / "home"
    if home.exists():
        shutil.rmtree(home)
    t_start = time.perf_counter()

    def progress(name: str) -> None:
        if not a.quiet:
            print(f"[{time.perf_counter() - t_start:7.1f} s] {name}", file=sys.stderr, flush=True)

    stages = Stages()
    try:
        progress("synth")
        expected, synth_seconds = ensure_data(data, a.payees, branches, a.seed, a.fmt)
        t0 = time.perf_counter()
        month = run_month(data, home, stages, progress, a.workers, bar=not a.quiet)
        total = time.perf_counter() - t0
        progress("duckdb bare join")
        bare = duckdb_bare_join(month["payments_path"], data, scratch)
    finally:
        stages.close()
    checks_seconds = stages.stages["run"]["seconds"]
    out = {
        "benchmark": "month", "payees": a.payees, "branches": branches, "seed": a.seed, "format": a.fmt,
        "workers": a.workers,
        "cores": os.cpu_count(), "commit": _git_commit(), "date": time.strftime("%Y-%m-%d"),
        "synth_seconds": None if synth_seconds is None else round(synth_seconds, 2),
        "stages": stages.stages,
        "total_seconds": round(total, 2),
        "payees_per_second": round(a.payees / total) if total else None,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "duckdb_bare_join": bare,
        "run_stage_over_bare_join": round(checks_seconds / bare["seconds"], 1) if bare["seconds"] else None,
        "differences_from_expected": compare(expected, month["receipts"], month["run"]),
    }
    if a.data is None:
        shutil.rmtree(scratch, ignore_errors=True)
    elif a.home is None:
        shutil.rmtree(home, ignore_errors=True)
    print(json.dumps(out, ensure_ascii=False))
    return out


if __name__ == "__main__":
    main()
