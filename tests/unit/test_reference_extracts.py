"""Reference extracts as Parquet objects: the columnar normalizers give exactly what the scalar ones
give, a bad extract is refused naming file, row and column and leaves the extract in force as it was, the
stored object is named by its SHA-256, and an upgraded database keeps the rows its old tables held."""

from __future__ import annotations

import datetime
import random
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, inspect, select, text

from payroll.errors import Refused
from payroll.identifiers import iban, ir_nid, kr_account, kr_rrn
from payroll.normalize import (
    compact_id,
    compact_id_arrow,
    normalize_name,
    normalize_name_arrow,
    strip_arrow,
    to_ascii_digits,
    to_ascii_digits_arrow,
)
from payroll.services import Context, load_reference
from payroll.services.reference import (
    EXTRACT_SCHEMAS,
    MIGRATION_ACTOR,
    _first_duplicates,
    _python_lower,
    _real_dates,
    extract_in_force,
    extract_path,
    extract_table,
)
from payroll.services.runs import extract_path as runs_extract_path
from payroll.store.db import alembic_config, make_engine, unit_of_work, upgrade
from payroll.store.files import sha256_file
from payroll.store.models import AuditEntry, ReferenceLoad

# what branch and registry systems put in names and identifiers: Persian and Arabic letters (Arabic
# yeh/kaf, alef maksura, teh marbuta), harakat, tatweel, superscript alef, presentation forms, ZWNJ and
# the other zero-width and bidi characters, every kind of space and dash, three kinds of digits, Latin
# with letters whose case mapping changes length, Hangul and its jamo
ALPHABET = (
    "ابپتثجچحخدذرزژسشصضطظعغفقکگلمنوهیةأإآؤئء" "يكى" "\u064b\u064c\u064d\u064e\u064f\u0650\u0651\u0652\u0640\u0670"
    "\ufee3\ufea4\ufee4\ufeaa\ufb8e\ufbfc\ufdf2\ufc5e"
    "\u200b\u200c\u200d\u2060\ufeff\u00ad\u200e\u200f\u202a\u202e\u2066\u2069"
    " \t\n\x0b\x0c\r\x1c\x1f\x85\xa0\u1680\u2000\u2005\u200a\u2028\u2029\u202f\u205f\u3000"
    "-\u2010\u2011\u2013\u2014\u2212\ufe58\ufe63\uff0d./\uff0e\uff0f"
    "0123456789۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩０１９"
    "abcKLMirßİﬁŉǅ" "김민수이영희" "\u1100\u1161\u11a8"
)


def _strings(n: int, seed: int, alphabet: str = ALPHABET, max_len: int = 14) -> list[str]:
    rnd = random.Random(seed)
    return ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, max_len))) for _ in range(n)]


VALUES = _strings(4000, 17) + [
    "علي  كريمي", "محمد\u200cرضا", " ۰۰۱-۳۵۴\u200c۲۴۱۹ ", "IR82 0540\u00a01026.8002/0817\u20139090\u200b02",
    "  Kim   Min-Su ", "\ufee3\ufea4\ufee4\ufeaa", "", " ", "\u200c", "ir82 0540 1026 8002 0817 9090 02",
]


def _same(arrow_fn, scalar_fn, values: list[str]) -> None:  # type: ignore[no-untyped-def]
    got = arrow_fn(pa.array(values + [None], pa.string())).to_pylist()
    want = [scalar_fn(v) for v in values] + [None]
    differ = [(v, g, w) for v, g, w in zip(values + [None], got, want, strict=True) if g != w]
    assert not differ, differ[:5]


def test_columnar_normalizers_equal_the_scalar_ones() -> None:
    _same(to_ascii_digits_arrow, to_ascii_digits, VALUES)
    _same(compact_id_arrow, compact_id, VALUES)
    _same(normalize_name_arrow, normalize_name, VALUES)
    _same(strip_arrow, str.strip, VALUES)
    _same(_python_lower, str.lower, VALUES + ["TRUE", "Yes", "OPEN", "Closed"])


