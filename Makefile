# The two commands of the quick start. Both create .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: bench test lint format clean

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

test: $(STAMP)
	@$(BIN)/lint-imports --no-cache
	@$(BIN)/python -m pytest -p no:cacheprovider tests

lint: $(STAMP)
	@$(BIN)/ruff check src tests benchmarks && $(BIN)/ruff format --check src tests benchmarks

format: $(STAMP)
	@$(BIN)/ruff format src tests benchmarks && $(BIN)/ruff check --fix src tests benchmarks

clean:
	rm -rf $(VENV) runs
