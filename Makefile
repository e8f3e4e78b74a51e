# The two commands README opens with.
VENV := .venv/bin
FLASK := $(VENV)/flask --app ceroc_donations
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: setup run reset-demo test lint bench screenshots

setup:
	bash scripts/setup.sh

# Letters' QR codes and emailed links point here. Serving on the network (HOST=0.0.0.0), set
# it to the address others reach, e.g. CEROC_PUBLIC_URL=http://192.168.1.20:5000.
CEROC_PUBLIC_URL ?= http://$(HOST):$(PORT)

# Serves with gunicorn (deploy/gunicorn.conf.py), as on a server; `flask run` is for development.
run: setup
	$(FLASK) demo
	@echo "CEROC Donations: http://$(HOST):$(PORT)  (log in with a demo login above; Ctrl-C stops)"
	@CEROC_PUBLIC_URL=$(CEROC_PUBLIC_URL) exec $(VENV)/gunicorn -c deploy/gunicorn.conf.py \
		--bind $(HOST):$(PORT)

# Back to the fresh demo: empties the database and the files the app wrote (refused when the
# database has an account that is not the demo's). Stop `make run` first.
reset-demo: setup
	$(FLASK) demo --reset --yes

test:
	bash scripts/setup.sh --test
	$(MAKE) lint
	$(VENV)/python -m pytest
	bash scripts/test-faults.sh
	bash scripts/test-postgres.sh

# Retakes docs/screenshots/*.png (shown in README) from the browser journeys in tests/e2e.
screenshots:
	bash scripts/setup.sh --test
	CEROC_SCREENSHOTS=1 $(VENV)/python -m pytest -q -p no:cacheprovider tests/e2e -k journey

lint:
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .

bench: setup
	$(VENV)/python bench/book.py
	$(VENV)/python bench/load.py
