"""Tables of the system of record.

Small, stateful things live here (who, what state, which hash); bulk row data lives in immutable,
content-addressed Parquet files whose SHA-256 is recorded in these tables. Times are stored as
ISO-8601 text so that hashes computed over them are the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ID = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements only INTEGER PRIMARY KEY


class Base(DeclarativeBase):
    pass


# --- reference data -------------------------------------------------------------------------------


class Branch(Base):
    __tablename__ = "branches"
    branch_code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    province_code: Mapped[str] = mapped_column(String(16), index=True)
    # the branch system whose headers its files use (data/reference/column_maps.csv); None: any known
    system: Mapped[str | None] = mapped_column(String(32))


class User(Base):
    __tablename__ = "users"
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    branch_code: Mapped[str | None] = mapped_column(String(16))
    province_code: Mapped[str | None] = mapped_column(String(16))
    # the portal's sign-in (payroll.services.users): argon2id; NULL: the user cannot sign in
    password_hash: Mapped[str | None] = mapped_column(String(200))
    password_set_at: Mapped[str | None] = mapped_column(String(40))
    # every session token names the generation it was issued in; signing out and a new password move it
    # on, which ends every session issued before (payroll.web.security, payroll.services.users)
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ApprovalLevel(Base):
    """The approval chain as data: item_type 'submission' or 'run', ordered levels."""

    __tablename__ = "approval_levels"
    item_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    level: Mapped[int] = mapped_column(Integer, primary_key=True)
    roles: Mapped[str] = mapped_column(String(100))  # '|'-separated
    scope: Mapped[str] = mapped_column(String(16))  # branch | province | hq
    required: Mapped[int] = mapped_column(Integer, default=1, server_default="1")  # N distinct signers
    min_total: Mapped[int | None] = mapped_column(BigInteger)  # applies only above this item total


class Bank(Base):
    __tablename__ = "banks"
    bank_code: Mapped[str] = mapped_column(String(8), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    bic: Mapped[str | None] = mapped_column(String(11))
    file_format: Mapped[str] = mapped_column(String(32), default="pain.001.001.09")
    # a bank's own limits and naming (data/reference/banks_*.csv): a file holds at most this many
    # transactions (more are split into several files) and at most this many bytes (refused beyond)
    max_transactions: Mapped[int | None] = mapped_column(Integer)
    max_file_bytes: Mapped[int | None] = mapped_column(BigInteger)
    file_name: Mapped[str | None] = mapped_column(String(200))  # pattern; see bank_formats.plan
    params: Mapped[str | None] = mapped_column(Text)  # JSON object: a layout's per-bank parameters


class ReferenceLoad(Base):
    """Every load of reference data, for auditors. For the national extracts (registry, deaths,
    accounts) the row names the normalized extract's Parquet object (key relative to PENSION_HOME, and its
    SHA-256); the newest such row of a kind is the extract in force. `sha256` is the file as received."""

    __tablename__ = "reference_loads"
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    file_name: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(Integer)
    loaded_by: Mapped[str] = mapped_column(String(64))
    loaded_at: Mapped[str] = mapped_column(String(40))
    object_key: Mapped[str | None] = mapped_column(String(500))
    object_sha256: Mapped[str | None] = mapped_column(String(64))


# --- submissions ----------------------------------------------------------------------------------


class Submission(Base):
    __tablename__ = "submissions"
    __table_args__ = (
        Index("ix_submissions_branch_period", "branch_code", "period"),
        UniqueConstraint("branch_code", "period", "version", name="uq_submission_version"),
    )
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    branch_code: Mapped[str] = mapped_column(ForeignKey("branches.branch_code"))
    period: Mapped[str] = mapped_column(String(7))
    version: Mapped[int] = mapped_column(Integer)
    # rejected | accepted (awaiting approval) | approved | returned | superseded
    status: Mapped[str] = mapped_column(String(16))
    submitted_by: Mapped[str] = mapped_column(ForeignKey("users.user_id"))
    submitted_at: Mapped[str] = mapped_column(String(40))
    file_name: Mapped[str] = mapped_column(String(500))
    content_sha256: Mapped[str] = mapped_column(String(64))
    raw_path: Mapped[str] = mapped_column(String(1000))
    rows_path: Mapped[str | None] = mapped_column(String(1000))
    rows_sha256: Mapped[str | None] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(Integer)
    rows_rejected: Mapped[int] = mapped_column(Integer)
    accepted_rows: Mapped[int] = mapped_column(Integer)
    accepted_total: Mapped[int] = mapped_column(BigInteger)
    counted_total: Mapped[int | None] = mapped_column(BigInteger)
    declared_count: Mapped[int | None] = mapped_column(BigInteger)
    declared_total: Mapped[int | None] = mapped_column(BigInteger)
    file_errors: Mapped[str] = mapped_column(Text, default="[]")  # JSON list
    levels_approved: Mapped[int] = mapped_column(Integer, default=0)
    status_reason: Mapped[str | None] = mapped_column(Text)
    # how the file was read: format, encoding, delimiter, sheet, header mapping (JSON)
    source: Mapped[str | None] = mapped_column(Text)
    # the quality gate: its verdict per expectation (JSON), the full result and its Data Docs page
    validation_summary: Mapped[str | None] = mapped_column(Text)
    validation_path: Mapped[str | None] = mapped_column(String(1000))
    data_docs_path: Mapped[str | None] = mapped_column(String(1000))


class IntakeError(Base):
    """A row the branch sent that was rejected at intake, with the column and a reason."""

    __tablename__ = "intake_errors"
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    row_no: Mapped[int] = mapped_column(Integer)
    column_name: Mapped[str | None] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(48))
    message: Mapped[str] = mapped_column(Text)
    pension_id: Mapped[str | None] = mapped_column(String(64))
    national_id: Mapped[str | None] = mapped_column(String(64))


class Approval(Base):
    """One decision at one level; it binds to the content hash the approver saw."""

    __tablename__ = "approvals"
    __table_args__ = (
        # exactly one decision per signature slot of one content, and one person never signs twice
        UniqueConstraint("item_type", "item_id", "content_sha256", "level", "slot", name="uq_approval_slot"),
        UniqueConstraint("item_type", "item_id", "content_sha256", "user_id", name="uq_approval_user"),
    )
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    item_type: Mapped[str] = mapped_column(String(16))
    item_id: Mapped[int] = mapped_column(BigInteger)
    level: Mapped[int] = mapped_column(Integer)
    slot: Mapped[int] = mapped_column(Integer, default=1, server_default="1")  # which of the level's N
    user_id: Mapped[str] = mapped_column(ForeignKey("users.user_id"))
    role: Mapped[str] = mapped_column(String(32))
    content_sha256: Mapped[str] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(8))  # approve | reject
    reason: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[str] = mapped_column(String(40))


# --- runs -----------------------------------------------------------------------------------------


class Run(Base):
    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    period: Mapped[str] = mapped_column(String(7), index=True)
    # awaiting_approval | approved | released | superseded
    status: Mapped[str] = mapped_column(String(24))
    created_by: Mapped[str] = mapped_column(ForeignKey("users.user_id"))
    created_at: Mapped[str] = mapped_column(String(40))
    payments_path: Mapped[str] = mapped_column(String(1000))
    content_sha256: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(Integer)
    payable_count: Mapped[int] = mapped_column(Integer)
    payable_total: Mapped[int] = mapped_column(BigInteger)
    held_count: Mapped[int] = mapped_column(Integer)
    blocked_count: Mapped[int] = mapped_column(Integer)
    summary: Mapped[str] = mapped_column(Text)  # JSON: exception counts, missing branches, per bank
    levels_approved: Mapped[int] = mapped_column(Integer, default=0)
    approved_at: Mapped[str | None] = mapped_column(String(40))
    released_by: Mapped[str | None] = mapped_column(String(64))
    released_at: Mapped[str | None] = mapped_column(String(40))
    release_dir: Mapped[str | None] = mapped_column(String(1000))
    manifest_sha256: Mapped[str | None] = mapped_column(String(64))
    # after release: None until a bank report is read, then "partial" or "reconciled" (every payment final)
    reconciliation: Mapped[str | None] = mapped_column(String(16))
    # main: the period's run of every approved branch list (released once, see PeriodRelease);
    # supplementary: pays rows held in a released run of the period once a HOLD was cleared
    kind: Mapped[str] = mapped_column(String(16), default="main", server_default="main")
    parent_run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))  # supplementary: the main run


class RunSubmission(Base):
    __tablename__ = "run_submissions"
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), primary_key=True)
    rows_sha256: Mapped[str] = mapped_column(String(64))


class PeriodRelease(Base):
    """A period is paid at most once: the primary key makes a second release impossible."""

    __tablename__ = "period_releases"
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), unique=True)


class ReleasedFile(Base):
    __tablename__ = "released_files"
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    file_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    bank_code: Mapped[str] = mapped_column(String(8))
    file_format: Mapped[str] = mapped_column(String(32))
    transactions: Mapped[int] = mapped_column(Integer)
    control_sum: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    msg_id: Mapped[str | None] = mapped_column(String(35))  # the file's message id, as banks' reports quote it


class RunException(Base):
    __tablename__ = "run_exceptions"
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    code: Mapped[str] = mapped_column(String(48))
    severity: Mapped[str] = mapped_column(String(8))
    stage: Mapped[str] = mapped_column(String(8))  # intake | run
    branch_code: Mapped[str] = mapped_column(String(16))
    submission_id: Mapped[int] = mapped_column(BigInteger)
    source_sha256: Mapped[str] = mapped_column(String(64))
    row_no: Mapped[int] = mapped_column(Integer)
    pension_id: Mapped[str | None] = mapped_column(String(64))
    national_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text)  # JSON evidence


class HoldClearance(Base):
    """A HOLD cleared by a user with the right role, with a justification; the payment is then made by a
    supplementary run of the same period. Open while paid_in_run_id and closed_in_run_id are both NULL."""

    __tablename__ = "hold_clearances"
    __table_args__ = (UniqueConstraint("run_id", "end_to_end_id", name="uq_hold_clearance"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))  # the released run where the row was held
    end_to_end_id: Mapped[str] = mapped_column(String(35), index=True)
    pension_id: Mapped[str] = mapped_column(String(64))
    national_id: Mapped[str] = mapped_column(String(64))
    branch_code: Mapped[str] = mapped_column(String(16))
    net_amount: Mapped[int] = mapped_column(BigInteger)
    codes: Mapped[str] = mapped_column(Text)  # JSON list of the HOLD codes cleared
    justification: Mapped[str] = mapped_column(Text)
    cleared_by: Mapped[str] = mapped_column(ForeignKey("users.user_id"))
    role: Mapped[str] = mapped_column(String(32))
    cleared_at: Mapped[str] = mapped_column(String(40))
    # the supplementary run whose release paid it
    paid_in_run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    # the released supplementary run that re-checked the row and held or blocked it again: this clearance
    # is spent, the row needs a new clearance on that run
    closed_in_run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))


# --- audit ----------------------------------------------------------------------------------------


class AuditEntry(Base):
    __tablename__ = "audit_log"
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(48))
    item_type: Mapped[str] = mapped_column(String(24))
    item_id: Mapped[str] = mapped_column(String(64))
    before_sha256: Mapped[str | None] = mapped_column(String(64))
    after_sha256: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditHead(Base):
    """The chain's head, locked by every append so that concurrent writers cannot fork the chain."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    entry_hash: Mapped[str] = mapped_column(String(64))


