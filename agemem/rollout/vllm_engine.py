"""The `vllm` engine (GPU nodes, `pip install .[vllm]`): vLLM's offline `LLM` on prompt token ids.

Marked for GPU: the official vLLM wheel cannot start an engine on a CPU-only machine, so this path is not exercised
by the CPU test suite. Contract as in engine.py: exact generated ids; log-probs of the sampled tokens from
`logprobs_mode="processed_logprobs"` (after temperature; with top_p = 1 and top_k = 0 — the trainer's defaults —
these equal log_softmax(logits / T), the quantity the trainer recomputes); one seed per prompt when given, so
results do not depend on batch composition or the number of ranks.
"""

import os
from collections.abc import Iterable

import torch

from agemem.records import FINISH_LENGTH, FINISH_STOP, Generation
from agemem.rollout.config import RolloutConfig
from agemem.rollout.engine import SamplingParams


class VLLMEngine:
    """Generation with vLLM in this process, weights pushed in place after each update."""

    def __init__(self, model_path: str, cfg: RolloutConfig):
        # In-process engine core: the trainer can then reach the model to push weights (TRL's colocate mode).
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        try:
            from vllm import LLM
        except ImportError as err:
            raise ImportError("rollout.engine=vllm needs vLLM on a GPU node: pip install '.[vllm]' "
                              "(rollout=hf runs everywhere)") from err

        self.llm = LLM(
            model=model_path,
            gpu_memory_utilization=cfg.vllm_gpu_memory_utilization,
            enable_prefix_caching=True,
            logprobs_mode="processed_logprobs",
            dtype="auto",
        )

    def generate(self, prompts: list[list[int]], sampling: SamplingParams) -> list[Generation]:
        from vllm import SamplingParams as VSamplingParams
        from vllm.inputs import TokensPrompt

        seeds = list(sampling.seeds) if sampling.seeds is not None else [sampling.seed] * len(prompts)
        params = [
            VSamplingParams(
                n=1,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                top_k=sampling.top_k if sampling.top_k > 0 else -1,
                max_tokens=sampling.max_new_tokens,
                stop_token_ids=list(sampling.stop_token_ids),
                logprobs=0,
                seed=seed,
                skip_special_tokens=False,
            )
            for seed in seeds
        ]
        outputs = self.llm.generate([TokensPrompt(prompt_token_ids=p) for p in prompts], params, use_tqdm=False)
        result = []
        for output in outputs:
            completion = output.outputs[0]
            ids = list(completion.token_ids)
            logprobs = [step[token].logprob for token, step in zip(ids, completion.logprobs)]
            reason = FINISH_STOP if completion.finish_reason == "stop" else FINISH_LENGTH
            result.append(Generation(ids, logprobs, reason))
        return result

    def load_weights(self, named_tensors: Iterable[tuple[str, torch.Tensor]]) -> None:
        model = self.llm.llm_engine.model_executor.driver_worker.worker.model_runner.model
        model.load_weights(weights=list(named_tensors))
        self.llm.reset_prefix_cache()  # cached prefixes were computed with the old weights