@pytest.mark.parametrize("module", [ir_nid, kr_rrn, kr_account, iban])
def test_columnar_identifier_compact_equals_compact(module) -> None:  # type: ignore[no-untyped-def]
    digits = "0123456789۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩ -\u200c.IRirß"
    _same(module.compact_arrow, module.compact, VALUES + _strings(3000, 5, digits, 16))


def _ibans(n: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        country = rnd.choice(["IR", "IR", "IR", "DE", "GB", "NL", "XK"])
        length = {"IR": 26, "DE": 22, "GB": 22, "NL": 18}.get(country, rnd.randint(15, 34))
        bban = "".join(rnd.choice("0123456789" if country == "IR" else "0123456789ABCZ") for _ in range(length - 4))
        number = country + iban.calc_check_digits(country, bban) + bban
        if i % 3 == 0:  # a typo: one character changed, or the length off by one
            k = rnd.randrange(len(number))
            number = number[:k] + rnd.choice("0123456789AZ?") + number[k + 1:] if i % 2 else number[:-1]
        out.append(number)
    return out


def test_columnar_account_checks_equal_is_valid() -> None:
    numbers = [iban.compact(v) for v in _ibans(3000, 3) + VALUES[:500]]
    assert iban.valid_mask_arrow(pa.array(numbers)).tolist() == [iban.is_valid(v) for v in numbers]
    assert sum(iban.valid_mask_arrow(pa.array(numbers))) > 1000
    rnd = random.Random(8)
    kr = [rnd.choice(list(kr_account.BANK_CODES) + ["999", "08"]) + "".join(rnd.choice("0123456789")
          for _ in range(rnd.randint(8, 16))) for _ in range(3000)] + VALUES[:500]
    kr = [kr_account.compact(v) for v in kr]
    assert kr_account.valid_mask_arrow(pa.array(kr)).tolist() == [kr_account.is_valid(v) for v in kr]
    nids = [ir_nid.compact(v) for v in ["0013542419", "0013542418", "1111111111", "13542419", "x"]]
    assert ir_nid.valid_mask_arrow(pa.array(nids)).tolist() == [ir_nid.is_valid(v) for v in nids]


def test_real_dates_are_what_pandas_reads() -> None:
    rnd = random.Random(4)
    values = [f"{rnd.randint(0, 9999):04d}-{rnd.randint(0, 13):02d}-{rnd.randint(0, 32):02d}" for _ in range(3000)]
    values += ["2024-02-29", "2023-02-29", "1900-02-29", "2000-02-29", "0000-01-01", "0001-01-01", "9999-12-31",
               "2024-2-29", "2024-02-29 ", "۲۰۲۴-۰۲-۲۹", "", "20240229", "2024/02/29"]
    want = pd.to_datetime(pd.Series(values).where(pd.Series(values).str.fullmatch(
        r"[0-9]{4}-[0-9]{2}-[0-9]{2}")), format="%Y-%m-%d", errors="coerce").notna().tolist()
    assert _real_dates(pa.array(values)).tolist() == want
    assert _real_dates(pa.array(["2024-02-29"])).tolist() == [datetime.date(2024, 2, 29) is not None]


def test_first_duplicates_is_pandas_duplicated() -> None:
    values = _strings(5000, 9, "abc", 3)
    assert _first_duplicates(pa.array(values)).tolist() == pd.Series(values).duplicated(keep="first").tolist()


# --- loading ----------------------------------------------------------------------------------------


@pytest.fixture
def sqlite_ctx(tmp_path: Path):  # type: ignore[no-untyped-def]
    from payroll.services import init_database
    from tests.conftest import make_context

    context = make_context(tmp_path / "home", f"sqlite:///{tmp_path}/p.db")
    init_database(context, sample=True)
    yield context
    context.dispose()


def _in_force(ctx: Context, kind: str) -> tuple[int, str, str]:
    with ctx.uow() as s:
        load = extract_in_force(s, kind)
        assert load is not None
        return load.id, str(load.object_key), str(load.object_sha256)


@pytest.mark.parametrize("name", ["registry.csv", "registry.tsv", "registry.xlsx", "registry.parquet"])
def test_an_extract_is_normalized_like_the_scalar_functions(sqlite_ctx: Context, tmp_path: Path, name: str) -> None:
    rows = [("۰۰۱۳۵۴۲۴۱۹", "علي  كريمي", "1950-01-02"), ("12345679", " محمد\u200cرضا ", "۱۹۴۹-۰۳-۰۴"),
            ("001-354241-9x", "\ufee3\ufea4\ufee4\ufeaa", "1948-12-31")]
    cols = ["national_id", "full_name", "birth_date"]
    frame = pd.DataFrame(rows, columns=cols)
    path = tmp_path / name
    if name.endswith(".parquet"):
        frame.to_parquet(path)
    elif name.endswith(".xlsx"):
        frame.to_excel(path, index=False)
    else:
        frame.to_csv(path, index=False, sep="\t" if name.endswith(".tsv") else ",")
    load_reference(sqlite_ctx, "registry", path, actor="admin-1")
    with sqlite_ctx.uow() as s:
        stored = extract_table(s, "registry", sqlite_ctx.home).to_pylist()
    assert stored == [{"national_id": ir_nid.compact(n.strip()), "full_name": normalize_name(f.strip()),
                       "birth_date": to_ascii_digits(b.strip())} for n, f, b in rows]


def test_the_object_is_named_by_its_sha256_and_read_by_the_run(sqlite_ctx: Context) -> None:
    for kind in ("registry", "deaths", "accounts"):
        _, key, sha = _in_force(sqlite_ctx, kind)
        path = sqlite_ctx.home / key
        assert not Path(key).is_absolute() and key == f"objects/reference/{sha[:2]}/{sha}.parquet"
        assert sha256_file(path) == sha
        with sqlite_ctx.uow() as s:
            assert extract_path(s, kind, sqlite_ctx.home) == runs_extract_path(s, kind, sqlite_ctx.home) == path
        assert pq.read_schema(path).remove_metadata() == EXTRACT_SCHEMAS[kind]
    with sqlite_ctx.uow() as s:
        accounts = extract_table(s, "accounts", sqlite_ctx.home)
    assert accounts.schema.field("dedicated").type == pa.bool_()


def test_a_changed_object_is_refused(sqlite_ctx: Context) -> None:
    _, key, _ = _in_force(sqlite_ctx, "deaths")
    path = sqlite_ctx.home / key
    path.chmod(0o600)
    path.write_bytes(path.read_bytes() + b"x")
    with sqlite_ctx.uow() as s, pytest.raises(Refused) as e:
        extract_path(s, "deaths", sqlite_ctx.home)
    assert e.value.code == "STORED_FILE_CHANGED"


@pytest.mark.parametrize(("kind", "content", "row", "column", "says"), [
    ("deaths", "national_id,date_of_death\n0013542419,2026-01-02\n0012345679,2026-02-30\n", 3, "date_of_death",
     "is not a real date"),
    ("deaths", "national_id,date_of_death\n0013542419,2026-01-02\n۰۰۱۳۵۴۲۴۱۹,2026-01-03\n", 3, "national_id",
     "appears twice"),
    ("registry", "national_id,full_name,birth_date\n0013542419,,1950-01-01\n", 2, "full_name", "is empty"),
    ("accounts", "account_code,bank_code,holder_national_id,dedicated,status\n"
     "IR820540102680020817909002,054,0013542419,true,open\n"
     "IR82 0540 1026 8002 0817 9090 02,054,0013542419,yes,open\n", 3, "account_code", "appears twice"),
    ("deaths", 'national_id,date_of_death\n"0013542419",2026-01-02\n0012345679,1999-13-01\n', 3,
     "date_of_death", "is not a real date"),  # quoted: the intake reader's path
])
def test_a_bad_extract_is_refused_naming_file_row_and_column_and_nothing_changes(
        sqlite_ctx: Context, tmp_path: Path, kind: str, content: str, row: int, column: str, says: str) -> None:
    before = _in_force(sqlite_ctx, kind)
    with sqlite_ctx.uow() as s:
        loads = s.execute(select(func.count()).select_from(ReferenceLoad)).scalar_one()
        entries = s.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
    f = tmp_path / f"{kind}.csv"
    f.write_text(content, encoding="utf-8")
    with pytest.raises(Refused) as e:
        load_reference(sqlite_ctx, kind, f, actor="admin-1")
    assert e.value.code == "INVALID_REFERENCE_FILE"
    assert f"{kind}.csv: row {row}, column {column}: {says}" in e.value.message, e.value.message
    assert e.value.detail["file"] == f"{kind}.csv"
    assert _in_force(sqlite_ctx, kind) == before
    with sqlite_ctx.uow() as s:
        assert s.execute(select(func.count()).select_from(ReferenceLoad)).scalar_one() == loads
        assert s.execute(select(func.count()).select_from(AuditEntry)).scalar_one() == entries


def test_hostile_files_keep_the_intake_readers_refusals(sqlite_ctx: Context, tmp_path: Path) -> None:
    f = tmp_path / "deaths.csv"
    f.write_text("national_id,date_of_death\n0013542419," + "9" * 2000 + "\n", encoding="utf-8")
    with pytest.raises(Refused) as e:
        load_reference(sqlite_ctx, "deaths", f, actor="admin-1")
    assert e.value.code == "CELL_TOO_LONG" and "row 2" in e.value.message
    f.write_text("national_id,date_of_death\n0013542419,2026-01-02\n0012345679,2026-01-02,extra\n",
                 encoding="utf-8")
    with pytest.raises(Refused) as e:
        load_reference(sqlite_ctx, "deaths", f, actor="admin-1")
    assert e.value.code == "FILE_MALFORMED" and "row 3 has 3 fields" in e.value.message


# --- migration 0008 ---------------------------------------------------------------------------------


def test_an_upgraded_database_keeps_its_reference_rows(tmp_path: Path, db_url: str) -> None:
    from alembic import command

    engine = make_engine(db_url)
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0007")
        conn.commit()
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO registry (national_id, full_name, birth_date) VALUES "
                          "('0013542419', 'علی کریمی', '1950-01-02'), ('0012345679', 'زهرا احمدی', '1949-03-04')"))
        conn.execute(text("INSERT INTO accounts (account_code, bank_code, holder_national_id, dedicated, status) "
                          "VALUES ('IR820540102680020817909002', '054', '0013542419', :t, 'open')"), {"t": True})
        conn.execute(text("INSERT INTO reference_loads (kind, file_name, sha256, rows, loaded_by, loaded_at) VALUES "
                          "('registry', 'registry-2025.csv', :sha, 2, 'admin-1', '2025-01-01T00:00:00+00:00')"),
                     {"sha": "ab" * 32})
    assert upgrade(engine) == "0008"
    tables = set(inspect(engine).get_table_names())
    assert {"legacy_registry", "legacy_accounts"} <= tables
    assert not {"registry", "deaths", "accounts", "legacy_deaths"} & tables
    home = tmp_path / "home"
    with unit_of_work(engine) as s:
        path = extract_path(s, "registry", home)
        assert path is not None
        assert extract_path(s, "deaths", home) is None
        accounts = extract_table(s, "accounts", home).to_pylist()
        loads = {r.kind: r for r in s.execute(select(ReferenceLoad).where(ReferenceLoad.loaded_by == MIGRATION_ACTOR))
                 .scalars()}
    assert pq.read_table(path).to_pylist() == [
        {"national_id": "0013542419", "full_name": "علی کریمی", "birth_date": "1950-01-02"},
        {"national_id": "0012345679", "full_name": "زهرا احمدی", "birth_date": "1949-03-04"}]
    assert accounts == [{"account_code": "IR820540102680020817909002", "bank_code": "054",
                         "holder_national_id": "0013542419", "dedicated": True, "status": "open"}]
    assert set(loads) == {"registry", "accounts"}
    assert (loads["registry"].file_name, loads["registry"].sha256, loads["registry"].rows) == \
        ("registry-2025.csv", "ab" * 32, 2)
    assert sha256_file(home / str(loads["registry"].object_key)) == loads["registry"].object_sha256
    assert not {"legacy_registry", "legacy_accounts"} & set(inspect(engine).get_table_names())
    with unit_of_work(engine) as s:  # adopted once: the next use finds the same extract in force
        assert extract_path(s, "registry", home) == path
        assert s.execute(select(func.count()).select_from(ReferenceLoad)).scalar_one() == 3
    engine.dispose()
