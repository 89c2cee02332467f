"""The intake stage's floor: the same branch files read by ``pyarrow.csv.read_csv``, nothing else.

    .venv/bin/python benchmarks/floor_intake.py DATA_DIR

Exactly as issue 17 writes it: every branch file the month submits (plan.json), read one after the
other with ``pyarrow.csv.read_csv`` and its default options (pyarrow's own threads, type inference),
timed from the first file opened to the last table built. A file pyarrow cannot read (a deliberately
broken branch file) counts in the time and in ``unreadable``; an .xlsx or Parquet file is not a CSV and
is skipped (``skipped``). Nothing of the engine is imported, so the floor cannot drift with the engine.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any


def intake_floor(paths: list[Path]) -> dict[str, Any]:
    """Seconds to read every CSV in `paths` with pyarrow.csv.read_csv, with files, rows and failures."""
    import pyarrow as pa
    from pyarrow import csv

    rows = files = 0
    unreadable: list[str] = []
    skipped: list[str] = []
    t0 = time.perf_counter()
    for path in paths:
        if path.suffix.lower() != ".csv":
            skipped.append(path.name)
            continue
        try:
            table = csv.read_csv(path)
        except (pa.ArrowInvalid, OSError, UnicodeDecodeError):
            unreadable.append(path.name)
            continue
        files += 1
        rows += table.num_rows
        del table
    seconds = time.perf_counter() - t0
    return {"seconds": round(seconds, 3), "files": files, "rows": rows, "unreadable": unreadable,
            "skipped": skipped}


def branch_files(data: Path) -> list[Path]:
    """The branch files a generated month submits, in the plan's order."""
    plan = json.loads((data / "plan.json").read_text(encoding="utf-8"))
    return [data / sub["file"] for sub in plan["submissions"]]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", type=Path, help="a month made by payroll.synth (pension synth, pension bench --data)")
    a = ap.parse_args(argv)
    out = intake_floor(branch_files(a.data))
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
