# The README's commands. `make demo` and `make test` both start by installing what they need
# (scripts/setup: Debian packages, then the project into .venv), then run from .venv.
.PHONY: setup demo test lint
VENV := .venv/bin
export PATH := $(CURDIR)/$(VENV):$(PATH)

setup:
	./scripts/setup

demo: setup
	./scripts/demo

test: setup lint
	$(VENV)/python -m pytest -q

lint:
	$(VENV)/python -m ruff check .
	$(VENV)/python -m ruff format --check auditor
	$(VENV)/python -m mypy
