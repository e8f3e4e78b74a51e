# The two commands README opens with.
VENV := .venv/bin
FLASK := $(VENV)/flask --app ceroc_donations
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: setup run test lint bench

setup:
	bash scripts/setup.sh

run: setup
	$(FLASK) demo
	@echo "CEROC Donations: http://$(HOST):$(PORT)  (log in with a demo login above)"
	$(FLASK) run --host $(HOST) --port $(PORT)

test:
	bash scripts/setup.sh --test
	$(MAKE) lint
	$(VENV)/python -m pytest
	bash scripts/test-postgres.sh

lint:
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .

bench: setup
	$(VENV)/python bench/book.py
