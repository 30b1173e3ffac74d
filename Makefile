# Every target creates .venv on first use, so a fresh clone needs only python3 and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.runtime-installed
DEV := $(VENV)/.dev-installed
CONFIG ?= feeds.yaml
LINTED := src tests $(wildcard bench)

.PHONY: run test lint typecheck unit bench clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(RUNTIME): pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install -q -e .
	touch $@

$(DEV): pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@ $(RUNTIME)

run: $(RUNTIME)  ## the daemon on ./feeds.yaml
	$(BIN)/feedwatch -c $(CONFIG) run

lint: $(DEV)  ## formatting, lint rules and the layer contract
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/lint-imports

typecheck: $(DEV)
	$(BIN)/mypy

unit: $(DEV)  ## the fast, pure tests only
	$(BIN)/pytest tests/unit

test: lint typecheck  ## everything CI runs
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
