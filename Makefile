# Every target creates .venv on first use, so a fresh clone needs only python3 and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.runtime-installed
DEV := $(VENV)/.dev-installed
CONFIG ?= feeds.yaml
LINTED := src tests $(wildcard bench)

.PHONY: run test lint typecheck unit bench clean
READER := .venv-reader/bin/python
FEEDS ?= 1000

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

# The end-to-end tests start feedwatch many times; where PYTHONDONTWRITEBYTECODE is
# set (as on the CI machines) nothing would write its bytecode, and each start compiled it.
test: lint typecheck  ## everything CI runs
	$(BIN)/python -m compileall -q src
	$(BIN)/pytest

$(READER):  ## the peer for the polling benchmark, in a venv of its own
	$(PYTHON) -m venv .venv-reader
	.venv-reader/bin/pip install -q 'reader==3.26' sgmllib3k

bench: $(DEV) $(READER)  ## every benchmark (about 30 min); figures go in the README by hand
	$(BIN)/python bench/bench_matching.py
	$(BIN)/python bench/bench_stories.py --items 100000
	$(BIN)/python bench/bench_story_tree.py
	$(BIN)/python bench/feeds/run.py --feeds $(FEEDS) --reader-python $(READER)
	$(BIN)/python bench/feeds/daemon_cpu.py --feeds 10000 --minutes 16

clean:
	rm -rf $(VENV) .venv-reader .mypy_cache .pytest_cache .ruff_cache
