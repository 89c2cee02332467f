"""Configuration from the environment, with defaults that run on a fresh machine.

PENSION_HOME holds stored submissions, runs, bank files and reports; PENSION_DB_URL defaults to a
SQLite file inside it. Everything else has a PENSION_ prefix too (e.g. PENSION_COUNTRY=KR).
"""

from __future__ import annotations

from datetime import timedelta, timezone
from functools import cached_property
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_DATA_DIR = Path(__file__).resolve().parent.parent / "data"
SAMPLE_DEBTOR_ACCOUNT = {"IR": "IR130130100000000000000001", "KR": "0881000000000001"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PENSION_", extra="ignore")

    home: Path = Path(".pension")
    db_url: str | None = None
    data_dir: Path = REPO_DATA_DIR
    country: str = Field(default="IR", pattern="^(IR|KR)$")

    # The institution's disbursement account: the debtor of every bank file, written in the country
    # profile's account format (SHEBA for IR, bank code + account for KR). Empty: the sample
    # institution's account of that country.
    debtor_name: str = "Social Security Organization - Pension Disbursement"
    debtor_account: str = ""
    initiating_party: str = "Social Security Organization HQ Financial Affairs"
    payment_day: int = Field(default=25, ge=1, le=28)
    # Local time of the institution; bank files carry it in CreDtTm.
    utc_offset_minutes: int = 210

    # Refuse files before parsing them: a branch list is never this big.
    max_file_bytes: int = 256 * 1024**2
    max_rows: int = 2_000_000
    # An XLSX workbook is a zip: what it may inflate to in all (unset: 16 MiB plus 2 KiB for each of
    # max_rows, see payroll.intake.reading.unpacked_limit) and how much more than its compressed size
    # one part may inflate to; checked from the zip's directory and again while inflating.
    max_unpacked_bytes: int | None = Field(default=None, ge=1)
    max_unpack_ratio: int = Field(default=100, ge=1)
    # No field of a payee row is longer (a name, an id, an account): a longer cell refuses the file.
    max_cell_chars: int = Field(default=1000, ge=1)
    # The quality gate refuses a whole list when more than this share of its rows have errors.
    max_bad_row_percent: float = Field(default=5.0, ge=0, le=100)

    # The Ed25519 key that signs release manifests (payroll.signing); empty: HOME/keys/release-ed25519.pem,
    # created on first release.
    signing_key_file: Path | None = None

    # Run checks (payroll.checks.policy). A payee who died during the period: "pay" through the month
    # of death (WARN) or "hold" the payment for review (HOLD).
    death_in_period: str = Field(default="pay", pattern="^(pay|hold)$")
    # rapidfuzz score (0..100) of a name against the registry's: at or above it a WARN, below a HOLD
    name_similarity_threshold: float = Field(default=90.0, ge=0, le=100)
    # net amount up more than this percent against the last released period: HOLD
    amount_jump_percent: int = Field(default=20, ge=0)
    # more than one account change within this many days (released periods and this one): HOLD
    account_change_window_days: int = Field(default=90, ge=28)
    # DuckDB's memory limit for the run's joins (payroll.checks.engine); beyond it DuckDB spills to
    # HOME/tmp/duckdb. A DuckDB size: '4GB', '512MB'.
    duckdb_memory_limit: str = Field(default="4GB", pattern=r"^[0-9]+(\.[0-9]+)?\s*[KMGT]i?B$")

    # What runs the flows' per-branch tasks (flows.runners): "thread" (Prefect's thread pool, this
    # process) or "dask" (prefect-dask: the scheduler at dask_address, else a temporary LocalCluster of
    # dask_workers processes).
    task_runner: str = Field(default="thread", pattern="^(thread|dask)$")
    task_workers: int | None = Field(default=None, ge=1)
    dask_address: str = ""
    dask_workers: int = Field(default=2, ge=1)
    # The portal and HTTP API (payroll.web). The secret signs session tokens; empty: HOME/keys/web-secret,
    # created 0600 on first use (several API processes behind one proxy must share it).
    web_secret_file: Path | None = None
    session_minutes: int = Field(default=15, ge=1, le=24 * 60)
    # Secure cookies (HTTPS only): on behind a TLS-terminating proxy; off for http://127.0.0.1
    cookie_secure: bool = False
    # Failed sign-ins allowed per user id and per client address within the window, then 429
    login_attempts: int = Field(default=5, ge=1)
    login_window_seconds: int = Field(default=300, ge=1)
    # Log lines as JSON objects (payroll.logs) instead of text; national ids are masked either way.
    log_format: str = Field(default="text", pattern="^(text|json)$")

    @model_validator(mode="after")
    def _debtor_account_valid(self) -> Settings:
        from payroll.country import profile

        account = profile(self.country).account
        self.debtor_account = account.validate(self.debtor_account or SAMPLE_DEBTOR_ACCOUNT[self.country])
        return self

    @property
    def resolved_home(self) -> Path:
        return self.home.resolve()

    @property
    def database_url(self) -> str:
        if self.db_url:
            return self.db_url
        return f"sqlite:///{self.resolved_home / 'pension.db'}"

    @property
    def release_key_path(self) -> Path:
        return self.signing_key_file or self.resolved_home / "keys" / "release-ed25519.pem"

    @property
    def web_secret_path(self) -> Path:
        return self.web_secret_file or self.resolved_home / "keys" / "web-secret"

    @property
    def tz(self) -> timezone:
        return timezone(timedelta(minutes=self.utc_offset_minutes))

    @cached_property
    def reference_dir(self) -> Path:
        return self.data_dir / "reference"


def load_settings() -> Settings:
    return Settings()
