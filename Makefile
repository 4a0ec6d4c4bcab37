# The two commands: `make run` and `make test`. Both build .venv when it is missing or stale.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed-stamp

.PHONY: setup run test lint format eval bench cluster train-detector

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

run: setup
	DEBUG=$${DEBUG:-1} ./bin/run

# The production topology on this machine: Postgres, Redis, two web processes behind a load
# balancer, the worker (docs/operations.md). PORT overrides 8000; data in var/cluster/.
cluster: setup
	$(VENV)/bin/python -m server.cluster

test: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest
	TEST_DATABASE=postgres $(VENV)/bin/pytest -m postgres tests

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DEBUG=1 $(VENV)/bin/mypy

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# The dev-set report, then out-of-source cross-validation of rules, model and both.
eval: setup
	$(VENV)/bin/python -m moderation.crisis.eval --no-misses
	$(VENV)/bin/python -m moderation.crisis.eval --cross-validate

# Retrain the learned stage from ../shared/moderation (or $$CRISIS_DATA) and rewrite its
# artifact, moderation/crisis/data/model.npz. INCLUDE="a.jsonl b.jsonl" adds training-only files
# (facilitators' exported judgements: manage.py export_detector_examples).
train-detector: setup
	$(VENV)/bin/python -m moderation.crisis.train $(foreach f,$(INCLUDE),--include $(f))

bench: setup
	$(VENV)/bin/python bench/crisis_bench.py
