# Two commands a new user needs: `make demo` and `make test`. Both create the
# virtualenv and install the pinned dependencies first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DBT_PROFILES_DIR := $(CURDIR)
export DBT_PROJECT_DIR := $(CURDIR)
export DBT_SEND_ANONYMOUS_USAGE_STATS := false

.PHONY: demo test bench bench-lag bench-scale lint docs clean lock snowflake-check

# The pinned dependencies, then this project's Python package (src/magento_warehouse),
# editable: scripts/*.py are its entry points.
$(BIN)/dbt: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet -e .
	touch $@

# The CDC engine is the local dbt package packages/streamkap_cdc: `dbt deps` links it
# into dbt_packages/ (offline) when the link is missing (a fresh clone, `make clean`).
DEPS := dbt_packages/streamkap_cdc
$(DEPS): | $(BIN)/dbt
	$(BIN)/dbt deps --quiet

# make demo [CYCLES=n] [CADENCE=seconds]: CADENCE runs the CRM job as a local scheduler.
demo: $(DEPS)
	$(BIN)/python scripts/run_demo.py $(if $(CYCLES),--cycles $(CYCLES)) $(if $(CADENCE),--cadence $(CADENCE)) $(DEMO_ARGS)

# pytest on two workers, one per core; a file's tests stay on one worker (they share
# module fixtures), and files are handed out in collection order, the longest first
# (tests/python/conftest.py). The slowest tests are listed at the end. Then lint and the
# Snowflake check side by side (lint uses one core), each one's output when it ends.
test: $(DEPS)
	bash scripts/install_chromium.sh
	$(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder --durations=15
	$(MAKE) --no-print-directory -j2 --output-sync=target lint snowflake-check

# Every resource compiled for a snowflake target and run in the emulator (fakesnow);
# each statement dbt sends parsed as Snowflake SQL and scanned for DuckDB-only
# functions. Known emulator gaps: src/magento_warehouse/devtools/emulator/emulator_gaps.yml.
snowflake-check: $(DEPS)
	$(BIN)/python scripts/snowflake_check.py

# The dbt templater compiles the project, and current-state models read their
# change log's columns: lint against a small simulated warehouse. The scaffold's
# --check fails when the sources or models are behind the landing schema.
# dbt-bouncer checks the conventions (dbt-bouncer.yml) on the parsed manifest; the
# artifacts folder is the config's dbt_artifacts_dir.
LINT_DB := target/lint/warehouse.duckdb
LINT_ARTIFACTS := target/lint/artifacts
lint: $(DEPS)
	$(BIN)/python scripts/simulate_cdc.py --db $(LINT_DB) --batches 0 --replace > /dev/null
	DBT_DUCKDB_PATH=$(LINT_DB) $(BIN)/sqlfluff lint models analyses
	DBT_DUCKDB_PATH=$(LINT_DB) $(BIN)/python scripts/scaffold_cdc.py --check
	$(BIN)/dbt parse --target-path $(LINT_ARTIFACTS) --quiet
	$(BIN)/dbt-bouncer run --config-file dbt-bouncer.yml

# The dbt docs site of the local warehouse (run `make demo` first), on http://localhost:8080.
docs: $(DEPS)
	$(BIN)/dbt docs generate
	$(BIN)/dbt docs serve --port 8080

# make bench: the single-table benchmark, the CRM job against its earlier definition,
# then the fleet benchmark (1000 models); make bench FLEET=n: only the fleet, n models.
bench: $(DEPS)
	$(if $(FLEET),,$(BIN)/python scripts/bench.py)
	$(if $(FLEET),,$(BIN)/python scripts/bench_crm_cycle.py)
	$(BIN)/python scripts/bench_fleet.py $(if $(FLEET),--fleet $(FLEET))

# Rows of change log read per cycle with one partition two hours behind, against none
# (docs/benchmarks/lag.md); its last line reads "lag: rows read per cycle X.XX of no lag (worst cycle Y.YY)".
bench-lag: $(DEPS)
	$(BIN)/python scripts/bench_lag.py

# Rows read by a CRM cycle at a shop ten times larger (same change rate), and by a run
# of the history models over ten times the history (docs/benchmarks/scale.md); its last
# line reads "scale 10x: crm cycle rows read X.XX, history run rows read Y.YY".
bench-scale: $(DEPS)
	$(BIN)/python scripts/bench_scale.py

clean:
	rm -rf target logs dbt_packages warehouse .pytest_cache

lock: $(BIN)/dbt
	$(BIN)/pip install --quiet -r requirements.in
	$(BIN)/pip freeze --exclude-editable > requirements.txt
