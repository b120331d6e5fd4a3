"""Model and tokenizer loading: the tiny offline model or any local HF causal LM.

Imported lazily so that the config schema (agemem.models.config) loads without torch/transformers.
"""

import importlib
from typing import Any

_EXPORTS = {
    "ModelConfig": "agemem.models.config",
    "TinyModelConfig": "agemem.models.config",
    "ModelPathError": "agemem.models.loading",
    "load_model": "agemem.models.loading",
    "load_tokenizer": "agemem.models.loading",
    "resolve_model_dir": "agemem.models.loading",
}
# The names of _EXPORTS, spelled out for static tools.
__all__ = ["ModelConfig", "ModelPathError", "TinyModelConfig", "load_model", "load_tokenizer", "resolve_model_dir"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'agemem.models' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
