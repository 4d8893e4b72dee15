# snapthunder: the two commands a new checkout needs are `make demo` and `make test`.
# Everything else here is what they are made of.

PYTHON_BOOTSTRAP ?= python3
VENV := .venv
PYTHON := $(VENV)/bin/python
SHARDS ?= 4
OUTPUTS ?= .snapthunder/endpoints.json
PYTEST_ARGS ?=

.PHONY: venv up down demo test test-fast bench clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt images/ui/requirements.txt pyproject.toml
	test -x $(PYTHON) || $(PYTHON_BOOTSTRAP) -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -r requirements.txt
	$(PYTHON) -m pip install --quiet --no-deps -e .
	touch $@

## up: start one PostgreSQL server per shard on 127.0.0.1 and write OUTPUTS (SHARDS=4)
up: venv
	$(PYTHON) -m snapthunder.localenv up --shards $(SHARDS) --outputs $(OUTPUTS)

## down: stop everything `make up` started and remove its data
down: venv
	$(PYTHON) -m snapthunder.localenv down --outputs $(OUTPUTS)

## demo: the main job on the local environment: up, generate a GTEx-like compilation, load, query
demo: venv
	$(PYTHON) -m snapthunder.demo --shards $(SHARDS) --outputs $(OUTPUTS)

## test: the whole suite, against real PostgreSQL servers it starts and stops itself
test: venv
	$(PYTHON) -m pytest $(PYTEST_ARGS)

## test-fast: the suite without the full-size (slow) tests
test-fast: venv
	$(PYTHON) -m pytest -m "not slow" $(PYTEST_ARGS)

clean: down
	rm -rf .snapthunder
