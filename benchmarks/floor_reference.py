"""The reference stage's floor: the same extract files turned into Parquet by DuckDB, nothing else.

    .venv/bin/python benchmarks/floor_reference.py DATA_DIR [--out DIR]

Exactly as issue 17 writes it: for each of the registry, deaths and accounts extracts,
``COPY (SELECT * FROM read_csv('<file>')) TO '<out>/<kind>.parquet' (FORMAT parquet)`` with DuckDB's
defaults (type detection included), one fresh in-memory connection for the three, timed from connecting
to the last file written. A Parquet extract (``--format parquet`` months) is read with ``read_parquet``.
Nothing of the engine is imported, so the floor cannot drift with the engine. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

KINDS = ("registry", "deaths", "accounts")


def _quoted(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def reference_floor(files: dict[str, Path], out_dir: Path) -> dict[str, Any]:
    """Seconds to COPY each extract in `files` (kind -> path) to Parquet in `out_dir`, with the rows."""
    import duckdb

    out_dir.mkdir(parents=True, exist_ok=True)
    per: dict[str, Any] = {}
    t0 = time.perf_counter()
    con = duckdb.connect()
    try:
        for kind, src in files.items():
            reader = "read_parquet" if src.suffix == ".parquet" else "read_csv"
            target = out_dir / f"{kind}.parquet"
            t1 = time.perf_counter()
            con.execute(f"COPY (SELECT * FROM {reader}({_quoted(src)})) TO {_quoted(target)} (FORMAT parquet)")
            rows = con.execute(f"SELECT count(*) FROM read_parquet({_quoted(target)})").fetchone()
            per[kind] = {"seconds": round(time.perf_counter() - t1, 3), "rows": rows[0] if rows else None}
    finally:
        con.close()
    seconds = time.perf_counter() - t0
    return {"seconds": round(seconds, 3), "files": per}


def extract_files(data: Path) -> dict[str, Path]:
    """The registry, deaths and accounts extracts of a generated month (its expected.json names them)."""
    files = json.loads((data / "expected.json").read_text(encoding="utf-8"))["files"]
    return {kind: data / files[kind] for kind in KINDS}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", type=Path, help="a month made by payroll.synth (pension synth, pension bench --data)")
    ap.add_argument("--out", type=Path, default=None, help="where the Parquet files go (default: temporary)")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="floor-reference-") as tmp:
        out = reference_floor(extract_files(a.data), a.out or Path(tmp))
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
