# The two commands: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint bench smoke clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

## Start every service in one process on 127.0.0.1:5010.. (Ctrl-C stops cleanly).
run: $(STAMP)
	$(PY) -m shared.stack

## Install what the tests need (Debian chromium when missing) and run them all.
test: $(STAMP)
	bash scripts/ensure-system-deps.sh chromium
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

## Load benchmarks (wrk); never part of `make test`.
bench: $(STAMP)
	bash scripts/ensure-system-deps.sh wrk
	$(PY) -m bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
