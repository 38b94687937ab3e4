# ADES — the front door. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
REPO ?= .
T ?=
RUN_DIR ?= data/run
SERVICES := ui ide collab viz

.PHONY: help install run test lint bench bench-ingest bench-search clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python ## Create .venv and install the library, services and tools
	$(BIN)/pip install --quiet -r requirements.txt -r requirements-dev.txt
	$(BIN)/pip install --quiet -e shared

# Each gunicorn runs in its own session, so Ctrl-C reaches only this shell, whose trap
# sends SIGTERM: a graceful drain rather than gunicorn's abrupt SIGINT shutdown.
run: ## Start ui, ide, collab, viz under gunicorn on 8080-8083 (/metrics also on +1010); Ctrl-C stops all
	@pids=(); \
	stop() { trap - INT TERM EXIT; kill -TERM "$${pids[@]}" 2>/dev/null; wait; }; \
	trap 'stop; exit 0' INT TERM; trap stop EXIT; \
	for svc in $(SERVICES); do \
	  multiproc="$(abspath $(RUN_DIR))/prometheus-$$svc"; mkdir -p "$$multiproc"; \
	  env -u GAIT_PORT -u GAIT_METRICS_PORT PROMETHEUS_MULTIPROC_DIR="$$multiproc" \
	    setsid $(BIN)/gunicorn -c services/$$svc/gunicorn.conf.py & pids+=($$!); \
	done; \
	wait -n; status=$$?; echo "make run: a service stopped (exit $$status); stopping the others" >&2; \
	exit $$status

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
