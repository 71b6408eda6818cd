# The two commands of the quick start. Both create .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: bench test lint format clean mutants browser

# The report's browser test needs Debian's chromium and chromium-driver. Installed here when
# missing and apt can (root, or sudo without a password); otherwise that one test skips and says why.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] && echo "" || echo "sudo -n" ); \
	  echo "installing chromium and chromium-driver for the report's browser test"; \
	  ( $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver ) >/dev/null 2>&1 \
	    || echo "could not install chromium (no apt or no rights): the browser test will skip"; }

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@echo "installing visionbench and its dependencies into $(VENV) (first run takes a few minutes)"
	@$(BIN)/python -m pip install -q --disable-pip-version-check -e ".[dev]" 2>&1 | grep -v "is ignored: it is neither a file nor a directory" || true
	@$(BIN)/python -c "import visionbench, torch, torchvision, timm, sklearn, skimage" && touch $(STAMP)

# BENCH_OUT and BENCH_ARGS: benchmarks/bench_busy_idle.sh runs the same suite into two folders
BENCH_OUT ?= runs
BENCH_ARGS ?=
bench: $(STAMP)
	@$(BIN)/visionbench bench --suite review --quick --out $(BENCH_OUT) $(BENCH_ARGS)

# one pytest-xdist worker per core (at most 4), each test file kept on one worker (its module
# fixtures train once); TEST_WORKERS=0 runs the suite in this one process
TEST_WORKERS ?= $(shell $(PY) -c "import os; print(min(4, os.cpu_count() or 1))")
test: $(STAMP) browser
	@$(BIN)/lint-imports --no-cache
	@$(BIN)/python -m pytest -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile tests

# Mutation testing of the code whose numbers users trust (docs/testing.md); slow, not in CI.
mutants: $(STAMP)
	@$(BIN)/mutmut run && $(BIN)/mutmut results

lint: $(STAMP)
	@$(BIN)/ruff check src tests benchmarks && $(BIN)/ruff format --check src tests benchmarks

format: $(STAMP)
	@$(BIN)/ruff format src tests benchmarks && $(BIN)/ruff check --fix src tests benchmarks

clean:
	rm -rf $(VENV) runs mutants
