# The two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PG_URL ?= postgres://postgres@127.0.0.1:5432/dosemgmt_ci
REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: run test test-embedded test-services setup setup-test lint bench clean

# Set up (Debian packages, .venv) and start everything on the embedded defaults.
run: setup
	$(PY) manage.py migrate --noinput
	$(PY) manage.py create_initial_admin
	$(PY) manage.py serve

# Set up and run the whole test suite on the embedded defaults (SQLite, no broker).
test: setup-test lint test-embedded

# The same suite against PostgreSQL and Redis with real Celery workers (CI runs both).
test-services: setup-test
	DATABASE_URL=$(PG_URL) CELERY_BROKER_URL=$(REDIS_URL) $(PY) scripts/check-services
	DOSEMGMT_DATA_DIR=$(CURDIR)/data/test-services DATABASE_URL=$(PG_URL) CELERY_BROKER_URL=$(REDIS_URL) \
		$(PY) -m pytest --create-db -p no:cacheprovider $(PYTEST_ARGS)

test-embedded:
	env -u DATABASE_URL -u CELERY_BROKER_URL DOSEMGMT_DATA_DIR=$(CURDIR)/data/test-embedded \
		$(PY) -m pytest --create-db -p no:cacheprovider $(PYTEST_ARGS)

lint:
	$(VENV)/bin/ruff check .

setup: $(STAMP)
	@scripts/debian-packages storescu:dcmtk tesseract:tesseract-ocr /usr/share/tesseract-ocr/5/tessdata/eng.traineddata:tesseract-ocr-eng

setup-test: setup
	@scripts/debian-packages /usr/bin/chromium:chromium /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf:fonts-dejavu-core /usr/share/fonts/truetype/liberation/LiberationMono-Regular.ttf:fonts-liberation

$(STAMP): pyproject.toml constraints.txt
	@scripts/debian-packages py-venv:python3-venv
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[test]"
	touch $(STAMP)

bench: setup
	$(PY) bench/parse.py
	$(PY) bench/ingest.py

clean:
	rm -rf $(VENV) data/test-embedded data/test-services test-artifacts
