# Two commands on a fresh machine (both idempotent; a second run reuses what exists):
#   make demo   set up .venv and run the main job end to end on the embedded defaults
#   make test   set up .venv, build the datasets (dvc repro) and run the whole test suite (lint included)
#   make unit   set up .venv and run tests/unit only: no dvc repro, no servers (about 3 min)
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-stamp

.PHONY: setup demo test unit lint gates data
BASE ?= origin/main
setup: $(STAMP)

# Reinstall only when the lock file or the project metadata changed.
# A line per step with counts and elapsed time (.github/scripts/pip_progress.py; pip's output on failure).
# Measured on this 2-core machine under load: 2.3-3.5 min for a fresh .venv (README, Quick start).
PIP := $(BIN)/python -m pip --disable-pip-version-check
PROGRESS := $(BIN)/python .github/scripts/pip_progress.py --venv $(VENV)
$(STAMP): requirements-bootstrap.lock requirements.lock pyproject.toml
	@echo "setup: building $(VENV) from requirements.lock (a fresh one takes minutes; progress below)"
	@test -x $(BIN)/python || { echo "setup [venv]: $(PYTHON) -m venv $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@$(PROGRESS) --label pip --lock requirements-bootstrap.lock -- $(PIP) install --progress-bar off --require-hashes -r requirements-bootstrap.lock
	@$(PROGRESS) --label deps --lock requirements.lock -- $(PIP) install --progress-bar off -r requirements.lock
	@$(PROGRESS) --label project -- $(PIP) install --no-deps --no-build-isolation -e .
	@echo "setup [check]: pip check"; $(PIP) check
	@touch $(STAMP)

demo: setup
	$(BIN)/stratops run

# The strategy-gates CI locally: research what changed since BASE, fail on a failed gate.
gates: setup
	bash .github/scripts/strategy-gates.sh $(BASE)

# ruff, the layer contracts (import-linter, [tool.importlinter] in pyproject.toml), then the
# types (mypy: strict for strategies and live; [tool.mypy] in pyproject.toml).
lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

# The datasets the tests read (DVC reproduces them byte-identically; a no-op when current).
data: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro --quiet

# Tests run on every core (pytest-xdist; PYTEST_WORKERS=0 runs them in one process). The
# expensive read-only builds (datasets, the demo project) are made once per run, shared.
PYTEST_WORKERS ?= auto
test: lint data
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

# The fast part: unit tests build their data in fixtures, so a fresh clone needs no dvc repro.
unit: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -n $(PYTEST_WORKERS) tests/unit $(PYTEST_ARGS)
