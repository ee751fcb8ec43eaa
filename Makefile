# The two commands: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# PYTHONWARNINGS: setuptools prints screens of notes about editable installs and
# data folders on every install; they say nothing about this project.
PIP := PYTHONWARNINGS=ignore $(PY) -m pip -q --disable-pip-version-check
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
# The published monlight 0.3.0 client, kept out of the venv (it shares the import
# name of our own client); installed here so the tests that run it stay offline.
PUBLISHED_CLIENT := $(VENV)/test-cache/monlight-0.3.0
# The published 0.3.0 sdist's own tests/ (and its pytest config), run against our
# client by tests/clients_python/test_published_suite.py.
PUBLISHED_TESTS := $(VENV)/test-cache/monlight-0.3.0-tests

.PHONY: run test lint typecheck bench smoke clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# Runtime dependencies only: what `make run` needs.
$(RUN_STAMP): pyproject.toml | $(PY)
	$(PIP) install --upgrade pip
	$(PIP) install -e .
	touch $(RUN_STAMP)

# Everything the tests need on top.
$(DEV_STAMP): pyproject.toml clients/python/pyproject.toml $(RUN_STAMP)
	$(PIP) install -e '.[dev]'
	$(PIP) install --no-deps --target $(PUBLISHED_CLIENT) monlight==0.3.0
	$(PIP) install -e clients/python
	rm -rf $(PUBLISHED_TESTS) && mkdir -p $(PUBLISHED_TESTS)
	$(PIP) download --no-binary :all: --no-deps -d $(PUBLISHED_TESTS) monlight==0.3.0
	tar -xzf $(PUBLISHED_TESTS)/monlight-0.3.0.tar.gz -C $(PUBLISHED_TESTS) --strip-components=1 \
		monlight-0.3.0/tests monlight-0.3.0/pyproject.toml
	rm $(PUBLISHED_TESTS)/monlight-0.3.0.tar.gz
	touch $(DEV_STAMP)

# The browser SDK's dev tools (minifiers for its size check; they also rebuild the
# committed source-map fixtures): clients/browser/package-lock.json, pinned.
NODE_STAMP := clients/browser/node_modules/.installed
$(NODE_STAMP): clients/browser/package-lock.json
	cd clients/browser && npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

# The real @sentry/node (pinned by its package-lock.json): a Sentry SDK of another
# language reporting into the Error Tracker in tests/error_tracker/test_sentry_protocol.py.
SENTRY_NODE_STAMP := tests/error_tracker/sentry_node/node_modules/.installed
$(SENTRY_NODE_STAMP): tests/error_tracker/sentry_node/package-lock.json
	cd tests/error_tracker/sentry_node && npm ci --no-audit --no-fund --loglevel=error
	touch $(SENTRY_NODE_STAMP)

## Start every service in one process on 127.0.0.1:5010.. (Ctrl-C stops cleanly).
run: $(RUN_STAMP)
	$(PY) -m shared.stack

## Install what the tests need (Debian chromium when missing) and run them all.
test: $(DEV_STAMP) $(NODE_STAMP) $(SENTRY_NODE_STAMP)
	bash scripts/ensure-system-deps.sh chromium
	cd clients/browser && node size.mjs
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(PY) -m pytest

lint: $(DEV_STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(DEV_STAMP)
	$(PY) -m mypy

## Load benchmarks (wrk); never part of `make test`.
bench: $(DEV_STAMP)
	bash scripts/ensure-system-deps.sh wrk
	$(PY) -m bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
