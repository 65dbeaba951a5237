# One-command set-up: `make run` starts the chat app, `make test` runs the whole suite.
# Both run `make setup` first: venv, dependencies, embedding model, index (each step skipped when done).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup install model index run test bench eval clean

setup: index

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# torch first and pinned: it comes from the CPU wheel on this machine's disk, not a CUDA build.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(STAMP)

model: $(STAMP)
	$(BIN)/python -m qa model fetch

index: model
	$(BIN)/python -m qa build --if-stale

run: setup
	$(BIN)/python app.py

test: setup
	$(BIN)/python -m pytest

eval: setup
	$(BIN)/python -m qa eval

bench: setup
	$(BIN)/python -m qa bench

clean:
	rm -rf index .index.* .encoder-* .pytest_cache test-artifacts
