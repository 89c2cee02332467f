"""Golden bank files: the sample's history months (2026-09, 2026-10) and November, released with the
clock fixed, give bank files whose SHA-256 this test records, on SQLite and on PostgreSQL alike; so
does a small Korean month (won, Othr/Id accounts, pain.001.001.03 and the fixed-width layout, which the
Iranian sample does not use).

Anything that changes a released byte (a writer, a layout, the plan of files, the manifest, the time a
run records) fails here. A change that alters the bank files on purpose (a new manifest field, a
calendar) updates GOLDEN in a commit of its own that says why; a change made for speed never does.

What makes the bytes reproducible: the clock (payroll.clock) is pinned, so every time the engine
records (approvals, hence the pain.001 CreDtTm and the manifest's created_at, and the audit entries
whose head the manifest names) is the same; the release key is a fixed test key (a new home makes a
random Ed25519 key, whose key id the manifest names and with which it is signed; Ed25519 signatures
are deterministic, so with a fixed key the signature is too). Nothing else in a release is random:
the staging folder's random name never reaches a file, and no absolute path is written.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from payroll import clock
from tests import month
from tests.conftest import make_context

AT = "2026-11-20T09:30:00.123456Z"

# period/file name -> SHA-256 of the released bytes (manifest.json and its signature included)
GOLDEN: dict[str, str] = {
    "2026-09/PENSION_2026-09_RUN1_BANK012.csv": "99b4c1d0de0761b25cff920a13a908deaab5a6cee7011b9ce7b3cd5fd8078b9e",
    "2026-09/PENSION_2026-09_RUN1_BANK013_P1.xml": "1ac537d05fa2bc97a66a5509df71c02507ef67b7d99cca5453cd55119f4468ae",
    "2026-09/PENSION_2026-09_RUN1_BANK013_P2.xml": "fc6943fa02b79776e77fce3e94dc642bf553e07c90318e7233af3493251a832f",
    "2026-09/PENSION_2026-09_RUN1_BANK018.xml": "965c1d51b853d90558bffaffc336c687a9c699924b69ac54d3d5410302b31a2a",
    "2026-09/PENSION_2026-09_RUN1_BANK054.xml": "a7fa94b74b6616e41380f0414b51086f9a5a5d3b73fcbf534811610940a07469",
    "2026-09/SSO_2026-09_R1_B017_1of1.xml": "f9878b56c11d00e3815f393439fccbd6bf0db707dc0bde283a8ade4d45b2de74",
    "2026-09/manifest.json": "a81bd305b94313694aa81d54274b2c4d687158c280f6025787919529026a6fdd",
    "2026-09/manifest.json.sig": "c6880b7a3bc05f73a0d4b36befa230de73c965d31699c3543483815b0bc045d3",
    "2026-10/PENSION_2026-10_RUN2_BANK012.csv": "f0925650279a62556346097861df81ba0ff5c0252428075de4588dd367b6ef90",
    "2026-10/PENSION_2026-10_RUN2_BANK013_P1.xml": "9d1443597850352d215a1a56e25da8a85df583c8688f04926b279674dec1f559",
    "2026-10/PENSION_2026-10_RUN2_BANK013_P2.xml": "a8282ba01b2ab05725c8ece9f5ebb985e470b7b5c9bc80f76cbfdb9541f873f9",
    "2026-10/PENSION_2026-10_RUN2_BANK018.xml": "74c68d92e2ca3ccd763f785c3925284c2c549b6c4f76b81e383c5fb1c73369b6",
    "2026-10/PENSION_2026-10_RUN2_BANK054.xml": "9b6ad436160e1c3dd0bbccdd9a7afda4d6b02524c9ceeb2c0d09cecca6ab55dc",
    "2026-10/SSO_2026-10_R2_B017_1of1.xml": "3051d9a54b7078a3a832125ae9e41608aa7a1fa824a65b976dbcdc88d89a90a5",
    "2026-10/manifest.json": "f47c821ac6c2c17886e00d696dba94e9ddf1e493fd9aad600d3f0a8dd831f1c0",
    "2026-10/manifest.json.sig": "d246f692fcd6516801adeaa65a48bde9606e4f03a686d8119b140609e51f22a1",
    "2026-11/PENSION_2026-11_RUN3_BANK012.csv": "aa5d2a34f2e2cad6581a7b9788af63188de32bf48d6f3944e3e9b29ace61c990",
    "2026-11/PENSION_2026-11_RUN3_BANK013_P1.xml": "0f7451cdd447d6a566aae16c383d69446581a1e1d2827401f8e4cb3630c047d4",
    "2026-11/PENSION_2026-11_RUN3_BANK013_P2.xml": "be1516476ff386ec302efb32948988269bc61532df0170c2c38c45f024f6e31b",
    "2026-11/PENSION_2026-11_RUN3_BANK018.xml": "8be4bc308607c79fc5661e71ed392baaa1ae3b1a4a16662773dc52bba03ee269",
    "2026-11/PENSION_2026-11_RUN3_BANK054.xml": "3ee32e415c134e1b5cb86be664e4b90c1c07ace0636eaffcc42fcb8a9d825455",
    "2026-11/SSO_2026-11_R3_B017_1of1.xml": "8148eb75ba9fd0f62f6bb73637a2ff2d36072c0aa8e42c28ce8da35fc24372bc",
    "2026-11/manifest.json": "4d1e6d099c6282954f648a6f83b1554f0eca7d825c353c569e0bbbec2f8bddfd",
    "2026-11/manifest.json.sig": "b94ddfa7c7332f32d55276e9308b81b3f8af10f8a47de52406a218d8e18a3707",
}

GOLDEN_KR: dict[str, str] = {
    "PENSION_2026-11_RUN1_BANK004.txt": "26b9c4a456aa99260f7dbbfd4cfec97aaa53f5b715d88f3e4b48a699c87f2c47",
    "PENSION_2026-11_RUN1_BANK088.xml": "abab8b2f880f635d73c006d00703fdb389d1c5a8b1066a9793567fde87aa68f1",
    "manifest.json": "8c5c605b7b6ddcd15071e64478a5c451bb417eeac960006d935ef4c73047c085",
    "manifest.json.sig": "bbde6020350ec119a39e447abfbdd5b996a209e6080413dcd909222106afa345",
}


def _fixed_key(path: Path) -> Path:
    key = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"golden release test key").digest())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def released_hashes(tmp_path: Path, db_url: str, plan: dict) -> dict[str, str]:
    from payroll.services import init_database

    ctx = make_context(tmp_path / "home", db_url, signing_key_file=_fixed_key(tmp_path / "key" / "golden.pem"))
    try:
        with clock.fixed(AT):
            init_database(ctx, sample=True)
            month.release_history(ctx, plan, tmp_path / "out")
            run = month.approved_run(ctx, plan)
            month.release(ctx, plan, run["run_id"], tmp_path / "out" / plan["period"])
    finally:
        ctx.dispose()
    out = tmp_path / "out"
    return {f"{p.parent.name}/{p.name}": _sha(p) for p in sorted(out.glob("*/*")) if p.is_file()}


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def korean_hashes(tmp_path: Path, db_url: str) -> dict[str, str]:
    """The month of tests/integration/test_korea.py: two payees paid, by KB (fixed width) and Shinhan (.03)."""
    from payroll import services
    from payroll.identifiers import kr_rrn

    def rrn(front: str) -> str:
        return front + kr_rrn.calc_check_digit(front + "0")

    ctx = make_context(tmp_path / "home-kr", db_url, country="KR",
                       signing_key_file=_fixed_key(tmp_path / "key" / "golden.pem"))
    kim, lee, park, choi = rrn("450312112345"), rrn("480921223456"), rrn("510101134567"), rrn("390505245678")
    d = tmp_path / "kr"
    d.mkdir()
    try:
        with clock.fixed(AT):
            services.init_database(ctx)
            services.load_reference(ctx, "branches", _write(d / "b.csv", "branch_code,name,province_code\n"
                                                            "K01,서울 중앙,SEO\n"))
            services.load_reference(ctx, "users", _write(d / "u.csv", "user_id,name,role,branch_code,province_code\n"
                                                         "clerk-k01,김 직원,clerk,K01,\nhead-k01,이 지사장,branch_head,"
                                                         "K01,\nprov-seo,박 본부장,province_approver,,SEO\n"
                                                         "fin-a,재무 A,finance,,\nfin-b,재무 B,finance,,\n"
                                                         "fin-c,재무 C,finance,,\n"))
            services.load_reference(ctx, "registry", _write(d / "r.csv", "national_id,full_name,birth_date\n"
                                                            f"{kim},김 민수,1945-03-12\n{lee},이 영희,1948-09-21\n"
                                                            f"{park},박 철수,1951-01-01\n{choi},최 순자,1939-05-05\n"))
            services.load_reference(ctx, "deaths", _write(d / "d.csv", f"national_id,date_of_death\n{choi},2026-09-30\n"))
            services.load_reference(ctx, "accounts", _write(d / "a.csv", "account_code,bank_code,holder_national_id,"
                                                            "dedicated,status\n"
                                                            f"088-110123456789,088,{kim},true,open\n"
                                                            f"004-22334455667,004,{lee},true,open\n"
                                                            f"011-3010123456789,011,{park},false,open\n"
                                                            f"088-110999888777,088,{choi},true,open\n"))
            listing = _write(d / "K01.csv", "pension_id,national_id,full_name,birth_date,benefit_type,gross_amount,"
                             "deduction_amount,net_amount,account_code\n"
                             f"P1,{kim[:6]}-{kim[6:]},김 민수,1945-03-12,OLD_AGE,700000,20000,680000,088-110123456789\n"
                             f"P2,{lee},이  영희,1948-09-21,SURVIVOR,450000,0,450000,004 22334455667\n"
                             f"P3,{park},박 철수,1951-01-01,DISABILITY,900000,0,900000,011-3010123456789\n"
                             f"P4,{choi},최 순자,1939-05-05,OLD_AGE,500000,0,500000,088-110999888777\n")
            receipt = services.submit(ctx, listing, branch="K01", period="2026-11", user="clerk-k01")
            for user in ("head-k01", "prov-seo"):
                services.approve_submission(ctx, receipt["submission_id"], user=user)
            run = services.create_run(ctx, "2026-11", user="fin-a")
            for user in ("fin-b", "fin-c"):
                services.approve_run(ctx, run["run_id"], user=user)
            services.release_run(ctx, run["run_id"], user="fin-a", out_dir=tmp_path / "out-kr")
    finally:
        ctx.dispose()
    return {p.name: _sha(p) for p in sorted((tmp_path / "out-kr").iterdir())}


def test_a_korean_month_releases_to_the_golden_bytes(tmp_path: Path, db_url: str) -> None:
    got = korean_hashes(tmp_path, db_url)
    assert got == GOLDEN_KR, "\n".join(f"{k}: {got.get(k)} (golden {GOLDEN_KR.get(k)})"
                                       for k in sorted(set(got) | set(GOLDEN_KR)) if got.get(k) != GOLDEN_KR.get(k))


def test_the_sample_months_release_to_the_golden_bytes(tmp_path: Path, db_url: str, plan: dict) -> None:
    got = released_hashes(tmp_path, db_url, plan)
    assert got == GOLDEN, "\n".join(f"{k}: {got.get(k)} (golden {GOLDEN.get(k)})"
                                    for k in sorted(set(got) | set(GOLDEN)) if got.get(k) != GOLDEN.get(k))
