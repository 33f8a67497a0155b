# The two commands a new user needs (see README):
#   make demo   - create .venv, install everything, run the main job on the embedded data
#   make test   - create .venv, install everything, lint (ruff), run the test suite
#   make unit   - the fast unit tier; make typecheck - mypy on the typed cores
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.neuro-deploy-installed
PYTEST_ARGS ?=

.PHONY: demo test unit lint typecheck install contracts bench chromium clean

install: $(STAMP)

# lava-nc / lava-dl declare Python <3.11: pip refuses them as dependencies, so they are
# installed with --no-deps --ignore-requires-python; their runtime needs are in pyproject.
# torch 2.14.1 + torchvision 0.29.1 is the pair that imports together here (lava-dl's
# slayer imports torchvision).
$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install "torch==2.14.1" "torchvision==0.29.1" "numpy<2"
	$(BIN)/python -m pip install --no-deps --ignore-requires-python "lava-nc==0.10.0" "lava-dl==0.6.0"
	$(BIN)/python -m pip install -e ".[test,cluster]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/neuro-deploy demo                # default --out out/demo (created)

# lint first (ruff check and ruff format --check, configured in pyproject.toml), then the tests (all but -m slow)
test: $(STAMP) chromium
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# the unit tier: no Lava, no training, nothing slow (under a minute)
unit: $(STAMP)
	$(BIN)/python -m pytest -m "not lava and not train and not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy on the annotated pure cores (files listed in pyproject.toml [tool.mypy])
typecheck: $(STAMP)
	$(BIN)/mypy

# Debian's chromium renders the HTML report in a test (skipped, with a message, without it).
chromium:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) ; } \
	  || echo "chromium not installed: the HTML render test will be skipped"

contracts: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" ../shared/checks/contracts

bench: $(STAMP)
	$(BIN)/python benchmarks/fast_vs_lava.py
	$(BIN)/python benchmarks/decode_formats.py
	$(BIN)/python benchmarks/replay_throughput.py
	$(BIN)/python benchmarks/cluster_replay.py

clean:
	rm -rf $(VENV) out .pytest_cache
