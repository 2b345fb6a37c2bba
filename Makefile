# SegBook kit — developer entry points. `make` (or `make help`) lists them.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
OUT ?= segbook-out

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_.-]+:.*## ' $(MAKEFILE_LIST) | sort -u | \
	  awk 'BEGIN {FS = ":.*## "} {printf "  %-18s %s\n", $$1, $$2}'

$(BIN)/segbook: requirements-dev.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --require-hashes -r requirements-dev.lock
	$(BIN)/pip install --no-deps --no-build-isolation -e .
	@touch $@

install: $(BIN)/segbook ## create .venv from the hashed lock and install the kit
	@$(BIN)/segbook --version

demo: install ## fine-tune vs scratch on the embedded synthetic demo (CPU, a few minutes)
	$(BIN)/segbook demo --out $(OUT)/demo

test: install ## run the whole test suite (unit, integration, container, slurm)
	$(BIN)/pytest $(PYTEST_ARGS)

test-unit: install ## run the fast unit tests only (tests/unit and tests/security)
	$(BIN)/pytest -m unit $(PYTEST_ARGS)

test-integration: install ## run real nnU-Net on the CPU (tests/integration; minutes)
	$(BIN)/pytest -m integration $(PYTEST_ARGS)

test-container: install ## build and run the real images with Podman (tests/container; needs make test-deps)
	$(BIN)/pytest -m container $(PYTEST_ARGS)

test-slurm: install ## run the Slurm tests (starts a real single-node Slurm; needs slurm-wlm and munge)
	$(BIN)/pytest -m slurm $(PYTEST_ARGS)

lint: install lint-containers lint-workflows typecheck ## ruff on the Python code (and shellcheck + hadolint on the container files)
	$(BIN)/ruff check segbook tests bench scripts

TYPED := segbook
typecheck: install ## mypy over the whole segbook package
	$(BIN)/mypy $(TYPED)

WORKFLOWS := $(wildcard .github/workflows/*.yml) segbook/data/ci/segbook-reproduce.yml
lint-workflows: ## GitHub workflow schema + zizmor (offline) over .github/workflows and the users' CI template
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows $(WORKFLOWS)
	$(BIN)/zizmor --offline --no-progress $(WORKFLOWS)

bench: install ## run the benchmarks and print their numbers (see docs/benchmarks.md)
	$(BIN)/python bench/run_all.py

bench-gpu: install ## the one GPU script (< 8 min on one H200): STU-Net S/B/L/H bf16 TFLOP/s + MFU, H's largest batch, determinism, predict -> bench-gpu.json
	$(BIN)/python bench/bench_gpu.py --device cuda --json bench-gpu.json

.PHONY: help install demo test test-unit test-integration test-container test-slurm lint typecheck bench bench-gpu

# Fragments owned by each area (containers, ...).
-include mk/*.mk

# Debian packages the container, Slurm and browser tests need (root; CI runs this first).
TEST_DEBS := podman runc debootstrap uidmap slirp4netns fuse-overlayfs squashfs-tools squashfuse siftool \
	slurm-wlm munge chromium

test-deps: ## install the Debian packages the container tests need (root)
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(TEST_DEBS)

manifests: install ## regenerate manifests/datasets/*.yaml from manifests/reference/
	$(BIN)/python scripts/generate_manifests.py

manifests-check: install ## fail if the manifests differ from what the generator makes
	$(BIN)/python scripts/generate_manifests.py --check

datasets-doc: install ## regenerate docs/datasets.md (one row per dataset) from the manifests
	$(BIN)/python scripts/datasets_doc.py

.PHONY: test-deps manifests manifests-check datasets-doc
