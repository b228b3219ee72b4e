# The README's commands. `make demo` and `make test` both start by installing what they need.
.PHONY: setup demo test lint

setup:
	./scripts/setup

demo: setup
	./scripts/demo

test: setup lint
	python3 -m pytest -q

lint:
	python3 -m ruff check .
	python3 -m ruff format --check auditor
	python3 -m mypy
