"""What the engine keeps under PENSION_HOME (the SQLite database and its -wal/-shm, stored branch files and
rows, runs, releases, Data Docs pages, keys) is its own user's only: after a real month every folder is
0700 and every file 0600. SQLite: the database file is the one that lives in the home."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from payroll import services
from payroll.config import Settings
from payroll.services import Context, data_docs_page, init_database
from payroll.web.security import Sessions
from tests import month


def _modes(home: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(home.stat().st_mode)}
    for folder, dirs, files in os.walk(home):
        for name in dirs + files:
            path = Path(folder) / name
            found[str(path.relative_to(home))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def test_a_month_leaves_nothing_in_the_home_that_others_can_read(tmp_path: Path, plan: dict) -> None:
    home = tmp_path / "home"
    ctx = Context(Settings(home=home))  # the default database: HOME/pension.db
    try:
        init_database(ctx, sample=True)
        receipts = month.submit_all(ctx, plan)
        for r in receipts:
            data_docs_page(ctx, r["submission_id"])  # a page is rendered when first asked for
        month.approve_all(ctx, plan, receipts)
        run = services.create_run(ctx, plan["period"], user=plan["run"]["created_by"])
        for user in plan["run"]["approvers"]:
            services.approve_run(ctx, run["run_id"], user=user)
        month.release(ctx, plan, run["run_id"])
        Sessions(ctx.settings)  # the portal's secret, made on first use
        modes = _modes(home)
        for name in ("pension.db", "pension.db-wal", "pension.db-shm", "keys/release-ed25519.pem",
                     "keys/release-ed25519.pub.pem", "keys/web-secret", f"releases/run-{run['run_id']}/manifest.json"):
            assert modes.get(name) == 0o600, (name, oct(modes.get(name, 0)))
        assert any(n.startswith("objects/raw/") for n in modes) and any(n.startswith("datadocs/") for n in modes)
        open_to_others = {n: oct(m) for n, m in modes.items() if m & 0o077}
        assert open_to_others == {}
        folders = {n for n in modes if (home / n).is_dir()}
        assert {n: oct(modes[n]) for n in folders if modes[n] != 0o700} == {}
        assert {n: oct(m) for n, m in modes.items() if n not in folders and m != 0o600} == {}
    finally:
        ctx.dispose()
