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
run: $(VENV)/.runtime $(CONFIG)
	$(BIN)/earshot --config $(CONFIG) db upgrade
	$(BIN)/earshot --config $(CONFIG) run

services:
	bash scripts/services.sh

## test: install and run the whole suite (lint, types, tests on SQLite and PostgreSQL)
test: $(VENV)/.dev services lint typecheck pytest

lint: $(VENV)/.dev
	$(BIN)/ruff check --no-cache .
	$(BIN)/ruff format --no-cache --check .

typecheck: $(VENV)/.dev
	$(BIN)/mypy .

pytest: $(VENV)/.dev
	$(BIN)/pytest -q -p no:cacheprovider

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
