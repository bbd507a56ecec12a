# ordertriage — one command surface. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
KAFKA := deploy/kafka/kafka.sh
STAMP := $(VENV)/.installed
PEER_VENV := .cache/bench/peer-venv
PEER_STAMP := $(PEER_VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the commands
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip sync --quiet --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $@

.PHONY: install
install: $(STAMP) $(PEER_STAMP) ## create .venv with the pinned dependencies (requirements.lock)

# The benchmark's peer (a Quix Streams app) needs pydantic < 2.14, so it gets its own venv with
# the project's pure core installed without dependencies.
$(PEER_STAMP): streams/tools/bench/peer.lock $(STAMP)
	test -x $(PEER_VENV)/bin/python || $(PYTHON) -m venv $(PEER_VENV)
	$(BIN)/uv pip sync --quiet --python $(PEER_VENV)/bin/python streams/tools/bench/peer.lock
	$(BIN)/uv pip install --quiet --python $(PEER_VENV)/bin/python --no-deps -e .
	touch $@

.PHONY: lock
lock: ## re-resolve requirements.lock from pyproject.toml
	$(BIN)/uv pip compile --quiet pyproject.toml --extra dev --python-version 3.11 -o requirements.lock
	$(BIN)/uv pip compile --quiet streams/tools/bench/peer.in --python-version 3.11 -o streams/tools/bench/peer.lock

.PHONY: tools
tools: ## Debian packages the tests use (promtool; chromium for the notifier's phone page)
	@command -v promtool >/dev/null || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core fonts-noto-cjk >/dev/null; }
	@command -v java >/dev/null && command -v mvn >/dev/null || \
	  { echo "Java 17 and Maven are needed to run the local broker"; exit 1; }

.PHONY: docs-tools
docs-tools: ## Debian chromium, to render reports headless for docs/ (not needed by the tests)
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null; }

.PHONY: docs-pictures
docs-pictures: install docs-tools broker ## docs/report.png (sample orders on the local broker) and docs/dashboard-layout.png
	$(BIN)/python deploy/grafana/render_layout.py
	$(BIN)/python -m streams.report.screenshot docs/report.png

.PHONY: broker
broker: ## start the local single-node KRaft broker (no-op with KAFKA_BOOTSTRAP set)
	$(KAFKA) start
	$(KAFKA) wait-ready

.PHONY: broker-secure
broker-secure: ## the local broker with TLS, SCRAM-SHA-512 and ACLs (KAFKA_SECURITY=sasl_ssl; docs/security.md)
	KAFKA_SECURITY=sasl_ssl $(KAFKA) start
	KAFKA_SECURITY=sasl_ssl $(KAFKA) wait-ready

.PHONY: acls
acls: install ## least-privilege ACLs for the worker, rule publisher and reader on the secure broker
	deploy/kafka/acls.sh $(ACLS_ARGS)

.PHONY: broker-stop
broker-stop: ## stop the local broker
	$(KAFKA) stop

# A three-node KRaft cluster on 127.0.0.1 (clients on CLUSTER_PORT, +2, +4); see docs/scaling.md.
CLUSTER_PORT ?= 9092
CLUSTER := KAFKA_BROKERS=3 KAFKA_PORT=$(CLUSTER_PORT) $(KAFKA)

.PHONY: cluster
cluster: ## start a local three-broker KRaft cluster (RF 3, min ISR 2; CLUSTER_PORT=, default 9092)
	$(CLUSTER) start
	$(CLUSTER) wait-ready 180
	@echo "KAFKA_BOOTSTRAP=127.0.0.1:$(CLUSTER_PORT),127.0.0.1:$$(($(CLUSTER_PORT)+2)),127.0.0.1:$$(($(CLUSTER_PORT)+4))"

.PHONY: cluster-stop
cluster-stop: ## stop the local three-broker cluster
	$(CLUSTER) stop

.PHONY: demo
demo: install ## broker + worker + sample orders + live summary (Ctrl-C stops it all)
	@was_running=$$($(KAFKA) status >/dev/null 2>&1 && echo yes); \
	$(KAFKA) start && $(KAFKA) wait-ready || exit 1; \
	trap '[ -n "$$was_running" ] || $(KAFKA) stop' EXIT; \
	$(BIN)/python -m streams.tools.demo

.PHONY: test
test: install tools broker ## unit, agent and integration tests (starts the local broker)
	$(BIN)/python -m pytest

.PHONY: test-security
test-security: install broker ## the secure broker's tests alone: refused logins, TLS, ACLs, the pipeline with make acls (~2 min)
	$(BIN)/python -m pytest tests/integration/test_kafka_security.py tests/unit/kafka

.PHONY: test-cluster
test-cluster: install ## the launcher's three-broker mode: kill -9 a node under acks=all (own ports, ~2 min)
	$(BIN)/python -m pytest -m cluster tests/integration/test_cluster_launcher.py

.PHONY: throughput
throughput: install broker ## orders/s through one worker on the local broker (median of 3 runs)
	$(BIN)/python -m streams.tools.throughput --orders $${ORDERS:-5000} --runs $${RUNS:-3}

.PHONY: bench
bench: install broker ## ordertriage vs a plain aiokafka ceiling, the same copy on Faust, a Quix Streams peer (~12 min)
	$(BIN)/python -m streams.tools.bench --events $${EVENTS:-20000} --runs $${RUNS:-3}

.PHONY: bench-scaling
bench-scaling: install broker ## 1 vs 2 workers; recovery time and memory by state size and store
	$(BIN)/python -m streams.tools.bench.scaling --events $${EVENTS:-20000} --orders $${ORDERS:-0,100000}

.PHONY: faults
faults: install broker ## fault scenarios judged by the verifier (kills, rebalances, broker outages), ~15 min
	$(BIN)/python -m tests.faults $(SCENARIOS)

.PHONY: faults-workers
faults-workers: install broker ## any producer and many workers: librdkafka's partitioner, 2 and 4 workers, 1->4->1 (~15 min)
	$(BIN)/python -m tests.faults librdkafka-2-workers librdkafka-4-workers scale-1-4-1

.PHONY: faults-cluster
faults-cluster: install ## on a 3-broker cluster (CLUSTER_PORT=, default 9300): a node, the busiest leader killed -9, a rolling restart, the worker killed -9 x5
	KAFKA_BROKERS=3 KAFKA_PORT=$${CLUSTER_PORT:-9300} $(BIN)/python -m tests.faults cluster-node-kill-9 cluster-leader-kill-9 cluster-rolling-restart cluster-worker-kill-9x5

.PHONY: soak
soak: install broker ## 30 min of load with a kill every 2-4 min (SOAK_MINUTES=), then the verifier
	$(BIN)/python -m tests.faults soak --soak-minutes $${SOAK_MINUTES:-30}

.PHONY: backlog
backlog: install broker ## a 1,000,000-event backlog drained by one worker; peak memory (EVENTS=)
	$(BIN)/python -m tests.faults backlog-1m --backlog-events $${EVENTS:-1000000}

.PHONY: lint
lint: install ## ruff, mypy strict on the core and schemas, architecture contracts (import-linter)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

.PHONY: schemas
schemas: install ## re-export the JSON Schema files in schemas/json/
	$(BIN)/python -m schemas.export

.PHONY: clean
clean: ## stop the broker, remove .venv and caches
	-$(KAFKA) stop
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .ruff_cache
