"""Model and tokenizer loading: the tiny offline model or any local HF causal LM."""

from agemem.models.config import ModelConfig, TinyModelConfig
from agemem.models.loading import ModelPathError, load_model, load_tokenizer, resolve_model_dir

__all__ = ["ModelConfig", "TinyModelConfig", "ModelPathError", "load_model", "load_tokenizer", "resolve_model_dir"]
