# Linli: `make up` runs the platform locally, `make test` runs every test against real servers.
# Everything is installed on first use; downloads are cached outside the repo
# (pip: ~/.cache/pip, Maven: ~/.m2, Go: ~/go, built servers: ~/.cache/linli).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install system-deps up down status test test-fast bench lint docs clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Debian packages the tests use: hledger checks the ledger's export; Chromium (with a CJK font
# for screenshots) runs the web console's browser suite (never `playwright install`).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
system-deps:
	@command -v hledger >/dev/null || ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq hledger >/dev/null)
	@(command -v chromium >/dev/null && fc-list | grep -qi "Noto Sans CJK") || ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium fonts-noto-cjk >/dev/null)

up: $(STAMP)
	$(VENV)/bin/linli up

down: $(STAMP)
	$(VENV)/bin/linli down

status: $(STAMP)
	$(VENV)/bin/linli status

test: $(STAMP) system-deps
	$(VENV)/bin/ruff check --quiet .
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest -m unit $(PYTEST_ARGS)

bench: $(STAMP) system-deps
	$(PY) -m pytest -m bench tests/bench -s -p no:cacheprovider $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

docs: $(STAMP)
	$(VENV)/bin/linli docs write

clean: down
	rm -rf .state
