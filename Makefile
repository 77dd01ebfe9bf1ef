# The two commands: `make run` starts the whole pipeline, `make test` runs the whole suite.
# Both install whatever is missing first (scripts/setup.sh, idempotent, cached in .cache/).
VENV := .cache/venv
PY := $(VENV)/bin/python
RUN_DIR ?= .cache/run

.PHONY: run test setup setup-test lint unit integration e2e clean

run: setup
	$(PY) -m loa_dev.run

test: setup-test lint
	$(PY) -m pytest --numprocesses 2 --dist loadfile

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

# Not while `make run` (or what is left of it) holds the run lock: its broker would lose its data under it.
clean:
	@if [ -e $(RUN_DIR)/lock ] && command -v flock >/dev/null && ! flock -n $(RUN_DIR)/lock true; then \
		echo "Loa is running ($(RUN_DIR)/lock is held): stop it first. / Loa đang chạy: hãy dừng nó trước." >&2; \
		exit 1; \
	fi
	rm -rf $(RUN_DIR)
