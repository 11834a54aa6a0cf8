# The two commands: `make run` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= config/monitor.toml

.PHONY: run test lint typecheck pytest bench lock clean

# The pip that comes with Python is enough: the lock files pin and hash every package.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Stamps record what was installed; they are redone when a lock file or pyproject.toml changes.
# The exact versions come from the lock (requirements/), the package itself without its
# dependencies: what CI installs is what was tested.
$(VENV)/.installed-run: requirements/run.txt pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements/run.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.installed-test: requirements/test.txt pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements/test.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(BIN)/monitor --config $(CONFIG) db upgrade
	$(BIN)/monitor --config $(CONFIG) run

lint: $(VENV)/.installed-test
	$(BIN)/ruff check monitor tests $(wildcard bench)
	$(BIN)/ruff format --check monitor tests $(wildcard bench)

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

pytest: $(VENV)/.installed-test
	$(BIN)/pytest

test: lint typecheck pytest

bench: $(VENV)/.installed-test
	$(BIN)/python -m bench

# Re-resolve the lock files from pyproject.toml's ranges: for every Python >= 3.11 and platform
# (markers where they differ), with hashes. test.txt (run + postgres + test extras) first; run.txt
# (run + postgres) is constrained by it, so the service runs the versions the tests ran.
# `make lock LOCK_UPGRADE=` applies pyproject.toml's changes and keeps every other pin.
UV_VERSION := 0.13.9
LOCK_UPGRADE ?= --upgrade
UV_COMPILE = $(BIN)/uv pip compile pyproject.toml --quiet --universal --python-version 3.11 \
	--fork-strategy fewest --generate-hashes --custom-compile-command 'make lock'

lock: | $(BIN)/python
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)
	$(UV_COMPILE) $(LOCK_UPGRADE) --extra postgres --extra test -o requirements/test.txt
	$(UV_COMPILE) --extra postgres -c requirements/test.txt -o requirements/run.txt

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
