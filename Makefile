# The two commands a newcomer needs: `make run` and `make test`. Each does all
# its own set-up from a fresh clone (virtualenv, packages, system libraries).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(STAMP_TEST): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(STAMP_RUN)

## Run the studio (creates .venv and installs it first).
run: $(STAMP_RUN)
	@.ci/system-deps --for run || true
	$(BIN)/studio $(ARGS)

## Lint, check the import contract, type-check the Qt-free core, run the tests.
test: $(STAMP_TEST)
	@.ci/system-deps --for test
	$(BIN)/ruff check studio tests bench
	$(BIN)/lint-imports
	$(BIN)/mypy
	# Qt tests run in a process of their own, so nothing a Qt test leaves for the
	# event loop can ever be processed during another test (and the reverse).
	$(BIN)/python -m pytest --ignore=tests/qt $(PYTEST_ARGS)
	$(BIN)/python -m pytest tests/qt $(PYTEST_ARGS)

bench: $(STAMP_TEST)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
