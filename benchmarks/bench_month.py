"""A whole national month on one machine, timed stage by stage, each stage beside its floor.

    .venv/bin/python benchmarks/bench_month.py --payees 100000 [--branches 40] [--seed 7] [--data DIR]
        [--workers 2] [--db-url postgresql+psycopg://postgres@127.0.0.1:5432/test] [--profile DIR]
    pension bench --payees 100000 ...        (the same; every other option passes through)

Generates the month with `payroll.synth` (or reuses DIR when it holds one made with the same
arguments), then, on a fresh home (SQLite and local files, the embedded default; `--db-url` for another
control database), runs the month through the engine's services as the flows do: load the reference
extracts, intake of every branch file (quality gate included; `services.submit_many` when the engine has
it, else `services.submit` per file in `--workers` processes), the two approval levels of every accepted
list (scripted), the run (consolidation and every check), its two finance signatures, and the release of
every bank file.

`--db-url`: a PostgreSQL URL names a server: the bench connects to the URL's database (`test` in the
tests' URL, trust auth) to create a fresh database `pension_bench_<pid>`, runs the month in it and drops
it afterwards, so it never touches existing data. A SQLite URL must name a file that does not exist yet.

Then it measures each stage's floor on the same inputs, exactly as issue 17 writes them
(benchmarks/floor_*.py, which import nothing of the engine but the pain.001 writer):
- reference: DuckDB `COPY (SELECT * FROM read_csv(...)) TO '...parquet'` of the registry, deaths and
  accounts extracts (floor_reference.py);
- intake: `pyarrow.csv.read_csv` of the same branch files (floor_intake.py);
- run: the bare exact join of the run's payees to the registry and the deaths in DuckDB over Parquet
  (duckdb_bare_join below);
- release: the run's transfers, read from its payments Parquet, through the pain.001 template writer
  alone, no validation (floor_release.py).
List and run approvals have no floor; they count in the total.

Prints one JSON object: the commit, the date (UTC), the cores; per stage the wall seconds, the peak RSS
reached during it, its floor's seconds and the ratio stage/floor (also under `floors`, with their details,
and `stage_over_floor`); the total and payees per second; `peak_rss_mib`, the whole month's peak. RSS is
that of every engine process, the bench process and all its descendants (intake workers), summed
through psutil every 20 ms; PostgreSQL and Prefect's server are not descendants and never count. The
floors run after the month and are not in its RSS. Also whether the engine's figures equal the
generator's expectations. Figures are printed, never asserted.

`--profile DIR` runs each stage under cProfile and writes DIR/<stage>.prof and DIR/<stage>.txt (the top
25 functions by cumulative time). Intake workers started by the bench are profiled and merged into intake.prof
(the bench process, which only waits for them, into intake.main.prof); the workers of `services.submit_many` are not (profile it with `--workers 1`).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
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


def _tree_pids(root: int) -> list[int]:
    """`root` and every process below it, from /proc/<pid>/task/<tid>/children (a few files, not a
    scan of /proc: psutil's children(recursive=True) takes ~20 ms here, the sampling interval)."""
    pids, i = [root], 0
    while i < len(pids):
        pid = pids[i]
        i += 1
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    pids.extend(int(c) for c in f.read().split())
        except OSError:  # gone meanwhile, or a kernel without the children files (psutil below)
            continue
    return pids


def _pss(pid: int) -> int | None:
    """The proportional set size of `pid` in bytes (its private pages, and its share of pages it shares
    with other processes), from /proc/<pid>/smaps_rollup; 0 for a process gone meanwhile, None when the
    kernel has no smaps_rollup."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except FileNotFoundError:
        return 0 if os.path.exists("/proc/self/smaps_rollup") else None
    except (ProcessLookupError, PermissionError):
        return 0
    return None


class TreeRss:
    """The memory of this process and all its descendants (intake workers, release workers, any process
    the engine starts): its RSS while it is alone, the sum of PSS while it has children (a forked release
    worker shares its parent's pages; summing RSS counted them once per worker: 21 GiB at 10M for a tree
    whose PSS was far less). PostgreSQL and Prefect's server are not descendants, so they never count."""

    def __init__(self) -> None:
        import psutil

        self._psutil = psutil
        self._me = psutil.Process()
        self._procs: dict[int, Any] = {self._me.pid: self._me}
        self._proc_children = os.path.exists(f"/proc/{self._me.pid}/task/{self._me.pid}/children")

    def __call__(self) -> float:
        psutil = self._psutil
        if self._proc_children:
            pids = _tree_pids(self._me.pid)
        else:
            pids = [self._me.pid] + [c.pid for c in self._me.children(recursive=True)]
        total = 0
        if len(pids) > 1:  # forked workers share their parent's pages: sum PSS, or shared pages count twice
            pss = [_pss(pid) for pid in pids]
            if all(p is not None for p in pss):
                return sum(p for p in pss if p is not None) / 1024**2
        for pid in pids:
            proc = self._procs.get(pid)
            try:
                if proc is None:
                    proc = self._procs[pid] = psutil.Process(pid)
                total += proc.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                self._procs.pop(pid, None)
        if len(self._procs) > 4 * len(pids) + 16:  # forget processes that ended
            alive = set(pids)
            self._procs = {pid: p for pid, p in self._procs.items() if pid in alive}
        return total / 1024**2


class Stages:
    """Wall time and peak RSS per stage: a sampler thread keeps the highest RSS of the process tree (this
    process and its workers, summed) seen in the current stage, every 20 ms; `month_peak` is the highest
    over all stages. With `profile_dir`, each stage runs under cProfile and leaves <stage>.prof and
    <stage>.txt (the top 25 functions by cumulative time) there."""

    def __init__(self, profile_dir: Path | None = None) -> None:
        self.stages: dict[str, dict[str, Any]] = {}
        self.profile_dir = profile_dir
        self.month_peak = 0.0
        self._rss = TreeRss()
        self._peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self._peak = max(self._peak, self._rss())
            self._stop.wait(0.02)

    @contextmanager
    def stage(self, name: str, progress: Callable[[str], None] | None = None) -> Iterator[dict[str, Any]]:
        extra: dict[str, Any] = {}
        self._peak = self._rss()
        if progress:
            progress(name)
        profiler = None
        if self.profile_dir is not None:
            import cProfile

            profiler = cProfile.Profile()
        t0 = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        try:
            yield extra
        finally:
            if profiler is not None:
                profiler.disable()
        seconds = time.perf_counter() - t0
        self._peak = max(self._peak, self._rss())
        self.month_peak = max(self.month_peak, self._peak)
        worker_profiles = extra.pop("_worker_profiles", [])
        self.stages[name] = {"seconds": round(seconds, 2), "peak_rss_mib": round(self._peak), **extra}
        if profiler is not None:
            assert self.profile_dir is not None
            write_profile(profiler, self.profile_dir, name, worker_profiles)
        if progress:
            progress(json.dumps({name: self.stages[name]}, ensure_ascii=False))

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def write_profile(profiler: Any, directory: Path, name: str, worker_profiles: list[Path] | None = None) -> None:
    """DIR/<name>.prof (pstats) and DIR/<name>.txt, the top 25 functions by cumulative time. When the
    stage ran in worker processes (`worker_profiles`), those are the stage's profile, merged; this
    process, which only waited for them, goes to DIR/<name>.main.prof."""
    import io
    import pstats

    directory.mkdir(parents=True, exist_ok=True)
    workers = [str(p) for p in worker_profiles or [] if p.exists()]
    if workers:
        profiler.dump_stats(str(directory / f"{name}.main.prof"))
        stats = pstats.Stats(*workers)
        for path in workers:
            Path(path).unlink()
    else:
        stats = pstats.Stats(profiler)
    stats.dump_stats(str(directory / f"{name}.prof"))
    text = io.StringIO()
    pstats.Stats(str(directory / f"{name}.prof"), stream=text).sort_stats("cumulative").print_stats(25)
    note = f"# {len(workers)} intake worker processes, merged (this process: {name}.main.prof)\n" if workers else ""
    (directory / f"{name}.txt").write_text(note + text.getvalue(), encoding="utf-8")


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


def _worker_init(home: str, profile_dir: str | None = None) -> None:
    os.environ["PENSION_HOME"] = home
    from payroll import services
    from payroll.config import load_settings

    _WORKER["ctx"] = services.Context(load_settings())
    if profile_dir is not None:
        import cProfile

        _WORKER["profiler"] = cProfile.Profile()
        _WORKER["profile_path"] = Path(profile_dir) / f".intake-worker-{os.getpid()}.prof"


def _submit(job: tuple[Any, ...]) -> dict[str, Any]:
    from payroll import services

    path, branch, period, user, declared_count, declared_total = job
    profiler = _WORKER.get("profiler")
    if profiler is not None:
        profiler.enable()
    try:
        return services.submit(_WORKER["ctx"], Path(path), branch=branch, period=period, user=user,
                               declared_count=declared_count, declared_total=declared_total)
    finally:
        if profiler is not None:  # dumped after every file: a pool worker has no exit hook
            profiler.disable()
            profiler.dump_stats(str(_WORKER["profile_path"]))


def intake(ctx: Any, home: Path, jobs: list[tuple[Any, ...]], workers: int, advance: Callable[[dict[str, Any]], Any],
           profile_dir: Path | None = None) -> tuple[list[dict[str, Any]], str, list[Path]]:
    """Every branch file submitted; returns (receipts, how, worker profiles to merge). Uses
    services.submit_many (many files in one call, its own workers) when the engine has it, else the
    branch files in parallel processes calling services.submit, as a process or Dask task runner would."""
    from payroll import services

    if hasattr(services, "submit_many"):
        items = [{"path": Path(path), "branch": branch, "period": period, "user": user,
                  "declared_count": declared_count, "declared_total": declared_total}
                 for path, branch, period, user, declared_count, declared_total in jobs]
        receipts = [advance(r) for r in services.submit_many(ctx, items, workers=workers)]
        return receipts, "submit_many", []
    if workers > 1:
        if profile_dir is not None:
            profile_dir.mkdir(parents=True, exist_ok=True)
            for stale in profile_dir.glob(".intake-worker-*.prof"):
                stale.unlink()
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_worker_init,
                                 initargs=(str(home), None if profile_dir is None else str(profile_dir))) as pool:
            receipts = [advance(r) for r in pool.map(_submit, jobs)]
        profiles = sorted(profile_dir.glob(".intake-worker-*.prof")) if profile_dir is not None else []
        return receipts, "submit, process pool", profiles
    _worker_init(str(home))
    return [advance(_submit(job)) for job in jobs], "submit", []


