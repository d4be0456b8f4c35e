# The two commands of the README: `make demo` and `make test`.
# Both create .venv when it is missing and install the project with its dev extras.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench bench-check clean

$(STAMP): pyproject.toml setup.py $(wildcard csrc/speedups/*.c csrc/speedups/*.h)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(PY) -m ibkrws demo

test: $(STAMP)
	$(PY) -m pytest

# Benchmarks (not part of `make test`): ibkrws against IBind and the aiohttp+orjson floor.
# `bench` writes benchmarks/RESULTS.md (about 6-8 minutes, IBind venvs under benchmarks/.envs/);
# `bench-check` fails when ibkrws falls below half of its recorded burst ratio to the floor.
bench: $(STAMP)
	$(PY) benchmarks/run.py

bench-check: $(STAMP)
	$(PY) benchmarks/check.py

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/mypy src

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
