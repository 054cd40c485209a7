# One entry for every task; each target installs what it needs on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# The browser tests drive Debian's chromium (Playwright never downloads a browser of its own).
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install demo test check bench clean chromium wrk services

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(INSTALLED)

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
