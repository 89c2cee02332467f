"""The process's one Great Expectations context (ephemeral: nothing written to disk, no network).

``gx_context()`` builds it on first use and returns the same context afterwards; ``batch_definition()``
is the pandas data source / dataframe asset / whole-dataframe batch definition the gate validates
through. Importing this module does not import great_expectations (about 4 s); calling either does.

Settings applied once, before the context exists:

* ``GX_ANALYTICS_ENABLED=false`` unless the environment says otherwise, and ``analytics_enabled``
  false in the context's own config (GX 1.24.1 ships no usage-statistics client, but the setting
  stays off should one come back);
* ``pandas_execution_engine.HASH_THRESHOLD = 0``: no MD5 fingerprint of every batch (0.75 s per
  million rows otherwise, see FIELD-NOTES);
* progress bars off (``ProgressBarsConfig``; ``TQDM_DISABLE`` has no effect on GX).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from great_expectations.core.batch_definition import BatchDefinition
    from great_expectations.data_context import EphemeralDataContext

DATASOURCE = "pension_gate"
ASSET = "payee_rows"
BATCH_DEFINITION = "whole_frame"

# One lock for the process's GX context: creating the context and its data source is not
# thread-safe (two branch tasks of a flow would both add the data source), and a validation keeps
# state in the shared context. The gate holds it while it validates; a file is ~0.5 s at most.
GX_LOCK = threading.RLock()


@contextmanager
def configurations_built_once() -> Iterator[None]:
    """While the gate validates, each expectation's ``configuration`` is built once, not on every read.

    In GX 1.24.1 ``Expectation.configuration`` is a property that rebuilds an ExpectationConfiguration
    from the pydantic model (``.dict()``, a copy of every field) each time it is read, and validating
    one expectation reads it about a hundred times: a third of the gate's time on a branch file of a
    few hundred rows (benchmarks/bench_gate.py). The gate neither changes an expectation nor keeps
    one past its run, so inside this block the first build is kept per expectation object (the object
    itself is held too, so that an id is never reused) and the property is restored on the way out.
    Use it holding GX_LOCK; blocks may nest."""
    from great_expectations.expectations.expectation import Expectation

    original = Expectation.__dict__["configuration"]
    built: dict[int, tuple[Any, Any]] = {}

    def configuration(self: Any) -> Any:
        hit = built.get(id(self))
        if hit is None or hit[0] is not self:
            hit = built[id(self)] = (self, original.fget(self))
        return hit[1]

    Expectation.configuration = property(configuration)  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        Expectation.configuration = original  # type: ignore[method-assign]


def _configure_gx() -> None:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations.execution_engine.pandas_execution_engine as pandas_engine

    pandas_engine.HASH_THRESHOLD = 0


def gx_context() -> EphemeralDataContext:
    """The ephemeral GX context of this process, with the gate's custom expectations registered."""
    with GX_LOCK:
        return _gx_context()


@cache
def _gx_context() -> EphemeralDataContext:
    _configure_gx()
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    import validations.expectations  # noqa: F401  (registers the custom expectations and metrics)

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
    )
    context = gx.get_context(project_config=config, mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    return context


def batch_definition() -> BatchDefinition:
    """The whole-dataframe batch definition of the gate's pandas data source (created once)."""
    with GX_LOCK:
        return _batch_definition()


@cache
def _batch_definition() -> BatchDefinition:
    context = _gx_context()
    datasource = context.data_sources.add_pandas(DATASOURCE)
    asset = datasource.add_dataframe_asset(ASSET)
    return asset.add_batch_definition_whole_dataframe(BATCH_DEFINITION)
