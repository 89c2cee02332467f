"""The engine's logs: structured when asked, and never with a full national id.

:func:`configure` (idempotent; the flows call it in every process that runs their tasks, Dask workers
included) puts two things on the handlers of the root, ``prefect``, ``prefect.flow_runs`` and
``prefect.task_runs`` loggers, so that they hold for Prefect's console and for the log lines Prefect
sends to its server (what the UI shows):

- :class:`MaskIds`, a filter that masks whatever looks like a national id of the country in the
  formatted message (payroll.masking.mask_ids_in_text) and in an exception's text. No log call of the
  engine puts an id in a message (they name branches, submissions and runs); this is the guard for one
  that would, and for an error message quoting a row.
- with ``PENSION_LOG_FORMAT=json``, :class:`JsonFormatter` on the console handlers: one JSON object a
  line with time (UTC, ISO 8601), level, logger, message and, from Prefect's run loggers, the flow
  run's and task run's ids and names, for a log shipper to index.
"""

from __future__ import annotations

import json
import logging
import traceback
from datetime import UTC, datetime
from typing import Any

from payroll.config import Settings, load_settings
from payroll.masking import mask_ids_in_text

LOGGERS = ("", "prefect", "prefect.flow_runs", "prefect.task_runs")
_RUN_FIELDS = ("flow_run_id", "flow_run_name", "flow_name", "task_run_id", "task_run_name", "task_name")


class MaskIds(logging.Filter):
    """Rewrites the record's message (and exception text) with national ids masked."""

    def __init__(self, country: str) -> None:
        super().__init__()
        self.country = country

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_ids_in_text(message, self.country)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[1] is not None and not getattr(record, "_ids_masked", False):
            record.exc_text = mask_ids_in_text("".join(traceback.format_exception(*record.exc_info)), self.country)
            record.exc_info = None
        record._ids_masked = True
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for f in _RUN_FIELDS:
            value = getattr(record, f, None)
            if value is not None:
                entry[f] = str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def _handlers(loggers: tuple[str, ...]) -> list[logging.Handler]:
    seen: list[logging.Handler] = []
    for name in loggers:
        for h in logging.getLogger(name).handlers:
            if h not in seen:
                seen.append(h)
    return seen


def configure(settings: Settings | None = None, loggers: tuple[str, ...] = LOGGERS) -> None:
    """Mask ids on every handler of the engine's and Prefect's loggers; JSON lines on the console ones
    when the settings ask for them. Safe to call again (a handler is set up once)."""
    settings = settings or load_settings()
    for h in _handlers(loggers):
        if not any(isinstance(f, MaskIds) for f in h.filters):
            h.addFilter(MaskIds(settings.country))
        if settings.log_format == "json" and isinstance(h, logging.StreamHandler) \
                and not isinstance(h.formatter, JsonFormatter):
            h.setFormatter(JsonFormatter())
