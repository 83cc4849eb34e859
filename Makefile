# Two commands: `make run` sets everything up and starts the app; `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
RUNTIME := var
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 2
INSTALLED := $(VENV)/.installed
# The settings read their runtime folder from here: the same folder as the Makefile's.
export MAILSETTINGS_RUNTIME_DIR ?= $(abspath $(RUNTIME))

# `make serve` runs the web server for production (README.md, "Running in production").
.PHONY: run serve test test-postgres lint format install install-server setup clean screenshots

# Reinstalls only when pyproject.toml changes, so a second `make run` starts quickly.
$(INSTALLED): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[server,test,rq]"
	@touch $@

install: $(INSTALLED)

# Production's install (`make serve`): the app, gunicorn, WhiteNoise, the PostgreSQL driver
# and RQ, without the test tools. A virtualenv `make install` made already has all of it.
SERVER_INSTALLED := $(VENV)/.installed-server
$(SERVER_INSTALLED): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[server,postgres,rq]"
	@touch $@

install-server: $(SERVER_INSTALLED)

# The runtime folder: Django's secret key (unless DJANGO_SECRET_KEY is set), the encryption
# key (unless SMTPCONFIG_ENCRYPTION_KEYS is set), database, admin account and static files.
# With DJANGO_DEBUG off nothing starts without both keys (mailsettings/startup.py), so they
# are made first. What the administrator must act on (back up the new key, the admin
# account's password) is printed last, after the install and setup output.
setup: install
	@mkdir -p $(RUNTIME)
	@if [ -z "$${DJANGO_SECRET_KEY}" ] && [ ! -s $(RUNTIME)/secret_key ]; then \
		umask 077; $(BIN)/python -c "import secrets; print(secrets.token_urlsafe(50))" \
		> $(RUNTIME)/secret_key; fi
	@set -e; key_note=""; \
	if [ -z "$${SMTPCONFIG_ENCRYPTION_KEYS+set}" ]; then \
		key_note="$$($(BIN)/python manage.py smtp_generate_key --file $(RUNTIME)/encryption.key)"; fi; \
	$(BIN)/python manage.py migrate --noinput --verbosity 0; \
	$(BIN)/python manage.py createcachetable; \
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0; \
	admin_note="$$($(BIN)/python manage.py ensure_admin)"; \
	echo; echo "$$key_note" | sed '/^$$/d'; echo "$$admin_note"; echo

# The web app, the outbox's worker (Django's task framework, database backend) and the
# sweeper that recovers lost triggers, together: Ctrl+C stops all three, and the worker
# and the sweeper stop when the web server does.
run: setup
	@echo "Starting the app at http://$(HOST):$(PORT)/admin/ with an outbox worker (Ctrl+C to stop)"
	@$(BIN)/python manage.py db_worker --no-reload --verbosity 1 & worker=$$!; \
	$(BIN)/python manage.py smtp_outbox_sweep --every 60 & sweeper=$$!; \
	trap 'kill $$worker $$sweeper 2>/dev/null; wait $$worker $$sweeper 2>/dev/null' EXIT; \
	$(BIN)/gunicorn --config gunicorn.conf.py --bind $(HOST):$(PORT) --workers $(WORKERS) \
		--graceful-timeout 5

# Production: the web server alone, under gunicorn.conf.py (bind, workers, threads, and a
# timeout derived from the longest admin request), with DJANGO_PRODUCTION on. The keys
# must come from the environment: nothing is made in var/, no admin account is created,
# and a missing key stops the first command with one line saying what to set. The outbox's
# worker and sweeper are services of their own (docs/deploy.md).
serve: export DJANGO_PRODUCTION = 1
serve: install-server
	@mkdir -p "$${MAILSETTINGS_RUNTIME_DIR:-$(RUNTIME)}"
	@$(BIN)/python manage.py migrate --noinput --verbosity 0
	@$(BIN)/python manage.py createcachetable
	@$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	@exec $(BIN)/gunicorn --config gunicorn.conf.py

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Refresh the README's pictures in docs/screenshots/ from the browser tests (a plain test
# run writes them under var/test-screenshots/, so it never changes tracked files).
screenshots: install
	SMTPCONFIG_SCREENSHOTS=docs/screenshots $(BIN)/python -m pytest tests/test_browser*.py $(PYTEST_ARGS)

# The same suite on PostgreSQL (pytest-django creates and drops a test_* database).
POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/test
test-postgres: install
	DATABASE_URL=$(POSTGRES_URL) $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
