"""Structured logs and the national-id guard on every handler (payroll.logs)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from payroll.config import Settings
from payroll.logs import JsonFormatter, MaskIds, configure
from payroll.masking import mask_ids_in_text

ONLY = ("prefect.flow_runs",)  # the process's other handlers (pytest's among them) are left alone


@pytest.mark.parametrize(("text", "country", "want"), [
    ("payee 0013542419 on B01", "IR", "payee ******2419 on B01"),
    ("total 1000000000 rials, 12 rows", "IR", "total 1000000000 rials, 12 rows"),  # fails the check digit
    ("sheba IR820540102680020817909002", "IR", "sheba IR820540102680020817909002"),  # not an id
    ("ids 0013542419,0013542419.", "IR", "ids ******2419,******2419."),
    ("rrn 9710139019902 and 971013-9019902", "KR", "rrn 9710139****** and 9710139******"),
    ("run 12 of 2026-11, 971013 rows", "KR", "run 12 of 2026-11, 971013 rows"),
    ("", "IR", ""),
])
def test_ids_in_log_text_are_masked(text: str, country: str, want: str) -> None:
    assert mask_ids_in_text(text, country) == want


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    logger = logging.getLogger("prefect.flow_runs")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_json_lines_with_run_fields_and_masked_ids(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    configure(Settings(log_format="json"), ONLY)
    configure(Settings(log_format="json"), ONLY)  # again: nothing doubles
    handler = logger.handlers[-1]
    assert sum(isinstance(f, MaskIds) for f in handler.filters) == 1 and isinstance(handler.formatter, JsonFormatter)
    logger.info("branch %s: payee %s held", "B01", "0013542419",
                extra={"flow_run_id": "f-1", "flow_run_name": "calm-fox", "task_run_id": None})
    try:
        raise ValueError("row 7: national id 0013542419 is not in the registry")
    except ValueError:
        logger.exception("intake failed")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["message"] == "branch B01: payee ******2419 held"
    assert lines[0]["level"] == "INFO" and lines[0]["logger"] == "prefect.flow_runs"
    assert lines[0]["flow_run_id"] == "f-1" and lines[0]["flow_run_name"] == "calm-fox"
    assert "task_run_id" not in lines[0] and lines[0]["time"].endswith("+00:00")
    assert "ValueError: row 7: national id ******2419" in lines[1]["exception"]
    assert "0013542419" not in stream.getvalue()


def test_text_logs_are_masked_too(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    configure(Settings(country="KR", log_format="text"), ONLY)
    logger.warning("rrn %s", "971013-9019902")
    assert stream.getvalue().strip() == "rrn 9710139******"
