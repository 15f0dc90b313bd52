# Two commands on a fresh machine with Python 3.11+:
#   make demo   set up, crawl the bundled sample site, browse it in Datasette
#   make test   set up, run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: demo test lint bench install lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Installs exactly the locked versions (requirements/*.txt, compiled from pyproject.toml).
$(VENV)/.installed-runtime: $(BIN)/python requirements/runtime.txt pyproject.toml
	$(BIN)/pip install --quiet -r requirements/runtime.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.installed-test: $(BIN)/python requirements/test.txt pyproject.toml
	$(BIN)/pip install --quiet -r requirements/test.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@ $(VENV)/.installed-runtime

$(VENV)/.installed-bench: $(BIN)/python requirements/bench.txt pyproject.toml
	$(BIN)/pip install --quiet -r requirements/bench.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@ $(VENV)/.installed-test $(VENV)/.installed-runtime

install: $(VENV)/.installed-runtime

demo: $(VENV)/.installed-runtime
	$(BIN)/govarchive demo

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q

lint: $(VENV)/.installed-test
	$(BIN)/ruff check crawler tests bench
	$(BIN)/mypy crawler

bench: $(VENV)/.installed-bench
	$(BIN)/python bench/extract_bench.py
	$(BIN)/python bench/discover_bench.py

# Regenerate the lock files after changing dependencies in pyproject.toml.
lock: $(BIN)/python
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml -o requirements/runtime.txt -q --python-version 3.11
	$(BIN)/uv pip compile pyproject.toml --extra test -o requirements/test.txt -q --python-version 3.11
	$(BIN)/uv pip compile pyproject.toml --extra test --extra bench -o requirements/bench.txt -q --python-version 3.11

clean:
	rm -rf $(VENV) archive/demo.db*
