# Two commands a new user needs: `make demo` and `make test`. Both create the
# virtualenv and install the pinned dependencies first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DBT_PROFILES_DIR := $(CURDIR)
export DBT_PROJECT_DIR := $(CURDIR)
export DBT_SEND_ANONYMOUS_USAGE_STATS := false

.PHONY: demo test bench lint docs clean lock

$(BIN)/dbt: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

demo: $(BIN)/dbt
	$(BIN)/python scripts/run_demo.py $(DEMO_ARGS)

test: $(BIN)/dbt
	$(BIN)/python -m pytest

lint: $(BIN)/dbt
	$(BIN)/sqlfluff lint models macros analyses tests/dbt

bench: $(BIN)/dbt
	$(BIN)/python scripts/bench.py

clean:
	rm -rf target logs dbt_packages warehouse .pytest_cache

lock: $(BIN)/dbt
	$(BIN)/pip install --quiet -r requirements.in
	$(BIN)/pip freeze --exclude-editable > requirements.txt
