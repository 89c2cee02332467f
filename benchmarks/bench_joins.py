"""Which join engine should the run checks use: pandas, pyarrow (Acero) or DuckDB?

    .venv/bin/python benchmarks/bench_joins.py --payees 1000000 [--data /tmp/bench_joins] [--threads 2]

Generates synthetic payees/registry/deaths/accounts/previous-period Parquet once (seeded, vectorized),
then runs each engine in a fresh subprocess over the five check joins on string keys (registry
mismatch, deaths, account problems, duplicate national ids, amount changes/new payees) and prints
one JSON object: load seconds, join seconds and peak RSS per engine. Engines: pandas merge/groupby,
pyarrow Table.join/group_by, DuckDB over registered Arrow tables, over pandas frames, over Parquet views,
and over tables copied from Parquet. Exception rows are checked to agree across engines.
One engine alone: ``--engine duckdb-arrow --data /tmp/bench_joins/n1000000_s7``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

ENGINES = ("pandas", "pyarrow", "duckdb-arrow", "duckdb-pandas", "duckdb-parquet", "duckdb-table")
TABLES = ("payees", "registry", "deaths", "accounts", "previous")
OPS = ("registry", "deaths", "accounts", "duplicates", "amounts")
KEYS = {"registry": "pension_id", "deaths": "pension_id", "accounts": "pension_id",
        "duplicates": "national_id", "amounts": "pension_id"}

FIRST = ("محمد", "علی", "حسین", "محمدرضا", "مهدی", "رضا", "امیرحسین", "ابوالفضل", "غلامرضا", "اکبر",
         "فاطمه", "زهرا", "معصومه", "مریم", "فاطمه‌سادات", "زینب", "طاهره", "اشرف", "رقیه", "کبری",
         "حسن", "جواد", "قاسم", "ناصر", "منیژه", "پروین", "شهلا", "عباس", "نصرالله", "اسماعیل")
LAST = ("شریعتمداری", "طباطبایی", "موسوی‌نژاد", "حسین‌زاده", "کاظمی‌نژاد", "رضایی‌فرد", "سلطانی‌مقدم",
        "نجفی‌آبادی", "یزدان‌پناه", "میرحسینی", "اکبرزاده", "قاسمی‌پور", "صادقی‌راد", "محمدی‌کیا", "کریمی‌فر",
        "جعفری‌نسب", "باقری‌لنکرانی", "عسگری‌مقدم", "فرهادی‌زاده", "امیری‌فیروزکوهی", "نوروزی‌اصل",
        "رحیمی‌دهنوی", "اصفهانی‌زاده", "حسینی‌کاشانی")
ROW_GROUP = 122_880  # DuckDB's own default; pyarrow's (1Mi rows) would leave 1M payees in one group
BANKS = ("017", "012", "018", "016", "015", "019", "055", "057", "062", "013")

SQL = {
    "registry": """
        SELECT p.pension_id, p.national_id, p.full_name, r.full_name AS reg_name,
               p.birth_date, r.birth_date AS reg_birth
        FROM payees p LEFT JOIN registry r ON p.national_id = r.national_id
        WHERE r.national_id IS NULL OR p.full_name <> r.full_name OR p.birth_date <> r.birth_date""",
    "deaths": """
        SELECT p.pension_id, p.national_id, d.date_of_death
        FROM payees p JOIN deaths d ON p.national_id = d.national_id""",
    "accounts": """
        SELECT p.pension_id, p.national_id, p.account_code, a.status, a.holder_national_id, a.dedicated
        FROM payees p LEFT JOIN accounts a ON p.account_code = a.account_code
        WHERE a.account_code IS NULL OR a.status = 'closed' OR a.holder_national_id <> p.national_id
              OR NOT a.dedicated""",
    "duplicates": """
        SELECT national_id, count(*) AS n FROM payees GROUP BY national_id HAVING count(*) > 1""",
    "amounts": """
        SELECT p.pension_id, p.national_id, p.net_amount, q.net_amount AS prev_amount
        FROM payees p LEFT JOIN previous q ON p.pension_id = q.pension_id AND p.national_id = q.national_id
        WHERE q.pension_id IS NULL OR abs(p.net_amount - q.net_amount) * 5 > q.net_amount""",
}


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# ---------------------------------------------------------------- data generation (vectorized numpy)

def _fixed(chars):
    """Arrow string array from an (n, width) uint8 matrix of ASCII codes, no per-row Python."""
    import numpy as np
    import pyarrow as pa

    n, width = chars.shape
    offsets = np.arange(n + 1, dtype=np.int32) * width
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(chars)))


def _digits(numbers, width: int):
    """ASCII digit matrix (n, width) of non-negative int64 numbers, zero padded."""
    import numpy as np

    out = np.empty((len(numbers), width), dtype=np.uint8)
    for col in range(width):  # loop over digit positions, not rows
        out[:, col] = (numbers // 10 ** (width - 1 - col)) % 10 + 48
    return out


def _prefixed(prefix: str, digits):
    import numpy as np

    head = np.tile(np.frombuffer(prefix.encode("ascii"), dtype=np.uint8), (len(digits), 1))
    return np.hstack([head, digits])


def _dates(days):
    """'YYYY-MM-DD' strings from datetime64[D]."""
    import numpy as np

    y = days.astype("datetime64[Y]")
    m = days.astype("datetime64[M]")
    year = y.astype(np.int64) + 1970
    month = (m - y.astype("datetime64[M]")).astype(np.int64) + 1
    day = (days - m.astype("datetime64[D]")).astype(np.int64) + 1
    dash = np.full((len(days), 1), ord("-"), dtype=np.uint8)
    return _fixed(np.hstack([_digits(year, 4), dash, _digits(month, 2), dash, _digits(day, 2)]))


def _names(first, last):
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.binary_join_element_wise(pa.array(FIRST).take(pa.array(first.astype(np.int32))),
                                       pa.array(LAST).take(pa.array(last.astype(np.int32))), " ")


def generate(data: Path, n: int, seed: int) -> dict:
    """Write the five tables as Parquet under ``data``; returns the planted figures."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    def write(table, path: Path) -> None:  # DuckDB parallelizes Parquet scans by row group
        pq.write_table(table, path, row_group_size=ROW_GROUP)

    rng = np.random.default_rng(seed)
    data.mkdir(parents=True, exist_ok=True)
    n_reg = int(n * 1.1)            # registry persons 0..n_reg-1
    n_unknown = n // 100            # payees whose national id is not in the registry
    n_dead = n * 25 // 10_000       # payees (persons) in the deaths list
    n_deaths = n // 2
    n_persons = n_reg + n_unknown + (n_deaths - n_dead)
    stride = 8_999_999_999 // n_persons
    nid_num = 1_000_000_000 + np.arange(n_persons, dtype=np.int64) * stride + rng.integers(0, stride, n_persons)
    nid = _fixed(_digits(nid_num, 10))
    first = rng.integers(0, len(FIRST), n_persons)
    last = rng.integers(0, len(LAST), n_persons)
    birth = np.datetime64("1935-01-01") + rng.integers(0, 365 * 40, n_persons).astype("timedelta64[D]")

    # payees: rows -> persons; ~0.05% of rows repeat another row's person (second pension)
    person = np.concatenate([rng.permutation(n_reg)[: n - n_unknown],
                             np.arange(n_reg, n_reg + n_unknown, dtype=np.int64)])
    dup_rows = rng.choice(n, n // 2000, replace=False)
    person[dup_rows] = person[rng.integers(0, n, len(dup_rows))]
    person = person[rng.permutation(n)]
    p_nid = nid.take(pa.array(person))
    n_ceased = n // 200                                   # previous-period rows with no current payee
    pstride = 89_999_999 // (n + n_ceased)
    pension_num = 10_000_000 + np.arange(n + n_ceased, dtype=np.int64) * pstride
    pension_num += rng.integers(0, pstride, n + n_ceased)
    pension_num = pension_num[rng.permutation(n + n_ceased)]
    pension = _fixed(_digits(pension_num[:n], 8))
    n_extra_acc = n // 20
    astride = 8_000_000_000_000_000_000 // (n + n_extra_acc)
    acc_num = 1_000_000_000_000_000_000 + np.arange(n + n_extra_acc, dtype=np.int64) * astride
    acc_num += rng.integers(0, astride, n + n_extra_acc)
    bank = rng.integers(0, len(BANKS), n + n_extra_acc)
    bank_digits = np.frombuffer("".join(BANKS).encode("ascii"), dtype=np.uint8).reshape(len(BANKS), 3)
    account = _fixed(_prefixed("IR", np.hstack([_digits(rng.integers(2, 99, n + n_extra_acc), 2),
                                                bank_digits[bank], _digits(acc_num, 19)])))
    amount = rng.integers(30_000_000, 400_000_000, n).astype(np.int64)
    payees = pa.table({
        "national_id": p_nid,
        "pension_id": pension,
        "full_name": _names(first[person], last[person]),
        "birth_date": _dates(birth[person]),
        "account_code": account.slice(0, n),
        "net_amount": amount,
        "branch_code": _fixed(_prefixed("B", _digits(rng.integers(1, 601, n), 3))),
    })
    write(payees, data / "payees.parquet")

    # registry: persons 0..n_reg-1, ~1% with a different last name, ~0.2% a different birth date
    reg_last = last[:n_reg].copy()
    renamed = rng.random(n_reg) < 0.01
    reg_last[renamed] = (reg_last[renamed] + 1) % len(LAST)
    reg_birth = birth[:n_reg].copy()
    reborn = rng.random(n_reg) < 0.002
    reg_birth[reborn] += np.timedelta64(1, "D")
    order = rng.permutation(n_reg)
    write(pa.table({"national_id": nid.take(pa.array(order)),
                             "full_name": _names(first[:n_reg][order], reg_last[order]),
                             "birth_date": _dates(reg_birth[order])}), data / "registry.parquet")

    # deaths: ~0.25% of payee persons plus persons who are not payees
    dead = np.concatenate([rng.choice(np.unique(person), n_dead, replace=False),
                           np.arange(n_reg + n_unknown, n_persons, dtype=np.int64)])
    dead = dead[rng.permutation(len(dead))]
    died = np.datetime64("2000-01-01") + rng.integers(0, 365 * 26, len(dead)).astype("timedelta64[D]")
    write(pa.table({"national_id": nid.take(pa.array(dead)), "date_of_death": _dates(died)}),
                   data / "deaths.parquet")

    # accounts: payees' accounts minus ~0.5% unknown, plus 5% accounts of nobody in the run
    acc_rows = np.concatenate([np.flatnonzero(rng.random(n) >= 0.005), np.arange(n, n + n_extra_acc)])
    acc_rows = acc_rows[rng.permutation(len(acc_rows))]
    holder_person = np.where(acc_rows < n, person[np.minimum(acc_rows, n - 1)],
                             rng.integers(0, n_reg, len(acc_rows)))
    other_holder = rng.random(len(acc_rows)) < 0.003
    holder_person[other_holder] = (holder_person[other_holder] + 1) % n_persons
    k = len(acc_rows)
    write(pa.table({
        "account_code": account.take(pa.array(acc_rows)),
        "bank_code": pa.array(np.array(BANKS)[bank[acc_rows]]),
        "holder_national_id": nid.take(pa.array(holder_person)),
        "dedicated": rng.random(k) >= 0.003,
        "status": pa.array(np.where(rng.random(k) < 0.003, "closed", "open")),
    }), data / "accounts.parquet")

    # previous period: same rows/shape; ~0.5% new payees (pension ceased rows instead), ~1% big changes
    prev_amount = amount * (1 + rng.uniform(-0.05, 0.05, n))
    big = rng.random(n) < 0.01
    prev_amount[big] = amount[big] * np.where(rng.random(int(big.sum())) < 0.5, 0.6, 1.5)
    prev_pension = pension_num[:n].copy()
    new = rng.choice(n, n_ceased, replace=False)
    prev_pension[new] = pension_num[n:]
    order = rng.permutation(n)
    previous = payees.set_column(1, "pension_id", _fixed(_digits(prev_pension, 8)))
    previous = previous.set_column(5, "net_amount", pa.array(prev_amount.astype(np.int64)))
    write(previous.take(pa.array(order)), data / "previous.parquet")

    planted = {"unknown_nid_rows": n_unknown, "duplicate_rows_planted": len(dup_rows),
               "dead_payee_persons": n_dead, "new_payees": n_ceased, "big_changes": int(big.sum())}
    (data / "meta.json").write_text(json.dumps({"payees": n, "seed": seed, "planted": planted}))
    return planted


# ---------------------------------------------------------------- engines

def load(engine: str, data: Path, threads: int):
    paths = {t: str(data / f"{t}.parquet") for t in TABLES}
    if engine == "pandas":
        import pandas as pd

        return {t: pd.read_parquet(p) for t, p in paths.items()}
    if engine in ("pyarrow", "duckdb-arrow"):
        import pyarrow.parquet as pq

        tables = {t: pq.read_table(p) for t, p in paths.items()}
        return tables if engine == "pyarrow" else _duck(threads, tables)
    if engine == "duckdb-pandas":
        import pandas as pd

        return _duck(threads, {t: pd.read_parquet(p) for t, p in paths.items()})
    con = _duck(threads, {})
    kind = "VIEW" if engine == "duckdb-parquet" else "TABLE"
    for t, p in paths.items():
        con.execute(f"CREATE {kind} {t} AS SELECT * FROM read_parquet('{p}')")
    return con


def _duck(threads: int, frames: dict):
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    for name, frame in frames.items():
        con.register(name, frame)  # the connection keeps a reference to the registered object
    return con


def pandas_ops(d: dict) -> dict:
    p = d["payees"]

    def registry():
        reg = d["registry"].rename(columns={"full_name": "reg_name", "birth_date": "reg_birth"})
        m = p[["pension_id", "national_id", "full_name", "birth_date"]].merge(reg, on="national_id", how="left")
        return m[m["reg_name"].isna() | (m["full_name"] != m["reg_name"]) | (m["birth_date"] != m["reg_birth"])]

    def deaths():
        return p[["pension_id", "national_id"]].merge(d["deaths"], on="national_id", how="inner")

    def accounts():
        m = p[["pension_id", "national_id", "account_code"]].merge(d["accounts"], on="account_code", how="left")
        return m[m["status"].isna() | (m["status"] == "closed") | (m["holder_national_id"] != m["national_id"])
                 | ~m["dedicated"].fillna(False).astype(bool)]

    def duplicates():
        size = p.groupby("national_id", sort=False).size()
        return size[size > 1].rename("n").reset_index()

    def amounts():
        prev = d["previous"][["pension_id", "national_id", "net_amount"]].rename(
            columns={"net_amount": "prev_amount"})
        m = p[["pension_id", "national_id", "net_amount"]].merge(prev, on=["pension_id", "national_id"],
                                                                 how="left")
        return m[m["prev_amount"].isna() | ((m["net_amount"] - m["prev_amount"]).abs() * 5 > m["prev_amount"])]

    return {"registry": registry, "deaths": deaths, "accounts": accounts, "duplicates": duplicates,
            "amounts": amounts}


def pyarrow_ops(t: dict) -> dict:
    import pyarrow.compute as pc

    p = t["payees"]

    def anyof(*masks):
        out = masks[0]
        for mask in masks[1:]:
            out = pc.or_kleene(out, mask)
        return pc.fill_null(out, False)

    def registry():
        j = p.select(["pension_id", "national_id", "full_name", "birth_date"]).join(
            t["registry"].rename_columns(["national_id", "reg_name", "reg_birth"]), "national_id",
            join_type="left outer")
        return j.filter(anyof(pc.is_null(j["reg_name"]), pc.not_equal(j["full_name"], j["reg_name"]),
                              pc.not_equal(j["birth_date"], j["reg_birth"]))).to_pandas()

    def deaths():
        return p.select(["pension_id", "national_id"]).join(t["deaths"], "national_id",
                                                            join_type="inner").to_pandas()

    def accounts():
        j = p.select(["pension_id", "national_id", "account_code"]).join(t["accounts"], "account_code",
                                                                          join_type="left outer")
        return j.filter(anyof(pc.is_null(j["status"]), pc.equal(j["status"], "closed"),
                              pc.not_equal(j["holder_national_id"], j["national_id"]),
                              pc.invert(j["dedicated"]))).to_pandas()

    def duplicates():
        g = p.select(["national_id"]).group_by("national_id").aggregate([([], "count_all")])
        return g.filter(pc.greater(g["count_all"], 1)).rename_columns({"count_all": "n"}).to_pandas()

    def amounts():
        prev = t["previous"].select(["pension_id", "national_id", "net_amount"]).rename_columns(
            ["pension_id", "national_id", "prev_amount"])
        j = p.select(["pension_id", "national_id", "net_amount"]).join(prev, ["pension_id", "national_id"],
                                                                       join_type="left outer")
        change = pc.multiply(pc.abs(pc.subtract(j["net_amount"], j["prev_amount"])), 5)
        return j.filter(anyof(pc.is_null(j["prev_amount"]), pc.greater(change, j["prev_amount"]))).to_pandas()

    return {"registry": registry, "deaths": deaths, "accounts": accounts, "duplicates": duplicates,
            "amounts": amounts}


def duckdb_ops(con) -> dict:
    return {op: (lambda sql=SQL[op]: con.execute(sql).df()) for op in OPS}


def fingerprint(frame) -> str:
    return hashlib.sha1("\n".join(sorted(frame.astype(str))).encode()).hexdigest()[:12]


def worker(engine: str, data: Path, threads: int, repeat: int) -> dict:
    import pandas  # noqa: F401 - imports are not part of the load time
    import pyarrow.compute  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    if engine.startswith("duckdb"):
        import duckdb  # noqa: F401
    start, cpu = time.perf_counter(), time.process_time()
    loaded = load(engine, data, threads)
    load_s, load_cpu = time.perf_counter() - start, time.process_time() - cpu
    rss_load = peak_rss_mib()
    ops = (pandas_ops if engine == "pandas" else pyarrow_ops if engine == "pyarrow" else duckdb_ops)(loaded)
    runs, op_s, out, cpu = [], {op: float("inf") for op in OPS}, {}, time.process_time()
    for _ in range(repeat):
        total = 0.0
        for op in OPS:
            start = time.perf_counter()
            out[op] = ops[op]()
            took = time.perf_counter() - start
            op_s[op], total = min(op_s[op], took), total + took
        runs.append(round(total, 2))
    join_cpu = (time.process_time() - cpu) / repeat
    return {  # *_cpu_s: user+sys of all threads, less disturbed than wall time by other work on the machine
        "load_s": round(load_s, 2), "join_s": min(runs), "join_runs_s": runs,
        "load_cpu_s": round(load_cpu, 2), "join_cpu_s": round(join_cpu, 2),
        "op_s": {op: round(t, 2) for op, t in op_s.items()},
        "peak_rss_mib": round(peak_rss_mib()), "peak_rss_after_load_mib": round(rss_load),
        "counts": {op: len(out[op]) for op in OPS},
        "fingerprints": {op: fingerprint(out[op][KEYS[op]]) for op in OPS},
    }


# ---------------------------------------------------------------- driver

def _child(argv: list[str], timeout: float) -> tuple[dict | None, str | None, float]:
    start = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, __file__, *argv], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"timeout after {timeout:.0f}s", time.perf_counter() - start
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        why = "killed by SIGKILL (likely out of memory)" if proc.returncode == -9 else f"exit {proc.returncode}"
        return None, f"{why}: {proc.stderr.strip()[-400:]}", wall
    return json.loads(proc.stdout.strip().splitlines()[-1]), None, wall


