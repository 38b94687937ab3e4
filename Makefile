# ADES — the front door. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
REPO ?= .
T ?=

.PHONY: help install test lint bench bench-ingest bench-search clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python ## Create .venv and install the library, services and tools
	$(BIN)/pip install --quiet -r requirements.txt -r requirements-dev.txt
	$(BIN)/pip install --quiet -e shared

test: ## Run every test (T=path to run a subset)
	$(BIN)/pytest $(if $(T),$(T),) -q

lint: ## Check style with ruff
	$(BIN)/ruff check .

bench: bench-ingest bench-search ## Run the benchmarks (REPO=path to a large repository)

bench-ingest: ## Ingest throughput vs git log -p and PyDriller (REPO=path)
	$(BIN)/python bench/ingest.py $(REPO)

bench-search: ## Search latency over an ingested repository (REPO=path)
	$(BIN)/python bench/search.py $(REPO)

clean: ## Remove caches and build output (keeps .venv and data)
	rm -rf .pytest_cache .ruff_cache .hypothesis build shared/*.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