def run_month(data: Path, home: Path, stages: Stages, progress: Callable[[str], None] | None = None,
              workers: int = 1, bar: bool = False, db_url: str | None = None) -> dict[str, Any]:
    """The month in `data` through the services, on a fresh home (and `db_url`, a fresh control
    database, or the home's SQLite file); returns what the engine reported."""
    os.environ["PENSION_HOME"] = str(home)
    if db_url:
        os.environ["PENSION_DB_URL"] = db_url  # the intake workers inherit it
    else:
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
            receipts, how, worker_profiles = intake(ctx, home, jobs, workers, advance, stages.profile_dir)
        s.update(files=len(receipts), rows=sum(r["rows"] for r in receipts), workers=workers, via=how,
                 rejected_files=sum(r["status"] == "rejected" for r in receipts))
        if worker_profiles:
            s["_worker_profiles"] = worker_profiles
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
    country = {"currency": ctx.country.currency, "iban": ctx.country.account_is_iban}
    ctx.dispose()
    return {"receipts": receipts, "run": run, "release": release, "payments_path": payments_path,
            "period": plan["period"], "country": country}


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


@contextmanager
def control_database(url: str | None) -> Iterator[tuple[str | None, str]]:
    """(the URL the month runs with, its backend). PostgreSQL: a fresh database pension_bench_<pid>
    created on the server of `url` (an admin connection to the URL's own database, `test` in the tests'
    URL; trust auth) and dropped afterwards, so the bench never touches existing data. SQLite: the file
    must not exist yet; it is removed afterwards. None: the home's SQLite file, the embedded default."""
    if not url:
        yield None, "sqlite"
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        path = Path(parsed.database or "")
        if not parsed.database or path.exists():
            raise SystemExit(f"--db-url {url}: give a SQLite file that does not exist yet (the bench removes it)")
        try:
            yield url, "sqlite"
        finally:
            path.unlink(missing_ok=True)
        return
    if backend != "postgresql":
        raise SystemExit(f"--db-url {url}: only sqlite and postgresql URLs")
    name = f"pension_bench_{os.getpid()}"
    admin = create_engine(parsed, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as con:
            con.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))  # a pid reused after a killed bench
            con.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield parsed.set(database=name).render_as_string(hide_password=False), "postgresql"
        finally:
            with admin.connect() as con:
                con.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def measure_floors(data: Path, month: dict[str, Any], work: Path) -> dict[str, Any]:
    """Each stage's floor, measured now on the same inputs, exactly as issue 17 writes them (the
    benchmarks/floor_*.py modules, which import nothing of the engine but the pain.001 writer)."""
    from benchmarks.floor_intake import branch_files, intake_floor
    from benchmarks.floor_reference import extract_files, reference_floor
    from benchmarks.floor_release import release_floor

    formats = [f["format"] for f in month["release"]["files"] if str(f["format"]).startswith("pain.001")]
    message = max(set(formats), key=formats.count) if formats else "pain.001.001.09"
    floors = {
        "reference": reference_floor(extract_files(data), work / "floor-reference"),
        "intake": intake_floor(branch_files(data)),
        "run": duckdb_bare_join(month["payments_path"], data, work),
        "release": release_floor(month["payments_path"], period=month["period"], out_dir=work / "floor-release",
                                 currency=month["country"]["currency"], message=message,
                                 iban=month["country"]["iban"]),
    }
    shutil.rmtree(work / "floor-reference", ignore_errors=True)
    shutil.rmtree(work / "floor-release", ignore_errors=True)
    return floors


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--payees", type=int, default=100_000)
    ap.add_argument("--branches", type=int, default=None, help="default: 600 at 1M payees and above, else 40")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--format", dest="fmt", choices=["csv", "parquet"], default="csv")
    ap.add_argument("--data", type=Path, default=None, help="keep the generated month here and reuse it")
    ap.add_argument("--home", type=Path, default=None, help="the engine's home (default: a temporary folder)")
    ap.add_argument("--workers", type=int, default=1, help="processes for the intake of branch files")
    ap.add_argument("--db-url", default=None, help="the control database: a PostgreSQL server URL (a fresh "
                    "database is made on it and dropped) or a new SQLite file; default: SQLite in the home")
    ap.add_argument("--profile", type=Path, default=None, help="cProfile each stage: DIR/<stage>.prof and "
                    "DIR/<stage>.txt (top 25 by cumulative time)")
    ap.add_argument("--no-floors", action="store_true", help="skip measuring the floors")
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

    stages = Stages(a.profile)
    floors: dict[str, Any] = {}
    try:
        progress("synth")
        expected, synth_seconds = ensure_data(data, a.payees, branches, a.seed, a.fmt)
        with control_database(a.db_url) as (db_url, backend):
            t0 = time.perf_counter()
            month = run_month(data, home, stages, progress, a.workers, bar=not a.quiet, db_url=db_url)
            total = time.perf_counter() - t0
        month_peak = stages.month_peak
        if not a.no_floors:
            progress("floors")
            floors = measure_floors(data, month, scratch)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    finally:
        stages.close()
    over = {name: round(stages.stages[name]["seconds"] / f["seconds"], 1) if f["seconds"] else None
            for name, f in floors.items()}
    for name, f in floors.items():
        stages.stages[name].update(floor_seconds=f["seconds"], over_floor=over[name])
    out = {
        "benchmark": "month", "payees": a.payees, "branches": branches, "seed": a.seed, "format": a.fmt,
        "workers": a.workers, "control_database": backend,
        "cores": os.cpu_count(), "commit": _git_commit(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "synth_seconds": None if synth_seconds is None else round(synth_seconds, 2),
        "stages": stages.stages,
        "total_seconds": round(total, 2),
        "payees_per_second": round(a.payees / total) if total else None,
        "peak_rss_mib": round(month_peak),
        "peak_rss_note": "the whole month: this process and its workers (RSS alone, PSS summed with workers), sampled every 20 ms",
        "floors": floors,
        "stage_over_floor": over,
        "differences_from_expected": compare(expected, month["receipts"], month["run"]),
    }
    if a.profile is not None:
        out["profile"] = str(a.profile)
    shutil.rmtree(scratch, ignore_errors=True)  # the generated month too, unless --data kept it elsewhere
    print(json.dumps(out, ensure_ascii=False))
    return out


if __name__ == "__main__":
    main()
