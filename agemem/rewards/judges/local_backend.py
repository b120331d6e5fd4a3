"""A local HF causal LM as a judge backend: every prompt of a batch decoded together, greedily."""

import logging
from collections.abc import Sequence

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from agemem.models import ModelConfig, load_model, load_tokenizer
from agemem.rewards.config import LocalJudgeConfig
from agemem.rewards.judges.protocol import ChatPrompt
from agemem.rollout.engine import SamplingParams
from agemem.rollout.hf_engine import HFEngine

log = logging.getLogger(__name__)
DEVICES = ("auto", "cpu", "cuda")
END_TOKENS = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>")


class LocalHFBackend:
    """Greedy, batched completions of chat prompts with a model held in this process (HFEngine)."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        model_id: str,
        batch_size: int = 32,
        max_new_tokens: int = 16,
    ):
        self.tokenizer = tokenizer
        self.engine = HFEngine(model, tokenizer.pad_token_id, max_batch_size=batch_size)
        self._model_id = model_id
        vocab = tokenizer.get_vocab()
        stop = {tokenizer.eos_token_id, *(vocab[t] for t in END_TOKENS if t in vocab)} - {None}
        self.sampling = SamplingParams(temperature=0.0, max_new_tokens=max_new_tokens, stop_token_ids=tuple(stop))

    @property
    def model_id(self) -> str:
        return self._model_id

    def _encode(self, prompt: ChatPrompt) -> list[int]:
        messages = [{"role": "system", "content": prompt[0]}, {"role": "user", "content": prompt[1]}]
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def complete(self, prompts: Sequence[ChatPrompt]) -> list[str | None]:
        if not prompts:
            return []
        ids = [self._encode(p) for p in prompts]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))  # similar lengths share a batch: less padding
        try:
            generations = self.engine.generate([ids[i] for i in order], self.sampling)
        except torch.OutOfMemoryError as err:  # the judge falls back to rules rather than stop training
            log.warning("local judge %s ran out of memory on %d prompts (rule fallback for all): %s", self.model_id,
                        len(prompts), err)
            return [None] * len(prompts)
        replies: list[str | None] = [None] * len(prompts)
        for i, generation in zip(order, generations):
            replies[i] = self.tokenizer.decode(generation.token_ids, skip_special_tokens=True)
        return replies


def load_local_backend(cfg: LocalJudgeConfig, key: str = "judge.local",
                       model_cfg: ModelConfig | None = None) -> LocalHFBackend:
    """The model of `cfg` (a local folder; null = the tiny offline model, or `model_cfg` when given), on its
    device, frozen. `key` names the config section in errors (judge.local, reward.reader_local)."""
    if cfg.device not in DEVICES:
        raise ValueError(f"{key}.device={cfg.device!r}: must be one of {list(DEVICES)}")
    if model_cfg is None or cfg.path is not None:
        model_cfg = ModelConfig(name="judge", path=cfg.path, dtype=cfg.dtype)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if cfg.device == "auto" else cfg.device
    model = load_model(model_cfg).to(device).eval()
    model_id = model_cfg.path or model_cfg.package or "tiny"
    return LocalHFBackend(model, load_tokenizer(model_cfg), model_id, cfg.batch_size, cfg.max_new_tokens)
