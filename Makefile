# Tasks for people working on the connector. Set up once with:
#   python3 -m venv .venv && .venv/bin/pip install -q -e ".[test,lint]"
PY ?= .venv/bin/python

.PHONY: lint test-fast test bench

lint:  ## ruff check, ruff format --check and mypy (configuration in pyproject.toml)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

test-fast:  ## everything but the slow fault and load tests, on both cores: about a minute
	$(PY) -m pytest -q -m "not slow" -n 2

test:  ## the full suite, as CI runs it
	$(PY) -m pytest -q

bench:  ## the benchmarks (BENCH_ARGS=--quick: about a minute); see bench/README.md
	$(PY) bench/run.py $(BENCH_ARGS)
