# Two entry points for a fresh machine: `make demo` and `make test`.
# Each creates .venv and installs the pinned dependencies (constraints.txt) when needed.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -c constraints.txt -e '.[test]'
	touch $(STAMP)

.PHONY: install demo test test-slow bench lint lock coverage
install: $(STAMP)

demo: $(STAMP)
	$(BIN)/pension demo

# two worker processes, a test module per worker (module fixtures such as the CLI month stay together)
test: $(STAMP)
	$(BIN)/pytest -q -n 2 --dist loadfile

test-slow: $(STAMP)
	$(BIN)/pytest -q -m slow

# Speed and memory figures (printed, never asserted): the quality gate, a whole intake and the run
# checks on 1M rows. National scale: benchmarks/bench_checks.py --payees 10000000; the join engines
# compared: benchmarks/bench_joins.py --payees N.
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_gate.py
	$(BIN)/python benchmarks/bench_intake.py
	$(BIN)/python benchmarks/bench_checks.py
	$(BIN)/python benchmarks/bench_bank_formats.py

lint: $(STAMP)
	$(BIN)/pip install -q --disable-pip-version-check -c constraints.txt -e '.[test,dev]'
	$(BIN)/ruff check .
	$(BIN)/mypy

# Re-resolve the pins from pyproject.toml in a scratch venv and rewrite constraints.txt.
lock:
	rm -rf .lockvenv && $(PY) -m venv .lockvenv
	.lockvenv/bin/pip install -q --disable-pip-version-check '.[test,dev]'
	.lockvenv/bin/pip freeze --exclude pension-engine > constraints.txt
	rm -rf .lockvenv

# branch coverage of the default suite (coverage.py), the measure issue 18 keeps from dropping
coverage: $(STAMP)
	$(BIN)/pip install -q --disable-pip-version-check -c constraints.txt -e '.[test,dev]'
	$(BIN)/pytest -q -n 2 --dist loadfile --cov=payroll --cov=flows --cov=validations --cov=bank_formats --cov-branch --cov-report=term:skip-covered --cov-report=json:coverage.json
