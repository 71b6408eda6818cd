# The two commands of the quick start. Both create .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: bench test lint format clean mutants

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@echo "installing visionbench and its dependencies into $(VENV) (first run takes a few minutes)"
	@$(BIN)/python -m pip install -q --disable-pip-version-check -e ".[dev]" 2>&1 | grep -v "is ignored: it is neither a file nor a directory" || true
	@$(BIN)/python -c "import visionbench, torch, torchvision, timm, sklearn, skimage" && touch $(STAMP)

bench: $(STAMP)
	@$(BIN)/visionbench bench --suite review --quick --out runs

test: $(STAMP)
	@$(BIN)/lint-imports --no-cache
	@$(BIN)/python -m pytest -p no:cacheprovider tests

# Mutation testing of the code whose numbers users trust (docs/testing.md); slow, not in CI.
mutants: $(STAMP)
	@$(BIN)/mutmut run && $(BIN)/mutmut results

lint: $(STAMP)
	@$(BIN)/ruff check src tests benchmarks && $(BIN)/ruff format --check src tests benchmarks

format: $(STAMP)
	@$(BIN)/ruff format src tests benchmarks && $(BIN)/ruff check --fix src tests benchmarks

clean:
	rm -rf $(VENV) runs mutants
