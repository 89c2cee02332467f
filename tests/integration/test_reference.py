"""Reference data loads: extracts replace, branches and users merge, a bad file changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from payroll.errors import Refused
from payroll.services import Context, load_reference
from payroll.store.models import Account, AuditEntry, RegistryPerson, User


def _count(ctx: Context, model: type) -> int:
    with ctx.uow() as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


def test_sample_reference_data_is_loaded(ctx: Context) -> None:
    assert _count(ctx, RegistryPerson) == 2499
    assert _count(ctx, Account) == 2100
    with ctx.uow() as s:
        head = s.get(User, "head-b01")
        assert (head.role, head.branch_code, head.province_code) == ("branch_head", "B01", "THR")


def test_registry_extract_replaces_the_previous_one_and_normalizes(ctx: Context, tmp_path: Path) -> None:
    f = tmp_path / "registry.csv"
    f.write_text("national_id,full_name,birth_date\n"
                 "۰۰۱۳۵۴۲۴۱۹,علي كريمي,1950-01-02\n"  # Persian digits; Arabic yeh and kaf
                 "12345679,زهرا  احمدی,1949-03-04\n",  # leading zeros dropped; double space
                 encoding="utf-8")
    result = load_reference(ctx, "registry", f, actor="admin-1")
    assert (result["rows"], result["mode"]) == (2, "replaced")
    with ctx.uow() as s:
        people = {p.national_id: (p.full_name, p.birth_date) for p in s.execute(select(RegistryPerson)).scalars()}
    assert people == {"0013542419": ("علی کریمی", "1950-01-02"), "0012345679": ("زهرا احمدی", "1949-03-04")}


def test_a_bad_extract_is_refused_whole_and_the_old_one_stays(ctx: Context, tmp_path: Path) -> None:
    f = tmp_path / "accounts.csv"
    f.write_text("account_code,bank_code,holder_national_id,dedicated,status\n"
                 "IR820540102680020817909002,054,0013542419,true,open\n"
                 "IR820540102680020817909003,054,0013542419,maybe,open\n", encoding="utf-8")
    entries_before = _count(ctx, AuditEntry)
    with pytest.raises(Refused) as e:
        load_reference(ctx, "accounts", f)
    assert e.value.code == "INVALID_REFERENCE_FILE"
    problems = {(p["row"], p["column"]) for p in e.value.detail["errors"]}
    assert problems == {(3, "account_code"), (3, "dedicated")}
    assert "accounts.csv: row 3, column" in e.value.message
    assert _count(ctx, Account) == 2100
    assert _count(ctx, AuditEntry) == entries_before


def test_missing_columns_are_named(ctx: Context, tmp_path: Path) -> None:
    f = tmp_path / "deaths.csv"
    f.write_text("national_id\n0013542419\n", encoding="utf-8")
    with pytest.raises(Refused) as e:
        load_reference(ctx, "deaths", f)
    assert e.value.code == "MISSING_COLUMNS" and "date_of_death" in e.value.message


def test_users_merge_and_keep_people_who_acted(ctx: Context, tmp_path: Path) -> None:
    f = tmp_path / "users.csv"
    f.write_text("user_id,name,role,branch_code,province_code\nfin-9,New Finance,finance,,\n", encoding="utf-8")
    assert load_reference(ctx, "users", f)["mode"] == "merged"
    assert _count(ctx, User) == 26


def test_only_an_administrator_loads_reference_data(ctx: Context, tmp_path: Path) -> None:
    f = tmp_path / "deaths.csv"
    f.write_text("national_id,date_of_death\n0013542419,2026-01-02\n", encoding="utf-8")
    for user, code in (("fin-1", "WRONG_ROLE"), ("audit-1", "WRONG_ROLE"), ("ghost", "NOT_FOUND")):
        with pytest.raises(Refused) as e:
            load_reference(ctx, "deaths", f, actor=user)
        assert e.value.code == code
    assert load_reference(ctx, "deaths", f, actor="admin-1")["rows"] == 1
    with ctx.uow() as s:
        last = s.execute(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).scalar_one()
    assert (last.actor, last.role, last.action) == ("admin-1", "admin", "reference.load.deaths")
