"""The `hf` engine: batched, left-padded decoding of a transformers causal LM with a KV cache.

Two decoders share the sampler in `engine.sample_next_token`:
- `loop` (default): a plain KV-cache decode loop that drops finished rows from the batch as it goes; for
  Llama-family models on CPU its decode steps run through `static_decode.StaticDecoder` (preallocated K/V,
  fused projections), the prefill through transformers;
- `generate`: transformers' `model.generate`, for comparison (see bench/generation.py).

Prefix reuse (`loop` only, `rollout.hf_prefix_reuse`): an agent's context mostly grows between its calls, so
re-reading it whole on every call makes long rollouts prefill-bound. The engine keeps the K/V of each finished row
(its prompt and all but the last generated token, whose K/V was never computed) in a `PrefixCache`. A new prompt
takes the cached sequence sharing its longest common prefix (any cached row, not only an exact extension: after a
Summary/Filter edit the K/V before the edit is still that of the same tokens at the same positions, by causality)
and prefills only the rest, one row at a time onto a copy of that K/V; rows with nothing cached are prefilled
together as before. The rows' K/V are then laid out left-padded like a fresh prefill's, and decoding proceeds
unchanged. Logits equal a fresh prefill's to float rounding (tests/rollout/test_prefix_reuse.py). A prompt repeated
within a call (the K rollouts of a task start alike) is prefilled once.

Memory: the cache holds at most `prefix_cache_bytes` (default PREFIX_CACHE_BYTES), dropping the oldest sequences
first; a sequence that a new prompt extends whole is dropped at once (the row's next sequence supersedes it), so a
live trajectory holds one; a call holds the sequences its rows continue until it returns. `load_weights` empties
it: K/V computed under the old weights would be stale. Speed: bench/prefix_reuse.py.
"""

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
from transformers import DynamicCache, PreTrainedModel

from agemem.batching import length_partition
from agemem.records import FINISH_LENGTH, FINISH_STOP, Generation
from agemem.rollout.attention import use_grouped_attention
from agemem.rollout.engine import SamplingParams, sample_next_token
from agemem.rollout.static_decode import KVBuffers, StaticDecoder, padding_bias, supports_static_decode

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

# Default bound of the prefix cache. K/V per token: SmolLM2-135M in fp32 45 KiB (4 GiB ≈ 93k tokens, 16 rollouts of
# 5.8k), Qwen3-4B in bf16 144 KiB (≈ 29k tokens), the tiny model 4 KiB. Past it, the oldest sequences go first.
PREFIX_CACHE_BYTES = 4 << 30


@dataclass
class CachedSequence:
    """The K/V of one finished row: its prompt and all but its last generated token.

    Shape: tokens (T,); keys[l], values[l] (H_kv, T, D) for each layer l.
    """

    tokens: np.ndarray
    keys: list[torch.Tensor]
    values: list[torch.Tensor]

    @property
    def nbytes(self) -> int:
        return sum(t.nbytes for t in (*self.keys, *self.values))


