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
	# CUDA-linked wheels that break transformers' imports on CPU if anything pulled them in (ENV.md).
	-$(PY) -m pip uninstall -y -q torchvision torchaudio torchcodec 2>/dev/null
	touch $(STAMP)

run: $(STAMP)
	$(PY) run.py

test: $(STAMP)
	$(PY) -m pytest -q -ra --durations=15

lint: $(STAMP)
	$(PY) -m ruff check agemem stages data_gen tests run.py bench

bench: $(STAMP)
	$(PY) bench/generation.py

clean:
	rm -rf outputs multirun .cache
