"""The `hf` engine: batched, left-padded decoding of a transformers causal LM with a KV cache.

Two decoders share the sampler in `engine.sample_next_token`:
- `loop` (default): a plain KV-cache decode loop that drops finished rows from the batch as it goes; for
  Llama-family models on CPU its decode steps run through `static_decode.StaticDecoder` (preallocated K/V,
  fused projections), the prefill through transformers;
- `generate`: transformers' `model.generate`, for comparison (see bench/generation.py).
"""

from collections.abc import Iterable

import torch
from transformers import DynamicCache, PreTrainedModel

from agemem.batching import length_partition
from agemem.records import FINISH_LENGTH, FINISH_STOP, Generation
from agemem.rollout.attention import use_grouped_attention
from agemem.rollout.engine import SamplingParams, sample_next_token
from agemem.rollout.static_decode import StaticDecoder, supports_static_decode

DECODERS = ("loop", "generate")


def left_pad(prompts: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-pad prompts into one batch. Shape: ids (B, L), attention mask (B, L)."""
    if not prompts or any(len(p) == 0 for p in prompts):
        raise ValueError("every prompt needs at least one token")
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, prompt in enumerate(prompts):
        ids[row, width - len(prompt) :] = torch.tensor(prompt, dtype=torch.long)
        mask[row, width - len(prompt) :] = 1
    return ids, mask


# What one more decode batch costs, in padded prompt positions (`length_partition`): measured for the tiny model on
# 2 CPU cores, where a 48-step decode loop costs ≈ 0.12 s fixed + 4.7 ms per row + 67 µs per row per prompt position.
DECODE_BATCH_POSITIONS = 1800
DECODE_ROW_POSITIONS = 70


# Plain softmax attention (no soft-capping, no attention sinks): safe to serve with `grouped_attention`.
GROUPED_ATTENTION_MODELS = ("llama", "mistral", "qwen2", "qwen3")


class HFEngine:
    """Generation with a transformers model held in this process (the default on CPU)."""

    def __init__(self, model: PreTrainedModel, pad_token_id: int, decoder: str = "loop", max_batch_size: int = 64):
        if decoder not in DECODERS:
            raise ValueError(f"rollout.hf_decoder={decoder!r}: must be one of {list(DECODERS)}")
        self.model = model.eval()
        if model.device.type == "cpu" and model.config.model_type in GROUPED_ATTENTION_MODELS:
            use_grouped_attention(model)  # 2× faster decoding on CPU (agemem.rollout.attention)
        # Decode steps without transformers' per-op overhead where the architecture allows (1.5× on CPU).
        self.static = StaticDecoder(model) if decoder == "loop" and supports_static_decode(model) else None
        self.pad_token_id = pad_token_id
        self.decoder = decoder
        self.max_batch_size = max_batch_size

    def generate(self, prompts: list[list[int]], sampling: SamplingParams) -> list[Generation]:
        device = self.model.device
        generator: torch.Generator | list[torch.Generator] | None = None
        if sampling.seeds is not None:
            if len(sampling.seeds) != len(prompts):
                raise ValueError(f"sampling.seeds has {len(sampling.seeds)} seeds for {len(prompts)} prompts")
            generator = [torch.Generator(device).manual_seed(s) for s in sampling.seeds]
        elif sampling.seed is not None:
            generator = torch.Generator(device).manual_seed(sampling.seed)
        decode = self._decode_loop if self.decoder == "loop" else self._decode_generate
        out: list[Generation | None] = [None] * len(prompts)
        # Batches of similar prompt lengths: one long prompt must not make every row pay for its width.
        for rows in length_partition([len(p) for p in prompts], batch_cost=DECODE_BATCH_POSITIONS,
                                     row_cost=DECODE_ROW_POSITIONS, max_rows=self.max_batch_size):
            rows_generator = [generator[i] for i in rows] if isinstance(generator, list) else generator
            for row, generation in zip(rows, decode([prompts[i] for i in rows], sampling, rows_generator)):
                out[row] = generation
        return out

    @torch.inference_mode()
    def _decode_loop(
        self, prompts: list[list[int]], sampling: SamplingParams,
        generator: torch.Generator | list[torch.Generator] | None,
    ) -> list[Generation]:
        device = self.model.device
        ids, mask = left_pad(prompts, self.pad_token_id)
        ids, mask = ids.to(device), mask.to(device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = DynamicCache()
        logits = self.model(
            input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache, logits_to_keep=1
        ).logits[:, -1]
        kv = self.static.start(cache, mask, sampling.max_new_tokens) if self.static is not None else None
        stop = torch.tensor(sampling.stop_token_ids or [-1], device=device)
        alive = list(range(len(prompts)))  # original row of each batch row still decoding
        tokens_out: list[list[int]] = [[] for _ in prompts]
        logprobs_out: list[list[float]] = [[] for _ in prompts]
        finish = [FINISH_LENGTH] * len(prompts)
        for _ in range(sampling.max_new_tokens):
            tokens, logprobs = sample_next_token(logits, sampling, generator)
            for row, token, logprob in zip(alive, tokens.tolist(), logprobs.tolist()):
                tokens_out[row].append(token)
                logprobs_out[row].append(logprob)
            done = torch.isin(tokens, stop)
            for row in (alive[i] for i in done.nonzero().flatten().tolist()):
                finish[row] = FINISH_STOP
            keep = (~done).nonzero().flatten()
            if len(keep) == 0 or len(tokens_out[alive[0]]) == sampling.max_new_tokens:
                break
            if len(keep) < len(alive):  # drop finished rows: later steps only pay for live ones
                if isinstance(generator, list):
                    generator = [generator[i] for i in keep.tolist()]
                alive = [alive[i] for i in keep.tolist()]
                if kv is not None:
                    kv.select(keep)
                else:
                    cache.batch_select_indices(keep)
                tokens, mask, positions = tokens[keep], mask[keep], positions[keep]
            positions = positions[:, -1:] + 1
            if kv is not None:
                logits = self.static.step(kv, tokens, positions[:, 0])
            else:
                mask = torch.cat([mask, mask.new_ones((len(alive), 1))], dim=-1)
                logits = self.model(
                    input_ids=tokens[:, None], attention_mask=mask, position_ids=positions, past_key_values=cache
                ).logits[:, -1]
        return [Generation(t, lp, f) for t, lp, f in zip(tokens_out, logprobs_out, finish)]

    @torch.inference_mode()
    def _decode_generate(
        self, prompts: list[list[int]], sampling: SamplingParams,
        generator: torch.Generator | list[torch.Generator] | None,
    ) -> list[Generation]:
        if isinstance(generator, list):  # one generator per prompt: `generate` has one RNG, so one call each
            return [g for p, gen in zip(prompts, generator) for g in self._decode_generate([p], sampling, gen)]
        if generator is not None:  # `generate` samples from the global RNG only
            torch.manual_seed(int(torch.randint(2**62, (1,), generator=generator, device=generator.device)))
        ids, mask = left_pad(prompts, self.pad_token_id)
        greedy = sampling.temperature == 0
        out = self.model.generate(
            input_ids=ids.to(self.model.device),
            attention_mask=mask.to(self.model.device),
            do_sample=not greedy,
            temperature=None if greedy else sampling.temperature,
            top_p=None if greedy else sampling.top_p,
            top_k=None if greedy else sampling.top_k,
            max_new_tokens=sampling.max_new_tokens,
            eos_token_id=list(sampling.stop_token_ids) or None,
            pad_token_id=self.pad_token_id,
            output_logits=True,
            return_dict_in_generate=True,
        )
        new = out.sequences[:, ids.shape[1] :]
        scale = 1.0 if greedy else sampling.temperature
        logprobs = torch.stack([torch.log_softmax(step.float() / scale, -1) for step in out.logits], dim=1)
        logprobs = logprobs.gather(-1, new[:, : logprobs.shape[1], None]).squeeze(-1)
        result = []
        for row in range(len(prompts)):
            token_ids = new[row].tolist()
            stops = [i for i, t in enumerate(token_ids) if t in sampling.stop_token_ids]
            end = stops[0] + 1 if stops else len(token_ids)
            reason = FINISH_STOP if stops else FINISH_LENGTH
            result.append(Generation(token_ids[:end], logprobs[row, :end].tolist(), reason))
        return result

    @torch.no_grad()
    def load_weights(self, named_tensors: Iterable[tuple[str, torch.Tensor]]) -> None:
        state = self.model.state_dict()
        for name, tensor in named_tensors:
            if name not in state:
                raise KeyError(f"load_weights: {name!r} is not a parameter of the engine's model")
            if state[name].shape != tensor.shape:
                raise ValueError(f"load_weights: {name!r} has shape {tuple(tensor.shape)}, "
                                 f"expected {tuple(state[name].shape)}")
            state[name].copy_(tensor)
        if self.static is not None:
            self.static.refresh()  # its fused weights are copies
