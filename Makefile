# Two entry points, both usable on a fresh machine:
#   make run    the ticket chat on http://127.0.0.1:4000 (SQLite file under ./data/)
#   make test   lint, type check and the whole test suite (Node clients included)
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
NODE_STAMP := tests/js/node_modules/.installed
# The page's client library (phoenix.js) and the browser tests' driver (playwright-core).
WEB_STAMP  := web/node_modules/.installed
BROWSER_STAMP := tests/browser/node_modules/.installed

.PHONY: run test lint typecheck pytest bench bench-chat bench-presence twin setup clean

# phxpy and the service are two distributions; both are installed editable, in one command.
$(STAMP): setup.cfg pyproject.toml phxpy/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e './phxpy[redis]' -e '.[test]'
	touch $(STAMP)

$(NODE_STAMP): tests/js/package.json tests/js/package-lock.json
	cd tests/js && npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

$(WEB_STAMP): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	touch $(WEB_STAMP)

$(BROWSER_STAMP): tests/browser/package.json tests/browser/package-lock.json
	cd tests/browser && npm ci --no-audit --no-fund --loglevel=error
	touch $(BROWSER_STAMP)

setup: $(STAMP) $(NODE_STAMP) $(WEB_STAMP) $(BROWSER_STAMP)

run: $(STAMP) $(WEB_STAMP)
	$(PY) -m server

twin: $(STAMP)
	$(PY) examples/twin.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

pytest: setup
	$(PY) tests/postgres_notice.py
	PYTHONASYNCIODEBUG=$${PYTHONASYNCIODEBUG:-0} $(PY) -m pytest $(PYTEST_ARGS)

test: lint typecheck pytest

bench: setup
	$(PY) bench/run.py
	$(PY) bench/chat.py

bench-chat: setup
	$(PY) bench/chat.py

bench-presence: setup
	$(PY) bench/presence_modes.py

clean:
	rm -rf $(VENV) tests/js/node_modules web/node_modules tests/browser/node_modules
