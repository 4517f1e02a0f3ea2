# The project's commands. `make test` is what CI runs (.ci/run).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: install run run-kafka-cassandra test unit lint infra-up infra-down infra-status clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# The engine in one process on the embedded backend (data in .data/), on 127.0.0.1:8080.
run: install
	$(BIN)/timeline up

# The same engine on a local Kafka and Cassandra (downloaded from Maven Central on first use).
run-kafka-cassandra: install
	$(BIN)/timeline infra up
	TIMELINE_BACKEND=kafka-cassandra $(BIN)/timeline up

# Lint, type-check, then every test tier on a real Kafka and Cassandra. Servers this
# target started are stopped again at the end; servers that were already running stay up.
test: install lint
	@if $(BIN)/timeline infra status >/dev/null 2>&1; then started=no; else started=yes; fi; \
	$(BIN)/timeline infra up || exit 1; \
	$(BIN)/python -m pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$started = yes ]; then $(BIN)/timeline infra down; fi; \
	exit $$status

unit: install
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

infra-up: install
	$(BIN)/timeline infra up

infra-down: install
	$(BIN)/timeline infra down

infra-status: install
	$(BIN)/timeline infra status

clean:
	rm -rf $(VENV) build *.egg-info
