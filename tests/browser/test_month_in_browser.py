"""One month walked in headless Chromium (Debian's chromium, driven by Playwright's Python client) by the
portal's four kinds of user: the branch clerk uploads B01's list and reads the receipt; the branch head
and the provincial approver approve it from their inboxes; finance creates the run, two other finance
users approve it, and it is released with its bank files listed; the auditor opens the exception report
and filters it. The portal runs as `pension serve` in its own process, on the embedded default.

Screenshots of every step are kept in test-artifacts/browser/ (PENSION_TEST_ARTIFACTS to put them
elsewhere). Skipped, saying why, where there is no Chromium (.ci/run installs Debian's package).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from payroll import services
from payroll.services.users import set_password
from tests.conftest import SAMPLE, make_context

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PENSION = str(Path(sys.executable).with_name("pension"))
PASSWORD = "correct horse battery"
ARTIFACTS = Path(os.environ.get("PENSION_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts")) \
    / "browser"
PLAN = json.loads((SAMPLE / "plan.json").read_text(encoding="utf-8"))
B01 = next(s for s in PLAN["submissions"] if s["branch"] == "B01" and s["expect"] == "accepted")

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no Chromium here (apt-get install chromium)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _users() -> dict[str, str]:
    rows = [line.split(",") for line in (SAMPLE / "users.csv").read_text(encoding="utf-8").splitlines()[1:]]
    province = next(r[4] for r in rows if r[0] == "clerk-b01")
    approver = next(r[0] for r in rows if r[2] == "province_approver" and r[4] == province)
    return {"clerk": "clerk-b01", "head": "head-b01", "province": approver, "maker": "fin-1",
            "checker1": "fin-2", "checker2": "fin-3", "auditor": "audit-1"}


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    home = tmp_path_factory.mktemp("portal") / "home"
    ctx = make_context(home, f"sqlite:///{home / 'pension.db'}")
    users = _users()
    try:
        services.init_database(ctx, sample=True)
        for user in users.values():
            set_password(ctx, user, PASSWORD)
    finally:
        ctx.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PENSION_", "PREFECT_"))}
    env["PENSION_HOME"] = str(home)
    port = _free_port()
    log = (home / "serve.log").open("wb")
    server = subprocess.Popen([PENSION, "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/login", timeout=1)
                break
            except OSError:
                if server.poll() is not None:
                    raise RuntimeError((home / "serve.log").read_text()) from None
                time.sleep(0.25)
        yield url, users
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        try:
            yield b
        finally:
            b.close()


def _page_as(browser: object, url: str, user: str, lang: str = "en") -> object:
    context = browser.new_context(locale=lang)  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto(f"{url}/login?lang={lang}")
    page.fill("[name=username]", user)
    page.fill("[name=password]", PASSWORD)
    page.click("#login")
    page.wait_for_load_state()
    return page


def _shot(page: object, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def test_one_month_as_the_four_roles(portal: tuple[str, dict[str, str]], browser: object) -> None:
    url, users = portal
    expected = json.loads((SAMPLE / "expected.json").read_text(encoding="utf-8"))["branches"]["B01"]

    # the branch clerk uploads the list and reads the receipt, in Persian (right to left)
    clerk = _page_as(browser, url, users["clerk"], lang="fa")
    clerk.goto(f"{url}/submissions/new")
    assert clerk.get_attribute("html", "dir") == "rtl"
    clerk.set_input_files("#upload-form [name=file]", str(SAMPLE / B01["file"]))
    clerk.fill("#upload-form [name=period]", PLAN["period"])
    clerk.fill("#upload-form [name=declared_count]", str(B01["declared_count"]))
    clerk.fill("#upload-form [name=declared_total]", str(B01["declared_total"]))
    clerk.click("#upload")
    receipt = clerk.locator("#receipt")
    receipt.wait_for(timeout=60_000)
    text = receipt.inner_text()
    _shot(clerk, "1-clerk-receipt")
    assert str(expected["rows_rejected_total"]) in text or "accepted" in text.lower()
    submission_id = int(receipt.get_attribute("data-submission-id"))

    # the branch head, then the provincial approver, approve from their inboxes
    for step, who in (("2-head-inbox", users["head"]), ("3-province-inbox", users["province"])):
        approver = _page_as(browser, url, who)
        approver.goto(f"{url}/inbox")
        approver.locator(f"[data-submission-id='{submission_id}']").wait_for()
        _shot(approver, step)
        approver.fill(f"[data-submission-id='{submission_id}'] [name=comment]", "totals checked against the branch ledger")
        approver.click(f"#approve-{submission_id}")
        approver.wait_for_load_state()
        assert approver.locator(f"#approve-{submission_id}").count() == 0

    # finance: one user makes the run, two others approve it, the maker releases it
    maker = _page_as(browser, url, users["maker"])
    maker.goto(f"{url}/runs")
    maker.fill("#create-run [name=period]", PLAN["period"])
    maker.click("#create-run [type=submit]")
    maker.wait_for_load_state()
    maker.locator("#approve-run").wait_for()
    run_url = maker.url
    _shot(maker, "4-finance-dashboard")
    for who in (users["checker1"], users["checker2"]):
        checker = _page_as(browser, url, who)
        checker.goto(run_url)
        checker.click("#approve-run")
        checker.wait_for_load_state()
    maker.goto(run_url)
    maker.click("#release-run")
    maker.wait_for_load_state()
    maker.locator(".bank-file").first.wait_for()
    files = maker.locator(".bank-file").count()
    _shot(maker, "5-finance-released")
    assert files >= 1

    # the auditor opens the exception report and filters it by a code
    auditor = _page_as(browser, url, users["auditor"])
    auditor.goto(f"{run_url}/exceptions")
    table = auditor.locator("#exceptions")
    table.wait_for()
    _shot(auditor, "6-auditor-exceptions")
    everything = table.locator("tbody tr").count()
    assert everything >= 2
    auditor.select_option("#filters [name=code]", "INVALID_NATIONAL_ID")
    auditor.click("#apply-filters")
    auditor.wait_for_load_state()
    rows = auditor.locator("#exceptions tbody tr")
    _shot(auditor, "7-auditor-exceptions-filtered")
    assert 1 <= rows.count() < everything
    assert all("INVALID_NATIONAL_ID" in rows.nth(i).inner_text() for i in range(rows.count()))
