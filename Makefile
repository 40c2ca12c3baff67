# agent-release-operator — developer entry points.
#
# Everything that is installed or built lives outside the git tree, under
# $(CACHE_DIR): the Python environment (one per checkout), the Go builds of the
# local stack (one per component and pinned version) and the stack's state.
# Each target installs what it needs on first use and reuses it afterwards.

SHELL := /bin/bash
.DEFAULT_GOAL := help

CACHE_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/agent-release
CHECKOUT_ID := $(shell printf '%s' "$(CURDIR)" | sha256sum | cut -c1-12)
export UV_PROJECT_ENVIRONMENT ?= $(CACHE_DIR)/venvs/$(CHECKOUT_ID)
export UV_PYTHON_DOWNLOADS := never
# The project's Python. pyenv's shims answer only for the selected version, so the
# interpreter of pyenv's newest 3.12 is named directly when pyenv is there.
PYTHON_VERSION := 3.12
ifeq ($(origin UV_PYTHON),undefined)
UV_PYTHON := $(or $(shell pyenv prefix $(PYTHON_VERSION) 2>/dev/null | sed -n '1s|$$|/bin/python$(PYTHON_VERSION)|p'),python$(PYTHON_VERSION))
endif
export UV_PYTHON
UV_VERSION := 0.13.8
UV := $(CACHE_DIR)/tools/uv-$(UV_VERSION)/bin/uv
VENV := $(UV_PROJECT_ENVIRONMENT)
PY := $(VENV)/bin/python
# The operator's own environment, as the image has it (`uv sync --no-dev`): the local
# stack runs the operator from it (e2e/demo/operator.py), so what is measured there (its
# memory above all) is the product's, without the test tools kopf would import (kubernetes).
RUNTIME_VENV := $(VENV)-runtime
export AGENT_RELEASE_OPERATOR_VENV := $(RUNTIME_VENV)

.PHONY: help install debian-packages test lint unit fuzz crds bench chaos up demo run down

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(UV):
	python3 -m pip install --quiet --disable-pip-version-check --target $(CACHE_DIR)/tools/uv-$(UV_VERSION)/lib uv==$(UV_VERSION)
	mkdir -p $(dir $(UV)) && ln -sf ../lib/bin/uv $(UV)

# uv leaves its lock file world-writable (0666): the only such file in the venv, which the
# operator (uid 65532 in e2e, demo/sandbox.py) must not be able to write.
$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --quiet
	chmod go-w $(VENV)/.lock
	touch $@

$(RUNTIME_VENV)/.synced: $(UV) pyproject.toml uv.lock
	UV_PROJECT_ENVIRONMENT=$(RUNTIME_VENV) $(UV) sync --frozen --quiet --no-dev
	chmod go-w $(RUNTIME_VENV)/.lock
	touch $@

install: $(VENV)/.synced $(RUNTIME_VENV)/.synced ## create the Python environments from uv.lock (outside the tree)

debian-packages: ## Debian packages the local stack needs (prometheus), once; root or sudo
	@e2e/debian-packages.sh

lint: install ## ruff and mypy (strict)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

unit: install ## tests that need no cluster
	$(PY) -m pytest -m "not e2e"

test: lint debian-packages ## everything: lint, type-check, unit and end-to-end tests on the local stack
	$(PY) -m pytest

# The full fuzzing campaign (tests/fuzzing.py): >= 10,000 inputs over the importers, gate,
# replay, plan, PromQL names and templates, and the CRDs on the local stack's API server.
# `make test` runs the same tests short and derandomized; FUZZ_SEED picks another campaign.
FUZZ_SEED ?= 1
fuzz: install debian-packages ## the fuzzing campaign (not in make test): prints inputs and time per target
	AGENT_RELEASE_FUZZ=campaign $(PY) -m pytest -m fuzz -p no:cacheprovider --hypothesis-seed=$(FUZZ_SEED) $(FUZZ_ARGS)

crds: install ## regenerate crds/*.yaml from the pydantic models
	$(PY) -m agent_release.api.crdgen crds

bench: install debian-packages ## benchmarks (not tests): prints medians; BENCH_ARGS=--no-stack skips the operator's
	PYTHONPATH=$(CURDIR)/e2e AGENT_RELEASE_CACHE_DIR=$(CACHE_DIR) $(PY) -m benchmarks $(BENCH_ARGS)

# The chaos campaign (e2e/chaos): releases of several agents on the local stack with two
# operator replicas, while >= 50 faults are injected (leader SIGKILL/SIGSTOP, Prometheus,
# kube-apiserver and Argo Rollouts restarts); 20-40 minutes. `make test` runs a short one
# (tests/e2e/test_chaos.py). CHAOS_ARGS: --seed N, --faults N, --lanes N.
chaos: install debian-packages ## the chaos campaign (not in make test): faults, releases and invariants
	PYTHONPATH=$(CURDIR)/e2e AGENT_RELEASE_CACHE_DIR=$(CACHE_DIR) $(PY) -m chaos $(CHAOS_ARGS)

DEMO = PYTHONPATH=$(CURDIR)/e2e AGENT_RELEASE_CACHE_DIR=$(CACHE_DIR) $(PY) -m demo

up: install debian-packages ## local stack + CRDs + policies + the operator in the background (idempotent)
	$(DEMO) up

demo: install debian-packages ## on a running `make up`: a baseline, a good and a bad release of one agent
	$(DEMO) demo

run: install debian-packages ## the main job: `up`, then `demo` with a live view until both candidates finish
	$(DEMO) run

down: install ## stop the operator and the local stack (builds and logs are kept)
	$(DEMO) down
include e2e/stack.mk
