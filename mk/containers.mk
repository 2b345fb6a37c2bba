# Containers, locks and the reproduction check. Included by the Makefile (-include mk/*.mk);
# also usable alone: make -f mk/containers.mk image
#
# Variables (override on the command line):
#   ENGINE=podman|docker   BASE_IMAGE=...   IMAGE=segbook:<version>   PODMAN_RUNTIME=runc   TARGET=runtime
#   WEIGHTS_DIR=folder of .model files (image-weights)   DEBIAN_MIRROR=... (base-image)
#   REPRO_ARGS=... extra arguments of scripts/repro_check.py (e.g. --skip-build --keep)
#   SIF=build/segbook.sif   SIF_GZIP_LEVEL=1 (squashfs gzip level when Apptainer is missing: 9 = Apptainer's default)
# ENGINE=docker uses the Docker CLI against the API DOCKER_HOST names (Docker Engine, or Podman's
# `podman system service`): see docs/ci.md for what runs where.

VENV_PYTHON   ?= .venv/bin/python
ENGINE        ?= podman
PODMAN_RUNTIME ?= runc
VERSION       := $(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' segbook/__init__.py)
REVISION      := $(shell git describe --always --dirty --abbrev=40 2>/dev/null || echo unknown)
CREATED       := $(shell git log -1 --format=%cI 2>/dev/null || echo unknown)
LOCAL_BASE    ?= localhost/segbook-base:bookworm
BASE_IMAGE    ?= $(LOCAL_BASE)
IMAGE         ?= localhost/segbook:$(VERSION)
TARGET        ?= runtime
REPRO_ARGS    ?=
WEIGHTS_IMAGE ?= localhost/segbook:$(VERSION)-weights
CONTEXT       ?= build/container-context
MANIFESTS_DIR ?= manifests
WEIGHTS_DIR   ?=
SIF           ?= build/segbook.sif
SIF_GZIP_LEVEL ?= 1
HOST_CA       ?= $(wildcard /etc/ssl/certs/ca-certificates.crt)
# local wheel folders (this project's machines have them); mounted read-only for pip's find-links
FIND_LINKS_DIRS ?= $(wildcard /opt/pypi/files /opt/pypi-more/files /opt/wheels)
LOCK          ?= containers/requirements.lock
DEV_LOCK      ?= requirements-dev.lock
LOCK_INDEXES  ?= https://pypi.org/simple

ENGINE_RUNTIME := $(if $(filter podman,$(ENGINE)),--runtime $(PODMAN_RUNTIME))
# podman can mount host files into build steps; docker cannot (use its defaults or --secret there)
BUILD_MOUNTS := $(if $(filter podman,$(ENGINE)),\
	$(if $(HOST_CA),-v $(HOST_CA):/run/host-ca.crt:ro --build-arg PIP_CERT=/run/host-ca.crt)\
	$(foreach d,$(FIND_LINKS_DIRS),-v $(d):/run/find-links$(d):ro)\
	$(if $(FIND_LINKS_DIRS),--build-arg "PIP_FIND_LINKS=$(foreach d,$(FIND_LINKS_DIRS),/run/find-links$(d))"))
BUILD_ARGS = --network host $(ENGINE_RUNTIME) $(BUILD_MOUNTS) \
	--build-arg BASE_IMAGE=$(BASE_IMAGE) --build-arg VERSION=$(VERSION) \
	--build-arg REVISION=$(REVISION) --build-arg CREATED=$(CREATED) \
	--build-arg LOCK_SHA256=$$(sha256sum $(LOCK) | cut -d' ' -f1) \
	$(if $(PIP_INDEX_URL),--build-arg PIP_INDEX_URL=$(PIP_INDEX_URL)) \
	$(if $(PIP_EXTRA_INDEX_URL),--build-arg PIP_EXTRA_INDEX_URL=$(PIP_EXTRA_INDEX_URL))

.PHONY: base-image image image-weights container-context sif repro-check lint-containers lock

base-image: ## Registry-free Debian base from Debian packages (debootstrap | podman import); cached
	ENGINE=$(ENGINE) containers/base-image.sh $(LOCAL_BASE)

# the build context holds only what the image needs (not .venv, not outputs)
container-context:
	rm -rf $(CONTEXT) && mkdir -p $(CONTEXT)/containers $(CONTEXT)/weights
	tar -c --exclude=__pycache__ --exclude='*.pyc' pyproject.toml segbook $(wildcard README.md) \
		| tar -x -C $(CONTEXT)
	mkdir -p $(CONTEXT)/manifests && tar -C $(MANIFESTS_DIR) -c . | tar -x -C $(CONTEXT)/manifests
	cp -p $(LOCK) $(CONTEXT)/containers/requirements.lock

image: $(if $(filter $(LOCAL_BASE),$(BASE_IMAGE)),base-image) container-context ## Build the kit image (Podman, runc; BASE_IMAGE=... to change the base)
	$(ENGINE) build $(BUILD_ARGS) --target $(TARGET) -t $(IMAGE) -f containers/Dockerfile $(CONTEXT)
	@echo "image: $(IMAGE) $$($(ENGINE) image inspect --format '{{.Id}}' $(IMAGE))"

image-weights: $(if $(filter $(LOCAL_BASE),$(BASE_IMAGE)),base-image) container-context ## Image with pinned weights baked in (WEIGHTS_DIR=folder of .model files)
	@test -n "$(WEIGHTS_DIR)" || { echo "error: WEIGHTS_DIR is not set"; \
		echo "hint: make image-weights WEIGHTS_DIR=/path/to/stunet-weights"; exit 2; }
	cp -p $(WEIGHTS_DIR)/*.model $(CONTEXT)/weights/
	$(ENGINE) build $(BUILD_ARGS) --target with-weights \
		--build-arg WEIGHTS_LABEL="$$(cd $(CONTEXT)/weights && ls *.model | tr '\n' ' ' | sed 's/ $$//')" \
		-t $(WEIGHTS_IMAGE) -f containers/Dockerfile $(CONTEXT)

# With Apptainer: its own build from a docker-archive of the image. Without it (Debian has no package):
# scripts/build_sif.py packs the same image with squashfs-tools and siftool (docs/containers.md).
sif: ## Apptainer SIF from the built image (Apptainer if installed, else squashfs-tools + siftool; SIF=..., SIF_GZIP_LEVEL=1-9)
	mkdir -p $(dir $(SIF))
	@if command -v apptainer >/dev/null 2>&1; then \
		set -x; $(ENGINE) save --format docker-archive -o build/segbook-image.tar $(IMAGE) && \
		apptainer build --force --build-arg ARCHIVE=build/segbook-image.tar $(SIF) containers/segbook.def; \
	else \
		echo "apptainer is not installed: building $(SIF) with squashfs-tools + siftool (scripts/build_sif.py)"; \
		$(VENV_PYTHON) scripts/build_sif.py --engine $(ENGINE) --image $(IMAGE) --out $(SIF) \
			--gzip-level $(SIF_GZIP_LEVEL) --force; \
	fi

repro-check: ## Build the image and the SIF, run the demo natively + in the image + from the SIF; all hashes must agree
	$(VENV_PYTHON) scripts/repro_check.py --engine $(ENGINE) --podman-runtime $(PODMAN_RUNTIME) \
		--image $(IMAGE) --base-image $(BASE_IMAGE) $(REPRO_ARGS)

lint-containers: ## shellcheck run.sh and scripts, hadolint the Dockerfile
	.venv/bin/shellcheck run.sh containers/base-image.sh $(wildcard scripts/*.sh)
	.venv/bin/hadolint --config containers/hadolint.yaml containers/Dockerfile

lock: ## Re-resolve containers/requirements.lock and requirements-dev.lock with hashes (UPGRADE=1 to upgrade)
	CUSTOM_COMPILE_COMMAND="make lock" $(VENV_PYTHON) -m piptools compile --quiet --allow-unsafe --no-strip-extras \
		--no-emit-index-url --no-emit-find-links --no-emit-trusted-host $(if $(UPGRADE),--upgrade) \
		--output-file $(LOCK) pyproject.toml
	test -f $(DEV_LOCK) || cp $(LOCK) $(DEV_LOCK)
	CUSTOM_COMPILE_COMMAND="make lock" $(VENV_PYTHON) -m piptools compile --quiet --allow-unsafe --no-strip-extras \
		--no-emit-index-url --no-emit-find-links --no-emit-trusted-host $(if $(UPGRADE),--upgrade) \
		--extra test --output-file $(DEV_LOCK) pyproject.toml
	$(VENV_PYTHON) containers/lock_hashes.py $(LOCK) $(foreach i,$(LOCK_INDEXES),--index $(i)) \
		$(foreach d,$(FIND_LINKS_DIRS),--find-links $(d)) $(if $(HOST_CA),--cert $(HOST_CA))
	$(VENV_PYTHON) containers/lock_hashes.py $(DEV_LOCK) $(foreach i,$(LOCK_INDEXES),--index $(i)) \
		$(foreach d,$(FIND_LINKS_DIRS),--find-links $(d)) $(if $(HOST_CA),--cert $(HOST_CA))
