"""Load the policy model and tokenizer from a local folder; never from a hub."""

from pathlib import Path

import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)
from transformers.utils import logging as hf_logging

from agemem import PROJECT_ROOT
from agemem.models.config import ModelConfig
from agemem.models.packaged import is_built, packaged_model_dir
from agemem.models.tiny import built_corpus_digest, tiny_model_dir

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


class ModelPathError(ValueError):
    """`model.path` does not point at a usable local model."""


def tiny_cache_root(cfg: ModelConfig) -> Path:
    """Where the tiny model of `model.path=null` is built and a packaged model converted: `model.cache_dir`, or
    <project>/.cache/models."""
    return Path(cfg.cache_dir) if cfg.cache_dir else PROJECT_ROOT / ".cache" / "models"


def resolve_model_dir(cfg: ModelConfig) -> Path:
    """The local folder to load from: `model.path`, a packaged model's converted folder, or the tiny model built
    into the cache."""
    if cfg.package is not None:
        if cfg.path is not None:
            raise ModelPathError(f"model.package={cfg.package!r} and model.path={cfg.path!r}: set one of them")
        folder = packaged_model_dir(cfg.package, tiny_cache_root(cfg))
        if not is_built(folder):
            raise ModelPathError(f"model.package={cfg.package!r} is not converted yet in {folder}: every "
                                 "`python run.py` task converts it first (in code: "
                                 "agemem.tasks.runtime.prepare_model(model_config))")
        return folder
    if cfg.path is None:
        folder = tiny_model_dir(cfg.tiny, tiny_cache_root(cfg))
        if built_corpus_digest(folder) is None:
            raise ModelPathError(f"model.path=null selects the tiny offline model, which is not built in {folder}: "
                                 "every `python run.py` task builds it first (in code: "
                                 "agemem.tasks.runtime.prepare_model(model_config))")
        return folder
    path = Path(cfg.path).expanduser()
    if not path.is_dir():
        raise ModelPathError(f"model.path={cfg.path!r}: no such directory (models are loaded from local folders only)")
    if not (path / "config.json").is_file():
        raise ModelPathError(f"model.path={cfg.path!r}: no config.json in it; is this a HF model folder?")
    try:
        AutoConfig.from_pretrained(path, local_files_only=True)
    except (ValueError, OSError) as err:
        raise ModelPathError(f"model.path={cfg.path!r}: config.json is not a loadable model config: {err}") from err
    return path


def load_tokenizer(cfg: ModelConfig) -> PreTrainedTokenizerBase:
    """The tokenizer of the configured model; it must carry a chat template. Left padding for batched prompts."""
    path = resolve_model_dir(cfg)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    if not tokenizer.chat_template:
        raise ModelPathError(f"model.path={str(path)!r}: the tokenizer has no chat template")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer


def load_model(cfg: ModelConfig) -> PreTrainedModel:
    """The causal LM of the configured model, in `model.dtype`, on CPU (callers move it)."""
    if cfg.dtype not in DTYPES:
        raise ValueError(f"model.dtype={cfg.dtype!r}: must be one of {sorted(DTYPES)}")
    path = resolve_model_dir(cfg)
    hf_logging.disable_progress_bar()  # a bar per load clutters every run's log
    return AutoModelForCausalLM.from_pretrained(path, dtype=DTYPES[cfg.dtype], local_files_only=True)
