# Earshot: `make run` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q
CONFIG ?= earshot.yaml
# torch is pinned to the CPU wheel on this machine's disk; see DEVELOPERS.md.
TORCH  := torch==2.13.0

.PHONY: run test lint typecheck pytest install install-dev model eval bench clean services

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Runtime only: no torch. The stamp re-installs when pyproject.toml changes.
$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(PIP) install -e . --config-settings editable_mode=compat
	@touch $@

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(PIP) install $(TORCH)
	$(PIP) install -e ".[dev,train]" $(TORCH) --config-settings editable_mode=compat
	@touch $@ $(VENV)/.runtime

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

$(CONFIG):
	cp earshot.example.yaml $(CONFIG)

## run: install, migrate and start everything on embedded defaults with the demo source
# The first start creates user `admin` with a random password kept (mode 600) in .admin-password.
ADMIN_PASSWORD_FILE := .admin-password

$(ADMIN_PASSWORD_FILE):
	@umask 077 && $(PYTHON) -c "import secrets; print(secrets.token_urlsafe(15))" > $@

run: $(VENV)/.runtime $(CONFIG) $(ADMIN_PASSWORD_FILE)
	$(BIN)/earshot --config $(CONFIG) db upgrade
	@echo "sign in at http://127.0.0.1:8000/ as admin with the password in $(ADMIN_PASSWORD_FILE): $$(cat $(ADMIN_PASSWORD_FILE))"
	EARSHOT_ADMIN_PASSWORD="$$(cat $(ADMIN_PASSWORD_FILE))" $(BIN)/earshot --config $(CONFIG) run

services:
	bash scripts/services.sh

## test: install and run the whole suite (lint, types, tests on SQLite and PostgreSQL)
test: $(VENV)/.dev services lint typecheck pytest

lint: $(VENV)/.dev
	$(BIN)/ruff check --no-cache .
	$(BIN)/ruff format --no-cache --check .

typecheck: $(VENV)/.dev
	$(BIN)/mypy .

# Two workers (pytest-xdist): each has its own SQLite files and PostgreSQL database.
pytest: $(VENV)/.dev
	$(BIN)/pytest -q -p no:cacheprovider -n 2

## model: train the classifier from ../shared/datasets, export to ONNX and quantize to int8, fit the
## learned heads, and write the model card from `earshot eval` (hours on 2 CPU cores; see README)
model: $(VENV)/.dev
	HF_HUB_OFFLINE=1 $(BIN)/python -m classifiers.training --no-eval
	$(BIN)/python -m classifiers.training.heads
	$(BIN)/earshot eval --card

eval: $(VENV)/.dev
	$(BIN)/earshot eval

## bench: every benchmark in bench/, each printing ratios measured in one run
bench: $(VENV)/.dev services
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