class BankReport(Base):
    """A bank status report (pain.002, camt.054) read against a released run; read once per run."""

    __tablename__ = "bank_reports"
    __table_args__ = (UniqueConstraint("run_id", "sha256", name="uq_bank_report"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    file_name: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(String(32))
    msg_id: Mapped[str] = mapped_column(String(35))
    stored_path: Mapped[str] = mapped_column(String(1000))
    read_by: Mapped[str] = mapped_column(ForeignKey("users.user_id"))
    read_at: Mapped[str] = mapped_column(String(40))
    outcomes: Mapped[str] = mapped_column(Text)  # JSON: count per outcome of this report's lines


class TransferStatus(Base):
    """The latest status a bank reported for one transfer (leg) of a released run. Final statuses
    (settled, rejected) never change; a report that contradicts one is recorded as a conflict."""

    __tablename__ = "payment_statuses"
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    end_to_end_id: Mapped[str] = mapped_column(String(35), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(16))  # accepted | pending | settled | rejected
    iso_status: Mapped[str] = mapped_column(String(8))
    reason_code: Mapped[str | None] = mapped_column(String(8))
    reason_text: Mapped[str | None] = mapped_column(Text)
    amount: Mapped[int] = mapped_column(BigInteger)  # what the run sent
    report_id: Mapped[int] = mapped_column(ForeignKey("bank_reports.id"))
    updated_at: Mapped[str] = mapped_column(String(40))
