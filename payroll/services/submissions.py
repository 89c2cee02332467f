"""Branch submissions: intake with a receipt, approval level by level, rejection with a reason.

A submission stores the raw file and its accepted rows as content-addressed objects; the database
records their hashes. Approvals bind to the raw file's hash. An accepted new version supersedes the
branch's previous version for the period (which stays in history, its approvals void with it). Once
the period is released no list is taken for it (PERIOD_RELEASED): the paid list is never superseded.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from payroll import audit
from payroll.approvals import Actor, Item, Level, authorize, may_sign, require_role, slots
from payroll.errors import NotFound, PolicyViolation, Refused, WrongState
from payroll.intake import (
    CellsFile,
    IntakeResult,
    Limits,
    ParsedFile,
    finish_payee_file,
    parse_cells,
    payee_file,
    read_payee_cells,
    safe_file_name,
)
from payroll.period import Period
from payroll.services.context import Context, actor, chain, signed_by
from payroll.services.runs import released_period
from payroll.store.files import (
    make_private_dir,
    put_object,
    put_table,
    read_source,
    sha256_bytes,
    source_info,
)
from payroll.store.models import Approval, Branch, IntakeError, Run, Submission

LIVE = ("accepted", "approved")  # versions that count for a branch and period
log = logging.getLogger(__name__)


def submission_state(s: Submission) -> dict[str, Any]:
    return {"id": s.id, "branch_code": s.branch_code, "period": s.period, "version": s.version,
            "status": s.status, "content_sha256": s.content_sha256, "rows_sha256": s.rows_sha256,
            "levels_approved": s.levels_approved}


def receipt(session: Session, s: Submission, row_errors: list[dict[str, Any]] | None = None,
            **extra: Any) -> dict[str, Any]:
    """The submission as its submitter sees it. `row_errors`: the rows' errors when the caller has them
    at hand (a submission just stored), else they are read from the database."""
    errors = json.loads(s.file_errors)
    if row_errors is None:
        row_errors = [{"row": e.row_no, "column": e.column_name, "code": e.code, "message": e.message}
                      for e in session.execute(select(IntakeError).where(IntakeError.submission_id == s.id)
                                               .order_by(IntakeError.id)).scalars()]
    errors += row_errors
    return {
        "submission_id": s.id,
        "status": "rejected" if s.status == "rejected" else "accepted",
        "state": s.status,
        "branch_code": s.branch_code,
        "period": s.period,
        "version": s.version,
        "file_name": s.file_name,
        "content_sha256": s.content_sha256,
        "rows": s.rows,
        "rows_rejected": s.rows_rejected,
        "accepted_rows": s.accepted_rows,
        "accepted_total": s.accepted_total,
        "counted_total": s.counted_total,
        "declared_count": s.declared_count,
        "declared_total": s.declared_total,
        "levels_approved": s.levels_approved,
        "source": json.loads(s.source) if s.source else None,
        "validation": _validation_brief(s),
        "data_docs": s.data_docs_path,
        "errors": errors,
        **extra,
    }


def _validation_brief(s: Submission) -> dict[str, Any] | None:
    if not s.validation_summary:
        return None
    summary = json.loads(s.validation_summary)
    failed = [{"expectation": e["type"], "column": e.get("column"), "code": e.get("code"),
               "unexpected": e.get("unexpected_count")} for e in summary["expectations"] if not e["success"]]
    return {"success": summary["success"], "expectations": len(summary["expectations"]),
            "failed": failed, "seconds": summary.get("seconds")}


def _load_submission(session: Session, submission_id: int, lock: bool = False) -> Submission:
    q = select(Submission).where(Submission.id == submission_id)
    sub = session.execute(q.with_for_update() if lock else q).scalar_one_or_none()
    if sub is None:
        raise NotFound("submission", submission_id)
    return sub


def check_file_size(size: int, file_name: str, max_bytes: int) -> None:
    """Refuse a file by its size alone, before a byte of it is read."""
    if size > max_bytes:
        raise Refused("FILE_TOO_LARGE", f"{file_name}: {size} bytes is over the limit of {max_bytes} bytes; "
                      "the file was not read")


def intake_limits(ctx: Context) -> Limits:
    st = ctx.settings
    return Limits(st.max_rows, st.max_bad_row_percent, max_unpacked_bytes=st.max_unpacked_bytes,
                  max_unpack_ratio=st.max_unpack_ratio, max_cell_chars=st.max_cell_chars)


# Files refused unread because reading them is the danger (a workbook that would inflate past its
# limits, XML declaring a DOCTYPE): refused like a file over the size limit, and nothing of them is
# stored, neither a submission nor the bytes.
REFUSED_UNREAD = ("FILE_TOO_LARGE", "UNSAFE_XML")


def refuse_unread(result: IntakeResult) -> None:
    for f in result.file_errors:
        if f.code in REFUSED_UNREAD:
            raise Refused(f.code, f.message)


def _check_submitter(ctx: Context, branch: str, user: str) -> Actor:
    with ctx.uow() as session:
        who = actor(session, user)
        require_role(who, ("clerk",), "submitting a branch list")
        if session.get(Branch, branch) is None:
            raise NotFound("branch", branch)
        if who.branch_code != branch:
            raise PolicyViolation("OUT_OF_SCOPE", f"{user} is a clerk of branch {who.branch_code}, "
                                  f"not of branch {branch}")
        return who


def refuse_if_released(session: Session, per: Period) -> None:
    """Refuse a branch list for a period already released: it could never be paid (no run is made for a
    released period) and must not supersede the list that was paid. The period's runs are locked first,
    so a release in progress (it holds its run's lock) is waited for and then seen."""
    session.execute(select(Run.id).where(Run.period == str(per)).order_by(Run.id).with_for_update()).all()
    released = released_period(session, str(per))
    if released is not None:
        raise WrongState("PERIOD_RELEASED", f"period {per} was released by run {released.run_id}: a branch list "
                         "sent now could never be paid, so it is refused and nothing of it is recorded. A late "
                         f"correction of {per} is paid through its holds: a payment held on run {released.run_id} "
                         f"is cleared (pension hold clear {released.run_id} END_TO_END_ID) and then paid by a "
                         f"supplementary run (pension run supplementary --period {per}); anything else goes in "
                         "the next period's list")


# intake refusals that depend on a setting (PENSION_MAX_ROWS, max cell length, file and unpacked size, bad-row
# share), not on the bytes alone: the same bytes sent after the operator raised the limit may pass
LIMIT_CODES = frozenset({"TOO_MANY_ROWS", "CELL_TOO_LONG", "FILE_TOO_LARGE", "TOO_MANY_BAD_ROWS"})


def _same_bytes(session: Session, branch: str, period: str, sha: str, declared_count: int | None,
                declared_total: int | None) -> Submission | None:
    """The submission these exact bytes already are: the live one, or else the same bytes with the same
    declared figures rejected at intake (they get the same verdict: a file rejected and sent again by a
    resumed flow or a second collection is not a second submission)."""
    same = session.execute(select(Submission).where(
        Submission.branch_code == branch, Submission.period == period, Submission.content_sha256 == sha,
        Submission.status.in_(LIVE))).scalar_one_or_none()
    if same is not None:
        return same
    rejected = session.execute(select(Submission).where(
        Submission.branch_code == branch, Submission.period == period, Submission.content_sha256 == sha,
        Submission.status == "rejected", Submission.declared_count.is_(None) if declared_count is None
        else Submission.declared_count == declared_count,
        Submission.declared_total.is_(None) if declared_total is None
        else Submission.declared_total == declared_total)
        .order_by(Submission.id.desc()).limit(1)).scalar_one_or_none()
    if rejected is not None and LIMIT_CODES & {f.get("code") for f in json.loads(rejected.file_errors or "[]")}:
        return None  # refused for a limit the operator may since have raised: the bytes are read again
    return rejected


def _duplicate(session: Session, same: Submission) -> dict[str, Any]:
    return receipt(session, same, duplicate=True,
                   note=f"these exact bytes are already submission {same.id}; nothing new was stored")


def submit(ctx: Context, path: Path | str, *, branch: str, period: str, user: str,
           declared_count: int | None = None, declared_total: int | None = None,
           encoding: str | None = None, sheet: str | None = None) -> dict[str, Any]:
    """Submit a branch list from a local file or an fsspec URL (an object store shared by several
    workers): the CLI's and the flows' way in. Raises Refused (and stores nothing) as submit_bytes does.
    The receipt names its Data Docs page, rendered when first asked for (data_docs_page; the CLI asks
    at once, a person is waiting for that receipt)."""
    [outcome] = _submit_all(ctx, [{"path": path, "branch": branch, "period": period, "user": user,
                                   "declared_count": declared_count, "declared_total": declared_total,
                                   "encoding": encoding, "sheet": sheet}])
    return _single(ctx, outcome)


def submit_bytes(ctx: Context, data: bytes, file_name: str, *, branch: str, period: str, user: str,
                 declared_count: int | None = None, declared_total: int | None = None,
                 encoding: str | None = None, sheet: str | None = None) -> dict[str, Any]:
    """Submit a branch list given as bytes (the inbox's and the API's way in). `file_name` is only a
    name, stored and shown: one with a folder, '..' or control characters is refused. Returns the
    receipt; raises Refused (and stores nothing) when the name is unsafe, the submitter may not
    submit, the file is over the size limit or the period is already released."""
    [outcome] = _submit_all(ctx, [{"data": data, "file_name": file_name, "branch": branch, "period": period,
                                   "user": user, "declared_count": declared_count,
                                   "declared_total": declared_total, "encoding": encoding, "sheet": sheet}])
    return _single(ctx, outcome)


def _single(ctx: Context, outcome: dict[str, Any] | BaseException) -> dict[str, Any]:
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def submit_many(ctx: Context, items: Iterable[Mapping[str, Any]], workers: int = 1,
                batch_rows: int = 250_000) -> list[dict[str, Any]]:
    """Submit many branch lists at once; one receipt per item, in the items' order.

    Each item is a mapping with ``path`` (a local path or an fsspec URL) or ``data`` and ``file_name``,
    and ``branch``, ``period``, ``user``, optionally ``declared_count``, ``declared_total``,
    ``encoding``, ``sheet``. Files are read and parsed (in ``workers`` threads), then validated by the
    quality gate together, ``batch_rows`` rows at a time (one Great Expectations run per batch instead of
    one per file), then each is finished and stored on its own, in its own transaction: every branch
    gets its own submission, verdict, validation result and Data Docs page (rendered when first asked
    for: data_docs_page). A file that is refused (an unsafe name, a stranger's list, over the size
    limit, a released period...) gets a receipt with status "refused" and the error, and stores
    nothing; it never holds back the others. Database errors (a lock timeout) are raised: what was
    stored stays stored, and a retry finds it (the same bytes are the same submission)."""
    items = list(items)
    outcomes = _submit_all(ctx, items, workers=workers, batch_rows=batch_rows)
    return [o if isinstance(o, dict) else _refused_receipt(item, o) for item, o in zip(items, outcomes, strict=True)]


def _refused_receipt(item: Mapping[str, Any], error: BaseException) -> dict[str, Any]:
    name = item.get("file_name") or (str(item["path"]).rstrip("/").rsplit("/", 1)[-1] if item.get("path") else None)
    detail = error.as_dict() if isinstance(error, Refused) else {
        "code": "INTAKE_FAILED", "message": f"{name}: the file could not be taken in ({type(error).__name__}: "
        f"{error}); nothing of it was stored"}
    return {"submission_id": None, "status": "refused", "state": "refused", "branch_code": item.get("branch"),
            "period": item.get("period"), "file_name": name, "rows": 0, "rows_rejected": 0, "accepted_rows": 0,
            "error": detail, "errors": [detail]}


@dataclass
class _Pending:
    """A file past the checks that need no reading, waiting to be parsed, gated and stored."""

    index: int
    data: bytes
    file_name: str
    branch: str
    period: Period
    user: str
    who: Actor
    sha: str
    system: str | None
    declared_count: int | None
    declared_total: int | None
    encoding: str | None
    sheet: str | None
    parsed: CellsFile | ParsedFile | IntakeResult | None = None


def _admit(ctx: Context, index: int, item: Mapping[str, Any]) -> _Pending | dict[str, Any]:
    """The checks before a file is read: its name, size, submitter, duplicate bytes, released period.
    Raises Refused; returns the duplicate's receipt when these bytes are already a submission."""
    branch, user = item["branch"], item["user"]
    per = Period.parse(item["period"])
    declared_count, declared_total = item.get("declared_count"), item.get("declared_total")
    if item.get("data") is None:
        path = item["path"]
        try:
            name, size = source_info(path)
        except FileNotFoundError:
            raise Refused("FILE_NOT_FOUND", f"{path}: no such file") from None
        check_file_size(size, name, ctx.settings.max_file_bytes)
        who = _check_submitter(ctx, branch, user)  # before reading: a stranger's file is never read into memory
        data = read_source(path)
    else:
        data, name = item["data"], item["file_name"]
        who = None
    safe_file_name(name)
    check_file_size(len(data), name, ctx.settings.max_file_bytes)
    if who is None:
        who = _check_submitter(ctx, branch, user)
    sha = sha256_bytes(data)
    with ctx.uow() as session:
        same = _same_bytes(session, branch, str(per), sha, declared_count, declared_total)
        if same is not None:
            return _duplicate(session, same)
        refuse_if_released(session, per)  # after the duplicate: a resumed flow re-sends the paid list
        system = session.get(Branch, branch).system  # type: ignore[union-attr]  # checked above
    return _Pending(index, data, name, branch, per, user, who, sha, system, declared_count, declared_total,
                    item.get("encoding"), item.get("sheet"))


def _read(ctx: Context, p: _Pending) -> _Pending:
    """The file read and its columns resolved (parsed later, with its batch: _parse_batch)."""
    p.parsed = read_payee_cells(p.data, p.file_name, profile=ctx.country, period=p.period,
                                declared_count=p.declared_count, declared_total=p.declared_total,
                                encoding=p.encoding, sheet=p.sheet, system=p.system, limits=intake_limits(ctx))
    return p


def _parse_batch(ctx: Context, batch: list[_Pending], fail: Any) -> None:
    """The batch's read files parsed in one pass (payee_file.parse_cells). Should that pass fail (a bug),
    each file is parsed alone, so that only the file at fault fails."""
    read = [p for p in batch if isinstance(p.parsed, CellsFile)]
    if not read:
        return
    try:
        cells = [p.parsed for p in read]
        for p, parsed in zip(read, parse_cells(cells, ctx.country), strict=True):  # type: ignore[arg-type]
            p.parsed = parsed
    except Exception:  # noqa: BLE001
        log.exception("parsing the batch failed; parsing its %s files one by one", len(read))
        for p in read:
            try:
                p.parsed = parse_cells([p.parsed], ctx.country)[0]  # type: ignore[list-item]
            except Exception as e:  # noqa: BLE001
                p.parsed = None
                fail(p.index, e)


READ_AHEAD_BYTES = 64 << 20  # branch files read ahead of the batch being gated (bytes as sent)
READ_AHEAD_FILES = 256


def _submit_all(ctx: Context, items: list[Mapping[str, Any]], workers: int = 1, batch_rows: int = 250_000
                ) -> list[dict[str, Any] | BaseException]:
    """One outcome per item: its receipt, or the exception that refused it (DBAPIError is raised)."""
    outcomes: list[dict[str, Any] | BaseException | None] = [None] * len(items)
    pool = ThreadPoolExecutor(max_workers=workers) if workers > 1 else None
    batch: list[_Pending] = []
    rows = 0

    def fail(i: int, e: BaseException) -> None:
        if isinstance(e, DBAPIError):
            raise e
        if not isinstance(e, Refused):
            log.exception("intake of item %s failed", i)
        outcomes[i] = e

    # With a pool, a batch is parsed and gated in a thread of its own while the batch before it is stored
    # here (and the files after it are read): Arrow and the database release the GIL, GX mostly holds it.
    gating = ThreadPoolExecutor(max_workers=1) if pool is not None else None
    gated: tuple[list[_Pending], Future[dict[int, Any]]] | None = None

    def store_gated() -> None:
        nonlocal gated
        if gated is not None:
            done, future = gated
            gated = None
            _store_batch(ctx, done, future.result(), outcomes, fail)

    def flush() -> None:
        nonlocal batch, rows, gated
        if gating is None:
            _gate_and_store(ctx, batch, outcomes, fail)
        else:
            future = gating.submit(_parse_and_gate, ctx, batch, fail)
            store_gated()
            gated = (batch, future)
        batch, rows = [], 0

    def take(p: _Pending, error: BaseException | None) -> None:
        nonlocal rows
        if error is not None:
            fail(p.index, error)
            return
        batch.append(p)
        if isinstance(p.parsed, CellsFile):
            rows += p.parsed.rows_read
        if rows >= batch_rows:
            flush()

    # Files are admitted in order and read by the pool while the batch before them is parsed, gated and
    # stored here; at most READ_AHEAD_BYTES of them (and READ_AHEAD_FILES) are in flight, so that a
    # national month's 600 files are never all in memory at once. Without a pool: one after another.
    in_flight: deque[tuple[int, Future[tuple[_Pending, BaseException | None]]]] = deque()
    in_bytes = 0

    def drain_one() -> None:
        nonlocal in_bytes
        size, future = in_flight.popleft()
        in_bytes -= size
        take(*future.result())

    try:
        for i in range(len(items)):
            try:
                a = _admit(ctx, i, items[i])
            except Exception as e:  # noqa: BLE001 - every refusal is this item's receipt
                fail(i, e)
                continue
            if isinstance(a, dict):
                outcomes[i] = a
            elif pool is None:
                take(*_safe_read(ctx, a))
            else:
                in_flight.append((len(a.data), pool.submit(_safe_read, ctx, a)))
                in_bytes += len(a.data)
                while in_flight and (in_bytes > READ_AHEAD_BYTES or len(in_flight) > READ_AHEAD_FILES):
                    drain_one()
        while in_flight:
            drain_one()
        if batch:
            flush()
        store_gated()
    finally:
        if pool:
            pool.shutdown()
        if gating:
            gating.shutdown()
    return [o if o is not None else RuntimeError("no outcome") for o in outcomes]


def _safe_read(ctx: Context, p: _Pending) -> tuple[_Pending, BaseException | None]:
    try:
        return _read(ctx, p), None
    except Exception as e:  # noqa: BLE001 - the file's own failure, reported on its receipt
        return p, e


def _gate_and_store(ctx: Context, batch: list[_Pending], outcomes: list[Any], fail: Any) -> None:
    """The batch parsed and gated (_parse_and_gate), then each file finished and stored in order."""
    _store_batch(ctx, batch, _parse_and_gate(ctx, batch, fail), outcomes, fail)


def _parse_and_gate(ctx: Context, batch: list[_Pending], fail: Any) -> dict[int, Any]:
    """The batch's files parsed in one pass and validated in one gate run: the gate result of each parsed
    file, by item index. When the batch's gate fails (a bug), each file is gated alone, so that only the
    file at fault fails. Touches no database: may run beside the storing of the batch before it."""
    _parse_batch(ctx, batch, fail)
    gated = [p for p in batch if isinstance(p.parsed, ParsedFile)]
    gates: dict[int, Any] = {}
    if not gated:
        return gates
    frames = [p.parsed.gate_frame() for p in gated]  # type: ignore[union-attr]
    try:
        if len(gated) == 1:  # one file (submit, submit_bytes): the single-file gate
            gates[gated[0].index] = payee_file.default_gate(frames[0], ctx.country, gated[0].period)
        else:
            for p, g in zip(gated, payee_file.default_gate_many(frames, ctx.country, gated[0].period), strict=True):
                gates[p.index] = g
    except Exception:  # noqa: BLE001
        log.exception("the batch gate failed; gating its %s files one by one", len(gated))
        for p, frame in zip(gated, frames, strict=True):
            try:
                gates[p.index] = payee_file.default_gate(frame, ctx.country, p.period)
            except Exception as e:  # noqa: BLE001
                fail(p.index, e)
    for p, frame in zip(gated, frames, strict=True):
        if p.period != gated[0].period and p.index in gates:  # another period's file: gated with its own
            try:
                gates[p.index] = payee_file.default_gate(frame, ctx.country, p.period)
            except Exception as e:  # noqa: BLE001
                del gates[p.index]
                fail(p.index, e)
    return gates


def _store_batch(ctx: Context, batch: list[_Pending], gates: dict[int, Any], outcomes: list[Any], fail: Any
                 ) -> None:
    """Each file of a gated batch finished (its verdict) and stored, in order, each in its own transaction."""
    for p in batch:
        if outcomes[p.index] is not None:
            continue
        try:
            if isinstance(p.parsed, ParsedFile):
                result = finish_payee_file(p.parsed, gates[p.index])
            else:
                result = p.parsed  # type: ignore[assignment]  # refused before the gate
            outcomes[p.index] = _store(ctx, p, result)
        except Exception as e:  # noqa: BLE001
            fail(p.index, e)
        finally:
            p.parsed = None
            p.data = b""


def _store(ctx: Context, p: _Pending, result: IntakeResult) -> dict[str, Any]:
    """Store one file's objects and its submission, in its own transaction; its receipt."""
    refuse_unread(result)
    branch, per, user, file_name, sha = p.branch, p.period, p.user, p.file_name, p.sha
    declared_count, declared_total = p.declared_count, p.declared_total
    raw_path, _ = put_object(ctx.home, "raw", p.data, Path(file_name).suffix.lower()[:10])
    rows_path = rows_sha = None
    if result.status == "accepted":
        rows_path, rows_sha = put_table(ctx.home, "rows", result.accepted_table())
    validation = _keep_validation(ctx, result, branch, str(per))

    with ctx.uow() as session:
        # the check before reading and this insert are one decision: under the branch's row lock
        # (PostgreSQL; SQLite's writers are serialized by BEGIN IMMEDIATE) a copy of the same bytes that
        # was stored while this one was read is found, so every concurrent copy gets the duplicate answer
        # and two different files get versions one after the other
        session.execute(select(Branch.branch_code).where(Branch.branch_code == branch).with_for_update())
        same = _same_bytes(session, branch, str(per), sha, declared_count, declared_total)
        if same is not None:
            return _duplicate(session, same)
        refuse_if_released(session, per)  # released while the file was read: not stored, nothing superseded
        version = (session.execute(select(func.max(Submission.version)).where(
            Submission.branch_code == branch, Submission.period == str(per))).scalar() or 0) + 1
        sub = Submission(
            branch_code=branch, period=str(per), version=version, status=result.status, submitted_by=user,
            submitted_at=audit.now_iso(), file_name=file_name, content_sha256=sha, raw_path=str(raw_path),
            rows_path=str(rows_path) if rows_path else None, rows_sha256=rows_sha, rows=result.rows_read,
            rows_rejected=result.rows_rejected, accepted_rows=len(result.accepted),
            accepted_total=result.accepted_total, counted_total=result.counted_total,
            declared_count=declared_count, declared_total=declared_total,
            file_errors=json.dumps([f.as_dict() for f in result.file_errors + result.warnings], ensure_ascii=False),
            levels_approved=0, source=json.dumps(result.source, ensure_ascii=False), **validation,
        )
        session.add(sub)
        session.flush()
        if result.row_errors:  # one INSERT for all of them, not one ORM object per row
            session.execute(insert(IntakeError), [
                {"submission_id": sub.id, "row_no": f.row or 0, "column_name": f.column, "code": f.code,
                 "message": f.message, "pension_id": f.pension_id, "national_id": f.national_id}
                for f in result.row_errors])
        superseded = []
        if result.status == "accepted":
            for old in session.execute(select(Submission).where(
                    Submission.branch_code == branch, Submission.period == str(per), Submission.id != sub.id,
                    Submission.status.in_(LIVE)).with_for_update()).scalars():
                before = submission_state(old)
                old.status = "superseded"
                old.status_reason = f"superseded by submission {sub.id}"
                superseded.append(old.id)
                audit.append(session, actor=user, role=p.who.role, action="submission.supersede",
                             item_type="submission", item_id=old.id, before=before, after=submission_state(old),
                             detail={"by": sub.id})
        audit.append(session, actor=user, role=p.who.role, action="submission.submit", item_type="submission",
                     item_id=sub.id, after=submission_state(sub),
                     detail={"file": file_name, "rows": result.rows_read, "rows_rejected": result.rows_rejected,
                             "status": result.status, "declared_count": declared_count,
                             "declared_total": declared_total, "counted_total": result.counted_total})
        return receipt(session, sub, row_errors=[f.as_dict() for f in result.row_errors], supersedes=superseded)


def _keep_validation(ctx: Context, result: IntakeResult, branch: str, period: str) -> dict[str, Any]:
    """Store the gate's full result (content-addressed) for the submitter and the approvers; the
    database keeps the verdict per expectation, the result's path and where its Data Docs page goes.
    The page itself is rendered from the stored result when first asked for (data_docs_page): at
    0.1 s or more a page, rendering 600 branches' pages nobody opens would cost more than their gate."""
    gate = result.gate
    if gate is None:  # the file was refused before the gate (unreadable, no columns, no rows)
        return {}
    body = json.dumps(gate.result, ensure_ascii=False, sort_keys=True, default=str).encode()
    result_path, sha = put_object(ctx.home, "validations", body, ".json")
    docs_path = ctx.home / "datadocs" / f"{sha}.html"
    summary = {"success": gate.success, "seconds": round(gate.seconds, 3), "expectations": gate.expectations}
    return {"validation_summary": json.dumps(summary, ensure_ascii=False, default=str),
            "validation_path": str(result_path), "data_docs_path": str(docs_path)}


def _home_path(ctx: Context, stored: str) -> Path:
    path = Path(stored)
    return path if path.is_absolute() else ctx.home / path


def data_docs_page(ctx: Context, submission_id: int) -> Path | None:
    """The Data Docs page of a submission's quality gate, rendered from its stored validation result
    the first time it is asked for (the page is content-addressed: the same result, the same page).
    None when the file was refused before the gate."""
    with ctx.uow() as session:
        sub = _load_submission(session, submission_id)
        if not sub.data_docs_path or not sub.validation_path:
            return None
        docs_path = _home_path(ctx, sub.data_docs_path)
        result_path = _home_path(ctx, sub.validation_path)
        title = f"Branch {sub.branch_code}, {sub.period}: {sub.file_name}"
    if not docs_path.exists():
        from validations.docs import render_data_docs

        make_private_dir(docs_path.parent)
        render_data_docs(json.loads(result_path.read_text(encoding="utf-8")), docs_path, title=title)
    return docs_path


def submission_item(session: Session, sub: Submission) -> Item:
    branch = session.get(Branch, sub.branch_code)
    return Item("submission", sub.id, sub.submitted_by, sub.levels_approved, sub.branch_code,
                branch.province_code if branch else None)


def _decide(session: Session, submission_id: int, user: str, doing: str
            ) -> tuple[Submission, Actor, Level, list[Level]]:
    """Lock the submission and check that `user` may decide its next level (approve or reject)."""
    sub = _load_submission(session, submission_id, lock=True)
    who = actor(session, user)
    may_sign(who, submission_item(session, sub), chain(session, "submission"))
    if sub.status != "accepted":
        raise WrongState("WRONG_STATE", f"submission {sub.id} is {sub.status}; only a submission awaiting "
                         f"approval can be {doing}")
    levels = slots(chain(session, "submission"), sub.accepted_total)
    level = authorize(who, submission_item(session, sub), levels,
                      signed_by(session, "submission", sub.id, sub.content_sha256))
    return sub, who, level, levels


def approve_submission(ctx: Context, submission_id: int, *, user: str,
                       expect_sha256: str | None = None, comment: str | None = None) -> dict[str, Any]:
    """Sign the next level of a branch list; an approver's comment is kept with the signature."""
    comment = (comment or "").strip() or None
    with ctx.uow() as session:
        sub, who, level, levels = _decide(session, submission_id, user, "approved")
        if expect_sha256 is not None and expect_sha256 != sub.content_sha256:
            raise Refused("HASH_MISMATCH", f"submission {sub.id} has content {sub.content_sha256}, "
                          f"not {expect_sha256}: you would approve something you did not see")
        before = submission_state(sub)
        session.add(Approval(item_type="submission", item_id=sub.id, level=level.level, slot=level.slot, user_id=user,
                             role=who.role, content_sha256=sub.content_sha256, decision="approve",
                             reason=comment, decided_at=audit.now_iso()))
        sub.levels_approved += 1
        if sub.levels_approved == len(levels):
            sub.status = "approved"
        audit.append(session, actor=user, role=who.role, action="submission.approve", item_type="submission",
                     item_id=sub.id, before=before, after=submission_state(sub),
                     detail={"level": level.level, "content_sha256": sub.content_sha256,
                             **({"comment": comment} if comment else {})})
        return {"submission_id": sub.id, "branch_code": sub.branch_code, "period": sub.period, "level": level.level,
                "levels_required": len(levels), "status": sub.status, "content_sha256": sub.content_sha256,
                "comment": comment}


def reject_submission(ctx: Context, submission_id: int, *, user: str, reason: str) -> dict[str, Any]:
    if not reason or not reason.strip():
        raise Refused("REASON_REQUIRED", "a rejection needs a reason the branch can act on")
    with ctx.uow() as session:
        sub, who, level, _ = _decide(session, submission_id, user, "rejected")
        before = submission_state(sub)
        session.add(Approval(item_type="submission", item_id=sub.id, level=level.level, slot=level.slot, user_id=user,
                             role=who.role, content_sha256=sub.content_sha256, decision="reject", reason=reason.strip(),
                             decided_at=audit.now_iso()))
        sub.status = "returned"
        sub.status_reason = reason.strip()
        audit.append(session, actor=user, role=who.role, action="submission.reject", item_type="submission",
                     item_id=sub.id, before=before, after=submission_state(sub),
                     detail={"level": level.level, "reason": reason.strip()})
        return {"submission_id": sub.id, "branch_code": sub.branch_code, "period": sub.period, "level": level.level,
                "status": sub.status, "reason": reason.strip()}


def show_submission(ctx: Context, submission_id: int, *, data_docs: bool = True) -> dict[str, Any]:
    """A submission's receipt, state and approvals. Its Data Docs page (which the receipt names) is
    rendered when first shown, unless `data_docs` is False: a flow reading the state to sign renders no
    page for nobody."""
    if data_docs:
        data_docs_page(ctx, submission_id)
    with ctx.uow() as session:
        sub = _load_submission(session, submission_id)
        approvals = [{"level": a.level, "user": a.user_id, "decision": a.decision, "reason": a.reason,
                      "content_sha256": a.content_sha256, "at": a.decided_at}
                     for a in session.execute(select(Approval).where(
                         Approval.item_type == "submission", Approval.item_id == sub.id)
                         .order_by(Approval.level)).scalars()]
        return receipt(session, sub, approvals=approvals, status_reason=sub.status_reason)



def awaiting_approval(ctx: Context, period: str) -> list[dict[str, Any]]:
    """The period's branch lists that still wait for a signature (accepted, not yet approved or
    returned), by branch: what a run made now would leave out."""
    per = Period.parse(period)
    with ctx.uow() as session:
        return [{"submission_id": s.id, "branch_code": s.branch_code, "version": s.version,
                 "levels_approved": s.levels_approved}
                for s in session.execute(select(Submission).where(
                    Submission.period == str(per), Submission.status == "accepted")
                    .order_by(Submission.branch_code, Submission.id)).scalars()]
