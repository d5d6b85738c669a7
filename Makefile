# Two commands for a new user: `make demo` and `make test`. Everything else is for developers.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
CONFIG ?= gateway.example.yaml
PORT   ?= 8080

.PHONY: install demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required" if sys.version_info < (3, 11) else 0)'
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: install var/keys/audit.pem
	$(BIN)/gateway demo --config $(CONFIG) --port $(PORT)

# The example config signs audit checkpoints with this key.
var/keys/audit.pem: | $(STAMP)
	$(BIN)/gateway audit keygen --out $@

test: install lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Lint, format and strict types: part of `make test`, so CI enforces them.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info var
