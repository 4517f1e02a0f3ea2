# The project's commands. `make test` is what CI runs (.ci/run).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: install install-dev run reset run-kafka-cassandra test unit lint bench bench-embedded infra-up infra-down infra-status clean

# What running needs (the engine and its runtime libraries); the tests and tools come with
# install-dev, which `make test` uses.
install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $@

install-dev: $(VENV)/.dev-installed

$(VENV)/.dev-installed: $(VENV)/.installed
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# The engine in one process on the embedded backend (data in .data/), on 127.0.0.1:8080.
run: install
	$(BIN)/timeline up

# Delete the embedded backend's data (stop the engine first): the next `make run` starts
# from an empty log.
reset:
	rm -rf "$${TIMELINE_DATA_DIR:-.data}"

# The same engine on a local Kafka and Cassandra (downloaded from Maven Central on first use).
run-kafka-cassandra: install
	$(BIN)/timeline infra up
	TIMELINE_BACKEND=kafka-cassandra $(BIN)/timeline up

# Lint, type-check, then every test tier on a real Kafka and Cassandra. Servers this
# target started are stopped again at the end; servers that were already running stay up.
test: install-dev lint
	@if $(BIN)/timeline infra status >/dev/null 2>&1; then started=no; else started=yes; fi; \
	$(BIN)/timeline infra up || exit 1; \
	$(BIN)/python -m pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$started = yes ]; then $(BIN)/timeline infra down; fi; \
	exit $$status

unit: install-dev
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The benchmark suite on the local Kafka and Cassandra (bench/README.md): graph, baselines,
# ingest, pipeline and Locust profiles in one run. BENCH_SCALE=small|medium|full (default
# full, hours on 2 cores); BENCH_ARGS passes flags to `python -m bench`.
bench: $(VENV)/.bench-installed
	$(BIN)/python -m bench $(if $(BENCH_SCALE),--scale $(BENCH_SCALE)) $(BENCH_ARGS)

# The engine alone on the embedded backend, no JVM: posts then home pages through its HTTP API
# from 64 clients, into bench/results/<time>-embedded/ (SUMMARY.md, chart.png, results.json).
# BENCH_ARGS passes flags (`--target http://127.0.0.1:8080 --pid N` for a running engine).
bench-embedded: $(VENV)/.bench-installed
	$(BIN)/python -m bench.embedded --results auto $(BENCH_ARGS)

$(VENV)/.bench-installed: $(VENV)/.dev-installed
	$(BIN)/pip install -q -e '.[dev,bench]'
	touch $@

infra-up: install
	$(BIN)/timeline infra up

infra-down: install
	$(BIN)/timeline infra down

infra-status: install
	$(BIN)/timeline infra status

clean:
	rm -rf $(VENV) build *.egg-info
