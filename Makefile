# Two commands on a fresh machine (both idempotent; a second run reuses what exists):
#   make demo   set up .venv and run the main job end to end on the embedded defaults
#   make test   set up .venv, build the datasets (dvc repro) and run the whole test suite (lint included)
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-stamp

.PHONY: setup demo test lint gates data
BASE ?= origin/main
setup: $(STAMP)

# Reinstall only when the lock file or the project metadata changed.
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	touch $(STAMP)

demo: setup
	$(BIN)/stratops run

# The strategy-gates CI locally: research what changed since BASE, fail on a failed gate.
gates: setup
	bash .github/scripts/strategy-gates.sh $(BASE)

lint: setup
	$(BIN)/ruff check .

# The datasets the tests read (DVC reproduces them byte-identically; a no-op when current).
data: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro --quiet

test: lint data
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest $(PYTEST_ARGS)
