# Everything runs from a local virtualenv made on first use: a fresh machine
# needs only Python 3.11+, pip and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(INSTALLED): pyproject.toml package-lock.json
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	# axe-core for the browser tests (skipped without it); make demo needs no npm.
	if command -v npm >/dev/null; then npm ci --no-audit --no-fund --loglevel=error; fi
	touch $(INSTALLED)

demo: $(INSTALLED)
	$(BIN)/python -m stridewise demo

test: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/pytest

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(INSTALLED)
	for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) stridewise-demo.db* .stridewise-demo-key demo-out invitation-demo.png build node_modules
