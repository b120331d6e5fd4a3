"""The tiny offline model: a byte-level BPE tokenizer and a small Qwen3, both built deterministically from a seed.

Nothing is downloaded. The tokenizer is trained on a corpus the caller passes: the protocol's text
(stages/corpus.py, through `agemem.tasks.runtime.prepare_model`), which this floor cannot import; digits are split
one per token so that copying numbers is learnable by a small model.
"""

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast, Qwen3Config, Qwen3ForCausalLM

from agemem.models.cache import publish_folder
from agemem.models.config import TinyModelConfig

SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<tool_call>",
    "</tool_call>",
    "<tool_response>",
    "</tool_response>",
    "<think>",
    "</think>",
    "<answer>",
    "</answer>",
]
CHAT_TEMPLATE = (Path(__file__).parent / "chat_template.jinja").read_text()
# Bump when the corpus or the build changes, so that cached builds are not reused across incompatible versions.
BUILD_VERSION = 2

def build_tokenizer(cfg: TinyModelConfig, corpus: list[str]) -> PreTrainedTokenizerFast:
    """Train the byte-level BPE on `corpus` and wrap it with the ChatML template."""
    tok = Tokenizer(models.BPE())
    # Digits one per token first, then bytes: numbers stay copyable digit by digit.
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=cfg.vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=None,
        additional_special_tokens=SPECIAL_TOKENS[3:],
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_model(cfg: TinyModelConfig, tokenizer: PreTrainedTokenizerFast) -> Qwen3ForCausalLM:
    """A small Qwen3 with weights initialised from `cfg.seed`."""
    vocab = -(-len(tokenizer) // 64) * 64  # round up: matmul-friendly, unused rows never sampled by training
    config = Qwen3Config(
        vocab_size=vocab,
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_hidden_layers,
        num_attention_heads=cfg.num_attention_heads,
        num_key_value_heads=cfg.num_key_value_heads,
        head_dim=cfg.head_dim,
        max_position_embeddings=cfg.max_position_embeddings,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(cfg.seed)
    return Qwen3ForCausalLM(config)


def corpus_digest(corpus: list[str]) -> str:
    """SHA-256 of a tokenizer corpus: a built model records the digest of the corpus it was trained on."""
    return hashlib.sha256("".join(corpus).encode()).hexdigest()


def tiny_model_dir(cfg: TinyModelConfig, cache_root: Path) -> Path:
    """The cache folder of the tiny model of `cfg`, named by a hash of the config and the build version."""
    key = json.dumps({**asdict(cfg), "build_version": BUILD_VERSION}, sort_keys=True)
    return cache_root / f"tiny-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def built_corpus_digest(folder: Path) -> str | None:
    """The corpus digest a finished build in `folder` recorded; None when there is no finished build."""
    marker = folder / "BUILD_COMPLETE"
    return json.loads(marker.read_text()).get("corpus") if marker.exists() else None


def ensure_tiny_model(cfg: TinyModelConfig, cache_root: Path, corpus: list[str]) -> Path:
    """Build the tiny model into the cache unless a build from the same config and corpus is there; return its
    folder (loadable with `from_pretrained`). A changed corpus (a changed prompt template) rebuilds it."""
    out, digest = tiny_model_dir(cfg, cache_root), corpus_digest(corpus)
    if built_corpus_digest(out) == digest:
        return out
    tokenizer = build_tokenizer(cfg, corpus)
    model = build_model(cfg, tokenizer)

    def write(folder: Path) -> None:
        tokenizer.save_pretrained(folder)
        model.save_pretrained(folder)
        (folder / "BUILD_COMPLETE").write_text(json.dumps({**asdict(cfg), "corpus": digest}))

    return publish_folder(out, write, lambda folder: built_corpus_digest(folder) == digest)
