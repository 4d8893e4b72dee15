# snapthunder: the two commands a new checkout needs are `make demo` and `make test`.
# Everything else here is what they are made of.

PYTHON_BOOTSTRAP ?= python3
VENV := .venv
PYTHON := $(VENV)/bin/python
SHARDS ?= 4
OUTPUTS ?= .snapthunder/endpoints.json
PYTEST_ARGS ?=

.PHONY: venv up down demo test test-fast bench bench-scale scan lock clean

# $(call with_heartbeat,WHAT,COMMAND): COMMAND, with a line every 10 s while it runs (a quiet step looks hung).
with_heartbeat = ( while sleep 10; do echo "    ... $(1): still running"; done ) & beat=$$!; \
	$(2); status=$$?; kill $$beat; exit $$status

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt images/ui/requirements.txt pyproject.toml
	@echo "==> creating $(VENV) from requirements.txt (once; about a minute from a warm pip cache)"
	@echo "    why: the demo, the tests and the tools run in their own Python environment, not the system's"
	test -x $(PYTHON) || $(PYTHON_BOOTSTRAP) -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	@$(call with_heartbeat,installing the packages,$(PYTHON) -m pip install --quiet -r requirements.txt)
	$(PYTHON) -m pip install --quiet --no-deps -e .
	touch $@

## up: start one PostgreSQL server per shard and the API on 127.0.0.1, and write OUTPUTS (SHARDS=4)
up: venv
	$(PYTHON) -m snapthunder.localenv up --shards $(SHARDS) --outputs $(OUTPUTS)

## down: stop everything `make up` started and remove its data
down: venv
	$(PYTHON) -m snapthunder.localenv down --outputs $(OUTPUTS)

## demo: the main job on the local environment: up, generate a GTEx-like compilation, load, query, benchmark
demo: venv
	$(PYTHON) -m demo --shards $(SHARDS) --outputs $(OUTPUTS)

BENCH_ARGS ?=
## bench: benchmark the local environment (after `make up`): paper, service, load -> bench-results/<run>/report.md
bench: venv
	$(PYTHON) -m bench --outputs $(OUTPUTS) $(BENCH_ARGS)

## bench-scale: latency as the compilation grows 1.5 M -> 7.5 M -> 31 M junctions (heavy, niced; REPLACES the shards' data)
bench-scale: venv
	nice -n 10 $(PYTHON) -m bench.scale --outputs $(OUTPUTS) $(BENCH_ARGS)

## test: the whole suite, against real PostgreSQL servers it starts and stops itself
test: venv scan
	$(PYTHON) -m pytest $(PYTEST_ARGS)

## test-fast: the suite without the full-size (slow) tests
test-fast: venv
	$(PYTHON) -m pytest -m "not slow" $(PYTEST_ARGS)

SCAN_VENV := .venv-scan
SCAN_DIR := build/scan

## scan: checkov on the rendered Kubernetes manifests and both Dockerfiles (own venv: checkov's pins clash with pulumi's)
scan: venv $(SCAN_VENV)/.installed
	rm -rf $(SCAN_DIR)
	$(PYTHON) -m tests.scan_manifests $(SCAN_DIR)/manifests
	$(SCAN_VENV)/bin/checkov --config-file tests/checkov.yaml --framework kubernetes --directory $(SCAN_DIR)/manifests
	$(SCAN_VENV)/bin/checkov --config-file tests/checkov.yaml --framework dockerfile \
	    --file images/postgres-shard/Dockerfile --file images/ui/Dockerfile

$(SCAN_VENV)/.installed:
	$(PYTHON_BOOTSTRAP) -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/python -m pip install --quiet 'checkov~=3.2'
	touch $@

LOCK_VENV := .venv-lock
UI_REQUIREMENTS := images/ui/requirements.txt
UI_LOCK := images/ui/requirements.lock
# The lock is resolved for the Python of the UI image's base, read from its FROM line.
UI_PYTHON := $(shell sed -n 's/^FROM python:\([0-9]*\.[0-9]*\).*/\1/p' images/ui/Dockerfile)
LOCK_ARGS ?=

## lock: pin and hash every package of images/ui/requirements.txt into images/ui/requirements.lock, which the UI image installs (LOCK_ARGS=--upgrade: newest allowed versions)
lock: $(LOCK_VENV)/.installed
	$(LOCK_VENV)/bin/uv pip compile --quiet --universal --python-version $(UI_PYTHON) --generate-hashes \
	    --custom-compile-command 'make lock' $(LOCK_ARGS) $(UI_REQUIREMENTS) --output-file $(UI_LOCK)

$(LOCK_VENV)/.installed:
	$(PYTHON_BOOTSTRAP) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet 'uv==0.13.8'
	touch $@

clean: down
	rm -rf .snapthunder
