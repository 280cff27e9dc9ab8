# ivr — two commands on a fresh Debian machine:  make run   |   make test
# Everything else is installed on demand: Debian packages only when missing (apt-get update
# once, first), the Python venv only when setup.cfg/constraints.txt changed.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Debian packages: TTS, SIP peers (SIPp, Kamailio), modem cross-check (gammu),
# Kannel for the API benchmark, PostgreSQL for the store tests, audio tools, Chromium and its
# WebDriver for the console's browser tests.
APT_PACKAGES := espeak-ng libespeak-ng1 sip-tester kamailio gammu kannel kannel-extras \
                postgresql sox socat chromium chromium-driver baresip-core linphone-cli
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint typecheck bench deps apt-deps venv clean

run: deps
	$(VENV)/bin/ivr serve --demo

test: deps
	$(PY) -m pytest -q $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check ivr tools tests bench
	$(VENV)/bin/mypy

typecheck: venv
	$(VENV)/bin/mypy

bench: deps
	@for b in bench/*_bench.py bench/sip_load.py; do [ -f "$$b" ] && { echo "== $$b"; $(PY) $$b || exit 1; }; done; true

deps: apt-deps venv

apt-deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

venv: $(STAMP)

$(STAMP): setup.cfg constraints.txt pyproject.toml
	[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q -c constraints.txt -e '.[test]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
