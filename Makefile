# The two commands: `make run` starts the whole pipeline, `make test` runs the whole suite.
# Both install whatever is missing first (scripts/setup.sh, idempotent, cached in .cache/).
VENV := .cache/venv
PY := $(VENV)/bin/python

.PHONY: run test setup setup-test lint unit integration e2e bench clean

run: setup
	$(PY) -m loa_dev.run

test: setup-test lint
	$(PY) -m pytest

setup:
	@scripts/setup.sh

setup-test:
	@scripts/setup.sh --test

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

unit: setup-test
	$(PY) -m pytest tests/unit

integration: setup-test
	$(PY) -m pytest tests/integration

e2e: setup-test
	$(PY) -m pytest tests/e2e

clean:
	rm -rf .cache/run
