"""Benchmark of a whole branch file through intake: bytes -> read -> parse -> gate -> verdict.

    .venv/bin/python benchmarks/bench_intake.py [--rows 1000000] [--format csv|parquet]

Writes the synthetic IR frame of bench_gate.py (about 1% planted bad rows) as a CSV (UTF-8) or
Parquet file, then times read_payee_file on its bytes and prints each stage's seconds (from a
profile of the call), the file size, the findings and the peak RSS.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import resource
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_gate import build_frame  # noqa: E402
from payroll.country import profile  # noqa: E402
from payroll.intake import Limits, read_payee_file  # noqa: E402
from payroll.period import Period  # noqa: E402

STAGES = {  # function name in the profile -> what it is
    "read_raw": "read (decode, delimiter, table)",
    "parse_rows": "parse (digits, amounts, dates, labels)",
    "_exact_copies": "exact copies",
    "run_gate": "quality gate (GX)",
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--format", choices=("csv", "parquet"), default="csv")
    args = ap.parse_args(argv)
    frame, _ = build_frame(args.rows)
    text = frame.drop(columns="row_no").astype("string").fillna("")
    if args.format == "csv":
        buf = io.StringIO()
        text.to_csv(buf, index=False)
        data, name = buf.getvalue().encode(), "bench.csv"
    else:
        sink = pa.BufferOutputStream()
        pq.write_table(pa.Table.from_pandas(text, preserve_index=False), sink)
        data, name = sink.getvalue().to_pybytes(), "bench.parquet"
    del frame, text
    print(f"file: {name}, {args.rows:,} rows, {len(data) / 2**20:.1f} MiB")
    from validations.context import batch_definition

    batch_definition()  # GX import and context: once per process, not per file
    prof = cProfile.Profile()
    started = time.perf_counter()
    prof.enable()
    r = read_payee_file(data, name, profile=profile("IR"), period=Period(2026, 11),
                        limits=Limits(max_rows=2_000_000, max_bad_row_percent=5))
    prof.disable()
    total = time.perf_counter() - started
    print(f"intake: {total:.2f} s wall ({args.rows / total:,.0f} rows/s; profiled, so a little slower than "
          f"unprofiled), status {r.status}, {len(r.row_errors):,} row errors on {r.rows_rejected:,} rows, "
          f"{len(r.accepted):,} accepted")
    stats = pstats.Stats(prof)
    for (_, _, func), row in stats.stats.items():  # type: ignore[attr-defined]
        if func in STAGES:
            print(f"  {row[3]:7.2f} s  {STAGES[func]}")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
