# surrogate: `make run` runs a small generate -> train -> eval pipeline, `make test` the tests.
# Both create the virtualenv first if needed. Override e.g. `make install TORCH=torch==2.5.1`.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch is installed before the package so that pip keeps it: the CPU build that lies on these
# machines' disk by default. A CUDA user sets TORCH to their build, or installs into an env
# that already has torch with `pip install -e .`.
TORCH ?= torch==2.13.0
DATASET ?= darcy_demo
# PARDISO (MKL) only where MKL wheels exist; the cluster launcher and TensorBoard so that their
# tests run (both small).
EXTRAS ?= dev$(comma)cluster$(comma)tensorboard$(if $(filter x86_64,$(shell uname -m)),$(comma)pardiso)
comma := ,
PIP := $(BIN)/python -m pip --disable-pip-version-check

.PHONY: help install run test test-full lint clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install: $(VENV)/.installed  ## create the virtualenv with the package and dev tools (idempotent)

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(PIP) install -q "$(TORCH)"
	$(PIP) install -q -e ".[$(EXTRAS)]"
	touch $@

run: install  ## small default pipeline: generate -> train -> eval, prints the test error
	$(BIN)/surrogate generate pde=darcy pde.resolution=32 n_train=512 n_test=64 name=$(DATASET) seed=0
	$(BIN)/surrogate train data=$(DATASET) model=fno trainer.max_epochs=30 seed=0
	$(BIN)/surrogate eval ckpt=$$(ls outputs/train/2*/checkpoints/last.ckpt | sort | tail -n 1)

test: install  ## the test suite (fast; what CI runs)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q

test-full: install  ## the test suite including tests marked slow
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -m "slow or not slow"

lint: install  ## ruff
	$(BIN)/ruff check surrogate tests benchmarks
	$(BIN)/ruff format --check surrogate tests benchmarks

clean:  ## remove caches, generated data and run directories (keeps the virtualenv)
	rm -rf .pytest_cache .ruff_cache outputs/*/ data/*/
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
