"""How fast, how big and how much memory: writing N payments in each bank file format.

    .venv/bin/python benchmarks/bench_bank_formats.py [--transactions 1000000] [--formats a,b] [--out DIR]
    .venv/bin/python benchmarks/bench_bank_formats.py --list

Each format runs in a fresh subprocess, so the peak RSS (``ru_maxrss`` of that process) is its own and
not the high-water mark of an earlier run; the process also reports its RSS just before writing, so
the growth is the writer's footprint. The transactions come from a generator (nothing is held in a
list): memory shows the writer's own state, which for pain.001 is the set of EndToEndIds seen. The
declared count and control sum are computed arithmetically before the clock starts. Prints a table
(or JSON with ``--json``); it never asserts anything.

Formats are entries in ``FORMATS``: a name, the shape of the transactions (``IRR``: SHEBA IBANs and
Persian names; ``KRW``: account numbers with ``Othr/Id`` + bank codes and Hangul names; ``USD``:
ASCII names, ABA routing numbers, for NACHA) and a function writing the file. ``source-*`` entries
only consume the generator, to show what making the transactions costs by itself (subtract it to get
the writer's own rate). The fixed-width (``bank_formats.fixedwidth``: NACHA PPD, the Korean bulk-credit
example) and CSV (``bank_formats.csvbatch``) entries are imported only in their child process and are
listed as skipped when their module is missing; NACHA runs at most 999,999 transactions, what one batch's
6-digit entry count holds. Add a format by adding an entry.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from bank_formats.model import CreditTransfer, Debtor, PaymentBatch

PERSIAN_FIRST = ("محمد", "فاطمه", "علی", "زهرا", "حسین", "مریم", "رضا", "سکینه", "مهدی", "کبری",
                 "غلامرضا", "فاطمه\u200cسادات", "ابوالفضل", "معصومه")
PERSIAN_LAST = ("رضایی", "احمدی", "محمدی", "حسینی\u200cنژاد", "کریمی", "شریعتمداری", "طباطبایی",
                "امیری\u200cفیروزکوهی", "باقری\u200cلنکرانی")
KOREAN_NAMES = ("김민수", "이영희", "박지훈", "최수진", "정우성", "강미경", "윤서연", "장동건", "한지민")
ENGLISH_NAMES = ("JOHN SMITH", "MARIA GARCIA", "WEI CHEN", "AISHA KHAN", "JAMES OBRIEN", "ANA SILVA")
IR_BANKS = ("017", "012", "018", "016", "015", "019", "055", "057", "062", "013")
KR_BANKS = ("004", "011", "020", "088", "071", "092", "003", "081")
POOL = 1_000  # distinct SHEBAs / routing numbers cycled through (computing check digits is not the writer)
TEHRAN = timezone(timedelta(hours=3, minutes=30))
SEOUL = timezone(timedelta(hours=9))
NEW_YORK = timezone(timedelta(hours=-5))


# ------------------------------------------------------------------------------------------ the data


def sheba(bank_code: str, serial: int) -> str:
    bban = f"{bank_code}{serial:019d}"
    return f"IR{98 - int(bban + '182700') % 97:02d}{bban}"


def aba(prefix8: int) -> str:
    """A 9-digit ABA routing number with its check digit (weights 3, 7, 1)."""
    digits = [int(c) for c in f"{prefix8:08d}"]
    weighted = sum(d * w for d, w in zip(digits, (3, 7, 1, 3, 7, 1, 3, 7), strict=True))
    return f"{prefix8:08d}{(10 - weighted % 10) % 10}"


ODFI = aba(12_100_000)


def amount(shape: str, i: int) -> int:
    if shape == "IRR":
        return 85_000_000 + 12_345 * (i % 1_000)  # rials
    if shape == "KRW":
        return 680_000 + 1_000 * (i % 500)  # won
    return 150_000 + 37 * (i % 1_000)  # cents


def control_sum(shape: str, n: int) -> int:
    """Sum of amount(shape, i) for i < n, in closed form (no pass over the data)."""
    period = 500 if shape == "KRW" else 1_000  # amount() repeats with this period
    full, rest = divmod(n, period)

    def block(k: int) -> int:
        return sum(amount(shape, j) for j in range(k))

    return full * block(period) + block(rest)


def transactions(shape: str, n: int) -> Iterator[CreditTransfer]:
    """n transactions of ``shape``, made one at a time."""
    if shape == "IRR":
        ibans = [sheba(IR_BANKS[k % len(IR_BANKS)], 10**9 + k) for k in range(POOL)]
        for i in range(n):
            k = i % POOL
            name = f"{PERSIAN_FIRST[i % len(PERSIAN_FIRST)]} {PERSIAN_LAST[i % len(PERSIAN_LAST)]}"
            yield CreditTransfer(
                end_to_end_id=f"1405-08-B{i % 31:03d}-P{i:010d}",
                amount_minor=amount(shape, i),
                creditor_name=name,
                creditor_iban=ibans[k],
                creditor_account_id=None,
                creditor_bank_code=IR_BANKS[k % len(IR_BANKS)],
                remittance=f"مستمری بازنشستگی آبان ۱۴۰۵ - {name}",
            )
    elif shape == "KRW":
        for i in range(n):
            yield CreditTransfer(
                end_to_end_id=f"NPS-2026-11-{i:012d}",
                amount_minor=amount(shape, i),
                creditor_name=KOREAN_NAMES[i % len(KOREAN_NAMES)],
                creditor_iban=None,
                creditor_account_id=f"{i % 999_999:06d}{(i * 7919) % 10**8:08d}",
                creditor_bank_code=KR_BANKS[i % len(KR_BANKS)],
                remittance="국민연금 노령연금 2026년 11월",
            )
    elif shape == "USD":
        routings = [aba(11_000_000 + 17 * k) for k in range(POOL)]
        for i in range(n):
            yield CreditTransfer(
                end_to_end_id=f"P{i:014d}",  # NACHA's individual id holds 15 characters
                amount_minor=amount(shape, i),
                creditor_name=ENGLISH_NAMES[i % len(ENGLISH_NAMES)],
                creditor_iban=None,
                creditor_account_id=f"{(i * 7919) % 10**12:012d}",
                creditor_bank_code=routings[i % POOL],
                remittance="PENSION NOV 2026",
            )
    else:
        raise ValueError(f"unknown shape {shape!r}")


def batch(shape: str, n: int) -> PaymentBatch:
    common: dict[str, Any] = dict(number_of_transactions=n, control_sum_minor=control_sum(shape, n))
    if shape == "IRR":
        return PaymentBatch(
            msg_id="SSO-1405-08-BENCH-001",
            created_at=datetime(2026, 11, 21, 10, 0, 0, tzinfo=TEHRAN),
            initiating_party="سازمان تامین اجتماعی",
            payment_info_id="SSO-1405-08-BENCH-001-P1",
            requested_execution_date=date(2026, 11, 22),
            currency="IRR",
            debtor=Debtor(name="سازمان تامین اجتماعی - حساب مستمری", iban=sheba("013", 42), bank_code="013"),
            **common,
        )
    if shape == "KRW":
        return PaymentBatch(
            msg_id="NPS-2026-11-BENCH-001",
            created_at=datetime(2026, 11, 20, 9, 0, 0, tzinfo=SEOUL),
            initiating_party="국민연금공단",
            payment_info_id="NPS-2026-11-BENCH-001-P1",
            requested_execution_date=date(2026, 11, 25),
            currency="KRW",
            debtor=Debtor("국민연금공단 지급", None, bank_code="004", account_id="00412345678901"),
            **common,
        )
    return PaymentBatch(
        msg_id="SSA-2026-11-BENCH-001",
        created_at=datetime(2026, 11, 20, 9, 0, 0, tzinfo=NEW_YORK),
        initiating_party="PENSION FUND",
        payment_info_id="SSA-2026-11-BENCH-001-P1",
        requested_execution_date=date(2026, 11, 25),
        currency="USD",
        debtor=Debtor(name="PENSION FUND", iban=None, bank_code=ODFI, account_id="000123456789"),
        **common,
    )


# ------------------------------------------------------------------------------------------ formats

Writer = Callable[[Path, PaymentBatch, Iterator[CreditTransfer]], object]
NACHA_PARAMS = {
    "immediate_destination": ODFI,
    "immediate_destination_name": "FIRST NATIONAL BANK",
    "immediate_origin": "1234567890",
    "company_name": "PENSION FUND",
    "company_id": "1234567890",
    "originating_dfi": ODFI[:8],
}


@dataclass(frozen=True)
class Format:
    shape: str  # "IRR", "KRW" or "USD": which transactions() and batch()
    module: str | None  # checked with find_spec before running; None: always available
    writer: Callable[[], Writer]  # imports lazily, in the child process
    max_transactions: int | None = None  # what the format's count fields can hold


def _pain001(message: str) -> Callable[[], Writer]:
    def make() -> Writer:
        from bank_formats.pain001 import write_pain001

        return lambda path, b, txs: write_pain001(path, b, txs, message=message)

    return make


def _fixed_width(layout_name: str, params: dict[str, str] | None = None) -> Callable[[], Writer]:
    # bank_formats.fixedwidth (being written alongside): write_fixed_width(path, layout, batch,
    # transactions, params=None), load_layout(name). Imported in the child so this script runs without it.
    def make() -> Writer:
        fixedwidth = importlib.import_module("bank_formats.fixedwidth")
        layout = fixedwidth.load_layout(layout_name)
        return lambda path, b, txs: fixedwidth.write_fixed_width(path, layout, b, txs, params=params)

    return make


def _csv_batch(layout_name: str, params: dict[str, str] | None = None) -> Callable[[], Writer]:
    # bank_formats.csvbatch (being written alongside): write_csv_batch(path, layout, batch, transactions,
    # params=None); its layouts load with load_csv_layout (or load_layout, the name first announced).
    def make() -> Writer:
        csvbatch = importlib.import_module("bank_formats.csvbatch")
        loader = getattr(csvbatch, "load_csv_layout", None) or getattr(csvbatch, "load_layout", None)
        if loader is None:
            loader = importlib.import_module("bank_formats.fixedwidth").load_layout
        layout = loader(layout_name)
        return lambda path, b, txs: csvbatch.write_csv_batch(path, layout, b, txs, params=params)

    return make


def _source_only() -> Writer:
    def consume(path: Path, b: PaymentBatch, txs: Iterator[CreditTransfer]) -> dict[str, int]:
        count = total = 0
        for tx in txs:
            count += 1
            total += tx.amount_minor
        path.write_bytes(b"")
        return {"transactions": count, "control_sum_minor": total, "bytes": 0}

    return consume


FIXED_WIDTH = "bank_formats.fixedwidth"
FORMATS: dict[str, Format] = {
    "pain.001.001.09-IRR": Format("IRR", "bank_formats.pain001", _pain001("pain.001.001.09")),
    "pain.001.001.09-KRW": Format("KRW", "bank_formats.pain001", _pain001("pain.001.001.09")),
    "pain.001.001.03-IRR": Format("IRR", "bank_formats.pain001", _pain001("pain.001.001.03")),
    "pain.001.001.03-KRW": Format("KRW", "bank_formats.pain001", _pain001("pain.001.001.03")),
    # NACHA's batch control counts entries in 6 digits: one batch holds 999,999 at most
    "nacha_ppd-USD": Format("USD", FIXED_WIDTH, _fixed_width("nacha_ppd", NACHA_PARAMS), 999_999),
    "kr_bulk_credit_example-KRW": Format(
        "KRW", FIXED_WIDTH, _fixed_width("kr_bulk_credit_example", {"company_code": "NPS0000001"})
    ),
    "ir_csv_batch_example-IRR": Format("IRR", "bank_formats.csvbatch", _csv_batch("ir_csv_batch_example")),
    "source-IRR": Format("IRR", None, lambda: _source_only()),
    "source-KRW": Format("KRW", None, lambda: _source_only()),
    "source-USD": Format("USD", None, lambda: _source_only()),
}
DEFAULT_FORMATS = tuple(name for name in FORMATS if not name.startswith("source-"))


def _available(fmt: Format) -> str | None:
    """None when the format can run, else why not."""
    if fmt.module is None:
        return None
    try:
        found = importlib.util.find_spec(fmt.module)
    except ModuleNotFoundError:
        found = None
    return None if found is not None else f"{fmt.module} is not installed"


# ------------------------------------------------------------------------------------------ running


def _rss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return kb / (1024 * 1024) if sys.platform == "darwin" else kb / 1024


def run_one(name: str, n: int, out: Path, keep: bool = False) -> dict[str, object]:
    """Write one format in this process and measure it."""
    fmt = FORMATS[name]
    n = min(n, fmt.max_transactions or n)
    writer = fmt.writer()
    b = batch(fmt.shape, n)
    txs = transactions(fmt.shape, n)
    path = out / f"{name}.out"
    rss_before = _rss_mb()
    start = time.perf_counter()
    result = writer(path, b, txs)
    seconds = time.perf_counter() - start
    rss_peak = _rss_mb()
    size = path.stat().st_size
    if not keep:
        path.unlink()
    written = result["transactions"] if isinstance(result, dict) else getattr(result, "transactions", None)
    return {
        "format": name,
        "transactions": n,
        "written": written,
        "seconds": round(seconds, 3),
        "tx_per_second": round(n / seconds) if seconds else None,
        "bytes": size,
        "bytes_per_tx": round(size / n, 1),
        "rss_before_mb": round(rss_before, 1),
        "rss_peak_mb": round(rss_peak, 1),
        "rss_growth_mb": round(rss_peak - rss_before, 1),
    }


def run_in_subprocess(name: str, n: int, out: Path, keep: bool = False) -> dict[str, object]:
    main_file = os.path.abspath(sys.modules["__main__"].__file__ or __file__)
    cmd = [sys.executable, main_file, "--child", name, "--transactions", str(n), "--out", str(out)]
    if keep:
        cmd.append("--keep")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                       os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"format": name, "error": last}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _table(rows: list[dict[str, object]]) -> str:
    head = (f"{'format':<27}{'transactions':>13}{'seconds':>9}{'tx/s':>10}{'bytes':>14}{'B/tx':>7}"
            f"{'RSS peak':>10}{'growth':>9}")
    lines = [head, "-" * len(head)]
    for r in rows:
        if "skipped" in r or "error" in r:
            why = f"skipped: {r['skipped']}" if "skipped" in r else f"error: {r['error']}"
            lines.append(f"{r['format']:<27}  {why}")
            continue
        lines.append(
            f"{r['format']:<27}{r['transactions']:>13,}{r['seconds']:>9.2f}{r['tx_per_second']:>10,}"
            f"{r['bytes']:>14,}{r['bytes_per_tx']:>7}{r['rss_peak_mb']:>8.1f}MB{r['rss_growth_mb']:>7.1f}MB"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--transactions", type=int, default=1_000_000)
    ap.add_argument("--formats", help=f"comma-separated, default: {','.join(DEFAULT_FORMATS)}")
    ap.add_argument("--out", type=Path, help="directory for the files (default: a temporary one, removed)")
    ap.add_argument("--keep", action="store_true", help="keep the written files (needs --out)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    ap.add_argument("--list", action="store_true", help="list the formats and whether they can run")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        print(json.dumps(run_one(args.child, args.transactions, args.out, args.keep)))
        return
    if args.list:
        for name, fmt in FORMATS.items():
            print(f"{name:<27} {fmt.shape}  {_available(fmt) or 'available'}")
        return

    names = args.formats.split(",") if args.formats else list(DEFAULT_FORMATS)
    unknown = [n for n in names if n not in FORMATS]
    if unknown:
        ap.error(f"unknown formats {unknown}; known: {', '.join(FORMATS)}")
    out = args.out or Path(tempfile.mkdtemp(prefix="bench_bank_formats_"))
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, object]] = []
    try:
        for name in names:
            reason = _available(FORMATS[name])
            if reason:
                rows.append({"format": name, "skipped": reason})
                continue
            rows.append(run_in_subprocess(name, args.transactions, out, args.keep and args.out is not None))
            if not args.json:
                print(_table(rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    finally:
        if args.out is None:
            shutil.rmtree(out, ignore_errors=True)
    env = {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
           "lxml": _version("lxml"), "transactions": args.transactions}
    if args.json:
        print(json.dumps({"environment": env, "results": rows}, ensure_ascii=False, indent=1))
    else:
        print(" ".join(f"{k}={v}" for k, v in env.items()))
        print(_table(rows))


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "-"


if __name__ == "__main__":
    main()
