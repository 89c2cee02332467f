"""How far long work is: stages with counts, for the operator.

The work (the monthly flow, the benchmark) reports to whichever reporter is current:
``progress.current().start("intake", total=600, unit="files")``, ``.advance("intake", rows=...)``,
``.finish("intake")``. Nothing is shown unless a caller installs one with :func:`reporting`: the CLI
installs :class:`RichProgress` (a bar per stage on stderr, with counts, rows and rates) for its long
commands; tests and the Prefect workers report to nobody. Reporting never changes what the work does.

The flow reports from its own process as task futures complete, so the bars are right whichever task
runner (threads, Dask workers) did the work.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol


class Reporter(Protocol):
    def start(self, stage: str, total: int | None = None, unit: str = "steps") -> None: ...
    def advance(self, stage: str, n: int = 1, rows: int = 0) -> None: ...
    def finish(self, stage: str, detail: str = "") -> None: ...


class Silent:
    """Reports to nobody."""

    def start(self, stage: str, total: int | None = None, unit: str = "steps") -> None:
        pass

    def advance(self, stage: str, n: int = 1, rows: int = 0) -> None:
        pass

    def finish(self, stage: str, detail: str = "") -> None:
        pass


class Recorder:
    """Keeps what was reported: per stage its total, unit, count, rows, seconds and detail (for
    callers that print a summary, and for tests)."""

    def __init__(self) -> None:
        self.stages: dict[str, dict[str, Any]] = {}
        self._t0: dict[str, float] = {}
        self._lock = threading.Lock()

    def start(self, stage: str, total: int | None = None, unit: str = "steps") -> None:
        with self._lock:
            self.stages[stage] = {"total": total, "unit": unit, "done": 0, "rows": 0, "seconds": None, "detail": ""}
            self._t0[stage] = time.perf_counter()

    def advance(self, stage: str, n: int = 1, rows: int = 0) -> None:
        with self._lock:
            s = self.stages[stage]
            s["done"] += n
            s["rows"] += rows

    def finish(self, stage: str, detail: str = "") -> None:
        with self._lock:
            s = self.stages[stage]
            s["seconds"] = round(time.perf_counter() - self._t0[stage], 2)
            s["detail"] = detail


class RichProgress(Recorder):
    """A rich bar per stage on stderr: done/total in its unit, rows and rows per second, elapsed time."""

    def __init__(self, console: Any = None) -> None:
        super().__init__()
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        console = console or Console(stderr=True)
        if not console.is_terminal and console.file is sys.stderr:  # a log file, CI: wide enough that no column is cut
            console = Console(stderr=True, width=160)
        self._progress = Progress(TextColumn("{task.description:<14}"), BarColumn(bar_width=16),
                                  MofNCompleteColumn(), TextColumn("{task.fields[unit]}"), TimeElapsedColumn(),
                                  TextColumn("{task.fields[rate]}"), TextColumn("{task.fields[detail]}"),
                                  console=console, transient=False, expand=False)
        self._ids: dict[str, Any] = {}

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def _rate(self, stage: str) -> str:
        s = self.stages[stage]
        elapsed = max(time.perf_counter() - self._t0[stage], 1e-9)
        return f"{s['rows']:,} rows, {s['rows'] / elapsed:,.0f} rows/s" if s["rows"] else ""

    def start(self, stage: str, total: int | None = None, unit: str = "steps") -> None:
        super().start(stage, total, unit)
        self._ids[stage] = self._progress.add_task(stage, total=total if total is not None else 1, unit=unit,
                                                   rate="", detail="")

    def advance(self, stage: str, n: int = 1, rows: int = 0) -> None:
        super().advance(stage, n, rows)
        self._progress.update(self._ids[stage], advance=n, rate=self._rate(stage))

    def finish(self, stage: str, detail: str = "") -> None:
        super().finish(stage, detail)
        task = self._ids[stage]
        total = self.stages[stage]["total"]
        self._progress.update(task, completed=total if total is not None else 1, detail=detail,
                              rate=self._rate(stage))


_current: Reporter = Silent()
_lock = threading.Lock()


def current() -> Reporter:
    return _current


@contextmanager
def reporting(reporter: Reporter) -> Iterator[Reporter]:
    """Make `reporter` the current one for the duration (the previous one comes back after)."""
    global _current
    with _lock:
        previous, _current = _current, reporter
    try:
        yield reporter
    finally:
        with _lock:
            _current = previous


@contextmanager
def stage(name: str, total: int | None = None, unit: str = "steps") -> Iterator[Reporter]:
    """A stage reported as started now and finished when the block ends without error."""
    reporter = current()
    reporter.start(name, total, unit)
    yield reporter
    reporter.finish(name)
