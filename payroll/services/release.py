"""Release: turn an approved run into one pain.001.001.09 file per bank, plus a manifest.

A run is released at most once. Files are generated deterministically (timestamps come from the run's
final approval, never the clock) into a staging folder, validated against the official XSD, moved
into the archive atomically, and only then is the release committed, in the same transaction as the
period's one-and-only release row and the audit entry. Releasing a released run returns the archived
files byte for byte; if the archive was lost, it is regenerated and must hash to what was recorded.

Each bank file is written, hashed, counted and checked (the official XSD for pain.001, a read-back by
the layout's own parser for fixed-width and CSV files) by one function, ``_write_file``, from the
transfers' columns taken as lists once. A release of ``PARALLEL_MIN_TRANSFERS`` transfers or more writes
its files in a pool of forked processes (``PENSION_RELEASE_WORKERS``, default the cores), largest first,
into the same staging folder: the bytes do not depend on the number of workers
(tests/integration/test_golden_release.py, tests/unit/test_release_parallel.py), and a worker that
fails or dies refuses the release before anything leaves the staging folder.

A supplementary run (payroll.services.supplementary) is released only after its period's main run and
writes no period release row: in the same transaction it marks the clearances of its PAYABLE rows paid
and those of its other rows closed, each UPDATE only on clearances still open (paid_in_run_id and
closed_in_run_id NULL); if fewer rows change than the run took, another run settled them first and
nothing is released.
"""

from __future__ import annotations

import fcntl
import json
import multiprocessing as mp
import os
import shutil
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.compute as pc
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bank_formats.formats import file_format
from bank_formats.model import CreditTransfer, Debtor, PaymentBatch
from payroll import audit, signing
from payroll.approvals import RUN_MAKERS, require_role
from payroll.bankfiles import DEFAULT_FILE_NAME, BankRules, PlannedFile, parse_params, plan_files
from payroll.errors import Refused, WrongState
from payroll.legs import LEG_SOURCE_COLUMNS, PAYABLE, transfer_legs, with_excess_columns
from payroll.money import exact_sum
from payroll.period import Period
from payroll.services.audit_witness import checkpoint_committed
from payroll.services.context import Context, actor
from payroll.services.holds import lock_period, read_payments
from payroll.services.keys import institution_key
from payroll.services.runs import load_run, require_current, run_state
from payroll.store.files import (
    make_private_dir,
    read_table_verified,
    replace_dir_atomic,
    sha256_file,
    write_atomic,
)
from payroll.store.models import AuditEntry, Bank, HoldClearance, PeriodRelease, ReleasedFile, Run

MANIFEST = "manifest.json"


def _archive_dir(ctx: Context, run: Run) -> Path:
    return ctx.home / "releases" / f"run-{run.id}"


# Columns of payroll.legs.transfer_legs that a bank file's transactions are made of.
_TRANSFER_COLUMNS = ("end_to_end_id", "amount", "full_name", "account_code", "bank_code", "pension_id",
                     "branch_code")


def _credit_transfers(transfers: pd.DataFrame, period: str, iban: bool) -> Iterator[CreditTransfer]:
    """The transactions of one bank file, in the transfers' order. The columns are taken as Python lists
    once (not a pandas row object per transfer), so the per-row work is one CreditTransfer and one
    f-string; the texts are the ones the file has always held."""
    e2e, amount, name, account, bank, pension_id, branch = (transfers[c].tolist() for c in _TRANSFER_COLUMNS)
    for e, a, n, acc, b, pid, br in zip(e2e, amount, name, account, bank, pension_id, branch, strict=True):
        yield CreditTransfer(e, int(a), n, acc if iban else None, None if iban else acc[3:], b,
                             f"Pension {period} pension id {pid} branch {br}")


def bank_rules(session: Session) -> dict[str, BankRules]:
    return {b.bank_code: BankRules(bank_code=b.bank_code, name=b.name, file_format=b.file_format,
                                   max_transactions=b.max_transactions, max_file_bytes=b.max_file_bytes,
                                   file_name=b.file_name or DEFAULT_FILE_NAME, params=parse_params(b.params))
            for b in session.execute(select(Bank)).scalars()}