class PrefixCache:
    """Finished rows' K/V, for the prompts that start like them; holds at most `max_bytes` (its `nbytes`),
    dropping the oldest first. Held sequences are never modified (readers copy them)."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.entries: OrderedDict[int, CachedSequence] = OrderedDict()  # oldest first
        self.nbytes = 0
        self._next_key = 0

    def longest_prefix(self, prompt: np.ndarray) -> tuple[int | None, int]:
        """The key of the held sequence sharing the longest common prefix with `prompt`, and that prefix's
        length; (None, 0) when none shares even the first token."""
        best_key, best = None, 0
        for key, entry in self.entries.items():
            n = min(len(entry.tokens), len(prompt))
            if n <= best:
                continue
            differ = np.flatnonzero(entry.tokens[:n] != prompt[:n])
            common = int(differ[0]) if differ.size else n
            if common > best:
                best_key, best = key, common
        return best_key, best

    def add(self, entry: CachedSequence) -> None:
        """Hold `entry`, dropping the oldest until it fits (one larger than the bound is not held)."""
        size = entry.nbytes
        if size > self.max_bytes:
            return
        while self.nbytes + size > self.max_bytes:
            self.discard(next(iter(self.entries)))
        self.entries[self._next_key] = entry
        self._next_key += 1
        self.nbytes += size

    def discard(self, key: int) -> None:
        entry = self.entries.pop(key, None)
        if entry is not None:
            self.nbytes -= entry.nbytes

    def clear(self) -> None:
        self.entries.clear()
        self.nbytes = 0


# A row's prefix hit: the cached sequence it continues and how many of its prompt's first tokens that covers.
Hit = tuple[CachedSequence | None, int]
NO_HIT: Hit = (None, 0)


class HFEngine:
    """Generation with a transformers model held in this process (the default on CPU)."""

    def __init__(self, model: PreTrainedModel, pad_token_id: int, decoder: str = "loop", max_batch_size: int = 64,
                 prefix_reuse: bool = False, prefix_cache_bytes: int = PREFIX_CACHE_BYTES):
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
        # The K/V of finished rows, continued by later prompts (the module docstring); `loop` decoder only.
        self.prefix_cache = PrefixCache(prefix_cache_bytes) if prefix_reuse and decoder == "loop" else None
        self.prefix_stats = {"reused": 0, "prefilled": 0}  # prompt tokens taken from the cache / computed

    def generate(self, prompts: list[list[int]], sampling: SamplingParams) -> list[Generation]:
        device = self.model.device
        generator: torch.Generator | list[torch.Generator] | None = None
        if sampling.seeds is not None:
            if len(sampling.seeds) != len(prompts):
                raise ValueError(f"sampling.seeds has {len(sampling.seeds)} seeds for {len(prompts)} prompts")
            generator = [torch.Generator(device).manual_seed(s) for s in sampling.seeds]
        elif sampling.seed is not None:
            generator = torch.Generator(device).manual_seed(sampling.seed)
        if self.decoder == "generate":
            decode = self._decode_generate
            hits = [NO_HIT] * len(prompts)
        else:
            decode = self._decode_loop
            hits = self._prefix_hits(prompts) if self.prefix_cache is not None else [NO_HIT] * len(prompts)
        out: list[Generation | None] = [None] * len(prompts)
        # Batches of similar prompt lengths: one long prompt must not make every row pay for its width.
        for rows in length_partition([len(p) for p in prompts], batch_cost=DECODE_BATCH_POSITIONS,
                                     row_cost=DECODE_ROW_POSITIONS, max_rows=self.max_batch_size):
            rows_generator = [generator[i] for i in rows] if isinstance(generator, list) else generator
            generations = decode([prompts[i] for i in rows], sampling, rows_generator, [hits[i] for i in rows])
            for row, generation in zip(rows, generations):
                out[row] = generation
        return out

    def _prefix_hits(self, prompts: list[list[int]]) -> list[Hit]:
        """Each prompt's longest cached prefix, up to all its tokens but the last (whose logits are needed).

        A held sequence that a prompt extends whole is dropped from the cache now: the row's own finished sequence
        will extend it, and share at least as long a prefix with any later prompt. The call keeps its rows'
        references until it returns.
        """
        hits, extended = [], set()
        for prompt in prompts:
            key, common = self.prefix_cache.longest_prefix(np.asarray(prompt))
            entry = self.prefix_cache.entries[key] if key is not None else None
            if entry is not None and common == len(entry.tokens):
                extended.add(key)
            reuse = min(common, len(prompt) - 1)
            hits.append((entry, reuse) if reuse > 0 else NO_HIT)
        for key in extended:
            self.prefix_cache.discard(key)
        return hits

    @torch.inference_mode()
    def _decode_loop(
        self, prompts: list[list[int]], sampling: SamplingParams,
        generator: torch.Generator | list[torch.Generator] | None, hits: list[Hit] | None = None,
    ) -> list[Generation]:
        device = self.model.device
        logits, kv, cache, mask = self._prefill(prompts, hits or [NO_HIT] * len(prompts), sampling.max_new_tokens)
        width = mask.shape[1]
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
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
            last = len(keep) == 0 or len(tokens_out[alive[0]]) == sampling.max_new_tokens
            if self.prefix_cache is not None:  # finished rows leave their K/V to the prefix cache
                finished = range(len(alive)) if last else done.nonzero().flatten().tolist()
                layers = (kv.keys, kv.values) if kv is not None else \
                    ([layer.keys for layer in cache.layers], [layer.values for layer in cache.layers])
                for i in finished:
                    row = alive[i]
                    self._keep_prefix(prompts[row] + tokens_out[row][:-1], *layers, i, width - len(prompts[row]))
            if last:
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

    def _prefill(
        self, prompts: list[list[int]], hits: list[Hit], max_new_tokens: int
    ) -> tuple[torch.Tensor, KVBuffers | None, DynamicCache | None, torch.Tensor]:
        """The next-token logits of every prompt and the K/V to decode from: `KVBuffers` for the static decoder,
        else a `DynamicCache`, left-padded to the longest prompt as `mask` says.

        Rows without a prefix hit are prefilled together; a row with one prefills only the tokens after its hit,
        alone, onto a copy of the cached K/V; with prefix reuse on, a prompt repeated in the batch (the K rollouts
        of a task start alike) is prefilled once. Then every row's K/V is laid out left-padded.
        Shape: logits (B, V), mask (B, W).
        """
        device = self.model.device
        first: dict[tuple[int, ...], int] = {}  # each distinct prompt's first row, which computes it
        source = [first.setdefault(tuple(p), i) if self.prefix_cache is not None else i
                  for i, p in enumerate(prompts)]
        computed = [i for i in range(len(prompts)) if source[i] == i]
        reused = sum(hits[i][1] for i in computed)
        self.prefix_stats["prefilled"] += sum(len(prompts[i]) for i in computed) - reused
        self.prefix_stats["reused"] += sum(len(p) for p in prompts) - sum(len(prompts[i]) for i in computed) + reused
        fresh = [i for i in computed if hits[i][1] == 0]
        if fresh:
            ids, fresh_mask = left_pad([prompts[i] for i in fresh], self.pad_token_id)
            ids, fresh_mask = ids.to(device), fresh_mask.to(device)
            fresh_cache = DynamicCache()
            fresh_logits = self.model(
                input_ids=ids, attention_mask=fresh_mask, position_ids=(fresh_mask.cumsum(-1) - 1).clamp(min=0),
                past_key_values=fresh_cache, logits_to_keep=1,
            ).logits[:, -1]
            if len(fresh) == len(prompts):  # no hit: the batch's cache is already laid out
                if self.static is not None:
                    return fresh_logits, self.static.start(fresh_cache, fresh_mask, max_new_tokens), None, fresh_mask
                return fresh_logits, None, fresh_cache, fresh_mask
        # Each row's logits and K/V: keys[l], values[l] (H_kv, L_i, D).
        row_logits: list[torch.Tensor | None] = [None] * len(prompts)
        row_keys: list[list[torch.Tensor] | None] = [None] * len(prompts)
        row_values: list[list[torch.Tensor] | None] = [None] * len(prompts)
        for j, i in enumerate(fresh):
            start = fresh_mask.shape[1] - len(prompts[i])
            row_logits[i] = fresh_logits[j]
            row_keys[i] = [layer.keys[j, :, start:] for layer in fresh_cache.layers]
            row_values[i] = [layer.values[j, :, start:] for layer in fresh_cache.layers]
        for i in computed:
            entry, n = hits[i]
            if n == 0:
                continue
            # DynamicCache copies the cached K/V (concatenation): the held sequence is never written to.
            row_cache = DynamicCache(ddp_cache_data=[(k[None, :, :n], v[None, :, :n])
                                                     for k, v in zip(entry.keys, entry.values)])
            row_logits[i] = self.model(
                input_ids=torch.tensor([prompts[i][n:]], device=device),
                position_ids=torch.arange(n, len(prompts[i]), device=device)[None],
                past_key_values=row_cache, logits_to_keep=1,
            ).logits[0, -1]
            row_keys[i] = [layer.keys[0] for layer in row_cache.layers]
            row_values[i] = [layer.values[0] for layer in row_cache.layers]
        for i, j in enumerate(source):
            row_logits[i], row_keys[i], row_values[i] = row_logits[j], row_keys[j], row_values[j]
        width = max(len(p) for p in prompts)
        extra = max_new_tokens if self.static is not None else 0  # the static decoder writes into its buffers
        mask = torch.zeros((len(prompts), width), dtype=torch.long, device=device)
        keys = [k.new_zeros(len(prompts), k.shape[0], width + extra, k.shape[2]) for k in row_keys[0]]
        values = [v.new_zeros(len(prompts), v.shape[0], width + extra, v.shape[2]) for v in row_values[0]]
        for i, prompt in enumerate(prompts):
            mask[i, width - len(prompt) :] = 1
            for target, part in zip((*keys, *values), (*row_keys[i], *row_values[i])):
                target[i, :, width - len(prompt) : width] = part
        logits = torch.stack(row_logits)
        if self.static is not None:
            return logits, KVBuffers(keys, values, padding_bias(mask, max_new_tokens, keys[0].dtype), width), None, mask
        return logits, None, DynamicCache(ddp_cache_data=zip(keys, values)), mask

    def _keep_prefix(self, tokens: list[int], keys: list[torch.Tensor], values: list[torch.Tensor], row: int,
                     start: int) -> None:
        """Hand batch row `row`'s K/V — `tokens`, from column `start` on — to the prefix cache.

        Shape: keys[l], values[l] (B, H_kv, ≥ start + len(tokens), D).
        """
        end = start + len(tokens)
        # Copies: a view would keep the whole batch's buffers alive.
        self.prefix_cache.add(CachedSequence(
            np.asarray(tokens), [k[row, :, start:end].clone(memory_format=torch.contiguous_format) for k in keys],
            [v[row, :, start:end].clone(memory_format=torch.contiguous_format) for v in values]))

    @torch.inference_mode()
    def _decode_generate(
        self, prompts: list[list[int]], sampling: SamplingParams,
        generator: torch.Generator | list[torch.Generator] | None, hits: list[Hit] | None = None,
    ) -> list[Generation]:
        """`model.generate` on the whole prompts (`hits` is ignored: no prefix reuse with this decoder)."""
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
        if self.prefix_cache is not None:
            self.prefix_cache.clear()  # K/V computed under the old weights
