# Two set-up commands (see README): `make demo` and `make test`. Both create .venv and install
# everything into it; a second run skips the install (stamp file), unless pyproject.toml changed.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.pcml-installed
# The CPU build of torch lies on this machine's disk; an unpinned torch would pull a CUDA build.
TORCH  := torch==2.13.0
export OMP_NUM_THREADS ?= 2

.PHONY: demo test lint bench mutate install clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check $(TORCH)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[gp,neuralop,dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/pcml demo --out runs/demo

# One thread per process: the suite's models are small and several tests start subprocesses
# (DDP ranks, interrupted runs), which would oversubscribe 2 cores with 2 threads each.
test: $(STAMP)
	OMP_NUM_THREADS=1 $(PY) -m pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) benchmarks/bench_store.py
	$(PY) benchmarks/bench_conservation.py
	$(PY) benchmarks/bench_boon.py

# Mutation testing (not in CI; tens of minutes on 2 cores): mutmut (pinned in the `mutate` extra)
# mutates pcml/constraints and pcml/models ([tool.mutmut] in pyproject.toml) and runs the tests
# that cover each mutant. Narrow it with MUTANTS, e.g. make mutate MUTANTS='pcml.constraints.*'.
# Score and survivors: docs/testing.md.
MUTANTS ?=
mutate: $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[mutate]'
	rm -f mutants/mutmut-stats.json  # mutmut 3.8.1 does not re-map edited tests: collect afresh
	env -u PYTHONPATH OMP_NUM_THREADS=1 $(VENV)/bin/mutmut run --max-children 2 $(MUTANTS)
	$(VENV)/bin/mutmut results

clean:
	rm -rf $(VENV) runs mutants .pytest_cache .mypy_cache .ruff_cache