def run_transfers(run: Run) -> pd.DataFrame:
    """The transfers (legs) of a run's PAYABLE rows, read from its verified payments file."""
    try:
        table = read_table_verified(Path(run.payments_path), run.content_sha256)
    except (OSError, ValueError) as e:
        raise Refused("STORED_FILE_CHANGED", f"run {run.id}: {e}") from None
    # only the PAYABLE rows and the columns their legs are made of leave Arrow
    table = table.select([c for c in table.column_names if c in LEG_SOURCE_COLUMNS])
    payable = table.filter(pc.equal(table["status"], PAYABLE))
    return transfer_legs(with_excess_columns(payable.to_pandas()))


def plan_for(session: Session, run: Run) -> list[PlannedFile]:
    try:
        return plan_files(run_transfers(run), bank_rules(session), period=run.period, run_id=run.id,
                          extension_of=lambda name: file_format(name).extension)
    except ValueError as e:
        raise Refused("UNKNOWN_BANK", f"run {run.id}: {e}; nothing was released") from None


PARALLEL_MIN_TRANSFERS = 50_000  # below this a release writes its files one after another, in this process
WORKERS_ENV = "PENSION_RELEASE_WORKERS"


def release_workers() -> int:
    """How many processes write a large release's files: PENSION_RELEASE_WORKERS, default the cores this
    process may run on."""
    text = os.environ.get(WORKERS_ENV, "").strip()
    if not text:
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # not on Linux
            return os.cpu_count() or 1
    if not text.isdigit() or int(text) < 1:
        raise Refused("BAD_SETTING", f"{WORKERS_ENV}={text!r}: expected a whole number of processes >= 1; "
                      "nothing was released")
    return int(text)


@dataclass(frozen=True)
class _FileJob:
    """One bank file to write: everything _write_file needs, and nothing of the database."""

    name: str
    bank: BankRules
    part: int
    parts: int
    transfers: pd.DataFrame  # rows of payroll.legs.transfer_legs, in file order
    period: str
    iban: bool
    batch: PaymentBatch


def _write_file(staging: Path, job: _FileJob) -> dict[str, Any]:
    """Write one bank file into `staging` and check it, in one function: the transactions are streamed
    through the format's writer, which hashes and counts the bytes and refuses a count or sum other than
    the batch declares (and, for pain.001, validates the file against the official XSD); a layout file
    (fixed width, CSV) is read back by its own parser and must hold the declared count and sum. Returns
    the file's manifest record; Refused (and no file left behind) otherwise."""
    f, batch = job, job.batch
    fmt = None
    try:
        fmt = file_format(f.bank.file_format)
        result = fmt.write(staging / f.name, batch, _credit_transfers(f.transfers, f.period, f.iban),
                           f.bank.params)
        if not fmt.name.startswith("pain.001"):
            back = fmt.read_back(staging / f.name)
            held = (len(back.transfers), sum(a for _, a in back.transfers))
            if held != (batch.number_of_transactions, batch.control_sum_minor) or \
                    back.declared_count not in (None, held[0]) or back.declared_sum not in (None, held[1]):
                raise ValueError(f"read back, it holds {held[0]} transfers for {held[1]} and declares "
                                 f"{back.declared_count} for {back.declared_sum}; {batch.number_of_transactions} "
                                 f"for {batch.control_sum_minor} were written")
    except ValueError as e:  # the writer and the schema refuse what a bank would reject
        (staging / f.name).unlink(missing_ok=True)
        raise Refused("BANK_FILE_INVALID", f"{f.name}: {e}; nothing was released") from None
    if f.bank.max_file_bytes is not None and result.bytes > f.bank.max_file_bytes:
        raise Refused("BANK_FILE_TOO_LARGE", f"{f.name} is {result.bytes} bytes, over the {f.bank.max_file_bytes} "
                      f"bank {f.bank.bank_code} takes; lower its max_transactions (now "
                      f"{f.bank.max_transactions or 'none'}); nothing was released")
    return {"file": f.name, "bank_code": f.bank.bank_code, "bank_name": f.bank.name,
            "format": fmt.name, "msg_id": batch.msg_id, "part": f.part, "parts": f.parts,
            "transactions": result.transactions, "control_sum": result.control_sum_minor,
            "sha256": result.sha256, "bytes": result.bytes}


# The jobs of the release in progress, read by the forked workers (inherited, never pickled: the
# transfers stay where they are in memory). Set only while a pool runs.
_JOBS: list[_FileJob] = []


