# The two commands: `make run` and `make test`. Both build .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test lint bench fuzz clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(STAMP)

# Functions run in a bubblewrap sandbox (docs/functions.md): installed from the system's
# packages when missing and this is a Debian-like machine we may install on.
.PHONY: sandbox
sandbox:
	@command -v bwrap >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing bubblewrap (functions run in its sandbox)"; \
	    apt-get install -y -qq bubblewrap >/dev/null || { apt-get update -qq && apt-get install -y -qq bubblewrap >/dev/null; }; \
	  else \
	    echo "Tidings runs functions under bubblewrap: install it (Debian/Ubuntu: sudo apt-get install bubblewrap)"; exit 1; \
	  fi; }

run: $(STAMP) sandbox
	$(BIN)/tidings serve

test: $(TEST_STAMP) sandbox
	$(BIN)/ruff check src tests bench
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

bench: $(TEST_STAMP)
	$(BIN)/python bench/invoke.py
	$(BIN)/python bench/transport.py
	$(BIN)/python bench/campaign_run.py --endpoints 20000,100000

# The 1M-endpoint audience of the targets (with 100k for the memory ratio), then the 1M
# Python-function run on PostgreSQL, in the database BENCH_POSTGRES names (dropped and
# created empty first): about 20 minutes. BENCH_ARGS adds options, e.g.
# BENCH_ARGS="--profile /tmp/profiles --py-spy .venv/bin/py-spy" (py-spy: pip install py-spy).
BENCH_POSTGRES ?= postgresql://postgres@127.0.0.1:5432/bench_pg
.PHONY: bench-full
bench-full: $(TEST_STAMP)
	$(BIN)/python bench/campaign_run.py --endpoints 100000,1000000 --postgres $(BENCH_POSTGRES) $(BENCH_ARGS)

# The fuzzer of tests/contract/test_fuzz.py with a larger budget: 20,000 requests per seed,
# three seeds, on both backends (about 15 minutes). `make test` runs 2,500 per backend.
fuzz: $(TEST_STAMP)
	TIDINGS_FUZZ_REQUESTS=$${TIDINGS_FUZZ_REQUESTS:-20000} $(BIN)/pytest -n 0 -s -m fuzz tests/contract/test_fuzz.py

lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests

clean:
	rm -rf $(VENV) .tidings .pytest_cache
