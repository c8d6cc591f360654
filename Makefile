# The two set-up commands the README names: `make demo` and `make test`. Each creates .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test bench lint docs clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(BIN)/.installed
	$(BIN)/cycle demo

# The suite runs twice: on SQLite, then on a throwaway PostgreSQL cluster it starts and stops itself.
test: $(BIN)/.installed
	scripts/system-packages
	$(BIN)/python -m pytest
	CYCLE_TEST_DB=postgresql $(BIN)/python -m pytest

bench: $(BIN)/.installed
	$(BIN)/python bench/run.py

# docs/commands.md from the CLI's own --help (tests/test_docs.py fails when it is stale).
docs: $(BIN)/.installed
	$(BIN)/python scripts/commands_doc.py

# ruff, then mypy (strict) over the installed layout (scripts/typecheck.py; [tool.mypy] in pyproject.toml).
lint: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet ruff==0.17.6 mypy==2.4.1
	$(BIN)/ruff check .
	$(BIN)/python scripts/typecheck.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
