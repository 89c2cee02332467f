"""Unit tests for payroll.catalog: every code the engine emits is catalogued with a known severity."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import payroll
from payroll.catalog import SEVERITY_RANK, ExceptionCode, catalog, severity

PAYROLL_DIR = Path(payroll.__file__).parent
CODE = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|[A-Z]{4,}")

# Where a call passes an exception code: function name -> index of the code argument.
# checks' exception rows; intake's problems.add(mask, column, code, ..); a bank report's findings
# (RunException(code=...), a keyword only)
ROW_LEVEL = {"exceptions_frame": 1, "add": 2, "RunException": 99}
FILE_LEVEL = {"Finding": 0, "refuse": 0}        # intake findings and whole-file refusals
VALIDATIONS_DIR = PAYROLL_DIR.parent / "validations"


def _codes_passed_to(targets: dict[str, int]) -> dict[str, set[str]]:
    """{code: {file:line, ...}} for every string literal passed as the code argument of a target call."""
    out: dict[str, set[str]] = {}
    for path in sorted(PAYROLL_DIR.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
            if name not in targets:
                continue
            if name == "add" and not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                                      and func.value.id in ("errors", "problems")):
                continue
            args = list(node.args)
            idx = targets[name]
            candidates = [args[idx]] if len(args) > idx else []
            candidates += [k.value for k in node.keywords if k.arg == "code"]
            while any(isinstance(a, ast.IfExp) for a in candidates):  # "A" if policy else "B": both
                candidates = [x for a in candidates for x in ((a.body, a.orelse) if isinstance(a, ast.IfExp)
                                                              else (a,))]
            for arg in candidates:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and CODE.fullmatch(arg.value):
                    where = f"{path.relative_to(PAYROLL_DIR.parent)}:{node.lineno}"
                    out.setdefault(arg.value, set()).add(where)
    return out


def _gate_codes() -> dict[str, set[str]]:
    """Codes the quality gate's expectations carry in their meta: _meta(rule, code, ...) calls."""
    out: dict[str, set[str]] = {}
    for path in sorted(VALIDATIONS_DIR.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "_meta"
                    and len(node.args) > 1 and isinstance(node.args[1], ast.Constant)
                    and isinstance(node.args[1].value, str) and CODE.fullmatch(node.args[1].value)):
                out.setdefault(node.args[1].value, set()).add(f"{path.name}:{node.lineno}")
    return out


ROW_CODES = {**_codes_passed_to(ROW_LEVEL), **_gate_codes()}
FILE_CODES = _codes_passed_to(FILE_LEVEL)


def test_scan_finds_the_known_codes() -> None:
    """Guard against a vacuous scan: the codes we know the engine emits are found."""
    assert {"MISSING_VALUE", "INVALID_NATIONAL_ID", "AMOUNT_MISMATCH", "DUPLICATE_ROW", "NOT_IN_REGISTRY",
            "DECEASED", "DIED_IN_PERIOD", "ACCOUNT_UNKNOWN", "DUPLICATE_ACROSS_BRANCHES"} <= set(ROW_CODES)
    assert {"FILE_MALFORMED", "ENCODING", "NO_ROWS", "MISSING_COLUMNS", "DECLARED_TOTAL_MISMATCH"} <= set(FILE_CODES)


def test_every_row_and_run_exception_code_is_catalogued() -> None:
    missing = {c: sorted(w) for c, w in ROW_CODES.items() if c not in catalog()}
    assert missing == {}


def test_every_catalogued_code_is_emitted_somewhere() -> None:
    # FILE_TOO_LARGE and UNSAFE_FILE_NAME are refusals raised by services.submit before the file is read
    # (tests/integration/test_bad_input_store.py)
    emitted = set(ROW_CODES) | set(FILE_CODES) | {"FILE_TOO_LARGE", "UNSAFE_FILE_NAME"}
    assert sorted(set(catalog()) - emitted) == []


def test_every_intake_finding_code_is_catalogued() -> None:
    missing = {c: sorted(w) for c, w in FILE_CODES.items() if c not in catalog()}
    assert missing == {}


def test_every_severity_is_report_warn_hold_or_block() -> None:
    codes = catalog()
    assert len(codes) >= 19
    assert {c.severity for c in codes.values()} <= {"REPORT", "WARN", "HOLD", "BLOCK"}
    assert set(SEVERITY_RANK) == {"REPORT", "WARN", "HOLD", "BLOCK"}
    assert SEVERITY_RANK["REPORT"] < SEVERITY_RANK["WARN"] < SEVERITY_RANK["HOLD"] < SEVERITY_RANK["BLOCK"]
    assert {c.stage for c in codes.values() if c.severity == "REPORT"} == {"run"}
    for code, entry in codes.items():
        assert entry.code == code
        assert entry.stage in {"file", "intake", "run", "bank"}
        assert entry.description.strip()


def test_intake_codes_are_block() -> None:
    """Rejected rows are never paid; services.runs records intake rejections as BLOCK."""
    intake = {c.code: c.severity for c in catalog().values() if c.stage == "intake"}
    assert intake and set(intake.values()) == {"BLOCK"}


@pytest.mark.parametrize(("code", "level"), [("DECEASED", "BLOCK"), ("DIED_IN_PERIOD", "WARN"),
                                             ("NOT_IN_REGISTRY", "HOLD"), ("IDENTITY_MISMATCH", "HOLD"),
                                             ("ACCOUNT_UNKNOWN", "HOLD"), ("ACCOUNT_CLOSED", "HOLD"),
                                             ("ACCOUNT_NOT_OWNED", "HOLD"), ("ACCOUNT_NOT_DEDICATED", "HOLD"),
                                             ("DUPLICATE_ACROSS_BRANCHES", "HOLD"), ("DUPLICATE_ROW", "BLOCK")])
def test_severity_of_known_codes(code: str, level: str) -> None:
    assert severity(code) == level


def test_every_hold_names_who_may_clear_it() -> None:
    holds = [c for c in catalog().values() if c.severity == "HOLD"]
    assert holds and all(c.clearable_by for c in holds)
    assert all(c.clearable_by <= {"finance", "finance_lead", "province_approver", "branch_head"} for c in holds)
    assert not any(c.clear_roles for c in catalog().values() if c.severity != "HOLD")


def test_catalog_refuses_a_hold_nobody_may_clear(tmp_path: Path) -> None:
    bad = tmp_path / "codes.csv"
    bad.write_text("code,stage,severity,description,clear_roles\nX_CODE,run,HOLD,whatever,\n", encoding="utf-8")
    with pytest.raises(ValueError, match="X_CODE"):
        catalog(bad)


def test_unknown_code_has_no_severity() -> None:
    with pytest.raises(KeyError):
        severity("NO_SUCH_CODE")


def test_catalog_refuses_an_unknown_severity(tmp_path: Path) -> None:
    bad = tmp_path / "codes.csv"
    bad.write_text("code,stage,severity,description\nX_CODE,run,FATAL,whatever\n", encoding="utf-8")
    with pytest.raises(ValueError, match="X_CODE"):
        catalog(bad)


def test_catalog_reads_a_good_file(tmp_path: Path) -> None:
    good = tmp_path / "codes.csv"
    good.write_text("code,stage,severity,description\nX_CODE,run,WARN,whatever\n", encoding="utf-8")
    assert catalog(good) == {"X_CODE": ExceptionCode("X_CODE", "run", "WARN", "whatever")}
