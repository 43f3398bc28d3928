# Two commands a new user needs:  `make serve`  and  `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: setup serve test lint bench bench-limits

$(BIN)/ekai: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(BIN)/ekai

setup: $(BIN)/ekai

serve: setup
	$(BIN)/ekai serve

test: setup
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: setup
	$(BIN)/python bench/bench.py

# what budgets, rate limits and an allowlist cost: two gateways (a plain key; the same key with
# every limit) driven at the same time, compared phase by phase (bench/README.md)
bench-limits: setup
	$(BIN)/python bench/limits_cost.py --configs auth,on
