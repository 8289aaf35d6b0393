# Convenience targets; the README's Quick start commands work without make.
PY := .venv/bin/python

.PHONY: install run ci test lint bench
install:
	python3.11 -m venv .venv && .venv/bin/pip install -q -e '.[test]'
run:
	.venv/bin/snakemake --cores all
ci:
	.venv/bin/snakemake --cores all --configfile config/ci.yaml
test:
	$(PY) -m pytest -q
lint:
	.venv/bin/ruff check . && .venv/bin/snakemake --lint
bench:
	$(PY) -m benchmarks