def _write_job(staging: Path, index: int) -> tuple[str, Any]:
    """_write_file in a worker: ("ok", record) or ("refused", (code, message)); any other failure is
    returned as ("failed", text) so that the parent refuses the release naming it."""
    try:
        return "ok", _write_file(staging, _JOBS[index])
    except Refused as e:
        return "refused", (e.code, e.message, e.detail)
    except Exception as e:  # noqa: BLE001 - reported to the parent, which refuses the release
        return "failed", f"{type(e).__name__}: {e}"


def _write_files(staging: Path, jobs: list[_FileJob]) -> list[dict[str, Any]]:
    """Every job's file into `staging`, records in the jobs' order. A release of PARALLEL_MIN_TRANSFERS
    transfers or more is written by a pool of forked processes (release_workers()), largest files first;
    a smaller one here, one file after another. Either way the bytes are the same, and a failure leaves
    only `staging`, which the caller removes: the archive is not touched until every file is good."""
    total = sum(len(j.transfers) for j in jobs)
    workers = min(release_workers(), len(jobs)) if total >= PARALLEL_MIN_TRANSFERS else 1
    if workers <= 1 or "fork" not in mp.get_all_start_methods() or mp.current_process().daemon:
        # (a daemonic process, e.g. a Dask worker's, may not have children: it writes the files itself)
        return [_write_file(staging, j) for j in jobs]
    global _JOBS
    _JOBS = jobs
    records: list[dict[str, Any] | None] = [None] * len(jobs)
    try:
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork")) as pool:
            order = sorted(range(len(jobs)), key=lambda i: -len(jobs[i].transfers))
            futures = {pool.submit(_write_job, staging, i): i for i in order}
            try:
                for done in as_completed(futures):
                    kind, value = done.result()
                    if kind == "refused":
                        code, message, detail = value
                        raise Refused(code, message, **detail)
                    if kind == "failed":
                        raise Refused("BANK_FILE_FAILED", f"{jobs[futures[done]].name}: {value}; nothing was "
                                      "released")
                    records[futures[done]] = value
            except BrokenProcessPool:
                raise Refused("BANK_FILE_FAILED", "a process writing the bank files died; nothing was "
                              "released") from None
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)  # no worker writes into staging after this
                raise
    finally:
        _JOBS = []
    return [r for r in records if r is not None]


