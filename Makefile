# Gongjian 共建 — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
# `make test` runs the suite on SQLite; with DATABASE_URL set, again on that PostgreSQL.
TEST_SQLITE ?= 1
PYTEST_ARGS ?=

.PHONY: install run run-split test test-sqlite test-postgres bench lint fmt migrate demo clean

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/gongjian run

migrate: install
	$(BIN)/gongjian migrate

demo: install
	$(BIN)/gongjian demo

test: install
ifeq ($(TEST_SQLITE),1)
	$(MAKE) --no-print-directory test-sqlite
endif
	@if [ -n "$$DATABASE_URL" ]; then $(MAKE) --no-print-directory test-postgres; fi

test-sqlite: install
	@echo "== test suite on SQLite"
	env -u DATABASE_URL -u GONGJIAN_DATABASE_URL $(BIN)/pytest $(PYTEST_ARGS)

test-postgres: install
	@echo "== test suite on PostgreSQL ($${DATABASE_URL%%\?*})"
	$(BIN)/pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m bench

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) data .pytest_cache

run-split: install
	@test -n "$$DATABASE_URL" || echo "note: DATABASE_URL is not set; each process uses its own SQLite file"
	$(BIN)/gongjian run-split