def driver(args: argparse.Namespace) -> int:
    data = Path(args.data) / f"n{args.payees}_s{args.seed}"
    result: dict = {"payees": args.payees, "seed": args.seed, "cores": os.cpu_count(), "threads": args.threads,
                    "repeat": args.repeat, "loadavg_at_start": os.getloadavg(),
                    "versions": {"python": platform.python_version(),
                                 **{m: version(m) for m in ("pandas", "pyarrow", "duckdb", "numpy")}},
                    "data": {"dir": str(data)}}
    if not (data / "meta.json").exists():
        _, err, wall = _child(["--generate", "--payees", str(args.payees), "--seed", str(args.seed),
                               "--data", str(data)], args.timeout * 2)
        if err:
            raise SystemExit(f"data generation failed: {err}")
        result["data"]["generate_s"] = round(wall, 1)
    result["data"]["planted"] = json.loads((data / "meta.json").read_text())["planted"]
    result["data"]["parquet_mib"] = {t: round((data / f"{t}.parquet").stat().st_size / 2**20)
                                     for t in TABLES}
    engines: dict = {}
    for engine in args.engines.split(","):
        out, err, wall = _child(["--engine", engine, "--data", str(data), "--threads", str(args.threads),
                                 "--repeat", str(args.repeat)], args.timeout)
        engines[engine] = out if err is None else {"error": err}
        engines[engine]["wall_s"] = round(wall, 1)
        print(f"{engine}: {engines[engine]}", file=sys.stderr, flush=True)
    result["engines"] = engines
    done = {e: r for e, r in engines.items() if "error" not in r}
    views = {e: (r["counts"], r["fingerprints"]) for e, r in done.items()}
    result["counts_agree"] = len({json.dumps(v, sort_keys=True) for v in views.values()}) <= 1
    print(json.dumps(result, indent=1, ensure_ascii=False))
    assert result["counts_agree"], f"exception rows differ across engines: {views}"
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--payees", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--data", default="/tmp/bench_joins",
                    help="driver: parent dir of generated data; --engine/--generate: the data dir itself")
    ap.add_argument("--engine", choices=ENGINES, help="run one engine in this process (worker mode)")
    ap.add_argument("--engines", default=",".join(ENGINES), help="driver: comma-separated engines to run")
    ap.add_argument("--threads", type=int, default=2, help="DuckDB threads")
    ap.add_argument("--repeat", type=int, default=1, help="run the five operations this many times; "
                    "join_s is the fastest run (the machine is shared, so figures are noisy)")
    ap.add_argument("--timeout", type=float, default=600, help="driver: seconds allowed per engine")
    ap.add_argument("--generate", action="store_true", help="only generate the data into --data")
    args = ap.parse_args()
    if args.generate:
        print(json.dumps(generate(Path(args.data), args.payees, args.seed)))
        return 0
    if args.engine:
        print(json.dumps(worker(args.engine, Path(args.data), args.threads, args.repeat)))
        return 0
    return driver(args)


if __name__ == "__main__":
    sys.exit(main())