def generate_files(ctx: Context, session: Session, run: Run, staging: Path,
                   audit_head: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Write every bank file, the manifest and its signature into `staging`; return the file records.
    `audit_head` (the audit chain's seq and hash at release) goes into the manifest: every bank holds a
    witness of the chain outside the database (payroll.services.audit_witness)."""
    period = Period.parse(run.period)
    if run.approved_at is None:
        raise WrongState("WRONG_STATE", f"run {run.id} has no final approval time")
    created_at = datetime.fromisoformat(run.approved_at).astimezone(ctx.settings.tz).replace(microsecond=0)
    s = ctx.settings
    account, iban = s.debtor_account, ctx.country.account_is_iban
    debtor = Debtor(name=s.debtor_name, iban=account if iban else None, account_id=None if iban else account[3:],
                    bank_code=ctx.country.account_bank_code(account))
    planned = plan_for(session, run)
    jobs = [_FileJob(name=f.name, bank=f.bank, part=f.part, parts=f.parts, transfers=f.transfers,
                     period=str(period), iban=iban,
                     batch=PaymentBatch(
                         msg_id=f.msg_id, created_at=created_at, initiating_party=s.initiating_party,
                         payment_info_id=f"{f.msg_id}P1", requested_execution_date=period.day(s.payment_day),
                         currency=ctx.country.currency, debtor=debtor, number_of_transactions=len(f.transfers),
                         control_sum_minor=exact_sum(f.transfers["amount"].to_numpy())))
            for f in planned]
    files = _write_files(staging, jobs)
    count = sum(f["transactions"] for f in files)
    total = sum(f["control_sum"] for f in files)
    transfers = sum(len(f.transfers) for f in planned)
    if total != run.payable_total or count != transfers:
        raise Refused("TOTALS_DO_NOT_RECONCILE", f"bank files hold {count} transfers for {total}, the run says "
                      f"{transfers} transfers for {run.payable_total}; nothing was released")
    key = institution_key(ctx, session)
    manifest = {"run_id": run.id, "period": run.period, "created_at": created_at.isoformat(),
                "currency": ctx.country.currency, "debtor_account": s.debtor_account, "run_sha256": run.content_sha256,
                "payments": run.payable_count, "transactions": count, "control_sum": total, "files": files,
                "signature": {"algorithm": "Ed25519", "key_id": signing.key_id(key.public_key()),
                              "file": MANIFEST + signing.SIGNATURE_SUFFIX}}
    if audit_head is not None:  # none only when restoring a release made before manifests named it
        manifest["audit_head"] = audit_head
    if run.kind != "main":
        manifest["kind"] = run.kind
        manifest["parent_run_id"] = run.parent_run_id
    data = (json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode()
    write_atomic(staging / MANIFEST, data)
    write_atomic(staging / (MANIFEST + signing.SIGNATURE_SUFFIX), signing.sign(key, data))
    return files


def _signed(manifest: Path) -> bool:
    """Whether the manifest names a signature: runs released before manifests were signed have none."""
    try:
        return "signature" in json.loads(manifest.read_bytes())
    except (OSError, ValueError):
        return True  # a missing or unreadable manifest: the archive is not intact either way


def _archive_problems(ctx: Context, run: Run, recorded: list[ReleasedFile], archive: Path) -> list[str]:
    """What is wrong with a released run's archive, against what the database recorded: the manifest's
    bytes, then (verify_release) its signature with the release key and every file it lists; [] if intact."""
    manifest = archive / MANIFEST
    if not manifest.is_file():
        return [f"{MANIFEST}: missing"]
    if run.manifest_sha256 is not None and sha256_file(manifest) != run.manifest_sha256:
        return [f"{MANIFEST}: its bytes differ from the SHA-256 recorded at release"]
    altered = [f"{f.file_name}: missing or its bytes differ from the SHA-256 recorded at release"
               for f in recorded if not (archive / f.file_name).is_file()
               or sha256_file(archive / f.file_name) != f.sha256]
    if altered or not _signed(manifest):  # runs released before manifests were signed: hashes only
        return altered
    key = ctx.settings.release_key_path
    public = signing.verification_key_path(key)
    if public is None:  # not an altered archive: the key to check it with is gone (503, as for a release)
        key_id = json.loads(manifest.read_bytes())["signature"].get("key_id")
        raise Refused("SIGNING_KEY_MISSING", f"the archive of run {run.id} cannot be checked: the release key {key} "
                      f"and its public half {signing.public_key_path(key)} are missing; restore the key (id "
                      f"{key_id}) from its backup (or point PENSION_SIGNING_KEY_FILE at it)",
                      key_path=str(key), key_id=key_id)
    problems: list[str] = verify_release(archive, public)["problems"]
    return problems


STAGING = ".staging-"  # + a random token


@contextmanager
def _staging(ctx: Context) -> Iterator[Path]:
    """A new staging folder, locked (flock on the folder) until the files in it are archived or dropped,
    then removed. Staging folders that a killed release left are removed first."""
    releases = ctx.home / "releases"
    make_private_dir(releases)
    remove_stale_staging(releases)
    staging = releases / f"{STAGING}{uuid.uuid4().hex}"
    with _holding(releases, fcntl.LOCK_SH):  # no sweep sees the folder between its mkdir and its flock
        make_private_dir(staging)
        fd = os.open(staging, os.O_RDONLY)
        fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        os.close(fd)  # the lock goes with it; so it does when the process is killed


@contextmanager
def _holding(folder: Path, how: int) -> Iterator[None]:
    """A lock on the releases folder itself: shared by each release while it makes and locks its staging
    folder, exclusive while stale ones are swept."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, how)
        yield
    finally:
        os.close(fd)


def remove_stale_staging(releases: Path) -> list[str]:
    """Remove the staging folders of releases that died (kill -9, a power cut) before archiving their
    files; return their names. A folder is stale when no process holds its lock: a release in progress
    does, in this process or another, on this host or on another sharing the home, from the moment its
    folder exists (it is made and locked under a shared lock on `releases` that this sweep takes
    exclusively). No process id is trusted: one reused by an unrelated process kept a dead release's
    folder forever."""
    removed = []
    with _holding(releases, fcntl.LOCK_EX):
        for path in sorted(releases.glob(f"{STAGING}*")):
            if not path.is_dir():
                continue
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:  # removed meanwhile by another release
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            try:
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path.name)
            finally:
                os.close(fd)
    return removed


def _settlement(session: Session, run: Run) -> tuple[list[int], list[int]]:
    """Before a supplementary run is released: (clearances it pays, clearances it closes), checked
    against its approved payments file and against the clearances still open."""
    period = session.get(PeriodRelease, run.period)
    if period is None:
        raise WrongState("PERIOD_NOT_RELEASED", f"supplementary run {run.id} pays held payments of {run.period}, "
                         "whose main run is not released yet")
    if period.run_id != run.parent_run_id:
        raise WrongState("WRONG_MAIN_RUN", f"supplementary run {run.id} belongs to run {run.parent_run_id}, but "
                         f"{run.period} was released by run {period.run_id}")
    items = json.loads(run.summary).get("clearances", [])
    payments = read_payments(run)
    if sorted(zip(payments["end_to_end_id"], payments["status"], strict=True)) != \
            sorted((i["end_to_end_id"], i["status"]) for i in items):
        raise Refused("SUMMARY_MISMATCH", f"the clearances recorded with supplementary run {run.id} do not match "
                      "its payments file; nothing was released")
    e2e_of = {i: it["end_to_end_id"] for it in items for i in it["clearance_ids"]}
    found = list(session.execute(select(HoldClearance).where(HoldClearance.id.in_(list(e2e_of)))).scalars())
    if sorted((c.id, c.end_to_end_id) for c in found) != sorted(e2e_of.items()):
        raise Refused("SUMMARY_MISMATCH", f"the clearances recorded with supplementary run {run.id} are not the "
                      "clearances of its payments; nothing was released")
    spent = sorted(c.id for c in found if c.paid_in_run_id is not None or c.closed_in_run_id is not None)
    if spent:
        raise WrongState("CLEARANCE_SPENT", f"clearance(s) {spent} of supplementary run {run.id} were paid or closed "
                         "by another supplementary run; make a new one; nothing was released")
    pay = sorted(i for it in items if it["status"] == "PAYABLE" for i in it["clearance_ids"])
    close = sorted(i for it in items if it["status"] != "PAYABLE" for i in it["clearance_ids"])
    return pay, close


def _settle(session: Session, run: Run, pay: list[int], close: list[int]) -> None:
    """Mark the clearances paid or closed; a payment is paid at most once, whoever races."""
    for ids, column, what in ((pay, HoldClearance.paid_in_run_id, "paid"),
                              (close, HoldClearance.closed_in_run_id, "closed")):
        if not ids:
            continue
        result = session.execute(
            update(HoldClearance).where(HoldClearance.id.in_(ids), HoldClearance.paid_in_run_id.is_(None),
                                        HoldClearance.closed_in_run_id.is_(None))
            .values({column: run.id}).execution_options(synchronize_session=False))
        changed = result.rowcount  # type: ignore[attr-defined]  # a CursorResult for an UPDATE
        if changed != len(ids):
            raise WrongState("CLEARANCE_SPENT", f"only {changed} of the {len(ids)} clearances supplementary run "
                             f"{run.id} {what} were still open: another run settled them first; nothing was "
                             "released")


def release_run(ctx: Context, run_id: int, *, user: str, out_dir: Path | None = None) -> dict[str, Any]:
    with ctx.uow() as session:
        if session.execute(select(Run.kind).where(Run.id == run_id)).scalar_one_or_none() == "supplementary":
            _, run = lock_period(session, run_id)  # the period's main run first, as every holds change does
        else:
            run = load_run(session, run_id, lock=True)  # one releaser at a time; the loser sees 'released'
        who = actor(session, user)
        require_role(who, RUN_MAKERS, "releasing a run")
        archive = _archive_dir(ctx, run)
        if run.status == "released":
            recorded = list(session.execute(select(ReleasedFile).where(ReleasedFile.run_id == run.id)
                                            .order_by(ReleasedFile.file_name)).scalars())
            restored = _archive_problems(ctx, run, recorded, archive)
            if restored:  # rebuilt byte for byte from the recorded data, or refused: never returned altered
                _restore_archive(ctx, session, run, recorded, archive, restored)
            already = True
        elif run.status != "approved":
            raise WrongState("WRONG_STATE", f"run {run.id} is {run.status}; only an approved run can be released")
        else:
            require_current(session, run)
            settlement = _settlement(session, run) if run.kind == "supplementary" else None
            head = audit.head(session)  # committed entries only: this transaction has appended none yet
            with _staging(ctx) as staging:
                files = generate_files(ctx, session, run, staging, audit_head=head)
                replace_dir_atomic(staging, archive)
            if settlement is None:
                session.add(PeriodRelease(period=run.period, run_id=run.id))
                try:
                    session.flush()
                except IntegrityError:
                    raise WrongState("PERIOD_RELEASED", f"period {run.period} has already been released by another "
                                     "run; it is never paid twice") from None
            else:
                _settle(session, run, *settlement)
            before = run_state(run)
            run.status = "released"
            run.released_by = user
            run.released_at = audit.now_iso()
            run.release_dir = str(archive)
            run.manifest_sha256 = sha256_file(archive / MANIFEST)
            recorded = [ReleasedFile(run_id=run.id, file_name=f["file"], bank_code=f["bank_code"],
                                     file_format=f["format"], transactions=f["transactions"],
                                     control_sum=f["control_sum"], sha256=f["sha256"], msg_id=f["msg_id"])
                        for f in sorted(files, key=lambda f: f["file"])]  # the order a re-release reads them in
            session.add_all(recorded)
            detail: dict[str, Any] = {"files": {f["file"]: f["sha256"] for f in files},
                                      "manifest_sha256": run.manifest_sha256, "audit_head": head}
            if settlement is not None:
                detail.update(kind=run.kind, parent_run_id=run.parent_run_id, clearances_paid=settlement[0],
                              clearances_closed=settlement[1])
            entry = audit.append(session, actor=user, role=who.role, action="run.release", item_type="run",
                                 item_id=run.id, before=before, after=run_state(run), detail=detail)
            already, restored = False, []
        manifest_sha = run.manifest_sha256
    if not already:  # committed: now a witness outside the database
        checkpoint_committed(ctx, entry.seq, entry.entry_hash, "run.release", f"run {run_id}")

    target = Path(out_dir) if out_dir else archive
    if out_dir:
        for name in [f.file_name for f in recorded] + [MANIFEST, MANIFEST + signing.SIGNATURE_SUFFIX]:
            if name != MANIFEST + signing.SIGNATURE_SUFFIX or (archive / name).is_file():
                write_atomic(target / name, (archive / name).read_bytes())
    return {
        "run_id": run_id,
        "status": "released",
        "already_released": already,
        **({"archive_restored": restored} if restored else {}),
        "archive": str(archive),
        "manifest": str(target / MANIFEST),
        "manifest_sha256": manifest_sha,
        "files": [{"path": str(target / f.file_name), "bank_code": f.bank_code, "format": f.file_format,
                   "transactions": f.transactions, "control_sum": f.control_sum, "sha256": f.sha256,
                   "msg_id": f.msg_id} for f in recorded],
    }


def _restore_archive(ctx: Context, session: Session, run: Run, recorded: list[ReleasedFile], archive: Path,
                     problems: list[str]) -> None:
    """The archive is missing or altered (`problems`): regenerate it and accept it only if every hash
    matches what was recorded; refuse ARCHIVE_CHANGED, naming what was altered, otherwise."""
    with _staging(ctx) as staging:
        try:
            generate_files(ctx, session, run, staging, audit_head=recorded_audit_head(session, run))
        except Refused as e:
            raise Refused("ARCHIVE_CHANGED", f"the archive of run {run.id} was altered ({'; '.join(problems)}) and "
                          f"cannot be rebuilt: {e.message}; nothing was returned", run_id=run.id, problems=problems,
                          cause=e.code) from None
        want = {f.file_name: f.sha256 for f in recorded}
        got = {name: sha256_file(staging / name) for name in want}
        if got != want or sha256_file(staging / MANIFEST) != run.manifest_sha256:
            raise Refused("ARCHIVE_CHANGED", f"the archive of run {run.id} was altered ({'; '.join(problems)}) and "
                          "regenerating it does not reproduce the recorded hashes; nothing was returned",
                          run_id=run.id, problems=problems)
        replace_dir_atomic(staging, archive)


def recorded_audit_head(session: Session, run: Run) -> dict[str, Any] | None:
    """The audit head a released run's manifest names, as its release entry recorded it."""
    detail = session.execute(select(AuditEntry.detail).where(
        AuditEntry.action == "run.release", AuditEntry.item_type == "run", AuditEntry.item_id == str(run.id))
        .order_by(AuditEntry.seq.desc()).limit(1)).scalar_one_or_none()
    head = json.loads(detail).get("audit_head") if detail else None
    return head if isinstance(head, dict) else None


def verify_release(directory: Path, public_key: Path) -> dict[str, Any]:
    """Check a release folder as a bank or an auditor would: the manifest's signature with the
    institution's public key, then every file's bytes (SHA-256, size) and contents (read back with the
    format's parser: declared and re-added counts and sums, end-to-end ids unique across the release),
    and that the folder holds nothing the manifest does not list. Returns {"ok": bool, "problems": [...]}."""
    directory = Path(directory)
    problems: list[str] = []
    manifest_path = directory / MANIFEST
    sig_path = directory / (MANIFEST + signing.SIGNATURE_SUFFIX)
    if not manifest_path.is_file() or not sig_path.is_file():
        return {"ok": False, "directory": str(directory),
                "problems": [f"{directory} has no {MANIFEST} and {sig_path.name}"]}
    data = manifest_path.read_bytes()
    try:
        key = signing.load_public_key(public_key)
    except (OSError, ValueError) as e:
        raise Refused("NO_PUBLIC_KEY", f"the public key {public_key} cannot be read: {e}") from None
    if not signing.verify(key, data, sig_path.read_bytes()):
        return {"ok": False, "directory": str(directory), "key_id": signing.key_id(key),
                "problems": [f"{MANIFEST} is not signed by key {signing.key_id(key)}: it was altered or signed "
                             "with another key; nothing else in the folder can be trusted"]}
    manifest = json.loads(data)
    if manifest.get("signature", {}).get("key_id") != signing.key_id(key):
        problems.append(f"{MANIFEST} names key {manifest.get('signature', {}).get('key_id')}, verified with "
                        f"{signing.key_id(key)}")
    seen: dict[str, str] = {}
    count = total = 0
    listed = {MANIFEST, sig_path.name}
    for f in manifest["files"]:
        name = f["file"]
        listed.add(name)
        path = directory / name
        if not path.is_file():
            problems.append(f"{name}: missing")
            continue
        if sha256_file(path) != f["sha256"] or path.stat().st_size != f["bytes"]:
            problems.append(f"{name}: its bytes differ from the manifest's SHA-256 and size")
            continue
        try:
            back = file_format(f["format"]).read_back(path)
        except ValueError as e:
            problems.append(f"{name}: cannot be read back as {f['format']}: {e}")
            continue
        added = sum(a for _, a in back.transfers)
        if (len(back.transfers), added) != (f["transactions"], f["control_sum"]):
            problems.append(f"{name}: holds {len(back.transfers)} transfers for {added}, the manifest says "
                            f"{f['transactions']} for {f['control_sum']}")
        if back.declared_count is not None and back.declared_count != len(back.transfers):
            problems.append(f"{name}: declares {back.declared_count} transfers and holds {len(back.transfers)}")
        if back.declared_sum is not None and back.declared_sum != added:
            problems.append(f"{name}: declares a control sum of {back.declared_sum} and its amounts add to {added}")
        for e2e, _ in back.transfers:
            if e2e in seen:
                problems.append(f"{name}: end-to-end id {e2e} is also in {seen[e2e]}")
            seen[e2e] = name
        count += len(back.transfers)
        total += added
    if (count, total) != (manifest["transactions"], manifest["control_sum"]):
        problems.append(f"the files hold {count} transfers for {total}, the manifest says "
                        f"{manifest['transactions']} for {manifest['control_sum']}")
    extra = sorted(p.name for p in directory.iterdir() if p.name not in listed)
    if extra:
        problems.append(f"not in the manifest: {', '.join(extra)}")
    return {"ok": not problems, "directory": str(directory), "run_id": manifest.get("run_id"),
            "key_id": signing.key_id(key), "files": len(manifest["files"]), "transactions": count,
            "control_sum": total, "problems": problems}
