# One entry for every task; each target installs what it needs on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# The browser tests drive Debian's chromium (Playwright never downloads a browser of its own).
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install lock upgrade demo test check bench clean chromium wrk services

# The lock holds every package of the project and its dev extra at the version CI tested, with
# hashes; `make install` installs exactly it, then the project on top without resolving again.
# pip check fails when the project's own dependencies need what the lock lacks.
LOCK := requirements.lock
UV_VERSION := 0.13.9
UV := $(VENV)/.uv-$(UV_VERSION)

$(INSTALLED): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	@$(BIN)/pip check >/dev/null || { $(BIN)/pip check; \
	  echo "pyproject.toml and $(LOCK) disagree: run make lock."; exit 1; }
	touch $@

install: $(INSTALLED)

# uv resolves the lock (pinned itself, so that the same input gives the same lock).
$(UV):
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet uv==$(UV_VERSION)
	touch $@

# `make lock` after editing pyproject.toml's dependencies: it keeps every pin it can.
# `make upgrade`: every package to its newest release that pyproject.toml allows.
lock: $(UV)
	$(BIN)/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
	  --generate-hashes --custom-compile-command 'make lock' --quiet -o $(LOCK) $(UPGRADE)

upgrade:
	$(MAKE) lock UPGRADE=--upgrade

demo: $(INSTALLED)
	$(BIN)/cio-warehouse demo

chromium:
	@test -x $(CHROMIUM) || { echo "Installing chromium for the browser tests..."; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    chromium >/dev/null; }

# Servers the tests start themselves (never as system services): PostgreSQL for the Postgres
# destination and the shared inbox, nginx in front of several receivers.
services:
	@{ ls /usr/lib/postgresql/*/bin/initdb && test -x /usr/sbin/nginx; } >/dev/null 2>&1 || { \
	  echo "Installing postgresql and nginx for the tests..."; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    postgresql postgresql-client nginx-light >/dev/null; }

test: $(INSTALLED) chromium services
	$(BIN)/pytest

check: $(INSTALLED)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

# The webhook benchmark's closed-loop load generator.
wrk:
	@command -v wrk >/dev/null || { echo "Installing wrk for the benchmarks..."; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    wrk >/dev/null; }

bench: $(INSTALLED) wrk services
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
