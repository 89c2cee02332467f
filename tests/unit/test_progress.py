"""Progress reporting (payroll.progress): what the flow reports reaches the current reporter, and the
rich bars show counts, rows and rates."""

from __future__ import annotations

import io

from rich.console import Console

from payroll import progress


def test_a_stage_reports_counts_and_rows_to_the_current_reporter() -> None:
    rec = progress.Recorder()
    assert isinstance(progress.current(), progress.Silent)
    with progress.reporting(rec):
        report = progress.current()
        report.start("intake", total=3, unit="files")
        for rows in (10, 20, 30):
            report.advance("intake", rows=rows)
        report.finish("intake", "3 accepted")
        with progress.stage("release", total=1, unit="runs") as r:
            r.advance("release", rows=60)
    assert isinstance(progress.current(), progress.Silent)  # back to nobody
    assert {k: rec.stages["intake"][k] for k in ("total", "unit", "done", "rows", "detail")} == \
        {"total": 3, "unit": "files", "done": 3, "rows": 60, "detail": "3 accepted"}
    assert rec.stages["release"]["done"] == 1 and rec.stages["release"]["seconds"] is not None


def test_rich_bars_show_done_of_total_rows_and_rate() -> None:
    out = io.StringIO()
    bars = progress.RichProgress(Console(file=out, width=160, force_terminal=False))
    with bars:
        bars.start("intake", total=2, unit="files")
        bars.advance("intake", rows=5_000)
        bars.advance("intake", rows=7_000)
        bars.finish("intake", "2 accepted, 0 rejected")
    text = out.getvalue()
    assert "intake" in text and "2/2" in text and "files" in text and "12,000 rows" in text and "rows/s" in text
    assert "2 accepted, 0 rejected" in text
