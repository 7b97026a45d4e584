# gantrain: `make train` trains the default run, `make test` runs the tests. Both install first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install train test test-all lint format bench-semi bench-pix2pix clean

install: $(STAMP)

# torch and torchvision are CPU/CUDA wheels of several GB: installed once per venv, then reused.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade --quiet pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

train: install  ## train the default model (DCGAN on MNIST) into outputs/DATE/TIME
	$(BIN)/gantrain $(ARGS)

# one worker per CPU core (pytest-xdist), each with one torch thread: two torch processes of two threads
# each on two cores slow each other far more than twofold; worksteal: an idle worker takes queued tests from a
# busy one, so that the slow tests do not end the run on one worker
test: install  ## the test suite (slow tests skipped; `make test-all` runs them too)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n auto --dist worksteal $(PYTEST_ARGS)

test-all: install
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n auto --dist worksteal -m "slow or not slow" $(PYTEST_ARGS)

# ruff (configured in pyproject.toml): `make lint` fails on an unformatted file or a lint finding (CI runs it);
# `make format` formats the tree and applies the safe fixes
lint: install
	$(BIN)/ruff format --check --quiet .
	$(BIN)/ruff check --quiet .

format: install
	$(BIN)/ruff format --quiet .
	$(BIN)/ruff check --quiet --fix .

MNIST ?= ../shared/data/mnist
# Semi-supervised MNIST with 100 labels (resumable; see bench/semi_supervised.py): make bench-semi STEPS=30000
bench-semi: install
	$(BIN)/python bench/semi_supervised.py --mnist $(MNIST) --steps $(or $(STEPS),30000) $(BENCH_ARGS)

# Pix2Pix ablations on the built-in edges -> digit task (see bench/pix2pix.py): make bench-pix2pix SEEDS="0 1"
bench-pix2pix: install
	$(BIN)/python bench/pix2pix.py --seeds $(or $(SEEDS),0)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
